package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/defaults"
)

// loadDepts returns the department codes of --ws-depts, or those of the
// built-in departments when it is empty.
func loadDepts(list string) ([]string, error) {
	if list != "" {
		return strings.Split(list, ","), nil
	}
	var d struct {
		Departments []struct {
			Code string `json:"code"`
		} `json:"departments"`
	}
	if err := json.Unmarshal(defaults.Departments, &d); err != nil {
		return nil, fmt.Errorf("built-in departments: %w", err)
	}
	codes := make([]string, len(d.Departments))
	for i, dep := range d.Departments {
		codes[i] = dep.Code
	}
	return codes, nil
}

// WSReport is what the load test measured of WebSocket delivery.
type WSReport struct {
	Clients            int            `json:"clients"`
	Roles              map[string]int `json:"roles"`
	Connected          int            `json:"connected"`
	ConnectFailures    int            `json:"connect_failures"`
	ConnectSeconds     float64        `json:"connect_seconds"`
	Reconnects         int64          `json:"reconnects"`
	CloseCodes         map[string]int `json:"close_codes,omitempty"`
	Received           int64          `json:"received"`
	DeliveriesPerSec   float64        `json:"deliveries_per_second"`
	Gaps               int64          `json:"gaps"`             // seqs skipped, as seen by leadership clients (who see every event)
	Duplicates         int64          `json:"duplicates"`       // seqs received again or out of order
	Missing            int64          `json:"missing"`          // acknowledged calls that a client allowed to see them never received
	ScopeViolations    int64          `json:"scope_violations"` // call events received by department clients
	FirstGaps          []string       `json:"first_gaps,omitempty"`
	LeaderLatencyCount int64          `json:"leader_latency_count"`
	LatencyP50Ms       float64        `json:"latency_p50_ms"`
	LatencyP95Ms       float64        `json:"latency_p95_ms"`
	LatencyP99Ms       float64        `json:"latency_p99_ms"`
	LatencyMaxMs       float64        `json:"latency_max_ms"`
	// The server's part: from the call's recorded_at (when the server
	// took it, before the commit) to its receipt by leadership clients.
	ServerLatencyP50Ms float64 `json:"server_latency_p50_ms"`
	ServerLatencyP99Ms float64 `json:"server_latency_p99_ms"`
	ServerLatencyMaxMs float64 `json:"server_latency_max_ms"`
	ServerRSSBefore    int64   `json:"server_rss_before_bytes,omitempty"`
	ServerRSSConnected int64   `json:"server_rss_connected_bytes,omitempty"`
	ServerRSSEnd       int64   `json:"server_rss_end_bytes,omitempty"`
	RSSPerConnBytes    float64 `json:"rss_per_connection_bytes,omitempty"`     // when all are connected
	RSSPerConnEnd      float64 `json:"rss_per_connection_end_bytes,omitempty"` // at the end of the run
	RSSSource          string  `json:"rss_source,omitempty"`
}

// latencyHist is a log-scale histogram of latencies (2% buckets from 1µs).
type latencyHist struct {
	counts [1200]int64
	max    time.Duration
	n      int64
}

const histBase = 1.02

func (h *latencyHist) add(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = min(int(math.Log(us)/math.Log(histBase)), len(h.counts)-1)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantileMs returns the q quantile in milliseconds (the bucket's upper
// edge, so within 2% above the true value).
func (h *latencyHist) quantileMs(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	target := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= target {
			return math.Min(math.Pow(histBase, float64(i+1))/1000, float64(h.max)/float64(time.Millisecond))
		}
	}
	return float64(h.max) / float64(time.Millisecond)
}

// wsClientStats is what one client saw.
type wsClientStats struct {
	role       incidents.Role
	received   int64
	measured   int64 // received inside the measured window
	first      int64 // first durable seq seen
	last       int64
	got        []uint64 // bitset of the seqs received (clients that see calls)
	violations int64
	gaps       int64
	duplicates int64
	reconnects int64
	firstGap   string
	closes     map[string]int
	hist       latencyHist
	serverHist latencyHist
}

// mark records seq as received.
func (s *wsClientStats) mark(seq int64) {
	i := int(seq / 64)
	if i >= len(s.got) {
		s.got = append(s.got, make([]uint64, i+1-len(s.got)+len(s.got)/2)...)
	}
	s.got[i] |= 1 << (seq % 64)
}

// has reports whether seq was received.
func (s *wsClientStats) has(seq int64) bool {
	i := int(seq / 64)
	return i < len(s.got) && s.got[i]&(1<<(seq%64)) != 0
}

// loadClient is one WebSocket client of the load test.
type loadClient struct {
	url         string
	token       string
	role        incidents.Role
	contiguous  bool         // sees every event (leadership): gaps are visible by seq
	seesCalls   bool         // may see call events (all but departments)
	measureFrom atomic.Int64 // unix nanoseconds: messages are measured from then
	stats       wsClientStats
	mu          sync.Mutex
	conn        *rawWS
	last        atomic.Int64
}

// parseRoleMix turns "leader=0.5,agent=0.5" into client counts adding up to n.
func parseRoleMix(mix string, n int) (map[incidents.Role]int, []incidents.Role, error) {
	type share struct {
		role incidents.Role
		w    float64
	}
	var shares []share
	total := 0.0
	for _, part := range strings.Split(mix, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || w < 0 || !incidents.Role(k).Valid() {
			return nil, nil, fmt.Errorf("--ws-roles %q: want role=share pairs with roles leader, agent, admin, dept", mix)
		}
		shares = append(shares, share{incidents.Role(k), w})
		total += w
	}
	if total <= 0 {
		return nil, nil, fmt.Errorf("--ws-roles %q: the shares add up to 0", mix)
	}
	counts := map[incidents.Role]int{}
	assigned := 0
	for i, s := range shares {
		c := int(math.Round(float64(n) * s.w / total))
		if i == len(shares)-1 {
			c = n - assigned
		}
		c = max(0, min(c, n-assigned))
		counts[s.role] += c
		assigned += c
	}
	// Interleave the roles so that any prefix of the clients has the mix.
	order := make([]incidents.Role, 0, n)
	left := map[incidents.Role]int{}
	for r, c := range counts {
		left[r] = c
	}
	roles := []incidents.Role{incidents.RoleLeader, incidents.RoleAgent, incidents.RoleDept, incidents.RoleAdmin}
	for len(order) < n {
		for _, r := range roles {
			if left[r] > 0 {
				order = append(order, r)
				left[r]--
			}
		}
	}
	return counts, order, nil
}

// serverRSS reads the server's resident memory: /proc/<pid>/status with a
// pid, else process_resident_memory_bytes from /metrics.
func serverRSS(ctx context.Context, base, adminToken string, pid int) (int64, string, error) {
	if pid > 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, "", fmt.Errorf("read server rss: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					return 0, "", fmt.Errorf("read server rss: %w", err)
				}
				return kb * 1024, "proc", nil
			}
		}
		return 0, "", errors.New("read server rss: no VmRSS line")
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("read server rss: %w", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, "", fmt.Errorf("read server rss: %w", err)
			}
			return int64(f), "metrics", nil
		}
	}
	return 0, "", errors.New("read server rss: /metrics has no process_resident_memory_bytes")
}

// clientsPerSubject is how many WebSocket clients share one token subject,
// below the hub's default connections per user (20).
const clientsPerSubject = 16

// runWS connects the WebSocket clients, runs the intake load (unless
// idle), and reports what the clients received.
func runWS(ctx context.Context, c Config) (Report, error) {
	w := c.WS
	if c.Issuer == nil {
		return Report{}, errors.New("WebSocket clients need tokens for every role: set FLARE_SECRET or --data-dir to the server's")
	}
	issue := func(role incidents.Role, dept string, group int) string {
		sub := "load-" + string(role)
		if dept != "" {
			sub += "-" + dept
		}
		if group > 0 {
			sub += "-" + strconv.Itoa(group)
		}
		tok, _ := c.Issuer.Issue(auth.Principal{Subject: sub, Role: role, Dept: dept}, 24*time.Hour)
		return tok
	}
	adminTok := issue(incidents.RoleAdmin, "", 0)
	if c.Token == "" {
		c.Token = issue(incidents.RoleSystem, "", 0) // not limited per token
	}
	counts, order, err := parseRoleMix(w.Roles, w.Clients)
	if err != nil {
		return Report{}, err
	}
	depts, err := loadDepts(w.Depts)
	if err != nil {
		return Report{}, err
	}
	rep := &WSReport{Clients: w.Clients, Roles: map[string]int{}, CloseCodes: map[string]int{}}
	for r, n := range counts {
		rep.Roles[string(r)] = n
	}
	if w.URL == "" {
		w.URL = c.URL
	}
	rssBefore, rssSource, rssErr := serverRSS(ctx, w.URL, adminTok, w.ServerPID)
	rep.ServerRSSBefore, rep.RSSSource = rssBefore, rssSource

	start := time.Now()
	measureFrom := start.Add(time.Hour) // set when the load starts
	wsURL := "ws" + strings.TrimPrefix(w.URL, "http") + "/ws"
	clients := make([]*loadClient, len(order))
	tokens := map[string]string{}
	for i, role := range order {
		dept := ""
		if role == incidents.RoleDept {
			dept = depts[i%len(depts)]
		}
		// A subject per clientsPerSubject clients of a role and department,
		// within the hub's connections per user.
		group := i / clientsPerSubject
		key := string(role) + "/" + dept + "/" + strconv.Itoa(group)
		if tokens[key] == "" {
			tokens[key] = issue(role, dept, group+1)
		}
		clients[i] = &loadClient{url: wsURL, token: tokens[key], role: role,
			contiguous: role == incidents.RoleLeader || role == incidents.RoleAdmin, seesCalls: role != incidents.RoleDept}
		clients[i].measureFrom.Store(measureFrom.UnixNano())
	}

	// Connect at the chosen rate, several dials in flight.
	runCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	var (
		wg        sync.WaitGroup
		connected atomic.Int64
		failed    atomic.Int64
		failMu    sync.Mutex
		firstFail string
	)
	pollers, err := startWSPollers(runCtx, &wg)
	if err != nil {
		return Report{}, err
	}
	// stop ends the clients and waits for them.
	stop := func() {
		stopClients()
		if pollers == nil { // with epoll loops, they close the sockets as they stop
			for _, lc := range clients {
				lc.closeNow()
			}
		}
		wg.Wait()
	}
	// A token bucket paces the dials; at most 64 are in flight.
	lim := rate.NewLimiter(rate.Limit(w.ConnectRate), 1)
	sem := make(chan struct{}, 64)
	var dials sync.WaitGroup
	for _, lc := range clients {
		if lim.Wait(ctx) != nil {
			break
		}
		sem <- struct{}{}
		dials.Add(1)
		wg.Go(func() {
			err := lc.dial(runCtx, 0)
			<-sem
			if err != nil {
				failed.Add(1)
				failMu.Lock()
				if firstFail == "" {
					firstFail = err.Error()
				}
				failMu.Unlock()
				dials.Done()
				return
			}
			connected.Add(1)
			dials.Done()
			lc.readLoop(runCtx, pollers)
		})
	}
	dials.Wait()
	rep.ConnectSeconds = time.Since(start).Seconds()
	rep.Connected, rep.ConnectFailures = int(connected.Load()), int(failed.Load())
	if firstFail != "" {
		fmt.Fprintf(c.Progress, "first connection failure: %s\n", firstFail)
	}
	// Let the server settle before reading its memory.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	if rssErr == nil {
		if rss, _, err := serverRSS(ctx, w.URL, adminTok, w.ServerPID); err == nil {
			rep.ServerRSSConnected = rss
			if rep.Connected > 0 {
				rep.RSSPerConnBytes = float64(rss-rssBefore) / float64(rep.Connected)
			}
		}
	}

	var out Report
	out.WS = rep
	measureFrom = time.Now().Add(c.Warmup)
	for _, lc := range clients {
		lc.measureFrom.Store(measureFrom.UnixNano())
	}
	var lastSeq int64
	var acked []int64
	if w.Idle {
		select {
		case <-time.After(c.Duration):
		case <-ctx.Done():
		}
	} else {
		ir, err := runIntake(ctx, c)
		if err != nil {
			stop()
			return Report{}, err
		}
		out.Intake = &ir
		lastSeq, acked = ir.LastSeq, ir.acked
		// Let the clients receive the last call.
		deadline := time.Now().Add(w.Drain)
		for time.Now().Before(deadline) {
			behind := false
			for _, lc := range clients {
				if lc.seesCalls && lc.last.Load() < lastSeq && lc.connOK() {
					behind = true
					break
				}
			}
			if !behind {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	measured := time.Since(measureFrom)
	if w.Idle {
		measured = c.Duration
	}
	if rssErr == nil {
		if rss, _, err := serverRSS(ctx, w.URL, adminTok, w.ServerPID); err == nil {
			rep.ServerRSSEnd = rss
			if rep.Connected > 0 {
				rep.RSSPerConnEnd = float64(rss-rssBefore) / float64(rep.Connected)
			}
		}
	}
	stop()

	var hist, serverHist latencyHist
	var measuredMsgs int64
	for _, lc := range clients {
		s := &lc.stats
		rep.Received += s.received
		measuredMsgs += s.measured
		rep.Gaps += s.gaps
		rep.Duplicates += s.duplicates
		rep.Reconnects += s.reconnects
		if s.firstGap != "" && len(rep.FirstGaps) < 5 {
			rep.FirstGaps = append(rep.FirstGaps, s.firstGap)
		}
		for k, v := range s.closes {
			rep.CloseCodes[k] += v
		}
		rep.ScopeViolations += s.violations
		if lc.seesCalls && s.first > 0 {
			for _, seq := range acked {
				if seq >= s.first && !s.has(seq) {
					rep.Missing++
				}
			}
		}
		if lc.role == incidents.RoleLeader {
			hist.merge(&s.hist)
			serverHist.merge(&s.serverHist)
		}
	}
	if measured > 0 {
		rep.DeliveriesPerSec = float64(measuredMsgs) / measured.Seconds()
	}
	rep.LeaderLatencyCount = hist.n
	rep.LatencyP50Ms, rep.LatencyP95Ms, rep.LatencyP99Ms = hist.quantileMs(0.50), hist.quantileMs(0.95), hist.quantileMs(0.99)
	rep.LatencyMaxMs = float64(hist.max) / float64(time.Millisecond)
	rep.ServerLatencyP50Ms, rep.ServerLatencyP99Ms = serverHist.quantileMs(0.50), serverHist.quantileMs(0.99)
	rep.ServerLatencyMaxMs = float64(serverHist.max) / float64(time.Millisecond)
	return out, nil
}

func (lc *loadClient) connOK() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.conn != nil
}

func (lc *loadClient) closeNow() {
	lc.mu.Lock()
	c := lc.conn
	lc.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// dial connects, resuming after after when it is positive.
func (lc *loadClient) dial(ctx context.Context, after int64) error {
	u := lc.url
	if after > 0 {
		u += "?after=" + strconv.FormatInt(after, 10)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := dialRawWS(dctx, u, lc.token)
	if err != nil {
		return fmt.Errorf("%s client: %w", lc.role, err)
	}
	lc.mu.Lock()
	lc.conn = c
	lc.mu.Unlock()
	return nil
}

// readLoop reads until ctx ends, reconnecting (and resuming) when the
// server closes the connection. With epoll loops (ps not nil) they do the
// reading and this goroutine only waits for the connection to end.
func (lc *loadClient) readLoop(ctx context.Context, ps *wsPollers) {
	for {
		lc.mu.Lock()
		c := lc.conn
		lc.mu.Unlock()
		var err error
		if ps != nil {
			err = ps.read(ctx, lc, c)
		} else {
			err = c.read(lc.observe)
		}
		if ctx.Err() != nil {
			return
		}
		code := -1
		var ce *closeFrameError
		if errors.As(err, &ce) {
			code = ce.code
		}
		if lc.stats.closes == nil {
			lc.stats.closes = map[string]int{}
		}
		lc.stats.closes[strconv.Itoa(code)]++
		c.close()
		lc.mu.Lock()
		lc.conn = nil
		lc.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		if lc.dial(ctx, lc.stats.last) != nil {
			return
		}
		lc.stats.reconnects++
	}
}

var (
	seqPrefix     = []byte(`{"seq":`)
	stampField    = []byte(`"description":`)
	recordedField = []byte(`"recorded_at":`)
)

// stringField returns the string value of the first field key (given as
// `"name":`) in msg, allowing the spaces a store may put after the colon.
func stringField(msg, key []byte) []byte {
	i := bytes.Index(msg, key)
	if i < 0 {
		return nil
	}
	v := bytes.TrimLeft(msg[i+len(key):], " ")
	if len(v) == 0 || v[0] != '"' {
		return nil
	}
	v = v[1:]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

// observe counts one message: seq order for gaps and duplicates, and the
// latency of call events carrying their send time.
func (lc *loadClient) observe(msg []byte) {
	now := time.Now()
	if !bytes.HasPrefix(msg, seqPrefix) {
		return
	}
	rest := msg[len(seqPrefix):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return
	}
	seq, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil || seq == 0 {
		return // an ephemeral message
	}
	s := &lc.stats
	s.received++
	if !lc.seesCalls && bytes.Contains(msg[:min(len(msg), 48)], []byte(`"type":"call.`)) {
		s.violations++
	}
	switch {
	case s.last == 0:
		s.first = seq
	case seq <= s.last:
		s.duplicates++
		return
	case lc.contiguous && seq > s.last+1:
		s.gaps += seq - s.last - 1
		if s.firstGap == "" {
			s.firstGap = fmt.Sprintf("%s client: seq %d after %d", lc.role, seq, s.last)
		}
	}
	s.last = seq
	lc.last.Store(seq)
	if lc.seesCalls {
		s.mark(seq)
	}
	from := lc.measureFrom.Load()
	if now.UnixNano() < from {
		return
	}
	s.measured++
	if lc.role != incidents.RoleLeader {
		return
	}
	stamp, ok := bytes.CutPrefix(stringField(msg, stampField), []byte("lt:"))
	if !ok {
		return
	}
	ns, err := strconv.ParseInt(string(stamp), 10, 64)
	if err != nil {
		return
	}
	if ns < from {
		return
	}
	s.hist.add(now.Sub(time.Unix(0, ns)))
	if at, err := time.Parse(time.RFC3339Nano, string(stringField(msg, recordedField))); err == nil {
		s.serverHist.add(now.Sub(at))
	}
}

// writeText writes the WebSocket part of the text summary.
func (r *WSReport) writeText(w io.Writer) {
	roles := make([]string, 0, len(r.Roles))
	for k, v := range r.Roles {
		roles = append(roles, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(roles)
	fmt.Fprintf(w, "websocket: %d clients (%s), %d connected in %.1fs, %d failed\n",
		r.Clients, strings.Join(roles, ", "), r.Connected, r.ConnectSeconds, r.ConnectFailures)
	fmt.Fprintf(w, "  received      %d messages, %.0f deliveries/s\n", r.Received, r.DeliveriesPerSec)
	fmt.Fprintf(w, "  correctness   gaps %d, duplicates %d, missing calls %d, scope violations %d, reconnects %d\n",
		r.Gaps, r.Duplicates, r.Missing, r.ScopeViolations, r.Reconnects)
	for _, g := range r.FirstGaps {
		fmt.Fprintf(w, "  gap           %s\n", g)
	}
	if len(r.CloseCodes) > 0 {
		fmt.Fprintf(w, "  closes        %v\n", r.CloseCodes)
	}
	if r.LeaderLatencyCount > 0 {
		fmt.Fprintf(w, "  POST->leader  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  (%d receipts)\n",
			r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.LeaderLatencyCount)
		fmt.Fprintf(w, "  server part   recorded_at->leader p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
			r.ServerLatencyP50Ms, r.ServerLatencyP99Ms, r.ServerLatencyMaxMs)
	}
	if r.ServerRSSConnected > 0 {
		fmt.Fprintf(w, "  server RSS    %.1f MiB before, %.1f MiB connected, %.1f MiB at the end (%s)\n",
			float64(r.ServerRSSBefore)/(1<<20), float64(r.ServerRSSConnected)/(1<<20), float64(r.ServerRSSEnd)/(1<<20), r.RSSSource)
		fmt.Fprintf(w, "  per conn      %.1f KiB when connected, %.1f KiB at the end\n", r.RSSPerConnBytes/1024, r.RSSPerConnEnd/1024)
	}
}
