package geo

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestSurgeScoreRanksQuietPlacesAboveBusyOnes(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, nz)
	pts := townStream(3, start, 14, 200, 8)
	now := time.Date(2026, 6, 15, 21, 0, 0, 0, nz)
	b := BuildBaseline(BaselineOptions{}, pts, now)
	s := NewScorer(b, nil)
	r := Rule{Name: "any", Eps: 300, MinCalls: 5, Window: time.Hour}
	times := func(n int, every time.Duration) []time.Time {
		var out []time.Time
		for i := n - 1; i >= 0; i-- {
			out = append(out, now.Add(-time.Duration(i)*every))
		}
		return out
	}
	village := s.Score(r, Footprint{Centroid: kmFrom(9, 9), Radius: 150, Times: times(5, 3*time.Minute)}, now)
	downtown := s.Score(r, Footprint{Centroid: kmFrom(0, 0), Radius: 250, Times: times(20, 3*time.Minute)}, now)
	if village.Score <= downtown.Score {
		t.Errorf("Score(5 calls in the outskirts) = %+v, Score(20 downtown) = %+v; want the outskirts higher", village, downtown)
	}
	if village.Observed != 5 || village.Expected <= 0 {
		t.Errorf("Score(outskirts) = %+v, want 5 observed against a positive expectation", village)
	}
	// Calls spread over the hour are best seen in the hour's window, calls
	// in the last quarter hour in the shortest.
	if got := s.Score(r, Footprint{Centroid: kmFrom(9, 9), Radius: 150, Times: times(5, 12*time.Minute)}, now); got.Window != time.Hour {
		t.Errorf("Score(5 calls over 48 min).Window = %s, want 1h0m0s", got.Window)
	}
	if got := s.Score(r, Footprint{Centroid: kmFrom(9, 9), Radius: 150, Times: times(5, 2*time.Minute)}, now); got.Window != 15*time.Minute {
		t.Errorf("Score(5 calls over 8 min).Window = %s, want 15m0s", got.Window)
	}
}

func TestPoissonScore(t *testing.T) {
	tests := []struct {
		o    int
		e    float64
		want float64
	}{
		{0, 1, 0}, {1, 1, 0}, {2, 2.5, 0},
		{5, 1, 5*math.Log(5) + 1 - 5},
		{50, 40, 50*math.Log(50.0/40) + 40 - 50},
	}
	for _, tt := range tests {
		if got := PoissonScore(tt.o, tt.e); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("PoissonScore(%d, %g) = %g, want %g", tt.o, tt.e, got, tt.want)
		}
	}
}

func TestFootprintMatchesTheSummary(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, nz)
	d, err := NewDetector(Rule{Name: "any", Eps: 300, MinCalls: 4, Window: time.Hour}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pts := townStream(5, start, 1, 600, 9)
	slices.SortStableFunc(pts, func(p, q Point) int { return p.Time.Compare(q.Time) })
	for _, p := range pts {
		if err := d.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	cs := d.Clusters()
	if len(cs) == 0 {
		t.Fatal("no clusters to compare")
	}
	for _, c := range cs {
		f, ok := d.Footprint(c.ID)
		if !ok {
			t.Fatalf("Footprint(%d) missing", c.ID)
		}
		times := slices.Clone(f.Times)
		slices.SortFunc(times, time.Time.Compare)
		if !slices.Equal(times, c.Times) || math.Abs(f.Radius-c.Radius) > 1e-6 || distance(f.Centroid, c.Centroid) > 1e-6 {
			t.Errorf("Footprint(%d) = %v %v %d times, want the summary's %v %v %d", c.ID, f.Centroid, f.Radius, len(f.Times), c.Centroid, c.Radius, len(c.Times))
		}
	}
	if _, ok := d.Footprint(1 << 40); ok {
		t.Error("Footprint(unknown id) = true, want false")
	}
}

func TestScoreSchedule(t *testing.T) {
	var s ScoreSchedule
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := func(kind EventKind, calls int, dt time.Duration) Event {
		return Event{Kind: kind, Rule: "r", Cluster: 1, Calls: calls, At: at.Add(dt)}
	}
	steps := []struct {
		e    Event
		want bool
	}{
		{ev(EventFormed, 5, 0), true},
		{ev(EventGrew, 6, time.Second), true},
		{ev(EventGrew, 100, 2*time.Second), true},
		{ev(EventGrew, 101, 3*time.Second), false},
		{ev(EventGrew, 112, 4*time.Second), false},
		{ev(EventGrew, 113, 5*time.Second), true},
		{ev(EventGrew, 114, 11*time.Minute), true},
		{ev(EventShrank, 90, 12*time.Minute), false},
		{ev(EventDissolved, 0, 13*time.Minute), false},
		{ev(EventGrew, 200, 14*time.Minute), true},
	}
	for i, st := range steps {
		if got := s.Due(st.e); got != st.want {
			t.Errorf("step %d: Due(%v %d calls) = %v, want %v", i, st.e.Kind, st.e.Calls, got, st.want)
		}
	}
}
