// Package hub fans Flare's event log out to dashboards: a Broadcaster
// follows the log (and, across nodes, a Broker) and queues each event for
// the connections whose role may see it, by the audience the domain gave
// the event; WebSockets serves those connections, with resume after a seq,
// token expiry and refresh, limits and presence (shared across nodes by a
// PresenceManager). hub/redisbroker implements Broker and PresenceManager
// on Redis. The HTTP API is apart, in package api, which mounts WebSockets.
package hub
