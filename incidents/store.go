package incidents

import (
	"context"
	"time"
)

// Store is the system of record Flare's domain needs. Two adapters implement
// it: incidents/sqlite (embedded default) and incidents/postgres (scale-out).
// Both pass the same conformance suite in incidents/storetest.
type Store interface {
	EventLog

	// CreateCalls stores a batch of calls in one transaction, each with its
	// call.received event, and returns one result per input, in order. For
	// each item: when its IdempotencyKey (if any) or else its ID is already
	// stored with the same RequestHash, the stored call is returned with
	// Created false; with a different hash the item's Err is a conflict
	// (Field "idempotency_key" or "id") and nothing is stored for it. Items
	// are applied in order, so a later item sees an earlier one of the same
	// batch. The returned error is for failures of the whole batch (nothing
	// of it was stored).
	CreateCalls(ctx context.Context, calls []NewCall) ([]CreateResult, error)

	// GetCall returns the call with the given id, or an error with
	// CodeNotFound.
	GetCall(ctx context.Context, id string) (Call, error)

	// ListCalls returns up to f.Limit calls matching f, ordered by
	// (received_at DESC, id DESC), starting after f.After.
	ListCalls(ctx context.Context, f CallFilter) ([]Call, error)

	// Close releases the store's resources.
	Close() error
}

// Migration is the state of one schema migration, as `flare migrate status`
// lists it.
type Migration struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when not applied
}
