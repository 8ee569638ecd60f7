package tracking_test

import (
	"context"
	"testing"
	"time"

	"flare/geo"
	"flare/incidents"
	"flare/incidents/internal/wftest"
	"flare/incidents/tracking"
)

// The market square in Gongbei, busy every afternoon, and a quiet street
// in Qianshan, 4 km away.
const (
	marketLat, marketLon = 22.2215, 113.5485
	quietLat, quietLon   = 22.2510, 113.5230
)

// history returns four weeks of calls before now: at the market square,
// thirty waterlogging calls between 14:00 and 15:00 every day, and across
// the city one call an hour at one of twenty places.
func history(now time.Time) []geo.Point {
	var pts []geo.Point
	start := now.Add(-28 * 24 * time.Hour).Truncate(24 * time.Hour)
	for d := 0; d < 28; d++ {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for i := 0; i < 30; i++ {
			la, lo := wftest.Offset(marketLat, marketLon, float64(i%5*30), float64(i/5*20))
			pts = append(pts, geo.Point{ID: "m" + day.Format("0102") + string(rune('a'+i)), Time: day.Add(14*time.Hour + time.Duration(i*2)*time.Minute),
				Lat: la, Lon: lo, Category: "waterlogging"})
		}
		for h := 0; h < 24; h++ {
			k := (d*24 + h) % 20
			la, lo := wftest.Offset(22.27, 113.55, float64(k%5*1500)-3000, float64(k/5*1500)-2000)
			pts = append(pts, geo.Point{ID: "b" + day.Format("0102") + string(rune('a'+h)), Time: day.Add(time.Duration(h)*time.Hour + 30*time.Minute),
				Lat: la, Lon: lo, Category: "noise"})
		}
	}
	return pts
}

// withBaseline gives e's tracker the baseline of history, published to the
// returned Live.
func withBaseline(t *testing.T, e *wftest.Env) *tracking.Live {
	t.Helper()
	live := &tracking.Live{}
	now := e.Clock.Now()
	b := geo.BuildBaseline(geo.BaselineOptions{}, history(now), now)
	e.Tracker.UseBaseline(b, tracking.SurgeOptions{Calibration: geo.CalibrationOptions{Replications: 20, Seed: 1}, Live: live})
	return live
}

// sixCalls registers six waterlogging calls two minutes apart around
// (lat, lon).
func sixCalls(t *testing.T, e *wftest.Env, lat, lon float64) {
	t.Helper()
	for i := 0; i < 6; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i%3*30), float64(i/3*30))
		e.Call(t, "waterlogging", la, lo, false)
		e.Clock.Add(2 * time.Minute)
	}
}

func alerts(t *testing.T, e *wftest.Env) []incidents.Alert {
	var out []incidents.Alert
	for _, ev := range e.Events(t, 0) {
		if ev.Type == incidents.EventAlertRaised {
			var a incidents.Alert
			wftest.Decode(t, ev, &a)
			out = append(out, a)
		}
	}
	return out
}

func TestAClusterWhereSuchCallsAreNormalIsAHotSpotThatDoesNotAlert(t *testing.T) {
	e := wftest.New(t) // 14:00, the market's busy hour
	live := withBaseline(t, e)
	sixCalls(t, e, marketLat, marketLon)
	if incs := e.Incidents(t); len(incs) != 0 {
		t.Errorf("six waterlogging calls at the market in its busy hour opened %v, want none", idsOf(incs))
	}
	if a := alerts(t, e); len(a) != 0 {
		t.Errorf("alerts = %+v, want none", a)
	}
	view, ok := live.Baseline(e.Clock.Now(), []string{"waterlogging"})
	if !ok || len(view.Hotspots) != 1 {
		t.Fatalf("published hot spots = %+v (ok %v), want the market's cluster", view.Hotspots, ok)
	}
	h := view.Hotspots[0]
	if h.Rule != "waterlogging" || h.Calls != 6 || h.Expected < 1 || h.RecurrenceDays >= 2 {
		t.Errorf("hot spot = %+v, want the waterlogging rule's 6 calls, about as many expected, recurring more than every 2 days", h)
	}
	var busy bool
	for _, c := range view.Cells {
		if c.Bound.Contains([2]float64{marketLon, marketLat}) && c.Expected > 0.5 {
			busy = true
		}
	}
	if !busy {
		t.Errorf("the baseline's cells at 14:00 = %d, none at the market expecting waterlogging calls", len(view.Cells))
	}
}

func TestTheSameCallsWhereTheyAreUnusualOpenAnIncidentAndAlert(t *testing.T) {
	e := wftest.New(t)
	withBaseline(t, e)
	sixCalls(t, e, quietLat, quietLon)
	incs := e.Incidents(t)
	if len(incs) != 1 {
		t.Fatalf("six waterlogging calls in a quiet street opened %v, want one incident", idsOf(incs))
	}
	r := incs[0].GradeReason
	if r.Kind != incidents.GradeBySurge || r.Observed < 5 || r.Expected >= 1 || r.Score <= 0 || r.RecurrenceDays < 2 || r.WindowS <= 0 {
		t.Errorf("grade reason = %+v, want a surge of at least 5 calls where fewer than 1 was expected, recurring less than every 2 days", r)
	}
	var opened bool
	for _, a := range alerts(t, e) {
		opened = opened || a.Kind == incidents.AlertIncidentOpened && a.IncidentID == incs[0].ID
	}
	if !opened {
		t.Errorf("no incident_opened alert for %s", incs[0].ID)
	}
	if len(e.Tracker.Hotspots()) != 0 {
		t.Errorf("hot spots = %+v, want none: the cluster has an incident", e.Tracker.Hotspots())
	}
}

func TestALeadersRegradeWinsOverTheSurge(t *testing.T) {
	e := wftest.New(t)
	withBaseline(t, e)
	sixCalls(t, e, quietLat, quietLon)
	inc := e.Incidents(t)[0]
	if inc.Grade == incidents.GradeIV {
		t.Fatalf("the quiet street's surge is grade IV, want more severe for this test")
	}
	ctx := context.Background()
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "regrade", Version: inc.Version, Grade: incidents.GradeIV, Reason: "a blocked drain, known"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		la, lo := wftest.Offset(quietLat, quietLon, float64(i*20), 60)
		e.Call(t, "waterlogging", la, lo, false)
		e.Clock.Add(time.Minute)
	}
	got, err := e.WF.GetIncident(ctx, wftest.Leader, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Grade != incidents.GradeIV || !got.GradeManual || got.GradeReason.Kind != incidents.GradeByLeader || got.CallCount != 12 {
		t.Errorf("after 6 more calls the incident is grade %d manual %v reason %+v with %d calls; want the leader's grade IV kept, 12 calls", got.Grade, got.GradeManual, got.GradeReason, got.CallCount)
	}
}

func TestAnUrgentCallInAHotSpotStillOpensAnIncident(t *testing.T) {
	e := wftest.New(t)
	withBaseline(t, e)
	sixCalls(t, e, marketLat, marketLon)
	c := e.Call(t, "waterlogging", marketLat, marketLon, true)
	incs := e.Incidents(t)
	if len(incs) != 1 || incs[0].Source != "urgent" || !incs[0].Grade.AtLeast(incidents.GradeIII) {
		t.Fatalf("an urgent call in the market's hot spot gave %v; want one urgent incident of grade III or more", idsOf(incs))
	}
	if r := incs[0].GradeReason; r.Kind != incidents.GradeByUrgentCall || r.CallID != c.ID {
		t.Errorf("grade reason = %+v, want the urgent call %s", r, c.ID)
	}
}
