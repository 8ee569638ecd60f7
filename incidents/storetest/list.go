package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"flare/incidents"
)

// listFixture is a set of calls built for the listing tests: 48 calls on an
// 8x6 grid, at 6 distinct times (8 calls share each), in 3 categories, with
// ids that do not follow the insertion order.
type listFixture struct {
	calls []incidents.Call
}

var listCategories = []string{"waterlogging", "fallen_tree", "noise"}

func gridLat(i int) float64 { return 22.0 + float64(i)*0.01 }
func gridLon(i int) float64 { return 113.0 + float64(i)*0.01 }
func listTime(i int) time.Time {
	return base.Add(time.Duration(i) * time.Minute)
}

// storeListFixture stores the fixture in s, in batches of 5, and returns it.
func storeListFixture(tb testing.TB, s incidents.Store) listFixture {
	tb.Helper()
	var f listFixture
	var batch []incidents.NewCall
	const n = 48
	for i := range n {
		c := newCall(fmt.Sprintf("call-%02d", (i*17)%n), listTime(i%6))
		c.Category = listCategories[i%3]
		c.Lat, c.Lon = gridLat(i%8), gridLon(i/8)
		batch = append(batch, c)
		if len(batch) == 5 || i == n-1 {
			for _, r := range mustCreate(tb, s, batch...) {
				f.calls = append(f.calls, r.Call)
			}
			batch = batch[:0]
		}
	}
	return f
}

// want returns the ids of the fixture's calls that match f, in listing order,
// computed without the store.
func (lf listFixture) want(f incidents.CallFilter) []string {
	var out []incidents.Call
	for _, c := range lf.calls {
		if !f.From.IsZero() && c.ReceivedAt.Before(f.From) {
			continue
		}
		if !f.To.IsZero() && !c.ReceivedAt.Before(f.To) {
			continue
		}
		if len(f.Categories) > 0 && !slices.Contains(f.Categories, c.Category) {
			continue
		}
		if b := f.BBox; b != nil && (c.Lat < b.MinLat || c.Lat > b.MaxLat || c.Lon < b.MinLon || c.Lon > b.MaxLon) {
			continue
		}
		if a := f.After; a != nil && !(c.ReceivedAt.Before(a.ReceivedAt) || c.ReceivedAt.Equal(a.ReceivedAt) && c.ID < a.ID) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b incidents.Call) int {
		if c := b.ReceivedAt.Compare(a.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if f.Limit < len(out) {
		out = out[:f.Limit]
	}
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.ID
	}
	return ids
}

func callIDs(calls []incidents.Call) []string {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	return ids
}

func testListCalls(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	fx := storeListFixture(t, s)
	box := &incidents.BBox{MinLat: gridLat(2), MaxLat: gridLat(5), MinLon: gridLon(1), MaxLon: gridLon(3)}
	tests := []struct {
		name  string
		f     incidents.CallFilter
		wantN int // a sanity check of the fixture: how many match
	}{
		{"no filter lists all newest first", incidents.CallFilter{}, 48},
		{"from includes its instant", incidents.CallFilter{From: listTime(4)}, 16},
		{"to excludes its instant", incidents.CallFilter{To: listTime(2)}, 16},
		{"from and to", incidents.CallFilter{From: listTime(1), To: listTime(3)}, 16},
		{"from in another zone", incidents.CallFilter{From: listTime(4).In(time.UTC)}, 16},
		{"one category", incidents.CallFilter{Categories: []string{"noise"}}, 16},
		{"two categories", incidents.CallFilter{Categories: []string{"noise", "waterlogging"}}, 32},
		{"unknown category matches nothing", incidents.CallFilter{Categories: []string{"fire"}}, 0},
		{"bbox includes its edges", incidents.CallFilter{BBox: box}, 12},
		{"bbox, category and time together", incidents.CallFilter{
			BBox: box, Categories: []string{"fallen_tree", "noise"}, From: listTime(1), To: listTime(5)}, -1},
		{"after a cursor inside a tie", incidents.CallFilter{
			After: &incidents.CallCursor{ReceivedAt: listTime(3), ID: "call-20"}}, -1},
		{"after a cursor matching no call", incidents.CallFilter{
			After: &incidents.CallCursor{ReceivedAt: listTime(3).Add(time.Microsecond), ID: ""}}, 32},
		{"after a cursor past the oldest", incidents.CallFilter{
			After: &incidents.CallCursor{ReceivedAt: listTime(0), ID: ""}}, 0},
		{"limit cuts the list", incidents.CallFilter{Limit: 5}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			if f.Limit == 0 {
				f.Limit = 1000
			}
			want := fx.want(f)
			if tt.wantN >= 0 && len(want) != tt.wantN {
				t.Fatalf("fixture: %d calls match, the test expects %d", len(want), tt.wantN)
			}
			got, err := s.ListCalls(ctxFor(t), f)
			if err != nil {
				t.Fatalf("ListCalls(%+v) = %v, want no error", f, err)
			}
			if ids := callIDs(got); !slices.Equal(ids, want) {
				t.Errorf("ListCalls(%+v) = %v, want %v", f, ids, want)
			}
		})
	}

	t.Run("zero limit is invalid", func(t *testing.T) {
		_, err := s.ListCalls(ctxFor(t), incidents.CallFilter{})
		if !errorIs(err, incidents.CodeInvalid, "limit") {
			t.Errorf("ListCalls(Limit 0) = %v, want an invalid limit error", err)
		}
	})
}

func testListCallsPaging(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	fx := storeListFixture(t, s)
	filters := []struct {
		name string
		f    incidents.CallFilter
	}{
		{"all", incidents.CallFilter{}},
		{"category", incidents.CallFilter{Categories: []string{"fallen_tree"}}},
		{"bbox and time", incidents.CallFilter{
			BBox: &incidents.BBox{MinLat: gridLat(0), MaxLat: gridLat(4), MinLon: gridLon(0), MaxLon: gridLon(5)},
			To:   listTime(5)}},
	}
	for _, ft := range filters {
		for _, size := range []int{1, 3, 8, 47, 48, 100} {
			t.Run(fmt.Sprintf("%s in pages of %d sees every call once", ft.name, size), func(t *testing.T) {
				all := ft.f
				all.Limit = 1000
				want := fx.want(all)
				var got []string
				f := ft.f
				f.Limit = size
				for page := 0; ; page++ {
					if page > len(want)+1 {
						t.Fatalf("paging did not end after %d pages", page)
					}
					calls, err := s.ListCalls(ctxFor(t), f)
					if err != nil {
						t.Fatalf("ListCalls(page %d) = %v, want no error", page, err)
					}
					if len(calls) > size {
						t.Fatalf("ListCalls(page %d) = %d calls, want at most %d", page, len(calls), size)
					}
					got = append(got, callIDs(calls)...)
					if len(calls) < size {
						break
					}
					last := calls[len(calls)-1]
					f.After = &incidents.CallCursor{ReceivedAt: last.ReceivedAt, ID: last.ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages of %d = %v, want %v", size, got, want)
				}
			})
		}
	}
}

// Times a store cannot keep (SQLite's Unix nanoseconds end in 1677 and
// 2262) and the last ones it can.
var (
	tooLate   = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tooEarly  = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	lastLate  = time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC)
	lastEarly = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
)

func testListCallsTimeRange(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	mustCreate(t, s, newCall("c1", base))
	tests := []struct {
		name    string
		f       incidents.CallFilter
		field   string // of the invalid error, or "" for none
		wantIDs []string
	}{
		{"from far in the future is invalid", incidents.CallFilter{From: tooLate}, "from", nil},
		{"to far in the past is invalid", incidents.CallFilter{To: tooEarly}, "to", nil},
		{"from far in the past is invalid", incidents.CallFilter{From: tooEarly}, "from", nil},
		{"to far in the future is invalid", incidents.CallFilter{To: tooLate}, "to", nil},
		{"from the last time kept finds nothing", incidents.CallFilter{From: lastLate}, "", []string{}},
		{"to the first time kept finds nothing", incidents.CallFilter{To: lastEarly}, "", []string{}},
		{"from the first to the last time kept finds all", incidents.CallFilter{From: lastEarly, To: lastLate}, "", []string{"c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 10
			got, err := s.ListCalls(ctxFor(t), tt.f)
			if tt.field != "" {
				if !errorIs(err, incidents.CodeInvalid, tt.field) {
					t.Errorf("ListCalls(from %v, to %v) = %v, %v, want an invalid %s error", tt.f.From, tt.f.To, callIDs(got), err, tt.field)
				}
				return
			}
			if err != nil || !slices.Equal(callIDs(got), tt.wantIDs) {
				t.Errorf("ListCalls(from %v, to %v) = %v, %v, want %v", tt.f.From, tt.f.To, callIDs(got), err, tt.wantIDs)
			}
		})
	}
}
