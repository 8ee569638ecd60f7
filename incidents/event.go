package incidents

import (
	"context"
	"encoding/json"
	"time"
)

// Event types. Every state change in Flare is one event in the log, committed
// in the same transaction as the change it describes.
const (
	EventCallReceived = "call.received"
)

// Event is one entry of the global event log. Seq is global, gap-free and
// strictly increasing, and its order equals commit-visibility order: a reader
// that has seen seq N will never later discover an event with seq <= N.
type Event struct {
	Seq   int64           `json:"seq"`
	Type  string          `json:"type"`
	At    time.Time       `json:"at"`
	Actor string          `json:"actor,omitempty"`
	Data  json.RawMessage `json:"data"`
	// Audience is who may see the event besides the leadership group and
	// the administrators; it is not part of the message clients receive.
	Audience Audience `json:"-"`
}

// EventLog is the read side of the event log.
type EventLog interface {
	// ReadEvents returns up to limit events with seq > after, in seq order.
	ReadEvents(ctx context.Context, after int64, limit int) ([]Event, error)
	// LastSeq returns the highest committed seq (0 when the log is empty).
	LastSeq(ctx context.Context) (int64, error)
	// WaitEvents blocks until an event with seq > after is committed (it
	// returns nil at once if one already is) or ctx is done (ctx.Err()). It
	// sees commits made by any process sharing the store.
	WaitEvents(ctx context.Context, after int64) error
}
