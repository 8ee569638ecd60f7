package callbatch

import (
	"fmt"
	"testing"
	"time"

	"flare/incidents"
)

func nc(id, key, hash string) incidents.NewCall {
	at := time.Date(2026, 7, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	return incidents.NewCall{
		Call:           incidents.Call{ID: id, ReceivedAt: at, RecordedAt: at},
		IdempotencyKey: key,
		RequestHash:    hash,
	}
}

// outcome renders a result as "created:ID:SEQ", "same:ID:SEQ" or
// "conflict:FIELD".
func outcome(r incidents.CreateResult) string {
	switch {
	case r.Err != nil:
		e, ok := r.Err.(*incidents.Error)
		if !ok || e.Code != incidents.CodeConflict {
			return "error:" + r.Err.Error()
		}
		return "conflict:" + e.Field
	case r.Created:
		return fmt.Sprintf("created:%s:%d", r.Call.ID, r.Call.Seq)
	default:
		return fmt.Sprintf("same:%s:%d", r.Call.ID, r.Call.Seq)
	}
}

func TestDecide(t *testing.T) {
	stored := []Stored{
		{Call: incidents.Call{ID: "s1", Seq: 7}, IdempotencyKey: "k1", RequestHash: "h1"},
		{Call: incidents.Call{ID: "s2", Seq: 8}, RequestHash: "h2"},
	}
	tests := []struct {
		name  string
		calls []incidents.NewCall
		want  []string
	}{
		{"new calls take seqs in order",
			[]incidents.NewCall{nc("a", "", "ha"), nc("b", "kb", "hb")},
			[]string{"created:a:100", "created:b:101"}},
		{"stored key with same hash returns the stored call",
			[]incidents.NewCall{nc("other", "k1", "h1")}, []string{"same:s1:7"}},
		{"stored key with another hash conflicts on the key",
			[]incidents.NewCall{nc("other", "k1", "hX")}, []string{"conflict:idempotency_key"}},
		{"stored id without key and same hash returns it",
			[]incidents.NewCall{nc("s2", "", "h2")}, []string{"same:s2:8"}},
		{"stored id without key and another hash conflicts on the id",
			[]incidents.NewCall{nc("s2", "", "hX")}, []string{"conflict:id"}},
		{"new key on a stored id conflicts on the id",
			[]incidents.NewCall{nc("s2", "knew", "h2")}, []string{"conflict:id"}},
		{"retry of an earlier item gets its seq",
			[]incidents.NewCall{nc("a", "ka", "ha"), nc("b", "", "hb"), nc("a2", "ka", "ha"), nc("b", "", "hb")},
			[]string{"created:a:100", "created:b:101", "same:a:100", "same:b:101"}},
		{"conflict with an earlier item stores only the first",
			[]incidents.NewCall{nc("a", "ka", "ha"), nc("a2", "ka", "hX"), nc("c", "", "hc")},
			[]string{"created:a:100", "conflict:idempotency_key", "created:c:101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.calls, stored)
			p.SetSeqs(100)
			if len(p.Results) != len(tt.want) {
				t.Fatalf("Decide() = %d results, want %d", len(p.Results), len(tt.want))
			}
			for i, r := range p.Results {
				if got := outcome(r); got != tt.want[i] {
					t.Errorf("Decide()[%d] = %s, want %s", i, got, tt.want[i])
				}
				if r.Created && (r.Call.ReceivedAt.Location() != time.UTC || r.Call.RecordedAt.Location() != time.UTC) {
					t.Errorf("Decide()[%d] times in %v, want UTC", i, r.Call.ReceivedAt.Location())
				}
			}
		})
	}
}

func TestLookupsSkipsGeneratedIDs(t *testing.T) {
	gen := nc("c_generated", "", "h1")
	gen.GeneratedID = true
	keyed := nc("c_generated2", "key-1", "h2")
	keyed.GeneratedID = true
	ids, keys := Lookups([]incidents.NewCall{gen, keyed, nc("client-7", "", "h3"), nc("client-7", "", "h3")})
	if len(ids) != 1 || ids[0] != "client-7" || len(keys) != 1 || keys[0] != "key-1" {
		t.Errorf("Lookups() = %v, %v; want only the client's id [client-7] and the key [key-1]", ids, keys)
	}
}
