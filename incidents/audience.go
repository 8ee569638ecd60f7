package incidents

import (
	"slices"
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
