package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flare/incidents"
)

// Broker carries committed events between hub nodes, with the audience
// of each. hub/redisbroker implements it on Redis; without one, a node fans
// out in process only.
type Broker interface {
	// PublishEvents sends committed events, each with its Audience, to
	// every node (this one included). It returns the transport's error; a
	// lost publish is repaired by the receivers from the store.
	PublishEvents(ctx context.Context, evs []incidents.Event) error
	// Subscribe delivers what any node publishes to h until ctx ends (it
	// returns ctx.Err()) or the subscription fails (it returns the error;
	// the caller subscribes again).
	Subscribe(ctx context.Context, h BrokerHandler) error
}

// BrokerHandler receives what a Broker's subscription brings. Its functions
// must not block.
type BrokerHandler struct {
	// Connected is called each time the subscription is (re)established:
	// anything published while it was down is lost and must be read from
	// the store.
	Connected func()
	// Events is called with events some node published, in that node's
	// order, with their Audience.
	Events func(evs []incidents.Event)
}

// PresenceManager shares who is connected between hub nodes: each node
// keeps a record of its users that expires unless refreshed.
// hub/redisbroker implements it on Redis; without one, a node knows its
// own users only.
type PresenceManager interface {
	// PutPresence records this node's connected users for ttl.
	PutPresence(ctx context.Context, node string, users []PresenceUser, ttl time.Duration) error
	// DeletePresence removes this node's record.
	DeletePresence(ctx context.Context, node string) error
	// Presence returns the records of every node alive, by node.
	Presence(ctx context.Context) (map[string][]PresenceUser, error)
	// NotifyPresence tells every node that presence changed.
	NotifyPresence(ctx context.Context) error
	// WatchPresence calls changed (which must not block) whenever some
	// node tells that presence changed, until ctx ends (it returns
	// ctx.Err()) or the watch fails (it returns the error; the caller
	// watches again).
	WatchPresence(ctx context.Context, changed func()) error
}

// BroadcasterConfig configures a Broadcaster.
type BroadcasterConfig struct {
	// Log is the event log the broadcaster follows (required).
	Log incidents.EventLog
	// Broker, when set, fans out between nodes.
	Broker Broker
	// Presence, when set, shares presence between nodes.
	Presence PresenceManager
	Logger   zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RingSize is how many recent events are kept in memory for resumes
	// (default 8192); older ones are read from the store.
	RingSize int
	// MaxReplay is the most events one resume replays (default 100000);
	// a client further behind is told to reload (hub.reset).
	MaxReplay int64
	// PresenceInterval is how often presence is refreshed in the broker
	// (default 10s); a node's record lives three intervals.
	PresenceInterval time.Duration
	// NodeID names this node in presence records (default: random).
	NodeID string
	// FlushInterval is the shortest time between two deliveries (default
	// 10ms; negative: none). Events committed in between are delivered
	// together, so that each connection gets them with one write: under
	// load this trades at most FlushInterval of latency for far fewer
	// system calls.
	FlushInterval time.Duration
	// Registerer receives the fan-out metrics (default: a private
	// registry).
	Registerer prometheus.Registerer
}

// Broadcaster follows the event log and fans each event out to the
// connections allowed to see it. One tailer goroutine per node reads the log
// in seq order (WaitEvents then ReadEvents); events that a Broker brings from
// other nodes are merged in by seq, and a gap in what the broker brings is
// filled from the store, so every event is delivered once, in order.
type Broadcaster struct {
	cfg     BroadcasterConfig
	log     zerolog.Logger
	metrics *wsMetrics

	mu      sync.Mutex
	ring    *ring
	head    int64 // last event delivered; guarded by mu
	all     group // incidents.ViewAll: leaders and administrators
	floor   group // incidents.ViewFloor: the call floor
	hotline group // incidents.ViewHotline: the hotline centre
	depts   map[string]*group

	headSeen atomic.Int64 // copy of head for the waiter
	remote   chan []incidents.Event
	kick     chan struct{}
	storeHas chan struct{}
	acked    chan struct{}
	outbox   chan incidents.Event
	pending  map[int64]incidents.Event // from the broker, ahead of head (pump only)
	lastRead time.Time                 // when the pump last read the store (pump only)

	presence *presence

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
}

const (
	maxPending   = 16384
	replayPage   = 500
	catchUpPage  = 1000
	outboxSize   = 8192
	publishBatch = 256
)

// StartBroadcaster reads the log's last seq, from which live delivery
// starts, and starts following the log (and the broker, when configured)
// until Close. It returns the store's error when the last seq cannot be
// read.
func StartBroadcaster(ctx context.Context, cfg BroadcasterConfig) (*Broadcaster, error) {
	if cfg.Log == nil {
		return nil, errors.New("start broadcaster: no event log")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = 8192
	}
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = 100000
	}
	if cfg.PresenceInterval <= 0 {
		cfg.PresenceInterval = 10 * time.Second
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 10 * time.Millisecond
	}
	if cfg.NodeID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.NodeID = hex.EncodeToString(b[:])
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	head, err := cfg.Log.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("start broadcaster: %w", err)
	}
	b := &Broadcaster{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "broadcaster").Str("node", cfg.NodeID).Logger(),
		metrics:  wsMetricsFor(cfg.Registerer),
		ring:     newRing(cfg.RingSize),
		head:     head,
		depts:    map[string]*group{},
		remote:   make(chan []incidents.Event, 1024),
		kick:     make(chan struct{}, 1),
		storeHas: make(chan struct{}, 1),
		acked:    make(chan struct{}, 1),
		pending:  map[int64]incidents.Event{},
		closed:   make(chan struct{}),
	}
	// The ring starts at the head: an empty ring holds nothing before it,
	// so a client resuming further back is replayed from the store.
	b.ring.head = head
	b.headSeen.Store(head)
	b.presence = newPresence(b)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	b.wg.Add(3)
	go func() { defer b.wg.Done(); b.wait(runCtx) }()
	go func() { defer b.wg.Done(); b.pump(runCtx) }()
	go func() { defer b.wg.Done(); b.presence.run(runCtx) }()
	if cfg.Presence != nil {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.presence.watch(runCtx) }()
	}
	if cfg.Broker != nil {
		b.outbox = make(chan incidents.Event, outboxSize)
		b.wg.Add(2)
		go func() { defer b.wg.Done(); b.publishLoop(runCtx) }()
		go func() { defer b.wg.Done(); b.subscribeLoop(runCtx) }()
	}
	return b, nil
}

// Close stops following the log and the broker and removes this node's
// presence record. Connections are closed by the server, not here. It
// returns nil.
func (b *Broadcaster) Close() error {
	b.once.Do(func() {
		close(b.closed)
		b.cancel()
		b.wg.Wait()
	})
	return nil
}

// Head returns the seq of the last event delivered by this node.
func (b *Broadcaster) Head() int64 { return b.headSeen.Load() }

// NodeID returns the name of this node in presence records.
func (b *Broadcaster) NodeID() string { return b.cfg.NodeID }

// attach subscribes s to live messages after seq after. When the ring holds
// every event after after, it queues those s may see and subscribes s
// atomically, so that nothing is missed or repeated, and returns ok. When
// the ring does not reach back that far, or what s would be sent from it
// would fill more than half its queue, it returns ok false and the current
// head: the caller replays up to there itself and tries again.
func (b *Broadcaster) attach(s *subscriber, after int64) (head int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if after < b.head && !b.ring.covers(after) {
		return b.head, false
	}
	s.mu.Lock()
	if after < b.head {
		backlog := b.ring.since(s.queue[:0], after, s.scope)
		size := 0
		for _, m := range backlog {
			size += len(m.data)
		}
		if len(backlog) > s.maxMsgs/2 || size > s.maxBytes/2 {
			// Too much to queue at once: the caller replays it first.
			clear(backlog)
			s.queue = backlog[:0]
			s.mu.Unlock()
			return b.head, false
		}
		s.queue = backlog
		s.last = b.head
	} else {
		s.last = after // a client ahead of this node: skip what it has
	}
	s.dead = false
	if len(s.queue) > 0 && s.notify != nil {
		s.notify()
	}
	s.mu.Unlock()
	switch s.scope.view {
	case incidents.ViewAll:
		b.all.add(s)
	case incidents.ViewFloor:
		b.floor.add(s)
	case incidents.ViewHotline:
		b.hotline.add(s)
	case incidents.ViewDept:
		g := b.depts[s.scope.dept]
		if g == nil {
			g = &group{}
			b.depts[s.scope.dept] = g
		}
		g.add(s)
	}
	return b.head, true
}

// detach unsubscribes s and marks it dead, so that nothing more is queued.
func (b *Broadcaster) detach(s *subscriber) {
	b.mu.Lock()
	if g := s.group; g != nil {
		g.remove(s)
		if len(g.subs) == 0 && s.scope.view == incidents.ViewDept {
			delete(b.depts, s.scope.dept)
		}
	}
	b.mu.Unlock()
	s.mu.Lock()
	s.dead = true
	s.queue, s.qbytes = nil, 0
	s.mu.Unlock()
}

// deliver fans events out, in order. Each is encoded and its audience
// decided once, before the lock.
func (b *Broadcaster) deliver(evs []incidents.Event) {
	msgs := make([]*message, len(evs))
	for i, ev := range evs {
		msgs[i] = newEventMessage(ev)
	}
	b.mu.Lock()
	for _, m := range msgs {
		b.ring.push(m)
		b.head = m.seq
	}
	n := b.publishLocked(msgs)
	head := b.head
	b.mu.Unlock()
	b.headSeen.Store(head)
	b.metrics.deliveries.Add(float64(n))
	b.metrics.events.Add(float64(len(msgs)))
}

// publishLocked queues msgs for every subscriber allowed to see them, all
// of a subscriber's at once (so that its writer sends them together), and
// returns how many deliveries were queued. The caller holds b.mu.
func (b *Broadcaster) publishLocked(msgs []*message) int {
	n := 0
	for _, s := range b.all.subs {
		n += s.enqueueAll(msgs)
	}
	var floor, hotline []*message
	var byDept map[string][]*message
	for _, m := range msgs {
		if m.aud.CallFloor {
			floor = append(floor, m)
		}
		if m.aud.Hotline {
			hotline = append(hotline, m)
		}
		for _, d := range m.aud.Depts {
			if b.depts[d] != nil {
				if byDept == nil {
					byDept = map[string][]*message{}
				}
				byDept[d] = append(byDept[d], m)
			}
		}
	}
	if len(floor) > 0 {
		for _, s := range b.floor.subs {
			n += s.enqueueAll(floor)
		}
	}
	if len(hotline) > 0 {
		for _, s := range b.hotline.subs {
			n += s.enqueueAll(hotline)
		}
	}
	for d, ms := range byDept {
		for _, s := range b.depts[d].subs {
			n += s.enqueueAll(ms)
		}
	}
	return n
}

// publishLeaders queues an ephemeral message for the leaders and
// administrators connected to this node.
func (b *Broadcaster) publishLeaders(m *message) {
	b.mu.Lock()
	n := 0
	for _, s := range b.all.subs {
		if s.enqueue(m) {
			n++
		}
	}
	b.mu.Unlock()
	b.metrics.deliveries.Add(float64(n))
}

// wait blocks in WaitEvents and tells the pump when the log has events past
// what it delivered, then waits for the pump to catch up.
func (b *Broadcaster) wait(ctx context.Context) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		if err := b.cfg.Log.WaitEvents(ctx, b.headSeen.Load()); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Warn().Err(err).Msg("waiting for events failed")
			if !sleepCtx(ctx, backoff.next()) {
				return
			}
			continue
		}
		backoff.reset()
		select {
		case b.storeHas <- struct{}{}:
		default:
		}
		select {
		case <-b.acked:
		case <-ctx.Done():
			return
		}
	}
}

// pump is the single goroutine that delivers events: from the store when the
// waiter or a gap says so, from the broker when they come in order. When
// the store fails it retries after a backoff, delivering what the broker
// brings in order meanwhile; the waiter is told to wait again only once the
// store has been read, so that a failing store is not polled in a loop.
func (b *Broadcaster) pump(ctx context.Context) {
	p := &pumpState{backoff: newBackoff()}
	defer func() {
		if p.retry != nil {
			p.retry.Stop()
		}
	}()
	for {
		var retry <-chan time.Time
		if p.retry != nil {
			retry = p.retry.C
		}
		select {
		case <-ctx.Done():
			return
		case <-b.storeHas:
			p.ackDue = true
			b.tryCatchUp(ctx, p)
		case <-b.kick:
			b.tryCatchUp(ctx, p)
		case <-retry:
			p.retry = nil
			b.tryCatchUp(ctx, p)
		case evs := <-b.remote:
			b.offer(ctx, evs, p)
		}
	}
}

// pumpState is the pump's own state.
type pumpState struct {
	backoff *backoff
	retry   *time.Timer // set while a failed read waits to be retried
	ackDue  bool        // the waiter waits for a successful read
}

// tryCatchUp catches up with the store unless a retry is already
// scheduled; when the store fails it logs and schedules one.
func (b *Broadcaster) tryCatchUp(ctx context.Context, p *pumpState) {
	if p.retry != nil {
		return
	}
	if err := b.catchUp(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		d := p.backoff.next()
		b.log.Warn().Err(err).Dur("retry_in", d).Msg("reading the event log failed")
		p.retry = time.NewTimer(d)
		return
	}
	p.backoff.reset()
	if p.ackDue {
		p.ackDue = false
		select {
		case b.acked <- struct{}{}:
		default:
		}
	}
}

// catchUp delivers every event the store has past head, then whatever the
// broker brought that follows on. Events read from the store are passed on
// to the broker for the other nodes.
func (b *Broadcaster) catchUp(ctx context.Context) error {
	if d := time.Until(b.lastRead.Add(b.cfg.FlushInterval)); d > 0 {
		sleepCtx(ctx, d) // let more events gather
	}
	b.lastRead = time.Now()
	for {
		head := b.headSeen.Load()
		evs, err := b.cfg.Log.ReadEvents(ctx, head, catchUpPage)
		if err != nil {
			return fmt.Errorf("catch up after %d: %w", head, err)
		}
		if len(evs) == 0 {
			break
		}
		if evs[0].Seq != head+1 {
			b.log.Error().Int64("head", head).Int64("got", evs[0].Seq).Msg("event log returned a gap")
		}
		b.deliver(evs)
		for _, ev := range evs {
			delete(b.pending, ev.Seq)
		}
		b.forward(evs)
		if len(evs) < catchUpPage {
			break
		}
	}
	b.drainPending()
	return nil
}

// offer merges events from the broker: duplicates are dropped, the next
// ones delivered, and events past a gap kept until the store fills it.
func (b *Broadcaster) offer(ctx context.Context, evs []incidents.Event, p *pumpState) {
	gap := false
	for _, ev := range evs {
		head := b.headSeen.Load()
		switch {
		case ev.Seq <= head:
			b.metrics.remoteDuplicates.Inc()
		case ev.Seq == head+1 && len(b.pending) == 0:
			b.deliver([]incidents.Event{ev})
			b.metrics.remoteEvents.Inc()
		default:
			if len(b.pending) < maxPending {
				b.pending[ev.Seq] = ev
			}
			gap = true
		}
	}
	b.drainPending()
	if len(b.pending) > 0 || gap {
		b.metrics.gapFills.Inc()
		b.tryCatchUp(ctx, p)
	}
}

// drainPending delivers the held broker events that follow head.
func (b *Broadcaster) drainPending() {
	for len(b.pending) > 0 {
		head := b.headSeen.Load()
		ev, ok := b.pending[head+1]
		if !ok {
			for seq := range b.pending {
				if seq <= head {
					delete(b.pending, seq)
				}
			}
			return
		}
		delete(b.pending, head+1)
		b.deliver([]incidents.Event{ev})
		b.metrics.remoteEvents.Inc()
	}
}

// forward hands events read from the store to the broker publisher, without
// waiting: a publish that is dropped is repaired by the other nodes from the
// store.
func (b *Broadcaster) forward(evs []incidents.Event) {
	if b.outbox == nil {
		return
	}
	for _, ev := range evs {
		select {
		case b.outbox <- ev:
		default:
			b.metrics.publishDropped.Inc()
		}
	}
}

// publishLoop sends the outbox to the broker in batches.
func (b *Broadcaster) publishLoop(ctx context.Context) {
	batch := make([]incidents.Event, 0, publishBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-b.outbox:
			batch = append(batch[:0], ev)
		}
	fill:
		for len(batch) < publishBatch {
			select {
			case ev := <-b.outbox:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := b.cfg.Broker.PublishEvents(pctx, batch)
		cancel()
		if err != nil && ctx.Err() == nil {
			b.metrics.publishDropped.Add(float64(len(batch)))
			b.log.Warn().Err(err).Int("events", len(batch)).Msg("publishing events to the broker failed; other nodes will read them from the store")
		}
	}
}

// subscribeLoop keeps the broker subscription.
func (b *Broadcaster) subscribeLoop(ctx context.Context) {
	h := BrokerHandler{
		Connected: func() {
			select { // events published while disconnected are lost: read the store
			case b.kick <- struct{}{}:
			default:
			}
		},
		Events: func(evs []incidents.Event) {
			select {
			case b.remote <- evs:
			default:
				b.metrics.remoteDropped.Add(float64(len(evs)))
				select {
				case b.kick <- struct{}{}:
				default:
				}
			}
		},
	}
	backoff := newBackoff()
	for ctx.Err() == nil {
		err := b.cfg.Broker.Subscribe(ctx, h)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn().Err(err).Msg("broker subscription ended")
		sleepCtx(ctx, backoff.next())
	}
}

// backoff is an exponential delay from 50ms to 5s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	switch {
	case b.d == 0:
		b.d = 50 * time.Millisecond
	case b.d < 5*time.Second:
		b.d = min(2*b.d, 5*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// sleepCtx waits d or until ctx ends, and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
