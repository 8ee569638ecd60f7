// Package citysim generates a realistic, seeded stream of citizen hotline
// calls for a city: background calls that follow the city's districts and
// busy places, a day-night profile and a category mix, with scripted
// emergencies on top (a typhoon night, a gas leak, a power cut). The same
// seed and settings give the same calls.
package citysim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"flare/callfile"
	"flare/incidents/defaults"
)

// Zone is Zhuhai's time zone (China Standard Time; no daylight saving).
var Zone = time.FixedZone("CST", 8*3600)

// Hotspot is a busy place that draws calls around it.
type Hotspot struct {
	Name    string  // Chinese name, used in addresses
	Lat     float64 // degrees
	Lon     float64
	SigmaKm float64 // spread of calls around it
	Weight  float64 // share of the background calls, relative to the others
}

// ZhuhaiHotspots are the town and sub-district centres of Zhuhai that calls
// come from, weighted by their approximate resident population (thousands)
// and spread by their approximate extent: the dense downtown of Xiangzhou
// (Gongbei, Jida, the old town, Meihua, Qianshan, Nanping), Tangjia and
// Hengqin, Doumen's Jing'an and Baijiao, and Jinwan's Sanzao, Hongqi and
// Pingsha.
var ZhuhaiHotspots = []Hotspot{
	{"拱北", 22.2225, 113.5470, 1.5, 150},
	{"吉大", 22.2620, 113.5800, 1.8, 130},
	{"香洲", 22.2730, 113.5600, 1.6, 120},
	{"梅华", 22.2850, 113.5500, 1.8, 150},
	{"前山", 22.2500, 113.5200, 2.0, 180},
	{"南屏", 22.2300, 113.5200, 2.0, 150},
	{"湾仔", 22.2050, 113.5300, 1.5, 50},
	{"唐家湾", 22.3600, 113.5850, 3.5, 130},
	{"横琴", 22.1300, 113.5350, 2.5, 50},
	{"井岸", 22.2100, 113.2950, 2.5, 200},
	{"白蕉", 22.2500, 113.3300, 3.5, 120},
	{"红旗", 22.1400, 113.3900, 3.0, 100},
	{"三灶", 22.0450, 113.3500, 3.0, 150},
	{"平沙", 22.1200, 113.1900, 3.5, 70},
}

// categoryMix is the background share of each category, in percent.
var categoryMix = []struct {
	code   string
	weight float64
}{
	{"noise", 13}, {"traffic", 10}, {"road_damage", 8}, {"environment", 9},
	{"water_supply", 8}, {"power_outage", 5}, {"public_health", 8},
	{"building_safety", 5}, {"waterlogging", 3}, {"fallen_tree", 2},
	{"gas_leak", 1}, {"fire", 1}, {"other", 27},
}

// hourly is the relative call rate by hour of day: quiet before dawn, busy
// in office hours, a second rise in the evening.
var hourly = [24]float64{
	0.25, 0.18, 0.12, 0.10, 0.10, 0.15, 0.35, 0.70,
	1.20, 1.60, 1.70, 1.60, 1.20, 1.30, 1.60, 1.60,
	1.50, 1.40, 1.20, 1.10, 1.10, 0.90, 0.65, 0.40,
}

// Config sets up a simulation.
type Config struct {
	Seed        uint64
	Start       time.Time     // first instant simulated
	Duration    time.Duration // how long
	CallsPerDay float64       // background calls in an average day
	Districts   []District    // where calls may come from; nil means Flare's coarse Zhuhai outlines
	Hotspots    []Hotspot     // nil means ZhuhaiHotspots
	Scenarios   []Scenario    // scripted emergencies; see DefaultScenarios
}

// Defaults for Config fields left zero.
const (
	DefaultCallsPerDay = 3000
	DefaultDuration    = 24 * time.Hour
)

// DefaultStart is the first instant of the default simulated day: 06:00,
// so that a day holds the whole typhoon night.
var DefaultStart = time.Date(2026, 7, 1, 6, 0, 0, 0, Zone)

// City places calls: mostly around hotspots, the rest anywhere in the
// districts, always inside a district.
type City struct {
	Districts []District
	Hotspots  []Hotspot
	weights   []float64
	total     float64
	bound     orb.Bound
	areaTotal float64
}

// NewCity returns a City of the districts and hotspots.
func NewCity(ds []District, hs []Hotspot) (*City, error) {
	if len(ds) == 0 {
		return nil, errors.New("city: no districts")
	}
	c := &City{Districts: ds, Hotspots: hs, bound: ds[0].Bound}
	for _, d := range ds {
		c.bound = c.bound.Union(d.Bound)
		c.areaTotal += d.Area
	}
	for _, h := range hs {
		c.total += h.Weight
		c.weights = append(c.weights, c.total)
	}
	return c, nil
}

// DefaultCity is Zhuhai as Flare ships it: the coarse district outlines and
// ZhuhaiHotspots.
func DefaultCity() (*City, error) {
	ds, err := ParseDistricts(defaults.ZhuhaiDistricts)
	if err != nil {
		return nil, err
	}
	return NewCity(ds, ZhuhaiHotspots)
}

// near returns a position around (lat, lon) with spread sigma kilometres.
func near(r *rand.Rand, lat, lon, sigmaKm float64) orb.Point {
	s := sigmaKm / 111.2
	return orb.Point{lon + r.NormFloat64()*s/math.Cos(lat*math.Pi/180), lat + r.NormFloat64()*s}
}

// Place returns a position for a background call and the district it falls
// in, and the hotspot it was drawn around ("" for none). Nine calls in ten
// come from around a hotspot.
func (c *City) Place(r *rand.Rand) (orb.Point, *District, string) {
	for tries := 0; ; tries++ {
		var p orb.Point
		spot := ""
		if len(c.Hotspots) > 0 && r.IntN(10) != 0 {
			x := r.Float64() * c.total
			k, _ := slices.BinarySearch(c.weights, x)
			h := c.Hotspots[min(k, len(c.Hotspots)-1)]
			p, spot = near(r, h.Lat, h.Lon, h.SigmaKm), h.Name
		} else {
			p = orb.Point{c.bound.Min[0] + r.Float64()*(c.bound.Max[0]-c.bound.Min[0]), c.bound.Min[1] + r.Float64()*(c.bound.Max[1]-c.bound.Min[1])}
		}
		if d := Locate(c.Districts, p); d != nil {
			return p, d, spot
		}
		if tries > 1000 {
			// Districts too small to hit: fall back to a district's corner
			// area centre, which is at least near it.
			d := &c.Districts[0]
			return d.Bound.Center(), d, spot
		}
	}
}

// Generate returns the calls of the simulation in time order.
func Generate(cfg Config) ([]callfile.Call, error) {
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Duration < 0 {
		return nil, fmt.Errorf("simulate: duration %s is negative", cfg.Duration)
	}
	if cfg.CallsPerDay == 0 {
		cfg.CallsPerDay = DefaultCallsPerDay
	}
	if cfg.CallsPerDay < 0 || math.IsNaN(cfg.CallsPerDay) || cfg.CallsPerDay > 10_000_000 {
		return nil, fmt.Errorf("simulate: calls per day %v is outside [0, 1e7]", cfg.CallsPerDay)
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.Hotspots == nil {
		cfg.Hotspots = ZhuhaiHotspots
	}
	if cfg.Districts == nil {
		ds, err := ParseDistricts(defaults.ZhuhaiDistricts)
		if err != nil {
			return nil, err
		}
		cfg.Districts = ds
	}
	city, err := NewCity(cfg.Districts, cfg.Hotspots)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	g := &generator{cfg: cfg, city: city, rng: rand.New(rand.NewPCG(cfg.Seed, 0x12345))}
	g.background()
	for _, s := range cfg.Scenarios {
		g.scenario(s)
	}
	slices.SortStableFunc(g.calls, func(a, b callfile.Call) int { return cmp.Compare(a.ReceivedAt.UnixNano(), b.ReceivedAt.UnixNano()) })
	for i := range g.calls {
		g.calls[i].ID = fmt.Sprintf("sim-%d-%06d", cfg.Seed, i+1)
	}
	return g.calls, nil
}

type generator struct {
	cfg   Config
	city  *City
	rng   *rand.Rand
	calls []callfile.Call
}

// background adds the ordinary calls: per minute, a Poisson number of calls
// at the hour's rate.
func (g *generator) background() {
	var sum float64
	for _, w := range hourly {
		sum += w
	}
	end := g.cfg.Start.Add(g.cfg.Duration)
	for t := g.cfg.Start; t.Before(end); t = t.Add(time.Minute) {
		rate := g.cfg.CallsPerDay * hourly[t.In(Zone).Hour()] / sum / 60
		for n := poisson(g.rng, rate); n > 0; n-- {
			at := t.Add(time.Duration(g.rng.IntN(60)) * time.Second)
			if !at.Before(end) {
				continue
			}
			cat := g.category(at)
			p, d, spot := g.city.Place(g.rng)
			g.add(at, p, d, spot, cat, g.urgent(cat))
		}
	}
}

// category draws a background category; noise complaints weigh more at
// night.
func (g *generator) category(at time.Time) string {
	night := at.In(Zone).Hour() >= 22 || at.In(Zone).Hour() < 6
	var total float64
	for _, c := range categoryMix {
		w := c.weight
		if night && c.code == "noise" {
			w *= 3
		}
		total += w
	}
	x := g.rng.Float64() * total
	for _, c := range categoryMix {
		w := c.weight
		if night && c.code == "noise" {
			w *= 3
		}
		if x < w {
			return c.code
		}
		x -= w
	}
	return "other"
}

func (g *generator) urgent(cat string) bool {
	switch cat {
	case "gas_leak", "fire":
		return g.rng.IntN(10) < 7
	case "building_safety", "power_outage":
		return g.rng.IntN(20) == 0
	}
	return g.rng.IntN(50) == 0
}

// add appends a call at position p, in district d, near spot.
func (g *generator) add(at time.Time, p orb.Point, d *District, spot, cat string, urgent bool) {
	end := g.cfg.Start.Add(g.cfg.Duration)
	if at.Before(g.cfg.Start) || !at.Before(end) {
		return
	}
	addr := ""
	if d != nil {
		addr = d.Name
	}
	if spot != "" {
		addr += spot + "附近"
	}
	descs := descriptions[cat]
	desc := "市民来电反映问题"
	if len(descs) > 0 {
		desc = descs[g.rng.IntN(len(descs))]
	}
	g.calls = append(g.calls, callfile.Call{
		ReceivedAt:  at.In(Zone),
		Lat:         math.Round(p[1]*1e6) / 1e6,
		Lon:         math.Round(p[0]*1e6) / 1e6,
		Category:    cat,
		Urgent:      urgent,
		Address:     addr,
		Description: desc,
	})
}

// poisson draws from a Poisson distribution with mean lambda (Knuth's
// method for small means, a normal approximation for large ones).
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// descriptions are what callers say, by category.
var descriptions = map[string][]string{
	"waterlogging":    {"路面积水严重，车辆无法通行", "小区地下车库进水", "低洼路段积水没过膝盖", "商铺门口积水倒灌"},
	"fallen_tree":     {"大树倒伏压住道路", "树枝折断挡住人行道", "倒树压到停放车辆"},
	"power_outage":    {"小区整片停电", "整条街停电，红绿灯不亮", "家中突然停电，邻居也停了"},
	"water_supply":    {"家中停水", "自来水水压很低", "水管爆裂漏水"},
	"gas_leak":        {"楼道里闻到很浓的燃气味", "燃气管道泄漏，有嘶嘶声", "餐馆燃气泄漏"},
	"fire":            {"看到楼上冒烟起火", "路边垃圾桶着火", "商铺起火"},
	"road_damage":     {"路面塌陷出现大坑", "井盖缺失", "人行道破损"},
	"traffic":         {"路口信号灯故障", "车辆违停堵塞道路", "交通拥堵严重"},
	"building_safety": {"外墙瓷砖脱落", "房屋出现裂缝", "广告牌松动有坠落危险"},
	"public_health":   {"餐馆卫生问题", "小区蚊虫滋生", "垃圾清运不及时有异味"},
	"environment":     {"工厂排放异味", "河道水体发黑", "工地扬尘严重"},
	"noise":           {"夜间施工噪音扰民", "广场舞音响太大", "酒吧噪音扰民"},
	"other":           {"咨询社保办理", "投诉物业服务", "咨询政策", "反映公共设施损坏"},
}
