package incidents_test

import (
	"os"
	"testing"

	"flare/incidents"
	"flare/incidents/defaults"
)

func TestLocateFindsTheJurisdiction(t *testing.T) {
	coarse, err := incidents.ParseRegions("default", defaults.ZhuhaiDistricts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sharedData(t, "zhuhai-districts.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := incidents.ParseRegions("real", data)
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
			regions *incidents.Regions
			want    string
		}{{coarse, p.coarse}, {real, p.actual}} {
			got, ok := c.regions.Locate(p.lon, p.lat)
			if got.Code != c.want || ok != (c.want != "") {
				t.Errorf("%s Locate(%s) = %q, %v; want %q", c.regions.Name, p.name, got.Code, ok, c.want)
			}
		}
	}
}

func TestParseDepartmentsRoutesEveryCategory(t *testing.T) {
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := incidents.ParseDepartments(defaults.Departments, tax)
	if err != nil {
		t.Fatalf("ParseDepartments(default) = %v", err)
	}
	if n := len(deps.List); n < 25 {
		t.Errorf("default departments = %d, want about 25 and the districts", n)
	}
	routes := map[string][]string{
		"gas_leak": {"gas", "fire_rescue"}, "waterlogging": {"water"}, "power_outage": {"power"},
		"traffic": {"traffic_police"}, "fallen_tree": {"urban"},
	}
	for cat, want := range routes {
		got := deps.Owners(cat)
		if len(got) != len(want) {
			t.Errorf("Owners(%s) = %v, want %v", cat, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("Owners(%s) = %v, want %v", cat, got, want)
			}
		}
	}
	if gov, ok := deps.DistrictGovernment("440403"); !ok || gov != "doumen" {
		t.Errorf("DistrictGovernment(440403) = %q, %v; want doumen", gov, ok)
	}
	bad := []struct{ name, data, field string }{
		{"unknown category", `{"departments":[{"code":"a","name_zh":"甲","name_en":"A","categories":["aliens"]}]}`, "departments[0].categories"},
		{"duplicate code", `{"departments":[{"code":"a","name_zh":"甲","name_en":"A","categories":[]},{"code":"a","name_zh":"乙","name_en":"B","categories":[]}]}`, "departments[1].code"},
		{"orphan category", `{"departments":[{"code":"a","name_zh":"甲","name_en":"A","categories":["fire"]}]}`, "departments"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := incidents.ParseDepartments([]byte(b.data), tax)
			var e *incidents.Error
			if !asError(err, &e) || e.Field != b.field {
				t.Errorf("ParseDepartments(%s) = %v, want invalid on %q", b.data, err, b.field)
			}
		})
	}
}
