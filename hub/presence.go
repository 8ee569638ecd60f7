package hub

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	"flare/hub/auth"
	"flare/incidents"
)

// PresenceUser is one user connected to the hub, with how many WebSocket
// connections they hold (on one node in a broker record; on all nodes in a
// Presence answer).
type PresenceUser struct {
	Subject     string         `json:"subject"`
	Role        incidents.Role `json:"role"`
	Dept        string         `json:"dept,omitempty"`
	Connections int            `json:"connections"`
}

// PresenceDept is one department with users connected.
type PresenceDept struct {
	Dept        string `json:"dept"`
	Users       int    `json:"users"`
	Connections int    `json:"connections"`
}

// Presence is who is connected right now, across every node.
type Presence struct {
	At          time.Time      `json:"at"`
	Nodes       int            `json:"nodes"`
	Connections int            `json:"connections"`
	Users       []PresenceUser `json:"users"`
	Departments []PresenceDept `json:"departments"`
}

// EventPresenceChanged is the type of the ephemeral message that tells
// leaders and administrators who is connected (data: a Presence).
const EventPresenceChanged = "presence.changed"

type presenceKey struct {
	subject string
	role    incidents.Role
	dept    string
}

// presence tracks this node's connected users and, with a broker, everyone
// else's; it pushes presence.changed to leaders when the picture changes.
type presence struct {
	b *Broadcaster

	mu    sync.Mutex
	local map[presenceKey]int
	last  *Presence // last picture pushed

	dirty chan struct{}
}

func newPresence(b *Broadcaster) *presence {
	return &presence{b: b, local: map[presenceKey]int{}, dirty: make(chan struct{}, 1)}
}

// join counts a connection of p.
func (pr *presence) join(p auth.Principal) {
	pr.mu.Lock()
	pr.local[presenceKey{p.Subject, p.Role, p.Dept}]++
	pr.mu.Unlock()
	pr.changed()
}

// leave uncounts a connection of p.
func (pr *presence) leave(p auth.Principal) {
	k := presenceKey{p.Subject, p.Role, p.Dept}
	pr.mu.Lock()
	if pr.local[k]--; pr.local[k] <= 0 {
		delete(pr.local, k)
	}
	pr.mu.Unlock()
	pr.changed()
}

func (pr *presence) changed() {
	select {
	case pr.dirty <- struct{}{}:
	default:
	}
}

// watch follows the other nodes' presence notices until ctx ends,
// watching again after failures.
func (pr *presence) watch(ctx context.Context) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		err := pr.b.cfg.Presence.WatchPresence(ctx, pr.changed)
		if ctx.Err() != nil {
			return
		}
		pr.b.log.Warn().Err(err).Msg("presence watch ended")
		sleepCtx(ctx, backoff.next())
	}
}

// localUsers returns this node's users, sorted.
func (pr *presence) localUsers() []PresenceUser {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	users := make([]PresenceUser, 0, len(pr.local))
	for k, n := range pr.local {
		users = append(users, PresenceUser{Subject: k.subject, Role: k.role, Dept: k.dept, Connections: n})
	}
	sortUsers(users)
	return users
}

func sortUsers(users []PresenceUser) {
	slices.SortFunc(users, func(a, b PresenceUser) int {
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Dept, b.Dept), cmp.Compare(a.Subject, b.Subject))
	})
}

// snapshot returns the presence across nodes (this node's alone without a
// broker). It returns the broker's error.
func (pr *presence) snapshot(ctx context.Context) (*Presence, error) {
	nodes := map[string][]PresenceUser{pr.b.cfg.NodeID: pr.localUsers()}
	if pm := pr.b.cfg.Presence; pm != nil {
		all, err := pm.Presence(ctx)
		if err != nil {
			return nil, err
		}
		for node, users := range all {
			if node != pr.b.cfg.NodeID {
				nodes[node] = users
			}
		}
	}
	byUser := map[presenceKey]int{}
	for _, users := range nodes {
		for _, u := range users {
			byUser[presenceKey{u.Subject, u.Role, u.Dept}] += u.Connections
		}
	}
	p := &Presence{At: pr.b.cfg.Now().UTC(), Nodes: len(nodes), Users: []PresenceUser{}, Departments: []PresenceDept{}}
	depts := map[string]*PresenceDept{}
	for k, n := range byUser {
		p.Users = append(p.Users, PresenceUser{Subject: k.subject, Role: k.role, Dept: k.dept, Connections: n})
		p.Connections += n
		if k.dept != "" {
			d := depts[k.dept]
			if d == nil {
				d = &PresenceDept{Dept: k.dept}
				depts[k.dept] = d
			}
			d.Users++
			d.Connections += n
		}
	}
	sortUsers(p.Users)
	for _, d := range depts {
		p.Departments = append(p.Departments, *d)
	}
	slices.SortFunc(p.Departments, func(a, b PresenceDept) int { return cmp.Compare(a.Dept, b.Dept) })
	return p, nil
}

// run publishes this node's record to the broker every interval and after
// changes (at most once a second), and pushes presence.changed to leaders
// when the picture across nodes changed.
func (pr *presence) run(ctx context.Context) {
	const settle = time.Second
	interval := pr.b.cfg.PresenceInterval
	tick := time.NewTicker(interval)
	defer tick.Stop()
	defer func() {
		if br := pr.b.cfg.Presence; br != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = br.DeletePresence(dctx, pr.b.cfg.NodeID)
			_ = br.NotifyPresence(dctx)
		}
	}()
	for {
		local := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			local = true
		case <-pr.dirty:
			local = true
			if !sleepCtx(ctx, settle) { // let a burst of joins settle
				return
			}
		}
		if br := pr.b.cfg.Presence; br != nil && local {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := br.PutPresence(pctx, pr.b.cfg.NodeID, pr.localUsers(), 3*interval)
			if err == nil {
				err = br.NotifyPresence(pctx)
			}
			cancel()
			if err != nil && ctx.Err() == nil {
				pr.b.log.Warn().Err(err).Msg("publishing presence failed")
			}
		}
		pr.push(ctx)
	}
}

// push sends presence.changed to leaders when the picture changed.
func (pr *presence) push(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	p, err := pr.snapshot(sctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			pr.b.log.Warn().Err(err).Msg("reading presence failed")
		}
		return
	}
	pr.mu.Lock()
	same := pr.last != nil && pr.last.Nodes == p.Nodes && reflect.DeepEqual(pr.last.Users, p.Users)
	if !same {
		pr.last = p
	}
	pr.mu.Unlock()
	if !same {
		pr.b.publishLeaders(newControlMessage(EventPresenceChanged, p.At, p))
	}
}

// Presence returns who is connected right now across every node. It returns
// an error with code unavailable when the broker cannot be read.
func (b *Broadcaster) Presence(ctx context.Context) (*Presence, error) {
	p, err := b.presence.snapshot(ctx)
	if err != nil {
		return nil, &unavailable{msg: "presence cannot be read from the broker", cause: err}
	}
	return p, nil
}
