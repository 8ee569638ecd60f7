package geo

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

var orbDistance = orbgeo.DistanceHaversine

// unwrap returns lon shifted by a multiple of 360 to lie within 180 degrees
// of ref, so that positions across the antimeridian average and hull well.
func unwrap(lon, ref float64) float64 {
	for lon-ref > 180 {
		lon -= 360
	}
	for lon-ref < -180 {
		lon += 360
	}
	return lon
}

// Centroid returns the mean position of points given as [lon, lat], taking
// longitudes the short way round from the first point. It returns the zero
// point for no points.
func Centroid(pts []orb.Point) orb.Point {
	if len(pts) == 0 {
		return orb.Point{}
	}
	ref := pts[0][0]
	var sx, sy float64
	for _, p := range pts {
		sx += unwrap(p[0], ref)
		sy += p[1]
	}
	n := float64(len(pts))
	return orb.Point{normLonClosed(sx / n), sy / n}
}

// normLonClosed maps a longitude to [-180, 180], keeping 180 as it is.
func normLonClosed(lon float64) float64 {
	if lon == 180 {
		return lon
	}
	return normLon(lon)
}

// frame is a local plane in metres around a reference position, good for
// the extent of one cluster.
type frame struct {
	lon0, lat0 float64
	kx, ky     float64 // metres per degree
}

func newFrame(ref orb.Point) frame {
	ky := orb.EarthRadius * deg
	kx := ky * math.Max(math.Cos(ref[1]*deg), 1e-6)
	return frame{lon0: ref[0], lat0: ref[1], kx: kx, ky: ky}
}

func (f frame) to(p orb.Point) orb.Point {
	return orb.Point{(unwrap(p[0], f.lon0) - f.lon0) * f.kx, (p[1] - f.lat0) * f.ky}
}

func (f frame) from(p orb.Point) orb.Point {
	lat := math.Max(-90, math.Min(90, f.lat0+p[1]/f.ky))
	return orb.Point{f.lon0 + p[0]/f.kx, lat}
}

// Hull returns the convex hull of points given as [lon, lat], as a polygon
// with one counter-clockwise closed ring, computed in a local plane around
// their centroid. When the points lie on one position or one line (fewer
// than three hull corners, or a hull narrower than a metre) the hull is taken around circles of radius
// buffer metres drawn about each point instead. It returns nil for no
// points.
func Hull(pts []orb.Point, buffer float64) orb.Polygon {
	if len(pts) == 0 {
		return nil
	}
	f := newFrame(Centroid(pts))
	local := make([]orb.Point, len(pts))
	for i, p := range pts {
		local[i] = f.to(p)
	}
	ring := convexHull(local)
	if buffer > 0 && (len(ring) < 3 || width(ring) < 1) {
		const sides = 16
		ends := ring
		local = local[:0]
		for _, p := range ends {
			for k := 0; k < sides; k++ {
				a := 2 * math.Pi * float64(k) / sides
				local = append(local, orb.Point{p[0] + buffer*math.Cos(a), p[1] + buffer*math.Sin(a)})
			}
		}
		ring = convexHull(local)
	}
	out := make(orb.Ring, 0, len(ring)+1)
	for _, p := range ring {
		out = append(out, f.from(p))
	}
	out = append(out, out[0])
	return orb.Polygon{out}
}

// width returns the least distance between two parallel lines holding the
// convex polygon ring between them.
func width(ring []orb.Point) float64 {
	w := math.Inf(1)
	for i, a := range ring {
		b := ring[(i+1)%len(ring)]
		l := math.Hypot(b[0]-a[0], b[1]-a[1])
		if l == 0 {
			continue
		}
		far := 0.0
		for _, p := range ring {
			far = math.Max(far, math.Abs((b[0]-a[0])*(p[1]-a[1])-(b[1]-a[1])*(p[0]-a[0]))/l)
		}
		w = math.Min(w, far)
	}
	return w
}

// convexHull returns the corners of the convex hull of pts in
// counter-clockwise order (Andrew's monotone chain), without repeating the
// first. Collinear points are left out; all points on one line give the two
// ends, one distinct position gives one point. It reorders pts.
func convexHull(pts []orb.Point) []orb.Point {
	slices.SortFunc(pts, func(a, b orb.Point) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	pts = slices.Compact(pts)
	if len(pts) < 3 {
		return slices.Clone(pts)
	}
	cross := func(o, a, b orb.Point) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	h := make([]orb.Point, 0, 2*len(pts))
	for _, p := range pts {
		for len(h) >= 2 && cross(h[len(h)-2], h[len(h)-1], p) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	lower := len(h) + 1
	for i := len(pts) - 2; i >= 0; i-- {
		p := pts[i]
		for len(h) >= lower && cross(h[len(h)-2], h[len(h)-1], p) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	return h[:len(h)-1]
}
