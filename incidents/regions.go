package incidents

import "flare/geo"

// Region is one named area: a district, a functional zone, or a piece of a
// service area (see geo.Region).
type Region = geo.Region

// Regions is a set of regions with a spatial index: the jurisdiction of a
// point, and whether it lies in the service area (see geo.Regions).
type Regions = geo.Regions

// ParseRegions reads regions from GeoJSON (see geo.ParseRegions). It returns
// an *Error with CodeInvalid when the data is not GeoJSON or holds no
// polygon.
func ParseRegions(name string, data []byte) (*Regions, error) {
	r, err := geo.ParseRegions(name, data)
	if err != nil {
		return nil, &Error{Code: CodeInvalid, Message: err.Error()}
	}
	return r, nil
}
