package hub

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// wsMetrics are the WebSocket hub's metrics, registered on a registry once
// and shared by the transport and the broadcaster using it.
type wsMetrics struct {
	connections      prometheus.Gauge
	rejected         *prometheus.CounterVec
	closed           *prometheus.CounterVec
	events           prometheus.Counter
	deliveries       prometheus.Counter
	writes           prometheus.Counter
	remoteEvents     prometheus.Counter
	remoteDuplicates prometheus.Counter
	remoteDropped    prometheus.Counter
	gapFills         prometheus.Counter
	publishDropped   prometheus.Counter
}

// wsMetricsFor returns the hub metrics on m, registering them the first
// time.
func wsMetricsFor(m prometheus.Registerer) *wsMetrics {
	w := &wsMetrics{}
	w.connections = register(m, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flare_ws_connections", Help: "WebSocket connections open on this node.",
	}))
	w.rejected = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flare_ws_rejected_total", Help: "WebSocket connections refused before the upgrade, by reason.",
	}, []string{"reason"}))
	w.closed = register(m, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flare_ws_closed_total", Help: "WebSocket connections closed by the server, by reason.",
	}, []string{"reason"}))
	w.events = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_events_total", Help: "Events fanned out by this node.",
	}))
	w.deliveries = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_deliveries_total", Help: "Messages queued for WebSocket connections (one per event per receiver).",
	}))
	w.writes = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_ws_writes_total", Help: "Writes of queued messages to WebSocket connections (one system call each; deliveries per write tell how well they are grouped).",
	}))
	w.remoteEvents = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_broker_events_total", Help: "Events delivered as the broker brought them, before the store was read.",
	}))
	w.remoteDuplicates = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_broker_duplicates_total", Help: "Events from the broker already delivered (dropped).",
	}))
	w.remoteDropped = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_broker_dropped_total", Help: "Events from the broker dropped because the node was busy (read from the store instead).",
	}))
	w.gapFills = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_gap_fills_total", Help: "Gaps in the broker's events filled from the store.",
	}))
	w.publishDropped = register(m, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flare_hub_broker_publish_dropped_total", Help: "Events not published to the broker (other nodes read them from the store).",
	}))
	return w
}

// register registers c on m, or returns the collector already registered
// under the same name.
func register[C prometheus.Collector](m prometheus.Registerer, c C) C {
	if err := m.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: two metrics with one name
	}
	return c
}
