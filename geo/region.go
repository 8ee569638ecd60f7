package geo

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// Region is one named area: a district, a functional zone, or a piece of a
// service area.
type Region struct {
	Code     string           `json:"code"`
	Name     string           `json:"name"`
	NameEn   string           `json:"name_en,omitempty"`
	Geometry orb.MultiPolygon `json:"-"`
	area     float64
}

// Regions is a set of regions with a spatial index, for finding the region
// of a point (jurisdiction lookup) and for checking that a point lies in the
// service area. Lookup cost does not grow with the number of polygons: a
// grid over the regions' extent lists, for each cell, only the polygons that
// reach into it.
type Regions struct {
	Name    string
	regions []Region
	polys   []indexedPolygon
	bound   orb.Bound
	cols    int
	rows    int
	cells   [][]int32 // cell -> indexes into polys
}

type indexedPolygon struct {
	poly   orb.Polygon
	bound  orb.Bound
	region int
}

const regionGrid = 64

// ErrNoPolygon is returned by ParseRegions for data without a polygon.
var ErrNoPolygon = errors.New("no polygon")

// ParseRegions reads a GeoJSON FeatureCollection, Feature or geometry and
// keeps its Polygons and MultiPolygons. A feature's code is its "code"
// property, else its "adcode" (a number or a string), else its index; its
// names are "name" and "name_en". It returns ErrNoPolygon when the data
// holds no polygon, and an error naming the fault when it is not GeoJSON.
func ParseRegions(name string, data []byte) (*Regions, error) {
	features, err := regionFeatures(data)
	if err != nil {
		return nil, err
	}
	r := &Regions{Name: name}
	for i, f := range features {
		var mp orb.MultiPolygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			continue
		}
		reg := Region{Code: propString(f.Properties, "code"), Name: propString(f.Properties, "name"),
			NameEn: propString(f.Properties, "name_en"), Geometry: mp}
		if reg.Code == "" {
			reg.Code = propString(f.Properties, "adcode")
		}
		if reg.Code == "" {
			reg.Code = strconv.Itoa(i)
		}
		for _, p := range mp {
			if len(p) == 0 || len(p[0]) < 4 {
				continue
			}
			reg.area += math.Abs(planar.Area(p))
			b := p.Bound()
			if len(r.polys) == 0 {
				r.bound = b
			} else {
				r.bound = r.bound.Union(b)
			}
			r.polys = append(r.polys, indexedPolygon{poly: p, bound: b, region: len(r.regions)})
		}
		r.regions = append(r.regions, reg)
	}
	if len(r.polys) == 0 {
		return nil, fmt.Errorf("regions %s: %w", name, ErrNoPolygon)
	}
	r.index()
	return r, nil
}

func regionFeatures(data []byte) ([]*geojson.Feature, error) {
	if fc, err := geojson.UnmarshalFeatureCollection(data); err == nil && len(fc.Features) > 0 {
		return fc.Features, nil
	}
	if f, err := geojson.UnmarshalFeature(data); err == nil && f.Geometry != nil {
		return []*geojson.Feature{f}, nil
	}
	g, err := geojson.UnmarshalGeometry(data)
	if err != nil {
		return nil, fmt.Errorf("not a GeoJSON document: %w", err)
	}
	return []*geojson.Feature{geojson.NewFeature(g.Geometry())}, nil
}

func propString(p geojson.Properties, key string) string {
	switch v := p[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// index builds the grid of cells over the regions' bound.
func (r *Regions) index() {
	r.cols, r.rows = regionGrid, regionGrid
	r.cells = make([][]int32, r.cols*r.rows)
	for i, p := range r.polys {
		c0, r0 := r.cell(p.bound.Min)
		c1, r1 := r.cell(p.bound.Max)
		for row := r0; row <= r1; row++ {
			for col := c0; col <= c1; col++ {
				k := row*r.cols + col
				r.cells[k] = append(r.cells[k], int32(i))
			}
		}
	}
}

// cell returns the grid column and row of a point inside the bound.
func (r *Regions) cell(p orb.Point) (int, int) {
	fx := (p[0] - r.bound.Min[0]) / (r.bound.Max[0] - r.bound.Min[0])
	fy := (p[1] - r.bound.Min[1]) / (r.bound.Max[1] - r.bound.Min[1])
	clamp := func(f float64, n int) int {
		i := int(f * float64(n))
		if i < 0 || math.IsNaN(f) {
			return 0
		}
		if i >= n {
			return n - 1
		}
		return i
	}
	return clamp(fx, r.cols), clamp(fy, r.rows)
}

// Locate returns the region containing the point (lon, lat). Where regions
// overlap (a functional zone inside a district), the smallest one wins.
func (r *Regions) Locate(lon, lat float64) (Region, bool) {
	p := orb.Point{lon, lat}
	if !r.bound.Contains(p) {
		return Region{}, false
	}
	col, row := r.cell(p)
	best := -1
	for _, i := range r.cells[row*r.cols+col] {
		ip := r.polys[i]
		if !ip.bound.Contains(p) || !planar.PolygonContains(ip.poly, p) {
			continue
		}
		if best < 0 || r.regions[ip.region].area < r.regions[best].area {
			best = ip.region
		}
	}
	if best < 0 {
		return Region{}, false
	}
	return r.regions[best], true
}

// Contains reports whether the point (lon, lat) lies in any region.
func (r *Regions) Contains(lon, lat float64) bool {
	_, ok := r.Locate(lon, lat)
	return ok
}

// List returns the regions in file order.
func (r *Regions) List() []Region { return r.regions }

// Bound returns the bounding box of all regions.
func (r *Regions) Bound() orb.Bound { return r.bound }

// String describes the regions for logs.
func (r *Regions) String() string {
	return fmt.Sprintf("%s (%d regions, %d polygons)", r.Name, len(r.regions), len(r.polys))
}
