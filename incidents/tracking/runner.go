package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"flare/geo"
	"flare/incidents"
)

// Node is what a node's background work needs of the command workflow;
// *incidents.Workflow provides it.
type Node interface {
	Workflow
	// FireTimers fires the supervision timers that are due.
	FireTimers(ctx context.Context) (int, error)
	// Lead blocks until this node holds the lease called name.
	Lead(ctx context.Context, name string) (incidents.Lease, error)
	// Events is the event log, where the calls arrive.
	Events() incidents.EventLog
	// CallsSince returns the calls received at or after from, oldest first.
	CallsSince(ctx context.Context, from time.Time) ([]incidents.Call, error)
}

var _ Node = (*incidents.Workflow)(nil)

// RunnerConfig configures the background work of a node.
type RunnerConfig struct {
	Workflow Node
	Rules    []geo.Rule
	Lateness time.Duration // how late a call may arrive and still be clustered (default 2 min)
	Tick     time.Duration // how often windows advance and timers are checked (default 1 s)
	Log      zerolog.Logger
	// NoDetector keeps this node out of the race for the detector lease:
	// a node that only takes calls and serves dashboards.
	NoDetector bool
	// ListCalls, when set, reads the store's calls (newest first, as
	// incidents.Store.ListCalls): the tracker then rebuilds a baseline of
	// normal call levels from the History before its window at each start
	// or takeover, and judges its clusters by it (see UseBaseline).
	ListCalls func(ctx context.Context, f incidents.CallFilter) ([]incidents.Call, error)
	// History is how far back the baseline is rebuilt from (default 28
	// days), and MaxHistory the most calls read for it (default 1,000,000;
	// the newest are kept).
	History    time.Duration
	MaxHistory int
	// Baseline and Surge tune the baseline and the judgement; Surge.Live,
	// when set, is where the API reads them.
	Baseline geo.BaselineOptions
	Surge    SurgeOptions
}

// Runner does a node's background work: on every node it fires due
// supervision timers (the store makes each fire once); on the one node
// that holds the "detector" lease it runs the incident tracker over the
// call stream. When the leader dies another node takes the lease over,
// rebuilds the window from the store and reaches the same incidents.
type Runner struct {
	cfg RunnerConfig
}

// NewRunner returns a Runner; Run starts it.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Lateness == 0 {
		cfg.Lateness = 2 * time.Minute
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	if cfg.History <= 0 {
		cfg.History = 28 * 24 * time.Hour
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = 1_000_000
	}
	if err := geo.ValidateRules(cfg.Rules); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg}, nil
}

// Run works until ctx ends, then returns nil.
func (r *Runner) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.supervise(ctx)
	}()
	if !r.cfg.NoDetector {
		r.lead(ctx)
	}
	<-done
	return nil
}

// supervise fires due timers every tick.
func (r *Runner) supervise(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
		if n, err := r.cfg.Workflow.FireTimers(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Error().Err(err).Msg("supervision timers failed")
		} else if n > 0 {
			r.cfg.Log.Info().Int("fired", n).Msg("supervision timers fired")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lead takes the detector lease and tracks incidents while it holds it,
// retrying after failures.
func (r *Runner) lead(ctx context.Context) {
	for ctx.Err() == nil {
		lease, err := r.cfg.Workflow.Lead(ctx, "detector")
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Log.Error().Err(err).Msg("detector lease failed; retrying")
				sleep(ctx, 5*r.cfg.Tick)
			}
			continue
		}
		r.cfg.Log.Info().Msg("this node runs the detector")
		leaseCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Lost():
				r.cfg.Log.Warn().Msg("detector lease lost")
				cancel()
			case <-leaseCtx.Done():
			}
		}()
		for leaseCtx.Err() == nil {
			if err := r.track(leaseCtx); err != nil && leaseCtx.Err() == nil {
				r.cfg.Log.Error().Err(err).Msg("incident tracker failed; rebuilding from the store")
				sleep(leaseCtx, r.cfg.Tick)
			}
		}
		cancel()
		r.cfg.Surge.Live.Withdraw()
		lease.Release()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// track rebuilds a tracker from the store and feeds it the call stream
// until ctx ends or something fails.
func (r *Runner) track(ctx context.Context) error {
	wf := r.cfg.Workflow
	log := wf.Events()
	t, err := New(wf, r.cfg.Rules, r.cfg.Lateness)
	if err != nil {
		return err
	}
	if r.cfg.ListCalls != nil {
		b, err := r.history(ctx, wf.Now().Add(-t.Window()))
		if err != nil {
			return err
		}
		t.UseBaseline(b, r.cfg.Surge)
	}
	after, err := log.LastSeq(ctx)
	if err != nil {
		return err
	}
	replayed, err := r.replay(ctx, t)
	if err != nil {
		return err
	}
	// Calls committed while the window was read come again in the log:
	// those up to replayEnd are skipped when the replay had them.
	replayEnd, err := log.LastSeq(ctx)
	if err != nil {
		return err
	}
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
		evs, err := log.ReadEvents(ctx, after, 500)
		if err != nil {
			return err
		}
		batch := make([]incidents.Call, 0, len(evs))
		for _, ev := range evs {
			after = ev.Seq
			if ev.Type != incidents.EventCallReceived {
				continue
			}
			var c incidents.Call
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				r.cfg.Log.Error().Err(err).Int64("seq", ev.Seq).Msg("unreadable call event")
				continue
			}
			if ev.Seq <= replayEnd && replayed[c.ID] {
				continue
			}
			batch = append(batch, c)
		}
		if err := r.observe(ctx, t, batch); err != nil {
			return err
		}
		if after > replayEnd {
			replayed = nil
		}
		if len(evs) == 500 {
			continue
		}
		waitCtx, cancel := context.WithTimeout(ctx, r.cfg.Tick)
		err = log.WaitEvents(waitCtx, after)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		select {
		case <-tick.C:
			if err := t.Advance(ctx, wf.Now()); err != nil {
				return err
			}
		default:
		}
	}
}

// observe gives the tracker a batch of calls in one transaction. Calls the
// detector refuses as too late are logged, not fatal: they were still
// attached where they belong.
func (r *Runner) observe(ctx context.Context, t *Tracker, calls []incidents.Call) error {
	for len(calls) > 0 {
		n := min(len(calls), observeBatch)
		err := t.ObserveAll(ctx, calls[:n])
		if errors.Is(err, geo.ErrLate) || errors.Is(err, geo.ErrExpired) || errors.Is(err, geo.ErrDuplicate) {
			r.cfg.Log.Warn().Err(err).Msg("call not clustered")
		} else if err != nil {
			return err
		}
		calls = calls[n:]
	}
	return nil
}

// observeBatch is how many calls the tracker takes in one transaction: enough
// to share the commit, few enough that the intake's commits, which wait for
// the same writer, are not held up long.
const observeBatch = 50

// history builds the baseline from the calls of the History before the
// window, which starts at cut and which the replay feeds the tracker, at
// most MaxHistory of them, read a page at a time.
func (r *Runner) history(ctx context.Context, cut time.Time) (*geo.Baseline, error) {
	f := incidents.CallFilter{From: cut.Add(-r.cfg.History), To: cut, Limit: 1000}
	var pts []geo.Point
	for len(pts) < r.cfg.MaxHistory {
		page, err := r.cfg.ListCalls(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			pts = append(pts, geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
		}
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After = &incidents.CallCursor{ReceivedAt: last.ReceivedAt, ID: last.ID}
	}
	b := geo.BuildBaseline(r.cfg.Baseline, pts, cut)
	r.cfg.Log.Info().Int("calls", len(pts)).Dur("observed", b.Observed()).Msg("baseline rebuilt")
	return b, nil
}

// replay feeds the tracker the calls of its window, oldest first, and
// returns their ids.
func (r *Runner) replay(ctx context.Context, t *Tracker) (map[string]bool, error) {
	wf := r.cfg.Workflow
	calls, err := wf.CallsSince(ctx, wf.Now().Add(-t.Window()))
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(calls))
	for i, c := range calls {
		ids[c.ID] = true
		if (i+1)%500 == 0 || i == len(calls)-1 {
			if err := r.observe(ctx, t, calls[i/500*500:i+1]); err != nil {
				return nil, err
			}
		}
	}
	r.cfg.Log.Info().Int("calls", len(calls)).Msg("detector window rebuilt")
	return ids, t.Advance(ctx, wf.Now())
}
