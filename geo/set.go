package geo

import (
	"fmt"
	"math"
	"time"
)

// Set runs several rules over one call stream. All its detectors share one
// time, so a call that only one rule takes still moves every rule's window.
// It is not safe for concurrent use.
type Set struct {
	dets     []*Detector
	now      int64
	lateness int64
	events   []Event
}

// NewSet returns a Set running the rules, or an error wrapping
// ErrInvalidRule when a rule is invalid or two share a name.
func NewSet(rules []Rule, opts Options) (*Set, error) {
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	s := &Set{now: math.MinInt64, lateness: int64(opts.Lateness)}
	for _, r := range rules {
		d, err := NewDetector(r, opts)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.Name, err)
		}
		d.events = &s.events
		s.dets = append(s.dets, d)
	}
	return s, nil
}

// Rules returns the rules in the order given to NewSet.
func (s *Set) Rules() []Rule {
	out := make([]Rule, len(s.dets))
	for i, d := range s.dets {
		out[i] = d.rule
	}
	return out
}

// Detector returns the detector of the named rule, or nil.
func (s *Set) Detector(rule string) *Detector {
	for _, d := range s.dets {
		if d.rule.Name == rule {
			return d
		}
	}
	return nil
}

// Now returns the set's time, as Detector.Now does.
func (s *Set) Now() time.Time {
	if s.now == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, s.now).UTC()
}

// Add advances every rule to the point's time when that is later, then
// gives the point to the rules that take its category. It rejects a point
// as Detector.Add does, judging lateness against the set's time and the
// window against each rule's own: a point too old for a short window but
// not for a long one goes to the long one only. A point whose id is in a
// window of a rule that takes it, after the advance, gives an error wrapping
// ErrDuplicate. It returns a lateness error only when no rule that takes
// the category could take the point.
func (s *Set) Add(p Point) error {
	t, err := checkPoint(p)
	if err != nil {
		return err
	}
	if s.now != math.MinInt64 && t < s.now {
		behind := time.Duration(s.now - t)
		if t < s.now-s.lateness {
			return fmt.Errorf("point %q is %s behind, past the %s lateness: %w", p.ID, behind, time.Duration(s.lateness), ErrLate)
		}
	}
	s.Advance(p.Time)
	h := idHash(p.ID)
	for _, d := range s.dets {
		if d.rule.Matches(p.Category) && d.has(p.ID, h) {
			return fmt.Errorf("point %q: %w", p.ID, ErrDuplicate)
		}
	}
	var firstErr error
	taken := false
	for _, d := range s.dets {
		if !d.rule.Matches(p.Category) {
			continue
		}
		if err := d.admit(p.ID, t); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		d.insert(p, t, h)
		taken = true
	}
	if !taken && firstErr != nil {
		return firstErr
	}
	return nil
}

// Advance moves every rule's time forward to t.
func (s *Set) Advance(t time.Time) {
	n := t.UnixNano()
	if n <= s.now {
		return
	}
	s.now = n
	for _, d := range s.dets {
		d.advance(n)
	}
}

// Clusters returns the clusters of every rule, in rule order and then by id.
func (s *Set) Clusters() []Cluster {
	var out []Cluster
	for _, d := range s.dets {
		out = append(out, d.Clusters()...)
	}
	return out
}

// Len returns the number of calls held over all rules.
func (s *Set) Len() int {
	n := 0
	for _, d := range s.dets {
		n += d.Len()
	}
	return n
}

// TakeEvents appends the events of every rule since the last call to dst,
// in the order they happened, forgets them and returns the extended slice.
func (s *Set) TakeEvents(dst []Event) []Event {
	dst = append(dst, s.events...)
	clear(s.events)
	s.events = s.events[:0]
	return dst
}
