package incidents

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Call is one citizen call as registered by the call floor and stored.
type Call struct {
	ID          string    `json:"id"`
	Seq         int64     `json:"seq"` // seq of its call.received event
	ReceivedAt  time.Time `json:"received_at"`
	RecordedAt  time.Time `json:"recorded_at"` // when the server stored it
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	Address     string    `json:"address,omitempty"`
	Category    string    `json:"category"`
	Description string    `json:"description,omitempty"`
	Urgent      bool      `json:"urgent"`
	Caller      string    `json:"caller,omitempty"`
	Actor       string    `json:"actor,omitempty"` // who registered it (token subject)
}

// NewCall is a validated call ready to be stored: every field is final
// (ID generated when the client gave none, times truncated to microseconds).
// IdempotencyKey and RequestHash make retries safe: see Store.CreateCalls.
type NewCall struct {
	Call
	IdempotencyKey string // "" when the client sent none
	RequestHash    string // hash of the request as the client sent it
	// GeneratedID is true when the server made the ID up (the client sent
	// none): 128 bits, 80 of them random, so no stored call can have it and
	// the store need not look it up before inserting.
	GeneratedID bool
	// Audience is the audience of the call's call.received event, decided
	// by intake (CallReceivedAudience); the store keeps it with the event.
	Audience Audience
}

// CreateResult is the outcome of one NewCall in Store.CreateCalls.
type CreateResult struct {
	Call    Call  // the stored call (the original one on an idempotent retry)
	Created bool  // false when an earlier identical request had stored it
	Err     error // *Error with CodeConflict when the key or id is taken by a different request
}

// CallCursor is a position in the calls listing, which is ordered by
// (received_at DESC, id DESC).
type CallCursor struct {
	ReceivedAt time.Time
	ID         string
}

// CallFilter selects calls for ListCalls. Zero values mean "no filter".
type CallFilter struct {
	From       time.Time // received_at >= From
	To         time.Time // received_at < To
	Categories []string  // any of these
	BBox       *BBox     // inside this box (edges included)
	After      *CallCursor
	Limit      int // 1..1000; the store applies it as given
}

// BBox is a longitude/latitude box, edges included.
type BBox struct {
	MinLon, MinLat, MaxLon, MaxLat float64
}

// GeoPoint is a GeoJSON Point geometry (RFC 7946): Coordinates are [lon, lat].
type GeoPoint struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

// MarshalJSON writes the call with its location as a GeoJSON Point besides
// lat and lon.
func (c Call) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 384)), nil
}

// AppendJSON appends the call's JSON (as MarshalJSON writes it) to dst.
// Every call is encoded at least twice on its way in (its call.received
// event and the answer to the POST), so it is written by hand rather than
// by reflection.
func (c Call) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, c.ID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, c.Seq, 10)
	dst = append(dst, `,"received_at":"`...)
	dst = c.ReceivedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","recorded_at":"`...)
	dst = c.RecordedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","lat":`...)
	dst = appendJSONFloat(dst, c.Lat)
	dst = append(dst, `,"lon":`...)
	dst = appendJSONFloat(dst, c.Lon)
	if c.Address != "" {
		dst = append(dst, `,"address":`...)
		dst = appendJSONString(dst, c.Address)
	}
	dst = append(dst, `,"category":`...)
	dst = appendJSONString(dst, c.Category)
	if c.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendJSONString(dst, c.Description)
	}
	dst = append(dst, `,"urgent":`...)
	dst = strconv.AppendBool(dst, c.Urgent)
	if c.Caller != "" {
		dst = append(dst, `,"caller":`...)
		dst = appendJSONString(dst, c.Caller)
	}
	if c.Actor != "" {
		dst = append(dst, `,"actor":`...)
		dst = appendJSONString(dst, c.Actor)
	}
	dst = append(dst, `,"location":{"type":"Point","coordinates":[`...)
	dst = appendJSONFloat(dst, c.Lon)
	dst = append(dst, ',')
	dst = appendJSONFloat(dst, c.Lat)
	return append(dst, "]}}"...)
}

// appendJSONFloat appends f as encoding/json writes a float64. f is finite
// (validation keeps NaN and infinities out).
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters and U+2028/U+2029 included; invalid UTF-8
// becomes U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// The times Flare keeps and compares: [MinTime, MaxTime), the range that
// Unix nanoseconds in an int64 hold (the embedded store keeps times so), the
// same on every store. A query time outside it is refused, not clamped.
var (
	MinTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// TimeInRange reports whether t is within [MinTime, MaxTime).
func TimeInRange(t time.Time) bool { return !t.Before(MinTime) && t.Before(MaxTime) }
