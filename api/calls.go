package api

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"flare/incidents"
)

// handleCreateCall registers a call: 201 with the stored call, 200 with the
// original call for an idempotent retry.
func (s *Server) handleCreateCall(w http.ResponseWriter, r *http.Request) {
	var in incidents.CallInput
	if err := s.decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	call, created, err := s.cfg.Intake.Register(r.Context(), p.Actor(), r.Header.Get("Idempotency-Key"), in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/calls/"+call.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeCall(w, status, call)
}

// writeCall writes call as the JSON body of a response with status.
func writeCall(w http.ResponseWriter, status int, call incidents.Call) {
	writeJSONHeader(w, status)
	_, _ = w.Write(append(call.AppendJSON(make([]byte, 0, 512)), '\n'))
}

func (s *Server) handleGetCall(w http.ResponseWriter, r *http.Request) {
	call, err := s.cfg.Store.GetCall(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeCall(w, http.StatusOK, call)
}

type callPage struct {
	Calls      []incidents.Call `json:"calls"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// handleListCalls lists calls newest first (by received_at), filtered by
// from/to (RFC 3339), category (comma-separated codes) and bbox
// (minLon,minLat,maxLon,maxLat), paged by an opaque cursor.
func (s *Server) handleListCalls(w http.ResponseWriter, r *http.Request) {
	f, err := s.callFilter(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	want := f.Limit
	f.Limit++ // one more tells whether another page follows
	calls, err := s.cfg.Store.ListCalls(r.Context(), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	page := callPage{Calls: calls}
	if len(calls) > want {
		page.Calls = calls[:want]
		last := page.Calls[want-1]
		page.NextCursor = encodeCursor(incidents.CallCursor{ReceivedAt: last.ReceivedAt, ID: last.ID})
	}
	if page.Calls == nil {
		page.Calls = []incidents.Call{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) callFilter(r *http.Request) (incidents.CallFilter, error) {
	q := r.URL.Query()
	f := incidents.CallFilter{Limit: defaultPageSize}
	for _, name := range []string{"from", "to"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, incidents.FieldError(incidents.CodeBadRequest, name, "%s must be an RFC 3339 time", name)
		}
		if name == "from" {
			f.From = t.UTC()
		} else {
			f.To = t.UTC()
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, incidents.FieldError(incidents.CodeBadRequest, "to", "to must be after from")
	}
	if v := q.Get("category"); v != "" {
		for _, c := range strings.Split(v, ",") {
			if _, ok := s.cfg.Intake.Taxonomy().Category(c); !ok {
				return f, incidents.FieldError(incidents.CodeBadRequest, "category", "unknown category %q", c)
			}
			f.Categories = append(f.Categories, c)
		}
	}
	if v := q.Get("bbox"); v != "" {
		b, err := parseBBox(v)
		if err != nil {
			return f, err
		}
		f.BBox = b
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return f, incidents.FieldError(incidents.CodeBadRequest, "limit", "limit must be a whole number from 1 to %d", maxPageSize)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return f, err
		}
		f.After = &c
	}
	return f, nil
}

func parseBBox(v string) (*incidents.BBox, error) {
	parts := strings.Split(v, ",")
	bad := incidents.FieldError(incidents.CodeBadRequest, "bbox", "bbox must be minLon,minLat,maxLon,maxLat, finite numbers with min <= max")
	if len(parts) != 4 {
		return nil, bad
	}
	var n [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, bad
		}
		n[i] = x
	}
	b := incidents.BBox{MinLon: n[0], MinLat: n[1], MaxLon: n[2], MaxLat: n[3]}
	if b.MinLon > b.MaxLon || b.MinLat > b.MaxLat || b.MinLon < -180 || b.MaxLon > 180 || b.MinLat < -90 || b.MaxLat > 90 {
		return nil, bad
	}
	return &b, nil
}

type cursorJSON struct {
	T int64  `json:"t"` // received_at, unix microseconds
	I string `json:"i"`
}

func encodeCursor(c incidents.CallCursor) string {
	b, _ := json.Marshal(cursorJSON{T: c.ReceivedAt.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (incidents.CallCursor, error) {
	bad := incidents.FieldError(incidents.CodeBadRequest, "cursor", "cursor is not one this server gave out")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return incidents.CallCursor{}, bad
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || c.I == "" {
		return incidents.CallCursor{}, bad
	}
	return incidents.CallCursor{ReceivedAt: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}

func (s *Server) handleCategories(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Intake.Taxonomy())
}
