// Package callbatch holds the idempotency rules of Store.CreateCalls that
// both store adapters share, so that they decide every batch the same way.
package callbatch

import (
	"flare/incidents"
)

// Stored is a call already in the store, with the idempotency data that
// incidents.Call does not carry.
type Stored struct {
	Call           incidents.Call
	IdempotencyKey string // "" when it was stored without one
	RequestHash    string
}

// Plan is the decision for a batch: one result per input call, in order, and
// the indexes of the calls to create, in order. Until SetSeqs is called, the
// calls to create (and the retries of them later in the batch) have no Seq.
type Plan struct {
	Results []incidents.CreateResult
	Create  []int
	// sameAs[i] is the index of the earlier item of the batch whose call
	// result i returns, or -1.
	sameAs []int
}

// SetSeqs gives the calls to create the seqs first, first+1, ... in order,
// and copies them into the results of the items that retry them.
func (p *Plan) SetSeqs(first int64) {
	for k, i := range p.Create {
		p.Results[i].Call.Seq = first + int64(k)
	}
	for i, j := range p.sameAs {
		if j >= 0 {
			p.Results[i].Call = p.Results[j].Call
		}
	}
}

// ErrEmptyID is returned by Validate for a call without an ID.
var ErrEmptyID = incidents.FieldError(incidents.CodeInvalid, "id", "call id is empty")

// Validate checks what the store itself relies on: every call has an ID. It
// returns an error wrapping ErrEmptyID otherwise.
func Validate(calls []incidents.NewCall) error {
	for _, c := range calls {
		if c.ID == "" {
			return ErrEmptyID
		}
	}
	return nil
}

// Lookups returns the distinct IDs (but those the server generated, which
// cannot be taken) and non-empty idempotency keys of calls:
// the adapter loads the stored calls that match any of them and passes them
// to Decide.
func Lookups(calls []incidents.NewCall) (ids, keys []string) {
	seenID := make(map[string]bool, len(calls))
	seenKey := make(map[string]bool, len(calls))
	for _, c := range calls {
		if !c.GeneratedID && !seenID[c.ID] {
			seenID[c.ID] = true
			ids = append(ids, c.ID)
		}
		if c.IdempotencyKey != "" && !seenKey[c.IdempotencyKey] {
			seenKey[c.IdempotencyKey] = true
			keys = append(keys, c.IdempotencyKey)
		}
	}
	return ids, keys
}

// Decide applies the rules of incidents.Store.CreateCalls to calls, given the
// stored calls whose ID or idempotency key matches one of them (extra ones
// are ignored). Items are decided in order, so a later item sees an earlier
// one of the same batch:
//   - with an IdempotencyKey: a stored call under that key with the same
//     RequestHash is returned (Created false); a different hash is a conflict
//     on "idempotency_key"; a key not yet used whose ID is taken is a
//     conflict on "id";
//   - without one: a stored call with that ID and the same RequestHash is
//     returned; a different hash is a conflict on "id";
//   - otherwise the call is to be created; its times are set to UTC.
func Decide(calls []incidents.NewCall, stored []Stored) Plan {
	// entry is a call known to the batch: stored (item -1) or created by
	// an earlier item.
	type entry struct {
		*Stored
		item int
	}
	byID := make(map[string]entry, len(stored)+len(calls))
	byKey := make(map[string]entry, len(stored)+len(calls))
	for i := range stored {
		e := entry{Stored: &stored[i], item: -1}
		byID[e.Call.ID] = e
		if e.IdempotencyKey != "" {
			byKey[e.IdempotencyKey] = e
		}
	}
	p := Plan{
		Results: make([]incidents.CreateResult, len(calls)),
		sameAs:  make([]int, len(calls)),
	}
	for i, c := range calls {
		p.sameAs[i] = -1
		var (
			e     entry
			found bool
			field string
		)
		if c.IdempotencyKey != "" {
			e, found = byKey[c.IdempotencyKey]
			field = "idempotency_key"
			if _, taken := byID[c.ID]; !found && taken {
				p.Results[i].Err = incidents.FieldError(incidents.CodeConflict, "id",
					"call id %q is already taken by another request", c.ID)
				continue
			}
		} else {
			e, found = byID[c.ID]
			field = "id"
		}
		switch {
		case found && e.RequestHash != c.RequestHash:
			p.Results[i].Err = conflict(field)
		case found:
			p.Results[i].Call = e.Call
			p.sameAs[i] = e.item
		default:
			call := c.Call
			call.ReceivedAt = call.ReceivedAt.UTC()
			call.RecordedAt = call.RecordedAt.UTC()
			e = entry{
				Stored: &Stored{Call: call, IdempotencyKey: c.IdempotencyKey, RequestHash: c.RequestHash},
				item:   i,
			}
			byID[c.ID] = e
			if c.IdempotencyKey != "" {
				byKey[c.IdempotencyKey] = e
			}
			p.Results[i] = incidents.CreateResult{Call: call, Created: true}
			p.Create = append(p.Create, i)
		}
	}
	return p
}

// conflict returns the item error for a key or ID (field) already used by a
// different request.
func conflict(field string) *incidents.Error {
	what := "idempotency key"
	if field == "id" {
		what = "call id"
	}
	return incidents.FieldError(incidents.CodeConflict, field,
		"%s was already used by a different request", what)
}
