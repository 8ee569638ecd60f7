package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flare/incidents"
)

// RunNodes runs the tests of several store instances sharing one database, as
// several hub nodes (Postgres) or processes (SQLite) do. open must return
// two separately opened stores (each with its own connections) on one
// empty, migrated database of their own, and close them when t ends.
func RunNodes(t *testing.T, open func(t *testing.T) (a, b incidents.Store)) {
	t.Run("WaitEventsSeesOtherNode", func(t *testing.T) { testWaitOtherNode(t, open) })
	t.Run("OrderingUnderLoad", func(t *testing.T) { testOrderingUnderLoad(t, open) })
}

func testWaitOtherNode(t *testing.T, open func(t *testing.T) (a, b incidents.Store)) {
	a, b := open(t)
	done := waitResult(ctxFor(t), a, 0)
	select {
	case err := <-done:
		t.Fatalf("WaitEvents(0) on node a = %v before any commit, want it to block", err)
	case <-time.After(100 * time.Millisecond):
	}
	res := mustCreate(t, b, newCall("from-b", base))
	if err := awaitWait(t, done, 10*time.Second); err != nil {
		t.Fatalf("WaitEvents(0) on node a = %v after node b committed, want nil", err)
	}
	got, err := a.GetCall(ctxFor(t), "from-b")
	if err != nil {
		t.Fatalf("GetCall(from-b) on node a = %v, want the call node b stored", err)
	}
	if d := diffCall(got, res[0].Call); d != "" {
		t.Errorf("GetCall(from-b) on node a differs:%s", d)
	}
}

// Load shape: writers spread over the nodes append calls in small batches;
// some calls carry a key that every writer tries to store (same request), so
// that concurrent idempotent retries race too. That is 3,200 calls of the
// writers' own (2,000 under the race detector) and about 100 shared ones.
const (
	loadWriters     = 8
	loadMaxBatch    = 4
	loadSharedEvery = 10 // one batch in this many carries a shared key
)

func testOrderingUnderLoad(t *testing.T, open func(t *testing.T) (a, b incidents.Store)) {
	a, b := open(t)
	nodes := []incidents.Store{a, b}
	// A loaded machine with the race detector on can take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Tailers, one per node, read the log as it grows. target is the final
	// last seq, set once every writer is done.
	var target atomic.Int64
	target.Store(-1)
	tails := make([]tailResult, len(nodes))
	var tailing sync.WaitGroup
	for n, s := range nodes {
		tailing.Add(1)
		go func() {
			defer tailing.Done()
			tails[n] = tailLog(ctx, s, &target)
		}()
	}

	// Writers.
	results := make([]writeResult, loadWriters)
	var writing sync.WaitGroup
	for w := range loadWriters {
		writing.Add(1)
		go func() {
			defer writing.Done()
			results[w] = writeLoad(ctx, nodes[w%len(nodes)], w)
		}()
	}
	writing.Wait()

	created := map[string]int64{}
	for w, r := range results {
		if r.err != nil {
			t.Fatalf("writer %d: %v", w, r.err)
		}
		for id, seq := range r.created {
			if _, dup := created[id]; dup {
				t.Fatalf("call %s created twice (writer %d)", id, w)
			}
			created[id] = seq
		}
	}
	total := int64(len(created))
	target.Store(total)
	tailing.Wait()

	if want := loadWriters * loadCallsPerWriter; total < int64(want) {
		t.Fatalf("writers created %d calls, want at least %d", total, want)
	}
	for n, s := range nodes {
		if tails[n].err != nil {
			t.Errorf("tailer on node %d: %v", n, tails[n].err)
			continue
		}
		if len(tails[n].ids) != len(created) {
			t.Errorf("tailer on node %d saw %d calls, want %d", n, len(tails[n].ids), len(created))
		}
		for id, seq := range created {
			if got, ok := tails[n].ids[id]; !ok || got != seq {
				t.Errorf("tailer on node %d: call %s at seq %d (seen %v), want seq %d", n, id, got, ok, seq)
				break
			}
		}
		if last := mustLastSeq(t, s); last != total {
			t.Errorf("LastSeq() on node %d = %d, want %d", n, last, total)
		}
	}
	if evs := mustReadAll(t, a); int64(len(evs)) != total {
		t.Errorf("ReadEvents(all) = %d events, want exactly %d", len(evs), total)
	}
}

// writeResult is what a writer of the load test did.
type writeResult struct {
	created map[string]int64 // call id -> seq, for the calls it created
	err     error
}

// writeLoad appends loadCallsPerWriter calls of its own to s in small
// batches, plus the shared calls, and returns the seqs of the calls it
// created.
func writeLoad(ctx context.Context, s incidents.Store, w int) (out writeResult) {
	out.created = map[string]int64{}
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	for i, b := 0, 0; i < loadCallsPerWriter; b++ {
		size := min(1+rng.IntN(loadMaxBatch), loadCallsPerWriter-i)
		batch := make([]incidents.NewCall, 0, size+1)
		for range size {
			c := newCall(fmt.Sprintf("w%d-%04d", w, i), base.Add(time.Duration(i)*time.Second))
			c.IdempotencyKey = c.ID
			batch = append(batch, c)
			i++
		}
		if b%loadSharedEvery == 0 {
			// Every writer tries the same request under the same key.
			key := fmt.Sprintf("shared-%d", b/loadSharedEvery)
			c := newCall(fmt.Sprintf("%s-by-w%d", key, w), base)
			c.IdempotencyKey = key
			c.RequestHash = "hash-" + key
			batch = append(batch, c)
		}
		res, err := s.CreateCalls(ctx, batch)
		if err != nil {
			out.err = fmt.Errorf("CreateCalls(batch %d) = %w, want no error", b, err)
			return out
		}
		for j, r := range res {
			if r.Err != nil {
				out.err = fmt.Errorf("CreateCalls(batch %d)[%d].Err = %w, want nil", b, j, r.Err)
				return out
			}
			if r.Created {
				out.created[r.Call.ID] = r.Call.Seq
			}
		}
	}
	return out
}

// tailResult is what a tailer of the load test saw.
type tailResult struct {
	ids map[string]int64 // call id -> seq of its event
	err error
}

// tailLog follows the log of s from the start, as a resuming client does,
// until it has read up to target (once target is set). It checks that the
// seqs it sees are contiguous and strictly increasing, and returns the call
// ids it saw with their seqs.
func tailLog(ctx context.Context, s incidents.Store, target *atomic.Int64) (out tailResult) {
	out.ids = map[string]int64{}
	var after int64
	for {
		if tg := target.Load(); tg >= 0 && after >= tg {
			if after > tg {
				out.err = fmt.Errorf("read up to seq %d, past the last seq %d", after, tg)
			}
			return out
		}
		evs, err := s.ReadEvents(ctx, after, 64)
		if err != nil {
			out.err = fmt.Errorf("ReadEvents(%d, 64) = %w, want no error", after, err)
			return out
		}
		for _, e := range evs {
			if e.Seq != after+1 {
				out.err = fmt.Errorf("ReadEvents(%d, 64) gave seq %d after seq %d, want %d: the log skipped or repeated",
					after, e.Seq, after, after+1)
				return out
			}
			after = e.Seq
			var c incidents.Call
			if err := json.Unmarshal(e.Data, &c); err != nil || c.ID == "" || c.Seq != e.Seq {
				out.err = fmt.Errorf("event %d carries call %q with seq %d, want its own seq", e.Seq, c.ID, c.Seq)
				return out
			}
			if _, dup := out.ids[c.ID]; dup {
				out.err = fmt.Errorf("event %d repeats call %s", e.Seq, c.ID)
				return out
			}
			out.ids[c.ID] = e.Seq
		}
		if len(evs) > 0 {
			continue
		}
		// Wait briefly, so that the target is re-checked once set.
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err = s.WaitEvents(wctx, after)
		cancel()
		if err != nil && wctx.Err() == nil {
			out.err = fmt.Errorf("WaitEvents(%d) = %w, want nil", after, err)
			return out
		}
		if ctx.Err() != nil {
			out.err = fmt.Errorf("tailing stopped at seq %d: %w", after, ctx.Err())
			return out
		}
	}
}
