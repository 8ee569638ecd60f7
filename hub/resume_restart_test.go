package hub

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"flare/incidents"
)

// TestResumeOnFreshNode checks a resume on a node that has delivered no
// event yet (just started, its ring empty): the client must get what it
// missed from the store, as a dashboard does after a server restart.
func TestResumeOnFreshNode(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	for i := range 6 {
		log.append(incidents.EventCallReceived, fmt.Sprintf(`{"id":"before-start-%d"}`, i))
	}
	tests := []struct {
		name  string
		role  incidents.Role
		after int64
	}{
		{"leader resuming mid-log gets the rest", incidents.RoleLeader, 2},
		{"call floor resuming mid-log gets the rest", incidents.RoleAgent, 3},
		{"hotline resuming mid-log gets the rest", incidents.RoleHotline, 4},
		{"resuming from the start gets everything", incidents.RoleLeader, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWSServer(t, wsOptions{log: log})
			c := s.mustDial(t, s.token(t, tt.role, "", time.Hour), fmt.Sprintf("?after=%d", tt.after))
			if got, want := c.events(t, 6), seqRange(tt.after+1, 6); !slices.Equal(got, want) {
				t.Errorf("resume after %d on a fresh node = seqs %v, want %v", tt.after, got, want)
			}
		})
	}
}
