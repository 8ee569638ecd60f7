package geo_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"flare/geo"
	"flare/incidents/defaults"
)

func TestLocateFindsTheJurisdiction(t *testing.T) {
	coarse, err := geo.ParseRegions("default", defaults.ZhuhaiDistricts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sharedData(t, "zhuhai-districts.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := geo.ParseRegions("real", data)
	if err != nil {
		t.Fatal(err)
	}
	places := []struct {
		name           string
		lon, lat       float64
		coarse, actual string // "" = outside
	}{
		{"Gongbei", 113.5497, 22.2220, "440402", "440402"},
		{"Tangjiawan", 113.5850, 22.3600, "440402", "440402"},
		{"Doumen Jingan", 113.2960, 22.2090, "440403", "440403"},
		{"Doumen Baijiao", 113.2550, 22.3400, "440403", "440403"},
		{"Sanzao", 113.3620, 22.0400, "440404", "440404"},
		{"Hengqin", 113.5300, 22.1250, "hengqin", "440402"},
		{"Macau", 113.5439, 22.1987, "", ""},
		{"Beijing", 116.4074, 39.9042, "", ""},
	}
	for _, p := range places {
		for _, c := range []struct {
			regions *geo.Regions
			want    string
		}{{coarse, p.coarse}, {real, p.actual}} {
			got, ok := c.regions.Locate(p.lon, p.lat)
			if got.Code != c.want || ok != (c.want != "") {
				t.Errorf("%s Locate(%s) = %q, %v; want %q", c.regions.Name, p.name, got.Code, ok, c.want)
			}
		}
	}
}

func TestParseRegionsRefusesDataWithoutPolygons(t *testing.T) {
	if _, err := geo.ParseRegions("x", []byte(`{"type":"Point","coordinates":[1,2]}`)); !errors.Is(err, geo.ErrNoPolygon) {
		t.Errorf("ParseRegions(Point) = %v, want ErrNoPolygon", err)
	}
	if _, err := geo.ParseRegions("x", []byte(`not json`)); err == nil {
		t.Error("ParseRegions(not json) succeeded, want an error")
	}
}

// sharedData returns the path of a file in the shared reference data, or
// skips the test when the folder is absent (as on a user's machine).
func sharedData(tb testing.TB, name string) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", name)
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("reference data %s not found (../shared/data is only on developer and CI machines)", path)
	}
	return path
}
