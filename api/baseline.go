package api

import (
	"math"
	"net/http"
	"strings"
	"time"

	"flare/incidents"
	"flare/incidents/tracking"
)

// errNoBaseline answers on a node that does not run the detector: the
// baseline lives with the tracker, on the one node that holds the
// detector lease.
var errNoBaseline = incidents.Errorf(incidents.CodeUnavailable,
	"the baseline is kept by the node that runs the detector, and this node does not run it now; ask again (another node may answer)")

// baselineFeature is one GeoJSON feature of GET /api/v1/baseline: a place
// cell (Polygon) with the calls expected in the hour and the weighted calls
// seen, or a hot spot (Point).
type baselineFeature struct {
	Type       string         `json:"type"`
	Geometry   map[string]any `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

type baselineCollection struct {
	Type     string            `json:"type"`
	Slot     int               `json:"slot"` // hour of the week, 0 = Monday 00:00
	At       time.Time         `json:"at"`
	Category string            `json:"category"`
	Features []baselineFeature `json:"features"`
}

// handleBaseline serves the baseline of normal call levels at one hour of
// the week for a category, a category group or every category (all), as
// GeoJSON, with the tracker's hot spots.
func (s *Server) handleBaseline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for name := range q {
		if name != "category" && name != "at" {
			writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, name, "unknown parameter %q: the baseline takes category and at", name))
			return
		}
	}
	at := s.cfg.Now()
	if v := q.Get("at"); v != "" || q.Has("at") {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, r, incidents.FieldError(incidents.CodeBadRequest, "at", "at must be an RFC 3339 time"))
			return
		}
		at = t
	}
	category := q.Get("category")
	if category == "" {
		category = "all"
	}
	cats, err := s.baselineCategories(category)
	if err != nil {
		writeError(w, r, err)
		return
	}
	view, ok := s.cfg.Baseline.Baseline(at, cats)
	if !ok {
		writeError(w, r, errNoBaseline)
		return
	}
	out := baselineCollection{Type: "FeatureCollection", Slot: view.Slot, At: at.UTC(), Category: category, Features: make([]baselineFeature, 0, len(view.Cells)+len(view.Hotspots))}
	for _, c := range view.Cells {
		b := c.Bound
		ring := [][2]float64{{b.Min[0], b.Min[1]}, {b.Max[0], b.Min[1]}, {b.Max[0], b.Max[1]}, {b.Min[0], b.Max[1]}, {b.Min[0], b.Min[1]}}
		out.Features = append(out.Features, baselineFeature{Type: "Feature",
			Geometry:   map[string]any{"type": "Polygon", "coordinates": [][][2]float64{ring}},
			Properties: map[string]any{"kind": "cell", "expected": round3(c.Expected), "seen": round3(c.Seen)}})
	}
	for _, h := range view.Hotspots {
		if len(cats) > 0 && !hotspotOf(h, cats) {
			continue
		}
		out.Features = append(out.Features, baselineFeature{Type: "Feature",
			Geometry: map[string]any{"type": "Point", "coordinates": h.Centroid},
			Properties: map[string]any{"kind": "hotspot", "rule": h.Rule, "calls": h.Calls, "radius_m": h.RadiusM, "categories": h.Categories,
				"observed": h.Observed, "expected": h.Expected, "score": h.Score, "recurrence_days": h.RecurrenceDays, "window_s": h.WindowS, "at": h.At}})
	}
	writeJSON(w, http.StatusOK, out)
}

// baselineCategories reads the category parameter: all, a category group
// or comma-separated categories of the taxonomy; nil for all.
func (s *Server) baselineCategories(v string) ([]string, error) {
	if v == "all" {
		return nil, nil
	}
	tax := s.cfg.Intake.Taxonomy()
	for _, g := range tax.Groups {
		if g.Code == v {
			var out []string
			for _, c := range tax.Categories {
				if c.Group == v {
					out = append(out, c.Code)
				}
			}
			return out, nil
		}
	}
	var out []string
	for _, c := range strings.Split(v, ",") {
		if _, ok := tax.Category(c); !ok {
			return nil, incidents.FieldError(incidents.CodeBadRequest, "category", "unknown category or group %q: all, a group or categories of GET /api/v1/categories", c)
		}
		out = append(out, c)
	}
	return out, nil
}

func hotspotOf(h tracking.Hotspot, cats []string) bool {
	for _, c := range cats {
		if h.Categories[c] > 0 {
			return true
		}
	}
	return false
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
