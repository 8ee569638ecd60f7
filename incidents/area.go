package incidents

import (
	"fmt"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// ServiceArea is the region a hotline serves: calls outside it are refused at
// intake. It is the union of the polygons of a GeoJSON file (by default the
// coarse Zhuhai district outlines).
type ServiceArea struct {
	Name     string
	polygons []orb.Polygon
	bounds   []orb.Bound
	all      orb.Bound
}

// ParseServiceArea reads a GeoJSON FeatureCollection, Feature or geometry
// and keeps its Polygons and MultiPolygons. It returns an *Error with
// CodeInvalid when the data is not GeoJSON or holds no polygon.
func ParseServiceArea(name string, data []byte) (*ServiceArea, error) {
	geoms, err := polygonalGeometries(data)
	if err != nil {
		return nil, err
	}
	a := &ServiceArea{Name: name}
	add := func(p orb.Polygon) {
		if len(p) == 0 || len(p[0]) < 4 {
			return
		}
		b := p.Bound()
		if len(a.polygons) == 0 {
			a.all = b
		} else {
			a.all = a.all.Union(b)
		}
		a.polygons = append(a.polygons, p)
		a.bounds = append(a.bounds, b)
	}
	for _, g := range geoms {
		switch g := g.(type) {
		case orb.Polygon:
			add(g)
		case orb.MultiPolygon:
			for _, p := range g {
				add(p)
			}
		}
	}
	if len(a.polygons) == 0 {
		return nil, Errorf(CodeInvalid, "service area %s has no polygon", name)
	}
	return a, nil
}

// polygonalGeometries returns the geometries of a GeoJSON document.
func polygonalGeometries(data []byte) ([]orb.Geometry, error) {
	if fc, err := geojson.UnmarshalFeatureCollection(data); err == nil && len(fc.Features) > 0 {
		out := make([]orb.Geometry, 0, len(fc.Features))
		for _, f := range fc.Features {
			out = append(out, f.Geometry)
		}
		return out, nil
	}
	if f, err := geojson.UnmarshalFeature(data); err == nil && f.Geometry != nil {
		return []orb.Geometry{f.Geometry}, nil
	}
	g, err := geojson.UnmarshalGeometry(data)
	if err != nil {
		return nil, Errorf(CodeInvalid, "not a GeoJSON document: %v", err)
	}
	return []orb.Geometry{g.Geometry()}, nil
}

// Contains reports whether the point (lon, lat) lies inside the area.
func (a *ServiceArea) Contains(lon, lat float64) bool {
	p := orb.Point{lon, lat}
	if !a.all.Contains(p) {
		return false
	}
	for i, poly := range a.polygons {
		if a.bounds[i].Contains(p) && planar.PolygonContains(poly, p) {
			return true
		}
	}
	return false
}

// Bound returns the bounding box of the area.
func (a *ServiceArea) Bound() orb.Bound { return a.all }

// String describes the area for logs.
func (a *ServiceArea) String() string {
	return fmt.Sprintf("%s (%d polygons)", a.Name, len(a.polygons))
}
