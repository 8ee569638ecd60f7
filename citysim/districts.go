package citysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// District is one jurisdiction: a district or a functional zone, with its
// outline.
type District struct {
	Code   string // adcode, or the file's code property
	Name   string // Chinese name
	NameEn string // English name, when the file gives one
	Shape  orb.MultiPolygon
	Bound  orb.Bound
	Area   float64 // in square degrees, for weighting
}

// ParseDistricts reads jurisdictions from a GeoJSON FeatureCollection of
// Polygon or MultiPolygon features. It takes the code from the properties
// adcode (number or text) or code, and the names from name and name_en, so
// that it reads both Flare's coarse default file and DataV boundary files.
func ParseDistricts(data []byte) ([]District, error) {
	fc, err := geojson.UnmarshalFeatureCollection(data)
	if err != nil {
		return nil, fmt.Errorf("parse districts: %w", err)
	}
	var out []District
	for i, f := range fc.Features {
		d := District{Name: text(f.Properties["name"]), NameEn: text(f.Properties["name_en"])}
		d.Code = text(f.Properties["adcode"])
		if d.Code == "" {
			d.Code = text(f.Properties["code"])
		}
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			d.Shape = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			d.Shape = g
		default:
			return nil, fmt.Errorf("parse districts: feature %d (%s) is a %T, want a Polygon or MultiPolygon", i, d.Name, f.Geometry)
		}
		if d.Name == "" {
			d.Name = d.Code
		}
		if d.Name == "" {
			return nil, fmt.Errorf("parse districts: feature %d has no name, adcode or code", i)
		}
		d.Bound = d.Shape.Bound()
		d.Area = math.Abs(planar.Area(d.Shape))
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("parse districts: no features")
	}
	return out, nil
}

// text renders a property as text: strings as they are, whole numbers
// without a fraction.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	return ""
}

// Contains reports whether the district holds the point.
func (d *District) Contains(p orb.Point) bool {
	return d.Bound.Contains(p) && planar.MultiPolygonContains(d.Shape, p)
}

// Locate returns the smallest district holding the point (a functional zone
// inside a district wins over the district), or nil.
func Locate(ds []District, p orb.Point) *District {
	var best *District
	for i := range ds {
		if ds[i].Contains(p) && (best == nil || ds[i].Area < best.Area) {
			best = &ds[i]
		}
	}
	return best
}
