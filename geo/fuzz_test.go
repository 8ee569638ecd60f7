package geo

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// streamFromBytes decodes fuzz input into a stream: a header picks eps,
// minCalls, the window and the lateness, and every five bytes make a call
// (time step, position on a fine lattice around a point, category).
func streamFromBytes(data []byte) (stream, bool) {
	if len(data) < 4 {
		return stream{}, false
	}
	s := stream{rule: Rule{
		Name:     "fuzz",
		Eps:      MinEps + float64(data[0])*2,
		MinCalls: 1 + int(data[1]%6),
		Window:   time.Duration(1+data[2]%30) * time.Minute,
	}}
	if data[3]&1 == 1 {
		s.rule.Categories = []string{"a"}
	}
	s.lateness = time.Duration(data[3]>>1%16) * time.Minute
	lat0, lon0 := 22.27, 113.56
	if data[3]&0x80 != 0 {
		lat0, lon0 = 89.999, 179.999 // near the pole and the antimeridian
	}
	step := s.rule.Eps / 4 / 111_000 // a lattice a quarter of eps apart
	t := t0
	for i, b := 0, data[4:]; len(b) >= 5 && i < 200; i, b = i+1, b[5:] {
		dt := time.Duration(int8(b[0])) * 10 * time.Second
		at := t.Add(dt)
		if dt >= 0 {
			t = at
		}
		lon := lon0 + float64(int8(b[2]))*step/math.Max(math.Cos(lat0*deg), 1e-3)
		if lon > 180 {
			lon -= 360
		}
		p := Point{
			ID:       fmt.Sprintf("f%d", i),
			Time:     at,
			Lat:      math.Min(90, lat0+float64(int8(b[1]))*step),
			Lon:      lon,
			Category: string(rune('a' + b[3]%2)),
		}
		if b[4]%5 == 0 && i > 0 {
			p.Lat, p.Lon = s.pts[int(b[4])%len(s.pts)].Lat, s.pts[int(b[4])%len(s.pts)].Lon
		}
		s.pts = append(s.pts, p)
	}
	return s, len(s.pts) > 0
}

// FuzzDetector feeds decoded streams to the detector and compares it with a
// batch DBSCAN after every arrival and every expiry, checking its internal
// bookkeeping as well.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{50, 2, 10, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 2, 0, 0, 100, 0, 0, 0, 0})
	f.Add([]byte{200, 3, 5, 0x81, 0, 10, 10, 1, 1, 0, 12, 10, 1, 1, 0, 10, 12, 1, 1, 200, 0, 0, 1, 1, 3, 11, 11, 1, 1})
	f.Add([]byte{10, 1, 1, 6, 0, 0, 0, 0, 0, 250, 0, 0, 0, 5, 0, 4, 4, 0, 1, 30, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok := streamFromBytes(data)
		if !ok {
			return
		}
		if err := runStream(t, s, true); err != nil {
			t.Fatalf("%v\n%s", err, describe(s.rule, s.lateness, s.pts))
		}
	})
}
