package hub

import (
	"encoding/binary"
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
	seq   int64
	aud   incidents.Audience
	data  []byte // the message: {"seq":N,"type":"...","at":"...","data":{...}}
	frame []byte // data as a whole WebSocket text frame (header, then data)
}

// newEventMessage encodes ev, keeping the audience the domain gave it.
func newEventMessage(ev incidents.Event) *message {
	m := &message{seq: ev.Seq, aud: ev.Audience}
	m.frame, m.data = encodeFrame(ev.Seq, ev.Type, ev.At, ev.Data)
	return m
}

// newControlMessage encodes an ephemeral message of type typ with v as its
// data.
func newControlMessage(typ string, at time.Time, v any) *message {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{}`)
	}
	m := &message{}
	m.frame, m.data = encodeFrame(0, typ, at, data)
	return m
}

// encodeFrame encodes a message as an unmasked, unfragmented WebSocket text
// frame (RFC 6455 section 5.2: servers never mask) and returns the frame and
// the message inside it. The frame is written as it is to every receiver.
func encodeFrame(seq int64, typ string, at time.Time, data json.RawMessage) (frame, msg []byte) {
	const maxHeader = 10
	b := encodeMessageInto(make([]byte, maxHeader, maxHeader+len(data)+len(typ)+64), seq, typ, at, data)
	n := len(b) - maxHeader
	var hdr []byte
	switch {
	case n <= 125:
		hdr = []byte{0x81, byte(n)}
	case n <= 0xffff:
		hdr = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		hdr = []byte{0x81, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	start := maxHeader - len(hdr)
	copy(b[start:], hdr)
	return b[start:], b[maxHeader:]
}

// encodeMessage writes the message envelope around data without
// reflection: {"seq":N,"type":"...","at":"RFC3339Nano","data":{...}}.
func encodeMessage(seq int64, typ string, at time.Time, data json.RawMessage) []byte {
	return encodeMessageInto(make([]byte, 0, len(data)+len(typ)+64), seq, typ, at, data)
}

// encodeMessageInto appends the encoded message to b.
func encodeMessageInto(b []byte, seq int64, typ string, at time.Time, data json.RawMessage) []byte {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
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

// scope is what a connection may see: the view of its principal's role
// (decided by the domain, incidents.Role.View) and, for a department, which.
type scope struct {
	view incidents.View
	dept string // set for incidents.ViewDept
}

// scopeOf returns the scope of a principal.
func scopeOf(p auth.Principal) scope {
	v := p.Role.View()
	if v == incidents.ViewDept {
		return scope{view: v, dept: p.Dept}
	}
	return scope{view: v}
}

// sees reports whether a connection of scope s may receive m.
func (s scope) sees(m *message) bool { return m.aud.Shows(s.view, s.dept) }
