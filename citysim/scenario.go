package citysim

import (
	"time"

	"github.com/paulmach/orb"
)

// Burst is a run of calls about one thing in one place.
type Burst struct {
	Place    string  // Chinese place name, used in addresses
	Lat, Lon float64 // centre
	SigmaM   float64 // spread of the callers around the centre, metres
	Category string
	Calls    int
	Offset   time.Duration // from the scenario's start to the first call
	Span     time.Duration // the calls come within this long, evenly spread
	Urgent   float64       // share of urgent calls
}

// Scenario is a scripted emergency: bursts of calls starting at a time of
// day. It plays at the first such time at or after the simulation's start.
type Scenario struct {
	Name   string
	At     time.Duration // time of day (China Standard Time) it starts
	Bursts []Burst
}

// Typhoon is a typhoon night: from 22:00, streets flood and trees fall
// across Xiangzhou, Doumen and Jinwan, and the power fails in part of Jida.
func Typhoon() Scenario {
	const m = time.Minute
	return Scenario{Name: "typhoon", At: 22 * time.Hour, Bursts: []Burst{
		{"拱北隧道口", 22.2215, 113.5485, 150, "waterlogging", 40, 20 * m, 150 * m, 0.2},
		{"前山", 22.2510, 113.5230, 160, "waterlogging", 30, 30 * m, 140 * m, 0.1},
		{"梅华", 22.2840, 113.5480, 150, "waterlogging", 28, 40 * m, 140 * m, 0.1},
		{"唐家湾", 22.3580, 113.5870, 150, "waterlogging", 20, 50 * m, 120 * m, 0.1},
		{"井岸", 22.2080, 113.2970, 180, "waterlogging", 30, 30 * m, 140 * m, 0.1},
		{"三灶", 22.0470, 113.3560, 180, "waterlogging", 26, 40 * m, 130 * m, 0.1},
		{"景山路", 22.2600, 113.5850, 150, "fallen_tree", 12, 30 * m, 90 * m, 0.1},
		{"情侣路", 22.2400, 113.5700, 180, "fallen_tree", 10, 45 * m, 90 * m, 0.1},
		{"横琴", 22.1300, 113.5300, 150, "fallen_tree", 8, 60 * m, 80 * m, 0.1},
		{"井岸", 22.2150, 113.3000, 150, "fallen_tree", 8, 80 * m, 80 * m, 0.1},
		{"吉大", 22.2650, 113.5820, 500, "power_outage", 10, 90 * m, 60 * m, 0.1},
	}}
}

// GasLeak is a gas leak in a residential block of Jida at 10:30, with a
// small fire after it.
func GasLeak() Scenario {
	const m = time.Minute
	return Scenario{Name: "gas_leak", At: 10*time.Hour + 30*m, Bursts: []Burst{
		{"吉大居民楼", 22.2650, 113.5750, 60, "gas_leak", 7, 0, 12 * m, 0.7},
		{"吉大居民楼", 22.2650, 113.5750, 40, "fire", 2, 14 * m, 4 * m, 1},
	}}
}

// PowerCut is a power cut over Baijiao in Doumen at 19:00.
func PowerCut() Scenario {
	return Scenario{Name: "power_cut", At: 19 * time.Hour, Bursts: []Burst{
		{"白蕉", 22.2480, 113.3320, 450, "power_outage", 30, 0, 25 * time.Minute, 0.05},
	}}
}

// DefaultScenarios returns every scripted emergency.
func DefaultScenarios() []Scenario { return []Scenario{Typhoon(), GasLeak(), PowerCut()} }

// ScenarioByName returns the scenario with the name, and false when none.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range DefaultScenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Start returns when the scenario plays in a simulation starting at start.
func (s Scenario) Start(start time.Time) time.Time {
	local := start.In(Zone)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, Zone)
	t := day.Add(s.At)
	if t.Before(start) {
		t = t.Add(24 * time.Hour)
	}
	return t
}

// scenario adds a scenario's calls.
func (g *generator) scenario(s Scenario) {
	begin := s.Start(g.cfg.Start)
	for _, b := range s.Bursts {
		for i := 0; i < b.Calls; i++ {
			at := begin.Add(b.Offset + time.Duration(g.rng.Float64()*float64(b.Span))).Truncate(time.Second)
			p := near(g.rng, b.Lat, b.Lon, b.SigmaM/1000)
			d := Locate(g.city.Districts, p)
			if d == nil {
				d = Locate(g.city.Districts, orb.Point{b.Lon, b.Lat})
			}
			g.add(at, p, d, b.Place, b.Category, g.rng.Float64() < b.Urgent)
		}
	}
}
