package incidents

import (
	"encoding/json"
	"time"
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
	type plain Call
	return json.Marshal(struct {
		plain
		Location GeoPoint `json:"location"`
	}{plain(c), GeoPoint{Type: "Point", Coordinates: [2]float64{c.Lon, c.Lat}}})
}
