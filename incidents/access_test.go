package incidents_test

import (
	"testing"

	"flare/incidents"
)

func TestRoles(t *testing.T) {
	for _, r := range incidents.Roles() {
		if !r.Valid() {
			t.Errorf("%s.Valid() = false, want true", r)
		}
	}
	for _, r := range []incidents.Role{"", "mayor", "Leader", incidents.RoleFlare} {
		if r.Valid() {
			t.Errorf("Role(%q).Valid() = true, want false: no token or user may carry it", r)
		}
	}
}

func TestRoleMay(t *testing.T) {
	tests := []struct {
		role incidents.Role
		op   incidents.Operation
		want bool
	}{
		{incidents.RoleAgent, incidents.OpCreateCall, true},
		{incidents.RoleSystem, incidents.OpCreateCall, true},
		{incidents.RoleLeader, incidents.OpCreateCall, false},
		{incidents.RoleDept, incidents.OpReadCalls, false},
		{incidents.RoleHotline, incidents.OpReadCalls, true},
		{incidents.RoleHotline, incidents.OpRecordCallbacks, true},
		{incidents.RoleDept, incidents.OpRecordCallbacks, false},
		{incidents.RoleAgent, incidents.OpReadIncidents, false},
		{incidents.RoleDept, incidents.OpActOnTasks, true},
		{incidents.RoleDept, incidents.OpActOnIncidents, false},
		{incidents.RoleSystem, incidents.OpSubscribe, false},
		{incidents.RoleHotline, incidents.OpReadMetrics, false},
		{incidents.RoleAdmin, incidents.OpReadAudit, true},
		{incidents.RoleFlare, incidents.OpReadReference, false},
		{incidents.RoleLeader, "nothing.at_all", false},
	}
	for _, tt := range tests {
		if got := tt.role.May(tt.op); got != tt.want {
			t.Errorf("%s.May(%s) = %v, want %v", tt.role, tt.op, got, tt.want)
		}
	}
}

// TestViewsShowTheirAudience checks who receives an event live, by its
// audience alone.
func TestViewsShowTheirAudience(t *testing.T) {
	floor := incidents.Audience{CallFloor: true}
	hotline := incidents.Audience{Hotline: true}
	water := incidents.Audience{Depts: []string{"gas", "water"}}
	leaders := incidents.Audience{}
	tests := []struct {
		role incidents.Role
		dept string
		aud  incidents.Audience
		want bool
	}{
		{incidents.RoleLeader, "", leaders, true},
		{incidents.RoleAdmin, "", water, true},
		{incidents.RoleAgent, "", floor, true},
		{incidents.RoleAgent, "", hotline, false},
		{incidents.RoleAgent, "", leaders, false},
		{incidents.RoleHotline, "", hotline, true},
		{incidents.RoleHotline, "", floor, false},
		{incidents.RoleDept, "water", water, true},
		{incidents.RoleDept, "power", water, false},
		{incidents.RoleDept, "", water, false},
		{incidents.RoleDept, "water", floor, false},
		{incidents.RoleSystem, "", incidents.Audience{CallFloor: true, Hotline: true, Depts: []string{"water"}}, false},
	}
	for _, tt := range tests {
		if got := tt.aud.Shows(tt.role.View(), tt.dept); got != tt.want {
			t.Errorf("%+v.Shows(%s view, %q) = %v, want %v", tt.aud, tt.role, tt.dept, got, tt.want)
		}
	}
}
