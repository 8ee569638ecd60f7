package incidents

import "slices"

// Role is what a user or a token is allowed to do in Flare. It is the one
// enumeration of roles: tokens, users, actors and the hub's subscriptions
// all carry it.
type Role string

// The roles a token or a user may carry.
const (
	RoleLeader  Role = "leader"  // leadership group and duty officers: see everything, command
	RoleAgent   Role = "agent"   // call floor: register calls
	RoleHotline Role = "hotline" // hotline management centre: verify replies, call back, check quality
	RoleAdmin   Role = "admin"   // administrators
	RoleDept    Role = "dept"    // a member department: its own tasks only
	RoleSystem  Role = "system"  // another system (the call centre's ACD/CTI, portals): integrations
)

// RoleFlare is the role of Flare's own actor (System: the detector, the
// supervision timers). No token or user carries it.
const RoleFlare Role = "flare"

// Roles returns the roles a token or a user may carry, in a fixed order.
func Roles() []Role {
	return []Role{RoleLeader, RoleAgent, RoleHotline, RoleAdmin, RoleDept, RoleSystem}
}

// Valid reports whether r is a role a token or a user may carry.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Operation is something a request asks to do, checked against the role
// before the request reaches the domain. The domain then checks the record
// itself (a department acts only on its own tasks, reads only the incidents
// it works on).
type Operation string

// The operations.
const (
	OpReadReference   Operation = "reference.read"   // categories, departments, districts, who am I
	OpReadMetrics     Operation = "metrics.read"     // Prometheus metrics
	OpCreateCall      Operation = "calls.create"     // register a call
	OpReadCalls       Operation = "calls.read"       // read and list calls
	OpSubscribe       Operation = "events.subscribe" // the live event stream (WebSocket)
	OpReadPresence    Operation = "presence.read"    // who is connected
	OpReadIncidents   Operation = "incidents.read"   // read and list incidents and their tasks
	OpActOnIncidents  Operation = "incidents.act"    // confirm, grade, dispatch, merge, close
	OpReadTasks       Operation = "tasks.read"       // read and list tasks
	OpActOnTasks      Operation = "tasks.act"        // task actions (which ones: the domain decides)
	OpRecordCallbacks Operation = "callbacks.record" // a callback to the citizen
	OpReadTimers      Operation = "timers.read"      // a task's supervision timers
	OpReadAudit       Operation = "audit.read"       // the audit log
)

// permissions is who may do what: the one table of route-level
// permissions. A role not listed for an operation is refused with
// CodeForbidden.
var permissions = map[Operation][]Role{
	OpReadReference:   {RoleLeader, RoleAgent, RoleHotline, RoleAdmin, RoleDept, RoleSystem},
	OpReadMetrics:     {RoleLeader, RoleAdmin},
	OpCreateCall:      {RoleAgent, RoleAdmin, RoleSystem},
	OpReadCalls:       {RoleLeader, RoleAgent, RoleHotline, RoleAdmin},
	OpSubscribe:       {RoleLeader, RoleAgent, RoleHotline, RoleAdmin, RoleDept},
	OpReadPresence:    {RoleLeader, RoleAdmin},
	OpReadIncidents:   {RoleLeader, RoleHotline, RoleAdmin, RoleDept},
	OpActOnIncidents:  {RoleLeader, RoleAdmin},
	OpReadTasks:       {RoleLeader, RoleAgent, RoleHotline, RoleAdmin, RoleDept},
	OpActOnTasks:      {RoleLeader, RoleAgent, RoleHotline, RoleAdmin, RoleDept},
	OpRecordCallbacks: {RoleLeader, RoleAgent, RoleHotline, RoleAdmin},
	OpReadTimers:      {RoleLeader, RoleAdmin},
	OpReadAudit:       {RoleLeader, RoleAdmin},
}

// May reports whether role r may do op. An unknown operation is allowed to
// nobody.
func (r Role) May(op Operation) bool { return slices.Contains(permissions[op], r) }

// View is which events of the log a role receives live.
type View int

// The views.
const (
	ViewNone    View = iota // nothing
	ViewAll                 // every event: the leadership group, the administrators
	ViewFloor               // events for the call floor (Audience.CallFloor)
	ViewHotline             // events for the hotline centre (Audience.Hotline)
	ViewDept                // events for the role's department (Audience.Depts)
)

// View returns which events r receives.
func (r Role) View() View {
	switch r {
	case RoleLeader, RoleAdmin:
		return ViewAll
	case RoleAgent:
		return ViewFloor
	case RoleHotline:
		return ViewHotline
	case RoleDept:
		return ViewDept
	}
	return ViewNone
}

// Shows reports whether an event with audience a reaches a subscriber with
// view v (and, for ViewDept, department dept).
func (a Audience) Shows(v View, dept string) bool {
	switch v {
	case ViewAll:
		return true
	case ViewFloor:
		return a.CallFloor
	case ViewHotline:
		return a.Hotline
	case ViewDept:
		return a.Includes(dept)
	}
	return false
}
