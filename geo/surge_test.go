package geo

import (
	"math"
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
