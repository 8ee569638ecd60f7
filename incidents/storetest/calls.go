package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"flare/incidents"
)

func testRoundTrip(t *testing.T, open func(t *testing.T) incidents.Store) {
	full := newCall("call-full", base)
	full.Address = "珠海市香洲区凤凰路 88 号"
	full.Description = "路面积水约 30 厘米，车辆无法通行 / knee-deep water"
	full.Urgent = true
	full.Caller = "138****0000"
	full.IdempotencyKey = "key-full"
	full.Lat, full.Lon = 22.123456789012, 113.987654321098

	bare := newCall("call-bare", base.Add(-time.Hour))
	bare.Actor = ""
	bare.ReceivedAt = time.Date(2026, 1, 2, 3, 4, 5, 999999000, time.UTC)

	tests := []struct {
		name string
		in   incidents.NewCall
	}{
		{"every field kept", full},
		{"empty optional fields kept empty", bare},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			res := mustCreate(t, s, tt.in)
			want := tt.in.Call
			want.Seq = 1
			if !res[0].Created {
				t.Errorf("CreateCalls(%s)[0].Created = false, want true", tt.in.ID)
			}
			if d := diffCall(res[0].Call, want); d != "" {
				t.Errorf("CreateCalls(%s)[0].Call differs:%s", tt.in.ID, d)
			}
			got, err := s.GetCall(ctxFor(t), tt.in.ID)
			if err != nil {
				t.Fatalf("GetCall(%q) = %v, want no error", tt.in.ID, err)
			}
			if d := diffCall(got, want); d != "" {
				t.Errorf("GetCall(%q) differs:%s", tt.in.ID, d)
			}
			list, err := s.ListCalls(ctxFor(t), incidents.CallFilter{Limit: 10})
			if err != nil || len(list) != 1 {
				t.Fatalf("ListCalls(all) = %d calls, %v, want 1 call", len(list), err)
			}
			if d := diffCall(list[0], want); d != "" {
				t.Errorf("ListCalls(all)[0] differs:%s", d)
			}
		})
	}

	t.Run("empty batch stores nothing", func(t *testing.T) {
		s := open(t)
		res, err := s.CreateCalls(ctxFor(t), nil)
		if err != nil || len(res) != 0 {
			t.Errorf("CreateCalls(nil) = %v, %v, want no results and no error", res, err)
		}
		if last := mustLastSeq(t, s); last != 0 {
			t.Errorf("LastSeq() = %d after an empty batch, want 0", last)
		}
	})
}

// idemCall returns a call with the given id, idempotency key and request
// hash.
func idemCall(id, key, hash string) incidents.NewCall {
	c := newCall(id, base)
	c.IdempotencyKey = key
	c.RequestHash = hash
	return c
}

func testIdempotency(t *testing.T, open func(t *testing.T) incidents.Store) {
	// outcome is what one item of the second batch must give.
	type outcome struct {
		created bool
		asID    string // the id of the call returned ("" with an error)
		code    string // error code, "" for none
		field   string
	}
	tests := []struct {
		name   string
		first  []incidents.NewCall // stored before, must succeed
		second []incidents.NewCall
		want   []outcome
		stored []string // ids that must exist afterwards
		absent []string // ids that must not
	}{
		{
			name:   "same key and hash returns the original call",
			first:  []incidents.NewCall{idemCall("a", "k1", "h1")},
			second: []incidents.NewCall{idemCall("b", "k1", "h1")},
			want:   []outcome{{asID: "a"}},
			stored: []string{"a"}, absent: []string{"b"},
		},
		{
			name:   "same key with another hash conflicts and stores nothing",
			first:  []incidents.NewCall{idemCall("a", "k1", "h1")},
			second: []incidents.NewCall{idemCall("b", "k1", "h2")},
			want:   []outcome{{code: incidents.CodeConflict, field: "idempotency_key"}},
			stored: []string{"a"}, absent: []string{"b"},
		},
		{
			name:   "same id and hash without key returns the original call",
			first:  []incidents.NewCall{idemCall("a", "", "h1")},
			second: []incidents.NewCall{idemCall("a", "", "h1")},
			want:   []outcome{{asID: "a"}},
			stored: []string{"a"},
		},
		{
			name:   "same id with another hash conflicts on id",
			first:  []incidents.NewCall{idemCall("a", "", "h1")},
			second: []incidents.NewCall{idemCall("a", "", "h2")},
			want:   []outcome{{code: incidents.CodeConflict, field: "id"}},
			stored: []string{"a"},
		},
		{
			name:   "new key on a taken id conflicts on id",
			first:  []incidents.NewCall{idemCall("a", "k1", "h1")},
			second: []incidents.NewCall{idemCall("a", "k2", "h1")},
			want:   []outcome{{code: incidents.CodeConflict, field: "id"}},
			stored: []string{"a"},
		},
		{
			name:   "duplicate key in one batch returns the first item's call",
			second: []incidents.NewCall{idemCall("a", "k1", "h1"), idemCall("b", "k1", "h1")},
			want:   []outcome{{created: true, asID: "a"}, {asID: "a"}},
			stored: []string{"a"}, absent: []string{"b"},
		},
		{
			name:   "duplicate key in one batch with another hash conflicts",
			second: []incidents.NewCall{idemCall("a", "k1", "h1"), idemCall("b", "k1", "h2")},
			want:   []outcome{{created: true, asID: "a"}, {code: incidents.CodeConflict, field: "idempotency_key"}},
			stored: []string{"a"}, absent: []string{"b"},
		},
		{
			name:   "duplicate id in one batch returns the first item's call",
			second: []incidents.NewCall{idemCall("a", "", "h1"), idemCall("a", "", "h1")},
			want:   []outcome{{created: true, asID: "a"}, {asID: "a"}},
			stored: []string{"a"},
		},
		{
			name:   "conflicting item does not stop the others",
			first:  []incidents.NewCall{idemCall("a", "k1", "h1")},
			second: []incidents.NewCall{idemCall("b", "k1", "h2"), idemCall("c", "k3", "h3"), idemCall("a", "", "h1")},
			want: []outcome{
				{code: incidents.CodeConflict, field: "idempotency_key"},
				{created: true, asID: "c"},
				{asID: "a"},
			},
			stored: []string{"a", "c"}, absent: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := ctxFor(t)
			firstRes := mustCreate(t, s, tt.first...)
			byID := map[string]incidents.Call{}
			for _, r := range firstRes {
				byID[r.Call.ID] = r.Call
			}
			res, err := s.CreateCalls(ctx, tt.second)
			if err != nil {
				t.Fatalf("CreateCalls(second batch) = %v, want no batch error", err)
			}
			if len(res) != len(tt.want) {
				t.Fatalf("CreateCalls(second batch) returned %d results, want %d", len(res), len(tt.want))
			}
			// The calls created by this batch, for the items that return them.
			for _, r := range res {
				if r.Created {
					byID[r.Call.ID] = r.Call
				}
			}
			created := 0
			for i, w := range tt.want {
				r := res[i]
				if w.code != "" {
					if !errorIs(r.Err, w.code, w.field) {
						t.Errorf("CreateCalls(second)[%d].Err = %v, want code %s field %s", i, r.Err, w.code, w.field)
					}
					if r.Created {
						t.Errorf("CreateCalls(second)[%d].Created = true with an error, want false", i)
					}
					continue
				}
				if r.Err != nil {
					t.Errorf("CreateCalls(second)[%d].Err = %v, want nil", i, r.Err)
					continue
				}
				if r.Created != w.created {
					t.Errorf("CreateCalls(second)[%d].Created = %v, want %v", i, r.Created, w.created)
				}
				if r.Created {
					created++
				}
				orig, ok := byID[w.asID]
				if !ok {
					t.Fatalf("call %q of the test is not stored by any batch", w.asID)
				}
				if d := diffCall(r.Call, orig); d != "" {
					t.Errorf("CreateCalls(second)[%d].Call is not call %q:%s", i, w.asID, d)
				}
			}
			for _, id := range tt.stored {
				if _, err := s.GetCall(ctx, id); err != nil {
					t.Errorf("GetCall(%q) = %v, want the stored call", id, err)
				}
			}
			for _, id := range tt.absent {
				if _, err := s.GetCall(ctx, id); incidents.ErrorCode(err) != incidents.CodeNotFound {
					t.Errorf("GetCall(%q) = %v, want not_found", id, err)
				}
			}
			wantEvents := int64(len(tt.first) + created)
			if last := mustLastSeq(t, s); last != wantEvents {
				t.Errorf("LastSeq() = %d, want %d (one event per created call only)", last, wantEvents)
			}
		})
	}
}

func testBatchFailure(t *testing.T, open func(t *testing.T) incidents.Store) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		batch []incidents.NewCall
		check func(error) bool
	}{
		{
			name:  "call without id fails the whole batch",
			ctx:   context.Background(),
			batch: []incidents.NewCall{newCall("ok-1", base), newCall("", base)},
			check: func(err error) bool { return incidents.ErrorCode(err) == incidents.CodeInvalid },
		},
		{
			name:  "cancelled context fails the whole batch",
			ctx:   cancelled,
			batch: []incidents.NewCall{newCall("ok-1", base)},
			check: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			res, err := s.CreateCalls(tt.ctx, tt.batch)
			if err == nil || !tt.check(err) {
				t.Fatalf("CreateCalls() = %v, %v, want a batch error of the expected kind", res, err)
			}
			if _, err := s.GetCall(ctxFor(t), "ok-1"); incidents.ErrorCode(err) != incidents.CodeNotFound {
				t.Errorf("GetCall(ok-1) = %v after a failed batch, want not_found", err)
			}
			if last := mustLastSeq(t, s); last != 0 {
				t.Errorf("LastSeq() = %d after a failed batch, want 0", last)
			}
		})
	}
}

func testNotFound(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	mustCreate(t, s, newCall("present", base))
	_, err := s.GetCall(ctxFor(t), "absent")
	if incidents.ErrorCode(err) != incidents.CodeNotFound || !errors.Is(err, incidents.ErrNotFound) {
		t.Errorf("GetCall(absent) = %v, want an error wrapping incidents.ErrNotFound", err)
	}
}
