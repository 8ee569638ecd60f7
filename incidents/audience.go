package incidents

import (
	"encoding/json"
	"slices"
	"strings"
)

// Audience is who may see an event besides the leadership group and the
// administrators, who see every event. The domain decides it when it
// appends an event (EventInput.Audience: CallReceivedAudience,
// IncidentAudience, TaskAudience, AlertAudience) and the store keeps it with
// the event (Event.Audience), so that the hub filters on data it was given.
type Audience struct {
	// CallFloor is true when call-floor agents may see the event.
	CallFloor bool `json:"floor,omitempty"`
	// Hotline is true when the hotline management centre's staff may see
	// the event.
	Hotline bool `json:"hotline,omitempty"`
	// Depts lists the member departments that may see the event, sorted,
	// without duplicates.
	Depts []string `json:"depts,omitempty"`
}

// Includes reports whether dept is one of the audience's departments.
func (a Audience) Includes(dept string) bool {
	_, ok := slices.BinarySearch(a.Depts, dept)
	return ok && dept != ""
}

// IncidentAudience is the audience of an incident's events: the departments
// with a live task on it (Incident.Departments).
func IncidentAudience(inc Incident) Audience {
	return Audience{Depts: sortedDepts(inc.Departments...)}
}

// TaskAudience is the audience of a task's events: its department, the one
// it was reassigned from (previous, "" for none), and the hotline staff, who
// verify the work and call citizens back.
func TaskAudience(t Task, previous string) Audience {
	return Audience{Hotline: true, Depts: sortedDepts(t.Dept, previous)}
}

// AlertAudience is the audience of an alert: the call floor for an urgent
// call's alert (it finds its call by call_id), the late department for an
// escalation; the leadership group alone for the others.
func AlertAudience(a Alert) Audience {
	switch a.Kind {
	case AlertUrgentCall:
		return Audience{CallFloor: true}
	case AlertEscalation:
		return Audience{Depts: sortedDepts(a.Dept)}
	}
	return Audience{}
}

// sortedDepts returns the non-empty codes sorted, without duplicates; nil
// for none.
func sortedDepts(codes ...string) []string {
	var out []string
	for _, c := range codes {
		if c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CanReadIncident reports whether actor may read inc: the leadership group
// and the administrators any, a department one it holds a live task on, the
// call floor none.
func CanReadIncident(actor Actor, inc Incident) bool {
	switch actor.Role {
	case RoleDept:
		return actor.Dept != "" && slices.Contains(inc.Departments, actor.Dept)
	case RoleAgent:
		return false
	}
	return actor.leads()
}

// CanReadTask reports whether actor may read t: a department only a task it
// holds now, the others any.
func CanReadTask(actor Actor, t Task) bool {
	if actor.Role == RoleDept {
		return actor.Dept != "" && t.Dept == actor.Dept
	}
	return actor.hotline()
}

// CallReceivedAudience is the audience of a call.received event: the call
// floor, and the hotline staff who follow every work order.
func CallReceivedAudience() Audience { return Audience{CallFloor: true, Hotline: true} }

// audienceFields are the fields of an event's data that AudienceOf reads.
type audienceFields struct {
	Dept         string   `json:"dept"`
	PreviousDept string   `json:"previous_dept"`
	Departments  []string `json:"departments"`
	Urgent       bool     `json:"urgent"`
}

// AudienceOf guesses who may see ev from its type and data, as the hub did
// before events carried their audience. The domain no longer uses it: it
// gives every event its audience when it appends it, and an event's
// Audience is what counts (this guess lets any data with "urgent": true
// reach the call floor, and keeps a department whose task moved away in the
// audience). It remains only until the hub reads Event.Audience. Its old
// convention:
//
//   - call.* events (call.received, and later call updates) are for the call
//     floor.
//   - Any event whose data has "urgent": true is for the call floor too (an
//     urgent flag, or an alert raised by one, is shown to the agents).
//   - data.dept (a department code) names the department an event is about:
//     every task.* event must carry it (the department the task is
//     dispatched to), and a task moved to another department (reassign,
//     return) carries the one it left in data.previous_dept; both see it.
//   - data.departments (an array of department codes) names every
//     department concerned: every incident.* event must carry the
//     departments that hold tasks on the incident, so that each of them sees
//     the incident's opening, grading, escalation and closing.
//   - Anything else (alert.*, assessment, administration) is for the
//     leadership group and the administrators only.
//
// These fields are read from any event type, so a later type (callback.*,
// extension.*) reaches a department by carrying data.dept. Data that is not a
// JSON object gives an audience of leaders and administrators only (or the
// call floor too for call.* events).
func AudienceOf(ev Event) Audience {
	var a Audience
	if strings.HasPrefix(ev.Type, "call.") {
		a.CallFloor = true
	}
	var f audienceFields
	if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &f) != nil {
		return a
	}
	if f.Urgent {
		a.CallFloor = true
	}
	n := len(f.Departments)
	if f.Dept != "" {
		n++
	}
	if f.PreviousDept != "" {
		n++
	}
	if n == 0 {
		return a
	}
	depts := make([]string, 0, n)
	for _, d := range f.Departments {
		if d != "" {
			depts = append(depts, d)
		}
	}
	if f.Dept != "" {
		depts = append(depts, f.Dept)
	}
	if f.PreviousDept != "" {
		depts = append(depts, f.PreviousDept)
	}
	slices.Sort(depts)
	a.Depts = slices.Compact(depts)
	return a
}
