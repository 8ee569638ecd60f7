package hub

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"flare/hub/auth"
	"flare/incidents"
)

// TestResumeOnFreshNode checks a resume on a node that has delivered no
// event yet (just started, its ring empty): the client must get what it
// missed from the store, as a dashboard does after a server restart.
func TestResumeOnFreshNode(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	store := OpenTestStore(t)
	now := time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC)
	var calls []incidents.NewCall
	for i := range 6 {
		id := fmt.Sprintf("before-start-%d", i)
		calls = append(calls, incidents.NewCall{Call: incidents.Call{
			ID: id, ReceivedAt: now, RecordedAt: now, Lat: 22.27, Lon: 113.57, Category: "waterlogging",
		}, RequestHash: id})
	}
	if _, err := store.CreateCalls(ctx, calls); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		role  auth.Role
		after int64
	}{
		{"leader resuming mid-log gets the rest", auth.RoleLeader, 2},
		{"call floor resuming mid-log gets the rest", auth.RoleAgent, 3},
		{"resuming from the start gets everything", auth.RoleLeader, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWSServer(t, wsOptions{store: store})
			c := s.mustDial(t, s.token(t, tt.role, "", time.Hour), fmt.Sprintf("?after=%d", tt.after))
			if got, want := c.events(t, 6), seqRange(tt.after+1, 6); !slices.Equal(got, want) {
				t.Errorf("resume after %d on a fresh node = seqs %v, want %v", tt.after, got, want)
			}
		})
	}
}
