package incidents_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"flare/incidents"
	"flare/incidents/defaults"
)

// FuzzCallInput decodes a call body as the API does and prepares it as the
// intake does. Whatever the bytes, a call is either refused with an
// *incidents.Error that names its field (a 4xx, never a 500) or comes out
// valid: an id of the allowed form, a place in the service area, a known
// category, a received_at from 2000 to a few minutes ahead, and bounded,
// printable texts. The request hash of a call survives re-encoding its
// input, so that a retry matches.
func FuzzCallInput(f *testing.F) {
	for _, s := range []struct{ body, key string }{
		{`{"lat":22.2710,"lon":113.5767,"category":"waterlogging"}`, ""},
		{`{"id":"c-1","received_at":"2026-07-01T20:00:00+08:00","lat":22.27,"lon":113.57,"category":"gas_leak","urgent":true,"address":"拱北","description":"line one\nline two","caller":"Li"}`, "key-1"},
		{`{"id":"c-1","received_at":"1999-12-31T23:59:59Z","lat":22.27,"lon":113.57,"category":"fire"}`, ""},
		{`{"lat":22.1987,"lon":113.5439,"category":"noise"}`, "k"},
		{`{"lat":91,"lon":0,"category":"noise"}`, ""},
		{`{"LAT":22.27,"Lon":113.57,"category":"other","description":"\u0000"}`, "with space"},
		{`{"lat":22.27,"lon":113.57,"category":"other","received_at":"2026-07-01T8:00:00Z"}`, ""},
		{`null`, ""},
	} {
		f.Add(s.body, s.key)
	}
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		f.Fatal(err)
	}
	area, err := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	in := incidents.NewIntake(incidents.IntakeConfig{Taxonomy: tax, Area: area, Now: func() time.Time { return now }})
	f.Cleanup(func() { in.Close(context.Background()) })
	id := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	f.Fuzz(func(t *testing.T, body, key string) {
		var input incidents.CallInput
		if json.Unmarshal([]byte(body), &input) != nil {
			return
		}
		nc, err := in.Prepare("agent:fuzz", key, input)
		if err != nil {
			var e *incidents.Error
			if !errors.As(err, &e) || e.Code == "" || e.Field == "" {
				t.Fatalf("Prepare(%s) = %v, want an *incidents.Error with a code and a field", body, err)
			}
			return
		}
		c := nc.Call
		switch {
		case !id.MatchString(c.ID):
			t.Fatalf("Prepare(%s) id = %q, want the allowed form", body, c.ID)
		case math.IsNaN(c.Lat) || math.IsNaN(c.Lon) || !area.Contains(c.Lon, c.Lat):
			t.Fatalf("Prepare(%s) place = %v,%v, want one in the service area", body, c.Lat, c.Lon)
		case !known(tax, c.Category):
			t.Fatalf("Prepare(%s) category = %q, want a known one", body, c.Category)
		case c.ReceivedAt.Year() < 2000 || c.ReceivedAt.After(now.Add(incidents.MaxFutureSkew)):
			t.Fatalf("Prepare(%s) received_at = %v, want from 2000 to %v", body, c.ReceivedAt, now.Add(incidents.MaxFutureSkew))
		case c.RecordedAt.IsZero() || c.Actor != "agent:fuzz":
			t.Fatalf("Prepare(%s) recorded_at %v by %q, want now by agent:fuzz", body, c.RecordedAt, c.Actor)
		case nc.IdempotencyKey != key:
			t.Fatalf("Prepare(%s) key = %q, want %q", body, nc.IdempotencyKey, key)
		}
		for _, tx := range []struct {
			name  string
			v     string
			max   int
			lines bool
		}{
			{"address", c.Address, incidents.MaxAddressChars, false},
			{"description", c.Description, incidents.MaxDescriptionChars, true},
			{"caller", c.Caller, incidents.MaxCallerChars, false},
		} {
			if !printable(tx.v, tx.lines) || utf8.RuneCountInString(tx.v) > tx.max || tx.v != strings.TrimSpace(tx.v) {
				t.Fatalf("Prepare(%s) %s = %q, want trimmed printable UTF-8 of at most %d characters", body, tx.name, tx.v, tx.max)
			}
		}
		// A retry sends the same fields, perhaps spaced or ordered anew.
		again, err := json.Marshal(input)
		if err != nil {
			t.Fatal(err)
		}
		var retry incidents.CallInput
		if err := json.Unmarshal(again, &retry); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if got := incidents.RequestHash(retry); got != nc.RequestHash {
			t.Fatalf("RequestHash of %s re-encoded = %s, want %s", body, got, nc.RequestHash)
		}
	})
}

func known(tax *incidents.Taxonomy, code string) bool {
	_, ok := tax.Category(code)
	return ok
}

// printable reports whether s is valid UTF-8 without control characters
// (newlines and tabs allowed in multi-line text).
func printable(s string, lines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && !(lines && (r == '\n' || r == '\t' || r == '\r')) || r == 0x7f {
			return false
		}
	}
	return true
}
