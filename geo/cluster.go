package geo

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// HullBuffer is the radius in metres of the buffer drawn around a cluster
// whose calls lie on one point or one line, so that its hull is still an
// area on a map.
const HullBuffer = 15.0

// Cluster summarises one cluster of calls.
type Cluster struct {
	Rule string
	ID   ClusterID
	// Calls lists the ids of all member calls, core and border, by time
	// received; CoreCalls lists the core calls the same way.
	Calls     []string
	CoreCalls []string
	// Times lists the member calls' times, in the order of Calls.
	Times []time.Time
	// Centroid is the mean position of the member calls, [lon, lat].
	Centroid orb.Point
	// Hull is the convex hull of the member calls, an orb.Polygon; when the
	// calls lie on one point or one line it is buffered by HullBuffer.
	Hull orb.Polygon
	// Radius is the greatest haversine distance in metres from the centroid
	// to a member call.
	Radius float64
	// First and Last are the earliest and latest member call times.
	First, Last time.Time
	// Categories counts the member calls by category.
	Categories map[string]int
	// Recent counts the member calls received in the Growth span ending at
	// the detector's time: how fast the cluster is growing.
	Recent int
	Growth time.Duration
}

// clusterJSON is the wire form of a Cluster.
type clusterJSON struct {
	Rule       string            `json:"rule"`
	ID         ClusterID         `json:"id"`
	Calls      []string          `json:"calls"`
	CoreCalls  []string          `json:"core_calls"`
	Centroid   [2]float64        `json:"centroid"`
	Hull       *geojson.Geometry `json:"hull"`
	Radius     float64           `json:"radius_m"`
	First      time.Time         `json:"first_at"`
	Last       time.Time         `json:"last_at"`
	Categories map[string]int    `json:"categories"`
	Growth     growthJSON        `json:"growth"`
}

type growthJSON struct {
	Minutes float64 `json:"minutes"`
	Calls   int     `json:"calls"`
}

// MarshalJSON encodes the cluster with its hull as a GeoJSON geometry and
// its centroid as [lon, lat].
func (c Cluster) MarshalJSON() ([]byte, error) {
	return json.Marshal(clusterJSON{
		Rule: c.Rule, ID: c.ID, Calls: c.Calls, CoreCalls: c.CoreCalls,
		Centroid: [2]float64{round7(c.Centroid[0]), round7(c.Centroid[1])},
		Hull:     geojson.NewGeometry(roundPolygon(c.Hull)),
		Radius:   math.Round(c.Radius*10) / 10,
		First:    c.First, Last: c.Last, Categories: c.Categories,
		Growth: growthJSON{Minutes: c.Growth.Minutes(), Calls: c.Recent},
	})
}

// Feature returns the cluster as a GeoJSON feature: its hull with the rest
// of the summary as properties.
func (c Cluster) Feature() *geojson.Feature {
	f := geojson.NewFeature(roundPolygon(c.Hull))
	f.Properties = geojson.Properties{
		"rule":       c.Rule,
		"id":         c.ID,
		"calls":      c.Calls,
		"core_calls": c.CoreCalls,
		"centroid":   [2]float64{round7(c.Centroid[0]), round7(c.Centroid[1])},
		"radius_m":   math.Round(c.Radius*10) / 10,
		"first_at":   c.First,
		"last_at":    c.Last,
		"categories": c.Categories,
		"growth":     growthJSON{Minutes: c.Growth.Minutes(), Calls: c.Recent},
	}
	return f
}

// round7 rounds degrees to 1e-7 (about a centimetre).
func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

func roundPolygon(p orb.Polygon) orb.Polygon {
	out := make(orb.Polygon, len(p))
	for i, r := range p {
		out[i] = make(orb.Ring, len(r))
		for j, q := range r {
			out[i][j] = orb.Point{round7(q[0]), round7(q[1])}
		}
	}
	return out
}

// Clusters returns the clusters of the current window, ordered by id. It
// costs time in proportion to the number of calls in the window.
func (d *Detector) Clusters() []Cluster {
	groups := d.groups()
	out := make([]Cluster, 0, len(groups))
	for _, g := range groups {
		out = append(out, d.summarise(g.id, g.members))
	}
	return out
}

// Cluster returns the summary of the live cluster with the id, and false
// when there is none. It costs time in proportion to the cluster's calls and
// their neighbours, not to the window.
func (d *Detector) Cluster(id ClusterID) (Cluster, bool) {
	members, ok := d.members(id, nil)
	if !ok {
		return Cluster{}, false
	}
	d.sortMembers(members)
	return d.summarise(id, members), true
}

// Footprint returns the footprint of the live cluster with the id, what its
// surge score needs, and false when there is none. It costs what Cluster
// does without the hull, ids and counts.
func (d *Detector) Footprint(id ClusterID) (Footprint, bool) {
	members, ok := d.members(id, d.fpBuf[:0])
	d.fpBuf = members[:0]
	if !ok {
		return Footprint{}, false
	}
	f := Footprint{Times: make([]time.Time, len(members))}
	// The centroid as Centroid computes it.
	ref := d.pts[members[0]].lon
	var sx, sy float64
	for i, m := range members {
		p := &d.pts[m]
		f.Times[i] = time.Unix(0, p.t).UTC()
		sx += unwrap(p.lon, ref)
		sy += p.lat
	}
	n := float64(len(members))
	f.Centroid = orb.Point{normLonClosed(sx / n), sy / n}
	for _, m := range members {
		p := &d.pts[m]
		f.Radius = math.Max(f.Radius, distance(f.Centroid, orb.Point{p.lon, p.lat}))
	}
	return f, true
}

// members appends the member points of the live cluster with the id to dst,
// in no particular order.
func (d *Detector) members(id ClusterID, dst []int32) ([]int32, bool) {
	c := d.byID[id]
	if c == nil || c.dead {
		return dst, false
	}
	members := dst
	for _, cl := range c.cells {
		for _, e := range cl.entries() {
			if !d.hot[e.idx].core {
				continue
			}
			members = append(members, e.idx)
			if cl.anchored == 0 {
				continue
			}
			for _, r := range d.nbrs(e.idx) {
				if q := &d.hot[r.idx]; q.gen == r.gen && q.anchor == e.idx {
					members = append(members, r.idx)
				}
			}
		}
	}
	return members, true
}

func (d *Detector) sortMembers(members []int32) {
	slices.SortFunc(members, func(a, b int32) int {
		p, q := &d.pts[a], &d.pts[b]
		if c := cmp.Compare(p.t, q.t); c != 0 {
			return c
		}
		return cmp.Compare(p.seq, q.seq)
	})
}

// group is one cluster's member points, sorted by (time, seq).
type group struct {
	id      ClusterID
	members []int32
}

// groups returns the member points of every cluster, ordered by cluster id.
func (d *Detector) groups() []group {
	at := make(map[*component]int)
	var out []group
	for i := range d.pts {
		h := &d.hot[i]
		if h.cell == nil {
			continue
		}
		var c *component
		switch {
		case h.core:
			c = h.cell.comp
		case h.anchor >= 0:
			c = d.hot[h.anchor].cell.comp
		default:
			continue
		}
		k, ok := at[c]
		if !ok {
			k = len(out)
			at[c] = k
			out = append(out, group{id: c.id})
		}
		out[k].members = append(out[k].members, int32(i))
	}
	slices.SortFunc(out, func(a, b group) int { return cmp.Compare(a.id, b.id) })
	for _, g := range out {
		d.sortMembers(g.members)
	}
	return out
}

// summarise builds the summary of one cluster from its member points,
// sorted by (time, seq).
func (d *Detector) summarise(id ClusterID, idx []int32) Cluster {
	growth := d.opts.Growth
	c := Cluster{
		Rule:       d.rule.Name,
		ID:         id,
		Calls:      make([]string, 0, len(idx)),
		Times:      make([]time.Time, 0, len(idx)),
		Categories: make(map[string]int),
		Growth:     growth,
	}
	pos := make([]orb.Point, 0, len(idx))
	since := d.now - int64(growth)
	for _, i := range idx {
		p := &d.pts[i]
		c.Calls = append(c.Calls, p.id)
		c.Times = append(c.Times, time.Unix(0, p.t).UTC())
		if d.hot[i].core {
			c.CoreCalls = append(c.CoreCalls, p.id)
		}
		c.Categories[p.category]++
		if p.t > since {
			c.Recent++
		}
		pos = append(pos, orb.Point{p.lon, p.lat})
	}
	c.First = time.Unix(0, d.pts[idx[0]].t).UTC()
	c.Last = time.Unix(0, d.pts[idx[len(idx)-1]].t).UTC()
	c.Centroid = Centroid(pos)
	c.Hull = Hull(pos, HullBuffer)
	for _, q := range pos {
		c.Radius = math.Max(c.Radius, distance(c.Centroid, q))
	}
	return c
}

func distance(a, b orb.Point) float64 {
	if a == b {
		return 0
	}
	return orbDistance(a, b)
}
