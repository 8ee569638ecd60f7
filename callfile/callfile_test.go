package callfile

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// readAll reads every call and every row error from src.
func readAll(tb testing.TB, src string) ([]Call, []*RowError, error) {
	tb.Helper()
	var rows []*RowError
	calls, err := NewReader(strings.NewReader(src)).ReadAll(func(e *RowError) error {
		rows = append(rows, e)
		return nil
	})
	return calls, rows, err
}

func TestRead(t *testing.T) {
	at := time.Date(2026, 7, 1, 20, 0, 0, 0, time.FixedZone("", 8*3600))
	one := Call{ID: "a", ReceivedAt: at, Lat: 22.27, Lon: 113.56, Category: "waterlogging"}
	urgent := one
	urgent.Urgent = true
	tests := []struct {
		name    string
		src     string
		want    []Call
		badRows []int // line numbers of malformed rows
		fatal   bool
	}{
		{"csv row read", "id,received_at,lat,lon,category\na,2026-07-01T20:00:00+08:00,22.27,113.56,waterlogging\n", []Call{one}, nil, false},
		{"csv columns in any order with extras", "category,lon,lat,received_at,id,urgent,note\nwaterlogging,113.56,22.27,2026-07-01T20:00:00+08:00,a,true,x\n", []Call{urgent}, nil, false},
		{"csv blank lines skipped", "id,received_at,lat,lon,category\n\na,2026-07-01T20:00:00+08:00,22.27,113.56,waterlogging\n\n", []Call{one}, nil, false},
		{"csv bad rows reported by line", "id,received_at,lat,lon,category\nb,yesterday,22,113,fire\na,2026-07-01T20:00:00+08:00,22.27,113.56,waterlogging\nc,2026-07-01T20:00:00+08:00,95,113,fire\nd,2026-07-01T20:00:00+08:00,22,113\n", []Call{one}, []int{2, 4, 5}, false},
		{"csv without needed column fails", "id,lat,lon,category\na,1,2,fire\n", nil, nil, true},
		{"csv zero or malformed times reported", "id,reCeived_At,lAt,lon,CAtegorY\n\x1e,0001-01-01T0:00:00+00:00,0,0,0\nz,0001-01-01T00:00:00Z,0,0,0\nh,2026-07-01T8:00:00+08:00,22,113,fire\na,2026-07-01T20:00:00+08:00,22.27,113.56,waterlogging\n", []Call{one}, []int{2, 3, 4}, false},
		{"csv bad quote reported", "id,received_at,lat,lon,category\n\"a,2026-07-01T20:00:00+08:00,22.27,113.56,fire\n", nil, []int{2}, false},
		{"empty file has no calls", "", nil, nil, false},
		{"jsonl row read", `{"id":"a","received_at":"2026-07-01T20:00:00+08:00","lat":22.27,"lon":113.56,"category":"waterlogging"}` + "\n", []Call{one}, nil, false},
		{"jsonl numbers as strings and extras", `{"id":"a","received_at":"2026-07-01T20:00:00+08:00","lat":"22.27","lon":"113.56","category":"waterlogging","urgent":true,"x":[1]}`, []Call{urgent}, nil, false},
		{"jsonl numeric id taken as text", `{"id":7,"received_at":"2026-07-01T20:00:00+08:00","lat":22.27,"lon":113.56,"category":"waterlogging"}`, []Call{{ID: "7", ReceivedAt: at, Lat: 22.27, Lon: 113.56, Category: "waterlogging"}}, nil, false},
		{"jsonl bad rows reported by line", "{\"id\":\"a\",\"received_at\":\"2026-07-01T20:00:00+08:00\",\"lat\":22.27,\"lon\":113.56,\"category\":\"waterlogging\"}\n\n{oops\n{\"id\":\"b\",\"lat\":1,\"lon\":2,\"category\":\"x\",\"received_at\":\"2026-07-01T20:00:00Z\",\"urgent\":\"maybe\"}\n{\"id\":\"c\",\"lat\":[1],\"lon\":2,\"category\":\"x\",\"received_at\":\"2026-07-01T20:00:00Z\"}\n", []Call{one}, []int{3, 4, 5}, false},
		{"jsonl missing category reported", `{"id":"a","received_at":"2026-07-01T20:00:00+08:00","lat":22.27,"lon":113.56}`, nil, []int{1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rows, err := readAll(t, tt.src)
			for i := range got {
				if got[i].Line == 0 {
					t.Errorf("call %s has no line number", got[i].ID)
				}
				got[i].Line = 0
			}
			if (err != nil) != tt.fatal {
				t.Fatalf("ReadAll(%q) error = %v, want fatal %v", tt.src, err, tt.fatal)
			}
			if tt.fatal {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadAll(%q) = %+v, want %+v", tt.src, got, tt.want)
			}
			var lines []int
			for _, r := range rows {
				lines = append(lines, r.Line)
				if !errors.Is(r, ErrMalformed) {
					t.Errorf("row error %v does not wrap ErrMalformed", r)
				}
			}
			if !reflect.DeepEqual(lines, tt.badRows) {
				t.Errorf("ReadAll(%q) bad rows at lines %v, want %v (%v)", tt.src, lines, tt.badRows, rows)
			}
		})
	}
}

func TestReadLongLineReported(t *testing.T) {
	src := "{\"id\":\"" + strings.Repeat("x", maxLine+10) + "\"}\n" +
		`{"id":"a","received_at":"2026-07-01T20:00:00Z","lat":1,"lon":2,"category":"fire"}` + "\n"
	got, rows, err := readAll(t, src)
	if err != nil || len(got) != 1 || len(rows) != 1 || rows[0].Line != 1 {
		t.Fatalf("ReadAll(long line) = %v calls, rows %v, err %v; want 1 call and line 1 reported", len(got), rows, err)
	}
}

func TestReadAllStopsWhenAsked(t *testing.T) {
	stop := errors.New("stop")
	_, err := NewReader(strings.NewReader("id,received_at,lat,lon,category\nx,bad,1,2,fire\n")).ReadAll(func(*RowError) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("ReadAll = %v, want %v", err, stop)
	}
}

func TestWriteThenRead(t *testing.T) {
	calls := []Call{
		{ID: "a", ReceivedAt: time.Date(2026, 7, 1, 20, 0, 0, 0, time.UTC), Lat: 22.271234567, Lon: 113.5678901, Category: "fire", Urgent: true, Address: "香洲区, \"凤凰路\"", Description: "smoke,\nsecond line"},
		{ID: "b", ReceivedAt: time.Date(2026, 7, 1, 20, 0, 1, 500, time.FixedZone("", 8*3600)), Lat: -89.5, Lon: 179.999, Category: "其他"},
	}
	for _, f := range []Format{CSV, JSONL} {
		t.Run(f.String()+" round trip keeps calls", func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, f)
			for _, c := range calls {
				if err := w.Write(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r := NewReader(&buf)
			if r.Format() != f {
				t.Errorf("Format() = %v, want %v", r.Format(), f)
			}
			got, err := r.ReadAll(func(e *RowError) error { return e })
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(calls) {
				t.Fatalf("read %d calls, want %d", len(got), len(calls))
			}
			for i := range got {
				got[i].Line = 0
				if !got[i].ReceivedAt.Equal(calls[i].ReceivedAt) {
					t.Errorf("call %d time = %v, want %v", i, got[i].ReceivedAt, calls[i].ReceivedAt)
				}
				got[i].ReceivedAt = calls[i].ReceivedAt
			}
			if !reflect.DeepEqual(got, calls) {
				t.Errorf("read %+v, want %+v", got, calls)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Format
		ok   bool
	}{{"csv", CSV, true}, {"JSONL", JSONL, true}, {"json", JSONL, true}, {"xml", 0, false}} {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzRead checks that the reader never panics, that every call it returns
// is valid, and that writing the calls out and reading them back gives the
// same calls.
func FuzzRead(f *testing.F) {
	f.Add("id,received_at,lat,lon,category\na,2026-07-01T20:00:00+08:00,22.27,113.56,waterlogging\n")
	f.Add("id,received_at,lat,lon,category,urgent\n\"a\",2026-07-01T20:00:00Z,-90,180,x,yes\nb,,1,2,y\n")
	f.Add(`{"id":"a","received_at":"2026-07-01T20:00:00+08:00","lat":22.27,"lon":113.56,"category":"waterlogging","urgent":true}` + "\n{}\n")
	f.Add("\ufeff{\"id\":1}\n")
	f.Add("id,received_at,lat,lon,category\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, src string) {
		calls, _ := NewReader(strings.NewReader(src)).ReadAll(nil)
		for _, c := range calls {
			if c.ID == "" || c.Category == "" || c.ReceivedAt.IsZero() || math.Abs(c.Lat) > 90 || math.Abs(c.Lon) > 180 || math.IsNaN(c.Lat) || math.IsNaN(c.Lon) {
				t.Fatalf("Read returned an invalid call %+v", c)
			}
		}
		for _, f := range []Format{CSV, JSONL} {
			var buf bytes.Buffer
			w := NewWriter(&buf, f)
			for _, c := range calls {
				if err := w.Write(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			back, err := NewReader(&buf).ReadAll(func(e *RowError) error { return e })
			if err != nil && !(err == io.EOF) {
				t.Fatalf("reading back %v: %v\n%s", f, err, buf.String())
			}
			if len(back) != len(calls) {
				t.Fatalf("read back %d calls as %v, want %d", len(back), f, len(calls))
			}
			for i := range back {
				a, b := back[i], calls[i]
				if a.ID != strings.TrimSpace(b.ID) || a.Category != b.Category || !a.ReceivedAt.Equal(b.ReceivedAt) || a.Lat != b.Lat || a.Lon != b.Lon || a.Urgent != b.Urgent {
					t.Fatalf("read back %+v as %v, want %+v", a, f, b)
				}
			}
		}
	})
}
