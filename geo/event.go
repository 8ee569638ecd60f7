package geo

import (
	"fmt"
	"time"
)

// EventKind says what happened to a cluster.
type EventKind uint8

// The kinds of cluster events. An arrival can only form, grow or merge
// clusters; an expiry can only shrink, split or dissolve them (and, rarely,
// grow one that a border call moves to).
const (
	// EventFormed means a new cluster appeared.
	EventFormed EventKind = iota + 1
	// EventGrew means the cluster has more calls.
	EventGrew
	// EventMerged means the clusters in Others joined this one and are gone.
	EventMerged
	// EventSplit means the clusters in Others broke away from this one,
	// which keeps the largest part.
	EventSplit
	// EventShrank means the cluster has fewer calls.
	EventShrank
	// EventDissolved means the cluster has no core call left and is gone.
	EventDissolved
)

var kindNames = [...]string{"", "formed", "grew", "merged", "split", "shrank", "dissolved"}

// String returns the kind's name, such as "formed".
func (k EventKind) String() string {
	if int(k) < len(kindNames) && k > 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// MarshalText encodes the kind as its name.
func (k EventKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("unknown event kind %d", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind from its name.
func (k *EventKind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if i > 0 && n == string(b) {
			*k = EventKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown event kind %q", b)
}

// Event is one change to a cluster, produced by the arrival or expiry of
// Call. A cluster is known by (Rule, Cluster) for as long as it lives: it
// keeps its id while it grows and shrinks, the survivor of a merge keeps its
// own (the one with more calls before the merge, then the older), and the
// largest part of a split keeps the id while the others get new ones.
type Event struct {
	Kind    EventKind   `json:"kind"`
	Rule    string      `json:"rule"`
	Cluster ClusterID   `json:"cluster"`
	Others  []ClusterID `json:"others,omitempty"` // merged: absorbed clusters; split: new clusters
	At      time.Time   `json:"at"`               // the detector's time
	Call    string      `json:"call"`             // the call that arrived or expired
	Calls   int         `json:"calls"`            // calls in the cluster after the change
	Cores   int         `json:"cores"`            // core calls in the cluster after the change
}
