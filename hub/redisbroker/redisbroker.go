// Package redisbroker implements hub.Broker and hub.PresenceManager on
// Redis (go-redis): events are published on a pub/sub channel with their
// audience, presence is kept in keys that expire unless their node
// refreshes them.
//
// Every key and channel is under a prefix (default "flare:"):
//
//	<prefix>events            channel: JSON arrays of committed events, each with its "audience"
//	<prefix>presence          channel: a node's id when its presence changed
//	<prefix>presence:<node>   string: JSON array of the node's users, with a TTL
//
// Redis carries no state that cannot be lost: a node that misses messages
// notices the gap by seq and reads the events from the store.
package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"flare/hub"
	"flare/incidents"
)

// Options tunes New. The zero value is ready to use.
type Options struct {
	// Prefix is put before every key and channel (default "flare:").
	Prefix string
	// Logger receives subscription problems (default: none).
	Logger zerolog.Logger
	// HealthInterval is how long a silent subscription waits before it
	// pings Redis (default 15s); a ping unanswered as long again ends it.
	HealthInterval time.Duration
	// ClientName names the broker's Redis connections (CLIENT SETNAME).
	ClientName string
}

// Broker is a hub.Broker and a hub.PresenceManager on one Redis server. It
// is safe for concurrent use.
type Broker struct {
	rdb    *redis.Client
	prefix string
	log    zerolog.Logger
	health time.Duration
}

var (
	_ hub.Broker          = (*Broker)(nil)
	_ hub.PresenceManager = (*Broker)(nil)
)

// wireEvent is an event as it travels between nodes: the event's own JSON
// and its audience, which the event's JSON leaves out (clients never see
// it) but every node needs to filter on.
type wireEvent struct {
	incidents.Event
	Audience incidents.Audience `json:"audience"`
}

// New connects to the Redis at url (redis://[user:password@]host:port/db
// or rediss://...). It returns an error with code invalid for a malformed
// url; a Redis that does not answer yet is not an error, as the broker
// reconnects by itself.
func New(url string, opts Options) (*Broker, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis broker: %w: %w", incidents.Errorf(incidents.CodeInvalid, "malformed redis url"), err)
	}
	o.MaxRetries = 1
	if opts.ClientName != "" {
		o.ClientName = opts.ClientName
	}
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	if opts.Prefix == "" {
		opts.Prefix = "flare:"
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 15 * time.Second
	}
	return &Broker{rdb: redis.NewClient(o), prefix: opts.Prefix, log: opts.Logger, health: opts.HealthInterval}, nil
}

// Ping checks that Redis answers. It returns the connection's error.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close closes the connections. It returns the client's error.
func (b *Broker) Close() error { return b.rdb.Close() }

func (b *Broker) eventsChannel() string   { return b.prefix + "events" }
func (b *Broker) presenceChannel() string { return b.prefix + "presence" }
func (b *Broker) presenceKey(node string) string {
	return b.prefix + "presence:" + node
}

// PublishEvents publishes evs, with their audiences, as one message. It
// returns Redis's error.
func (b *Broker) PublishEvents(ctx context.Context, evs []incidents.Event) error {
	wire := make([]wireEvent, len(evs))
	for i, ev := range evs {
		wire[i] = wireEvent{Event: ev, Audience: ev.Audience}
	}
	data, err := json.Marshal(wire)
	if err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	if err := b.rdb.Publish(ctx, b.eventsChannel(), data).Err(); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

// Subscribe receives events until ctx ends (it then returns ctx.Err()) or
// the subscription fails (it returns the error; the caller subscribes
// again). h.Connected is called once the subscription is in place.
func (b *Broker) Subscribe(ctx context.Context, h hub.BrokerHandler) error {
	return b.listen(ctx, b.eventsChannel(), func(payload string) {
		var wire []wireEvent
		if err := json.Unmarshal([]byte(payload), &wire); err != nil {
			b.log.Warn().Err(err).Msg("ignoring a malformed event message")
			return
		}
		if h.Events == nil || len(wire) == 0 {
			return
		}
		evs := make([]incidents.Event, len(wire))
		for i, w := range wire {
			evs[i] = w.Event
			evs[i].Audience = w.Audience
		}
		h.Events(evs)
	}, h.Connected)
}

// WatchPresence calls changed for every presence notice until ctx ends (it
// then returns ctx.Err()) or the subscription fails (it returns the error).
func (b *Broker) WatchPresence(ctx context.Context, changed func()) error {
	return b.listen(ctx, b.presenceChannel(), func(string) { changed() }, nil)
}

// listen subscribes to channel and hands each message's payload to handle
// until ctx ends or the subscription fails; connected, when set, is called
// each time the subscription is in place.
func (b *Broker) listen(ctx context.Context, channel string, handle func(payload string), connected func()) error {
	ps := b.rdb.Subscribe(ctx, channel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.health)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				pinged = true
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("redis subscription ping: %w", err)
				}
				continue
			}
			return fmt.Errorf("redis subscription: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == channel && connected != nil {
				connected()
			}
		case *redis.Message:
			if m.Channel == channel {
				handle(m.Payload)
			}
		}
	}
}

// PutPresence stores node's users for ttl. It returns Redis's error.
func (b *Broker) PutPresence(ctx context.Context, node string, users []hub.PresenceUser, ttl time.Duration) error {
	data, err := json.Marshal(users)
	if err != nil {
		return fmt.Errorf("put presence: %w", err)
	}
	if err := b.rdb.Set(ctx, b.presenceKey(node), data, ttl).Err(); err != nil {
		return fmt.Errorf("put presence: %w", err)
	}
	return nil
}

// DeletePresence removes node's record. It returns Redis's error.
func (b *Broker) DeletePresence(ctx context.Context, node string) error {
	if err := b.rdb.Del(ctx, b.presenceKey(node)).Err(); err != nil {
		return fmt.Errorf("delete presence: %w", err)
	}
	return nil
}

// NotifyPresence tells every node that presence changed. It returns Redis's
// error.
func (b *Broker) NotifyPresence(ctx context.Context) error {
	if err := b.rdb.Publish(ctx, b.presenceChannel(), "changed").Err(); err != nil {
		return fmt.Errorf("notify presence: %w", err)
	}
	return nil
}

// Presence returns the users of every node whose record has not expired,
// by node. It returns Redis's error.
func (b *Broker) Presence(ctx context.Context) (map[string][]hub.PresenceUser, error) {
	var keys []string
	iter := b.rdb.Scan(ctx, 0, b.presenceKey("*"), 200).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("read presence: %w", err)
	}
	out := map[string][]hub.PresenceUser{}
	if len(keys) == 0 {
		return out, nil
	}
	vals, err := b.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("read presence: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired between SCAN and MGET
		}
		var users []hub.PresenceUser
		if err := json.Unmarshal([]byte(s), &users); err != nil {
			continue
		}
		out[strings.TrimPrefix(keys[i], b.presenceKey(""))] = users
	}
	return out, nil
}
