package hub

// ring holds the most recent durable messages, whose seqs are consecutive
// (the broadcaster delivers the log in order, without gaps).
type ring struct {
	buf  []*message
	head int64 // seq of the newest message; 0 before the first
	n    int   // messages held
}

func newRing(size int) *ring { return &ring{buf: make([]*message, size)} }

// push appends m, whose seq must be head+1 (or any seq on an empty ring).
func (r *ring) push(m *message) {
	if r.n > 0 && m.seq != r.head+1 {
		r.n = 0 // not consecutive: start afresh rather than mix
	}
	r.buf[int(m.seq%int64(len(r.buf)))] = m
	r.head = m.seq
	if r.n < len(r.buf) {
		r.n++
	}
}

// covers reports whether every message with seq > after (up to head) is held.
func (r *ring) covers(after int64) bool {
	return after >= r.head-int64(r.n)
}

// since appends to dst the held messages with seq > after that s may see, in
// seq order. The caller checks covers(after) first.
func (r *ring) since(dst []*message, after int64, s scope) []*message {
	from := max(after+1, r.head-int64(r.n)+1)
	for seq := from; seq <= r.head; seq++ {
		m := r.buf[int(seq%int64(len(r.buf)))]
		if s.sees(m) {
			dst = append(dst, m)
		}
	}
	return dst
}
