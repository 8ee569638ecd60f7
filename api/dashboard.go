package api

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/paulmach/orb/geojson"

	"flare/incidents"
)

// dashboardRoutes registers what the web dashboard needs besides the API:
// the sign-in endpoints, the district outlines, and the dashboard itself on
// every path no other route takes.
func (s *Server) dashboardRoutes() {
	s.sessionRoutes()
	s.mux.Handle("GET /api/v1/districts", s.authorizeFunc(s.handleDistricts, incidents.OpReadReference))
	if s.cfg.Dashboard != nil {
		s.mux.Handle("/", s.cfg.Dashboard)
	}
}

// districtsJSON encodes the districts once.
type districtsJSON struct {
	once sync.Once
	data []byte
	err  error
}

// handleDistricts answers GET /api/v1/districts: the jurisdictions as a
// GeoJSON FeatureCollection, each feature with code, name and name_en.
func (s *Server) handleDistricts(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Districts == nil {
		writeError(w, r, incidents.Errorf(incidents.CodeNotFound, "this server has no district outlines"))
		return
	}
	d := &s.districts
	d.once.Do(func() { d.data, d.err = encodeDistricts(s.cfg.Districts) })
	if d.err != nil {
		writeError(w, r, d.err)
		return
	}
	w.Header().Set("Content-Type", "application/geo+json; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(d.data)
}

// encodeDistricts returns regions as a GeoJSON FeatureCollection.
func encodeDistricts(regions *incidents.Regions) ([]byte, error) {
	fc := geojson.NewFeatureCollection()
	for _, reg := range regions.List() {
		f := geojson.NewFeature(reg.Geometry)
		f.Properties["code"] = reg.Code
		f.Properties["name"] = reg.Name
		if reg.NameEn != "" {
			f.Properties["name_en"] = reg.NameEn
		}
		fc.Append(f)
	}
	return json.Marshal(fc)
}
