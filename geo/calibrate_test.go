package geo

import (
	"testing"
	"time"
)

func TestCalibrationGivesRecurrence(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, nz)
	pts := townStream(4, start, 14, 60, 5)
	now := start.Add(14 * 24 * time.Hour)
	b := BuildBaseline(BaselineOptions{}, pts, now)
	rules := []Rule{{Name: "flood", Categories: []string{"flood"}, Eps: 500, MinCalls: 3, Window: time.Hour}}
	c, err := Calibrate(b, rules, now, CalibrationOptions{Replications: 20, Span: 12 * time.Hour, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := c.Maxima["flood"]
	if len(m) != 20 {
		t.Fatalf("Calibrate kept %d maxima, want 20", len(m))
	}
	if c.Calls < 300 || c.Calls > 600 {
		t.Errorf("null streams hold %.0f calls, want about the baseline's 450 in 12 hours", c.Calls)
	}
	prev := 0.0
	for _, s := range []float64{0, 2, 5, 10, 20, 40} {
		ri := c.RecurrenceDays("flood", s)
		if ri < prev {
			t.Errorf("RecurrenceDays(%g) = %g, want no less than %g at a lower score", s, ri, prev)
		}
		prev = ri
	}
	if ri := c.RecurrenceDays("flood", 40); ri < 100 {
		t.Errorf("RecurrenceDays(40) = %g, want a rare surge", ri)
	}
	if ri := c.RecurrenceDays("flood", 0); ri > 1 {
		t.Errorf("RecurrenceDays(0) = %g, want every half day or more often", ri)
	}
}

func TestGrading(t *testing.T) {
	g := DefaultGrading()
	tests := []struct {
		days float64
		cats map[string]int
		want Grade
	}{
		{1.5, map[string]int{"noise": 5}, 0},
		{2, map[string]int{"noise": 5}, 4},
		{12, map[string]int{"flood": 5}, 4},
		{35, map[string]int{"flood": 5}, 3},
		{12, map[string]int{"gas_leak": 3}, 3},
		{12, map[string]int{"gas_leak": 1, "noise": 2}, 4},
		{1200, map[string]int{"fire": 3}, 1},
		{400, map[string]int{"noise": 3}, 2},
	}
	for _, tt := range tests {
		if got := g.Grade(tt.days, tt.cats); got != tt.want {
			t.Errorf("Grade(%g, %v) = %v, want %v", tt.days, tt.cats, got, tt.want)
		}
	}
}
