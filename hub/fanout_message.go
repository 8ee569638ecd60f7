package hub

import (
	"encoding/json"
	"strconv"
	"time"

	"flare/hub/auth"
	"flare/incidents"
)

// message is one server message, encoded once and shared by every
// connection that receives it. Durable messages carry the seq of their event;
// ephemeral ones (presence.*, hub.*) carry seq 0 and are never replayed.
type message struct {
	seq  int64
	aud  incidents.Audience
	data []byte // the whole text frame: {"seq":N,"type":"...","at":"...","data":{...}}
}

// newEventMessage decides the audience of ev and encodes it.
func newEventMessage(ev incidents.Event) *message {
	return &message{seq: ev.Seq, aud: incidents.AudienceOf(ev), data: encodeMessage(ev.Seq, ev.Type, ev.At, ev.Data)}
}

// newControlMessage encodes an ephemeral message of type typ with v as its
// data.
func newControlMessage(typ string, at time.Time, v any) *message {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{}`)
	}
	return &message{data: encodeMessage(0, typ, at, data)}
}

// encodeMessage writes the message envelope around data without
// reflection: {"seq":N,"type":"...","at":"RFC3339Nano","data":{...}}.
func encodeMessage(seq int64, typ string, at time.Time, data json.RawMessage) []byte {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	b := make([]byte, 0, len(data)+len(typ)+64)
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"at":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Event types are plain
// identifiers; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// scope is what a connection may see, fixed by its token's role.
type scope struct {
	all   bool   // leaders and administrators
	floor bool   // call-floor agents
	dept  string // a member department
}

// scopeOf returns the scope of a principal.
func scopeOf(p auth.Principal) scope {
	switch p.Role {
	case auth.RoleLeader, auth.RoleAdmin:
		return scope{all: true}
	case auth.RoleAgent:
		return scope{floor: true}
	case auth.RoleDept:
		return scope{dept: p.Dept}
	}
	return scope{}
}

// sees reports whether a connection of scope s may receive m.
func (s scope) sees(m *message) bool {
	switch {
	case s.all:
		return true
	case s.floor:
		return m.aud.CallFloor
	default:
		return m.aud.Includes(s.dept)
	}
}
