package tracking

import (
	"context"
	"time"

	"flare/geo"
	"flare/incidents"
)

const (
	bigCluster = 30              // calls from which an incident's refreshes are spaced out
	bigRefresh = 2 * time.Second // how often a big incident is refreshed at most (but at every Advance)
	// A refresh summarises an incident's clusters (members, hull,
	// counts), work in proportion to their calls: a huge incident waits
	// bigRefresh per hugeIncident calls between refreshes, Advance
	// included, and at most maxRefresh.
	hugeIncident = 1000
	maxRefresh   = 30 * time.Second
)

// refreshEvery is how long the tracker leaves an incident of calls calls
// unwritten at least, when nothing but its size and shape changed: 0 below
// bigCluster calls, then bigRefresh, and for huge incidents bigRefresh per
// hugeIncident calls, at most maxRefresh. A new incident, a higher grade
// and a merge are written at once whatever the size.
func refreshEvery(calls int) time.Duration {
	switch {
	case calls < bigCluster:
		return 0
	case calls < 2*hugeIncident:
		return bigRefresh
	}
	return min(bigRefresh*time.Duration(calls/hugeIncident), maxRefresh)
}

// throttle is the refresh throttle of big incidents and the batching of the
// tracker's writes. Big incidents are refreshed at most every bigRefresh:
// the growth of their clusters waits in dirty (and the repeat calls about
// them in repeats.waiting) for the next Advance; huge ones wait longer (see
// refreshEvery). written tells when the tracker last wrote each incident,
// and how many calls it had then.
type throttle struct {
	dirty    map[string]geo.Event
	gone     map[string]string // cluster key -> incident: clusters gone from a big incident, to drop at the next Advance
	flushing bool              // apply is applying what waited
	// held are the incidents apply changed and writes once, at its end:
	// several clusters of one incident change in one batch.
	held      map[string]heldIncident
	heldOrder []string
	written   map[string]incidentWrite
}

func newThrottle() throttle {
	return throttle{dirty: map[string]geo.Event{}, gone: map[string]string{}, written: map[string]incidentWrite{}}
}

// heldIncident is an incident changed in memory, to be written over the
// stored version prev.
type heldIncident struct {
	inc  incidents.Incident
	prev int64
}

// incidentWrite is when the tracker last wrote an incident.
type incidentWrite struct {
	at    time.Time
	calls int
}

// throttled tells whether a change of size calls to incident id waits: the
// incident is big and was written less than refreshEvery before now.
func (th *throttle) throttled(id string, calls int, now time.Time) bool {
	w, ok := th.written[id]
	return ok && now.Sub(w.at) < refreshEvery(max(calls, w.calls))
}

// hugeWaits tells whether a change of size calls to incident id waits even
// for Advance: the incident is huge (refreshed less often than a big one)
// and its refresh is not due.
func (th *throttle) hugeWaits(id string, calls int, now time.Time) bool {
	return th.throttled(id, calls, now) && refreshEvery(max(calls, th.written[id].calls)) > bigRefresh
}

// forgetWrites forgets the writes whose refresh interval has passed by now.
func (th *throttle) forgetWrites(now time.Time) {
	for id, w := range th.written {
		if now.Sub(w.at) >= max(bigRefresh, refreshEvery(w.calls)) {
			delete(th.written, id)
		}
	}
}

// hold keeps inc, changed from the stored version prev, to be written by
// writeHeld.
func (th *throttle) hold(inc incidents.Incident, prev int64) {
	if th.held == nil {
		th.held = map[string]heldIncident{}
	}
	if _, ok := th.held[inc.ID]; !ok {
		th.heldOrder = append(th.heldOrder, inc.ID)
	}
	th.held[inc.ID] = heldIncident{inc: inc, prev: prev}
}

// storedVersion returns the version of inc in the store: inc's own, or,
// when inc is the held copy, the version it was held over.
func (th *throttle) storedVersion(inc incidents.Incident) int64 {
	if h, ok := th.held[inc.ID]; ok {
		return h.prev
	}
	return inc.Version
}

// incident returns the incident with the given id as the tracker holds it
// or, when it holds none, as tx reads it.
func (th *throttle) incident(ctx context.Context, tx incidents.Tx, id string) (incidents.Incident, error) {
	if h, ok := th.held[id]; ok {
		return h.inc, nil
	}
	return tx.Incident(ctx, id)
}

// writeHeld writes the held incidents, each with one incident.updated.
func (t *Tracker) writeHeld(ctx context.Context, tx incidents.Tx) error {
	for _, id := range t.heldOrder {
		h, ok := t.held[id]
		if !ok {
			continue
		}
		delete(t.held, id)
		if err := t.put(ctx, tx, h.inc, h.prev, incidents.Change{Type: incidents.EventIncidentUpdated}); err != nil {
			return err
		}
	}
	t.heldOrder = t.heldOrder[:0]
	return nil
}

// put saves inc over the stored version prev with the change c.
func (t *Tracker) put(ctx context.Context, tx incidents.Tx, inc incidents.Incident, prev int64, c incidents.Change) error {
	if err := t.wf.SaveIncident(ctx, tx, &inc, prev, c); err != nil {
		return err
	}
	t.wrote(inc)
	return nil
}

// wrote notes that the tracker wrote inc, and remembers where it is.
func (t *Tracker) wrote(inc incidents.Incident) {
	t.written[inc.ID] = incidentWrite{at: t.wf.Now(), calls: inc.CallCount}
	t.remember(inc)
}
