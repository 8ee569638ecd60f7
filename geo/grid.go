package geo

import (
	"math"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// The grid divides the sphere into rows of latitude of one height and, in
// each row, into columns of longitude as wide as that row allows. Cells are
// small enough that any two points in one cell are within eps of each other
// by orb's haversine distance, with a margin far above rounding error: a
// cell's angular half-diagonal is at most 0.9995 eps. A neighbourhood query
// visits the few cells whose points can be within eps, discards with cheap
// conservative bounds the candidates that are certainly farther, and tests
// each of the others with geo.DistanceHaversine: every pair taken as
// neighbours has passed that test.

const (
	deg = math.Pi / 180
	// shrink keeps a cell's diagonal below eps by a wide margin.
	shrink = 0.999
	// grow widens query bounds to stay conservative under rounding.
	grow = 1 + 1e-9
)

// grid holds the cell geometry for one eps.
type grid struct {
	eps       float64 // metres
	epsDeg    float64 // eps as an angle, in degrees, widened a little
	sinHalf   float64 // sin(eps/2R), widened a little
	rowDeg    float64 // row height in degrees
	nrows     int32
	cosMargin float64 // degrees added to |lat| before taking a cosine lower bound
	// rows caches the layouts of rows by row number modulo rowCache; a
	// query spans at most five consecutive rows, so that the layouts it
	// holds are never evicted while it runs.
	rows [rowCache]rowInfo
}

const rowCache = 1024

// rowInfo is the column layout of one row.
type rowInfo struct {
	colDeg float64 // column width in degrees; 360/ncols
	cosMin float64 // lower bound of cos(lat) over the row
	latLo  float64
	row    int32 // -1 in an empty cache slot
	ncols  int32
}

func newGrid(eps float64) *grid {
	e := eps / orb.EarthRadius // radians
	h := e / math.Sqrt2 * shrink
	g := &grid{
		eps:       eps,
		epsDeg:    e/deg*grow + 1e-12,
		sinHalf:   math.Sin(e/2) * grow,
		rowDeg:    h / deg,
		cosMargin: 1e-9,
	}
	g.nrows = int32(math.Ceil(180 / g.rowDeg))
	for k := range g.rows {
		g.rows[k].row = -1
	}
	return g
}

func (g *grid) row(lat float64) int32 {
	r := int32(math.Floor((lat + 90) / g.rowDeg))
	if r < 0 {
		return 0
	}
	if r >= g.nrows {
		return g.nrows - 1
	}
	return r
}

// info returns the column layout of row r, computing it unless it is
// cached. It is valid until info is asked for a row rowCache rows away.
func (g *grid) info(r int32) *rowInfo {
	ri := &g.rows[r%rowCache]
	if ri.row == r {
		return ri
	}
	lo := -90 + float64(r)*g.rowDeg
	hi := math.Min(90, lo+g.rowDeg)
	*ri = rowInfo{row: r, latLo: lo}
	nearest := 0.0 // smallest |lat| in the row
	if lo > 0 || hi < 0 {
		nearest = math.Min(math.Abs(lo), math.Abs(hi))
	}
	far := math.Max(math.Abs(lo), math.Abs(hi))
	ri.cosMin = math.Max(0, math.Cos(math.Min(90, far+g.cosMargin)*deg))
	// The widest a column may be: cmax * sin(w/2) <= sin(h/2) keeps the
	// diagonal within eps, where cmax bounds cos(lat) over the row from
	// above.
	cmax := math.Cos(math.Max(0, nearest-g.cosMargin) * deg)
	x := math.Sin(g.rowDeg*deg/2) / cmax
	if x >= 1 {
		ri.ncols = 1
	} else {
		w := 2 * math.Asin(x) / deg * shrink
		n := math.Ceil(360 / w)
		if n > math.MaxInt32/2 {
			n = math.MaxInt32 / 2
		}
		ri.ncols = int32(n)
	}
	ri.colDeg = 360 / float64(ri.ncols)
	return ri
}

// normLon maps a longitude to [-180, 180).
func normLon(lon float64) float64 {
	if lon >= 180 || lon < -180 {
		lon = math.Mod(lon+180, 360)
		if lon < 0 {
			lon += 360
		}
		lon -= 180
	}
	return lon
}

func (ri *rowInfo) col(lon float64) int32 {
	c := int32(math.Floor((normLon(lon) + 180) / ri.colDeg))
	if c < 0 {
		return 0
	}
	if c >= ri.ncols {
		return ri.ncols - 1
	}
	return c
}

// span is the part of one row that a query must visit.
type span struct {
	info   *rowInfo
	row    int32
	c0, c1 int32   // columns c0..c1, taken modulo ncols; c1 < c0+ncols
	dLon   float64 // candidates farther than this in longitude are pruned; >= 180 keeps all
}

// spans appends the row spans that can hold points within eps of (lat, lon),
// given cosLat = math.Cos(lat*deg).
func (g *grid) spans(dst []span, lat, lon, cosLat float64) []span {
	r0, r1 := g.row(lat-g.epsDeg), g.row(lat+g.epsDeg)
	// Lower bound of cos(lat) of the query point: the computed cosine is
	// within a few ulps of the true one.
	cp := math.Max(0, cosLat-1e-12)
	lon = normLon(lon)
	for r := r0; r <= r1; r++ {
		ri := g.info(r)
		s := span{info: ri, row: r, c0: 0, c1: ri.ncols - 1, dLon: 360}
		// A neighbour needs cos(lat)*cos(lat')*sin^2(dLon/2) <= sin^2(eps/2R),
		// so dLon/2 <= asin(x) <= x/sqrt(1-x^2) (asin y <= tan(asin y)).
		if ri.ncols > 1 && cp > 0 && ri.cosMin > 0 {
			x := g.sinHalf / math.Sqrt(cp*ri.cosMin)
			if x < 1 {
				var h float64
				if x < 0.5 {
					h = x / math.Sqrt(1-x*x)
				} else {
					h = math.Asin(x)
				}
				d := 2*h/deg*grow + 1e-12
				c0 := int32(math.Floor((lon + 180 - d) / ri.colDeg))
				c1 := int32(math.Floor((lon + 180 + d) / ri.colDeg))
				if c1-c0+1 < ri.ncols {
					s.c0, s.c1, s.dLon = c0, c1, d
				}
			}
		}
		dst = append(dst, s)
	}
	return dst
}

// within reports whether two positions are neighbours: orb's haversine
// distance between them is at most eps.
func within(lat1, lon1, lat2, lon2, eps float64) bool {
	return orbgeo.DistanceHaversine(orb.Point{lon1, lat1}, orb.Point{lon2, lat2}) <= eps
}
