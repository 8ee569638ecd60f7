package incidents_test

import (
	"testing"

	"flare/incidents"
	"flare/incidents/defaults"
)

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
