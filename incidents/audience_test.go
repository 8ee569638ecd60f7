package incidents_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"flare/incidents"
)

func TestAudienceOf(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data string
		want incidents.Audience
	}{
		{"call received goes to the call floor", "call.received", `{"id":"c1","urgent":false}`, incidents.Audience{CallFloor: true}},
		{"urgent call goes to the call floor", "call.received", `{"id":"c1","urgent":true}`, incidents.Audience{CallFloor: true}},
		{"alert stays with leadership", "alert.raised", `{"incident":"i1"}`, incidents.Audience{}},
		{"urgent alert reaches the call floor", "alert.raised", `{"incident":"i1","urgent":true}`, incidents.Audience{CallFloor: true}},
		{"task goes to its department", "task.dispatched", `{"task":"t1","dept":"water"}`, incidents.Audience{Depts: []string{"water"}}},
		{"reassigned task goes to both departments", "task.reassigned", `{"dept":"water","previous_dept":"power"}`, incidents.Audience{Depts: []string{"power", "water"}}},
		{"incident goes to every department with tasks", "incident.graded", `{"departments":["water","fire","water",""]}`, incidents.Audience{Depts: []string{"fire", "water"}}},
		{"data that is not an object stays with leadership", "task.dispatched", `[1,2]`, incidents.Audience{}},
		{"empty data stays with leadership", "incident.closed", ``, incidents.Audience{}},
		{"call event with bad data still reaches the call floor", "call.received", `"x"`, incidents.Audience{CallFloor: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := incidents.Event{Seq: 1, Type: tt.typ, Data: json.RawMessage(tt.data)}
			got := incidents.AudienceOf(ev)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AudienceOf(%s %s) = %+v, want %+v", tt.typ, tt.data, got, tt.want)
			}
		})
	}
}

func TestAudienceIncludes(t *testing.T) {
	a := incidents.Audience{Depts: []string{"fire", "water"}}
	for dept, want := range map[string]bool{"water": true, "fire": true, "power": false, "": false} {
		if got := a.Includes(dept); got != want {
			t.Errorf("Audience%v.Includes(%q) = %v, want %v", a.Depts, dept, got, want)
		}
	}
}
