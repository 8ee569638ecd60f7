package incidents_test

import (
	"testing"

	"flare/incidents"
)

func TestAudienceIncludes(t *testing.T) {
	a := incidents.Audience{Depts: []string{"fire", "water"}}
	for dept, want := range map[string]bool{"water": true, "fire": true, "power": false, "": false} {
		if got := a.Includes(dept); got != want {
			t.Errorf("Audience%v.Includes(%q) = %v, want %v", a.Depts, dept, got, want)
		}
	}
}
