package citysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"flare/callfile"
)

// Poster posts calls to a running Flare at a chosen speed, as the call
// floor would register them.
type Poster struct {
	URL    string // base URL of the Flare, such as http://localhost:8080
	Token  string // bearer token of a call-floor agent
	Client *http.Client
	// Speed is how many simulated seconds pass per real second; 0 posts as
	// fast as the server answers.
	Speed float64
	// KeepTimes sends each call's simulated received_at; otherwise the call
	// is stamped with the time it is posted, as a live call would be.
	KeepTimes bool
	// Progress, when set, gets a progress bar and reports of rejected calls.
	Progress io.Writer
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// PostStats counts what the server answered.
type PostStats struct {
	Created  int // 201
	Replayed int // 200: the server already had the call
	Rejected int // 4xx other than 401 and 403
	Failed   int // still failing after retries (429, 5xx, network)
}

// ErrUnauthorized means the server refused the token; posting stops.
var ErrUnauthorized = errors.New("the server refused the token")

// apiError is the error body of the Flare API.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// postBody is what POST /api/v1/calls takes.
type postBody struct {
	ID          string  `json:"id"`
	ReceivedAt  string  `json:"received_at"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Address     string  `json:"address"`
	Category    string  `json:"category"`
	Description string  `json:"description"`
	Urgent      bool    `json:"urgent"`
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Post posts the calls in order, pacing them by their received_at times
// divided by Speed. It stops at the first refused token (ErrUnauthorized) or
// when ctx ends, and otherwise counts each call's outcome.
func (p *Poster) Post(ctx context.Context, calls []callfile.Call) (PostStats, error) {
	var st PostStats
	now, sleep, client := p.Now, p.Sleep, p.Client
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	endpoint := strings.TrimRight(p.URL, "/") + "/api/v1/calls"
	if len(calls) == 0 {
		return st, nil
	}
	bar := &progress{w: p.Progress, total: len(calls), now: now}
	wallStart, simStart := now(), calls[0].ReceivedAt
	for i, c := range calls {
		if p.Speed > 0 {
			due := wallStart.Add(time.Duration(float64(c.ReceivedAt.Sub(simStart)) / p.Speed))
			if err := sleep(ctx, due.Sub(now())); err != nil {
				bar.done(st)
				return st, err
			}
		}
		at := c.ReceivedAt
		if !p.KeepTimes {
			at = now()
		}
		body, err := json.Marshal(postBody{
			ID: c.ID, ReceivedAt: at.Format(time.RFC3339Nano), Lat: c.Lat, Lon: c.Lon,
			Address: c.Address, Category: c.Category, Description: c.Description, Urgent: c.Urgent,
		})
		if err != nil {
			return st, fmt.Errorf("encode call %s: %w", c.ID, err)
		}
		status, apiErr, err := p.postOne(ctx, client, endpoint, c.ID, body, sleep)
		switch {
		case err != nil && ctx.Err() != nil:
			bar.done(st)
			return st, ctx.Err()
		case err != nil:
			st.Failed++
			bar.note("call %s: %v", c.ID, err)
		case status == http.StatusCreated:
			st.Created++
		case status == http.StatusOK:
			st.Replayed++
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			bar.done(st)
			return st, fmt.Errorf("post call %s: %d %s: %w", c.ID, status, apiErr, ErrUnauthorized)
		default:
			st.Rejected++
			bar.note("call %s: %d %s", c.ID, status, apiErr)
		}
		bar.step(i+1, c.ReceivedAt, st)
	}
	bar.done(st)
	return st, nil
}

// postOne posts one call, retrying on 429, 5xx and network errors. It
// returns the final status and the error body, if any.
func (p *Poster) postOne(ctx context.Context, client *http.Client, endpoint, id string, body []byte, sleep func(context.Context, time.Duration) error) (int, string, error) {
	backoff := 500 * time.Millisecond
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff); err != nil {
				return 0, "", err
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return 0, "", fmt.Errorf("post call: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+p.Token)
		req.Header.Set("Idempotency-Key", id)
		resp, err := client.Do(req)
		if err != nil {
			lastErr = fmt.Errorf("post call: %w", err)
			if ctx.Err() != nil {
				return 0, "", lastErr
			}
			continue
		}
		msg := describeError(resp)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			lastErr = fmt.Errorf("post call: %d %s", resp.StatusCode, msg)
			continue
		}
		return resp.StatusCode, msg, nil
	}
	return 0, "", lastErr
}

// describeError reads an error body as "code (field): message".
func describeError(resp *http.Response) string {
	if resp.StatusCode < 400 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e apiError
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		return strings.TrimSpace(string(b))
	}
	s := e.Error.Code
	if e.Error.Field != "" {
		s += " (" + e.Error.Field + ")"
	}
	return s + ": " + e.Error.Message
}

// progress draws a one-line progress bar.
type progress struct {
	w     io.Writer
	total int
	now   func() time.Time
	last  time.Time
	shown bool
}

func (b *progress) line(n int, sim time.Time, st PostStats) {
	const width = 30
	filled := width * n / b.total
	fmt.Fprintf(b.w, "\r[%s%s] %3d%% %d/%d calls, city time %s, created %d, replayed %d, rejected %d, failed %d",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*n/b.total, n, b.total,
		sim.In(Zone).Format("01-02 15:04"), st.Created, st.Replayed, st.Rejected, st.Failed)
	b.shown = true
}

func (b *progress) step(n int, sim time.Time, st PostStats) {
	if b.w == nil {
		return
	}
	if t := b.now(); n == b.total || t.Sub(b.last) >= 200*time.Millisecond {
		b.last = t
		b.line(n, sim, st)
	}
}

func (b *progress) note(format string, args ...any) {
	if b.w == nil {
		return
	}
	if b.shown {
		fmt.Fprint(b.w, "\n")
		b.shown = false
	}
	fmt.Fprintf(b.w, format+"\n", args...)
}

func (b *progress) done(st PostStats) {
	if b.w == nil {
		return
	}
	if b.shown {
		fmt.Fprint(b.w, "\n")
	}
	b.shown = false
}
