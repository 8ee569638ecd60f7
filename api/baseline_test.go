package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"flare/api"
	"flare/geo"
	"flare/incidents"
	"flare/incidents/tracking"
)

// baselineServer is a test server whose detector's baseline has seen four
// weeks of waterlogging calls at one street corner every day from 13:00 to
// 14:00 UTC.
func baselineServer(t *testing.T) *testServer {
	t.Helper()
	live := &tracking.Live{}
	ts := newTestServerWith(t, func(c *api.Config) { c.Baseline = live })
	var pts []geo.Point
	for d := 0; d < 28; d++ {
		day := ts.now.Add(-time.Duration(28-d) * 24 * time.Hour)
		for i := 0; i < 10; i++ {
			pts = append(pts, geo.Point{ID: day.Format("0102") + string(rune('a'+i)), Time: day.Add(time.Duration(i*6) * time.Minute),
				Lat: 22.2215, Lon: 113.5485, Category: "waterlogging"})
		}
	}
	tr, err := tracking.New(nil, geo.DefaultRules(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tr.UseBaseline(geo.BuildBaseline(geo.BaselineOptions{}, pts, ts.now), tracking.SurgeOptions{Live: live})
	return ts
}

type baselineBody struct {
	Type     string `json:"type"`
	Slot     int    `json:"slot"`
	Features []struct {
		Geometry struct {
			Type        string         `json:"type"`
			Coordinates [][][2]float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties struct {
			Kind     string  `json:"kind"`
			Expected float64 `json:"expected"`
			Seen     float64 `json:"seen"`
		} `json:"properties"`
	} `json:"features"`
}

func TestBaselineServesTheCellsExpectedCallsAtAnHourOfTheWeek(t *testing.T) {
	ts := baselineServer(t)
	leader := ts.token(t, incidents.RoleLeader, "")
	get := func(q string) baselineBody {
		t.Helper()
		r := ts.do(t, http.MethodGet, "/api/v1/baseline"+q, leader, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET baseline%s = %d %s", q, r.status, r.body)
		}
		var b baselineBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	busy := get("?category=waterlogging&at=2026-09-14T13:30:00Z")
	if busy.Type != "FeatureCollection" || len(busy.Features) != 1 {
		t.Fatalf("baseline at 13:30 = %+v, want one cell", busy)
	}
	f := busy.Features[0]
	ring := f.Geometry.Coordinates
	if f.Geometry.Type != "Polygon" || len(ring) != 1 || len(ring[0]) != 5 || f.Properties.Kind != "cell" || f.Properties.Expected < 3 || f.Properties.Seen < 100 {
		t.Errorf("the corner's cell = %+v, want a closed square expecting several calls in the hour, having seen hundreds", f)
	}
	quiet := get("?category=waterlogging&at=2026-09-14T03:30:00Z")
	if len(quiet.Features) != 1 || quiet.Features[0].Properties.Expected >= f.Properties.Expected/5 {
		t.Errorf("at 03:30 the cell expects %+v, want far fewer than %.2f", quiet.Features, f.Properties.Expected)
	}
	if other := get("?category=gas_leak&at=2026-09-14T13:30:00Z"); len(other.Features) == 1 && other.Features[0].Properties.Expected >= f.Properties.Expected/5 {
		t.Errorf("gas leaks expected %.2f, want far fewer than waterlogging's %.2f", other.Features[0].Properties.Expected, f.Properties.Expected)
	}
	if all := get(""); len(all.Features) != 1 {
		t.Errorf("with no parameters: %d features, want the one cell for every category now", len(all.Features))
	}
}

func TestBaselineRejectsBadParametersAndOtherRoles(t *testing.T) {
	ts := baselineServer(t)
	leader := ts.token(t, incidents.RoleLeader, "")
	for q, field := range map[string]string{
		"?at=yesterday":                 "at",
		"?at=":                          "at",
		"?category=meteor":              "category",
		"?category=waterlogging&hour=3": "hour",
	} {
		r := ts.do(t, http.MethodGet, "/api/v1/baseline"+q, leader, "", nil)
		if r.status != http.StatusBadRequest || r.errorBody(t).Field != field {
			t.Errorf("GET baseline%s = %d %s, want 400 naming %s", q, r.status, r.body, field)
		}
	}
	for _, role := range []incidents.Role{incidents.RoleAgent, incidents.RoleDept} {
		if r := ts.do(t, http.MethodGet, "/api/v1/baseline", ts.token(t, role, "water"), "", nil); r.status != http.StatusForbidden {
			t.Errorf("%s: GET baseline = %d, want 403", role, r.status)
		}
	}
}

func TestBaselineOnANodeWithoutTheDetectorIsUnavailable(t *testing.T) {
	ts := newTestServerWith(t, func(c *api.Config) { c.Baseline = &tracking.Live{} })
	r := ts.do(t, http.MethodGet, "/api/v1/baseline", ts.token(t, incidents.RoleAdmin, ""), "", nil)
	if r.status != http.StatusServiceUnavailable || r.errorBody(t).Code != incidents.CodeUnavailable {
		t.Errorf("GET baseline = %d %s, want 503 unavailable", r.status, r.body)
	}
}
