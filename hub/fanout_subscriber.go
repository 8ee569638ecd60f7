package hub

import "sync"

// subscriber is the fan-out side of one connection: a bounded queue of
// messages waiting to be written. Publishing appends to it without ever
// waiting; a subscriber whose queue would pass its limits is dropped and
// told so through onOverflow.
type subscriber struct {
	scope    scope
	maxMsgs  int
	maxBytes int
	// notify is called, with mu held, whenever a message is queued. It must
	// not block (it starts or wakes the writer).
	notify func()
	// onOverflow is called once, in a goroutine of its own, when the queue
	// overflows.
	onOverflow func()

	// Guarded by the broadcaster's mu.
	group *group
	gidx  int

	mu     sync.Mutex
	queue  []*message
	spare  []*message
	qbytes int
	last   int64 // highest durable seq queued or sent: older ones are dropped
	dead   bool  // overflowed or detached: nothing more is queued
}

// enqueue queues m unless the subscriber is dead or already has it. It never
// blocks on the connection.
func (s *subscriber) enqueue(m *message) bool {
	return s.enqueueAll([]*message{m}) == 1
}

// enqueueAll queues the messages of msgs the subscriber does not have yet,
// unless it is dead, and returns how many it queued. A subscriber whose
// queue would pass its limits is marked dead, its queue dropped and
// onOverflow called. It never blocks on the connection.
func (s *subscriber) enqueueAll(msgs []*message) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return 0
	}
	n := 0
	for _, m := range msgs {
		if m.seq > 0 && m.seq <= s.last {
			continue
		}
		if len(s.queue) >= s.maxMsgs || s.qbytes+len(m.data) > s.maxBytes {
			s.dead = true
			s.queue, s.qbytes = nil, 0
			if s.onOverflow != nil {
				go s.onOverflow()
			}
			return n
		}
		s.queue = append(s.queue, m)
		s.qbytes += len(m.data)
		if m.seq > 0 {
			s.last = m.seq
		}
		n++
	}
	if n > 0 && s.notify != nil {
		s.notify()
	}
	return n
}

// take returns every queued message and empties the queue. The caller hands
// the slice back with giveBack when done with it.
func (s *subscriber) take() []*message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue, s.spare, s.qbytes = s.spare, nil, 0
	return q
}

// giveBack returns a slice from take for reuse.
func (s *subscriber) giveBack(q []*message) {
	clear(q)
	s.mu.Lock()
	if s.spare == nil && cap(q) <= 4*s.maxMsgs {
		s.spare = q[:0]
	}
	s.mu.Unlock()
}

// group is a set of subscribers that receive the same messages.
type group struct {
	subs []*subscriber
}

func (g *group) add(s *subscriber) {
	s.group, s.gidx = g, len(g.subs)
	g.subs = append(g.subs, s)
}

func (g *group) remove(s *subscriber) {
	last := len(g.subs) - 1
	g.subs[s.gidx] = g.subs[last]
	g.subs[s.gidx].gidx = s.gidx
	g.subs[last] = nil
	g.subs = g.subs[:last]
	s.group = nil
}
