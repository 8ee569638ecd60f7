package api

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are Flare's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	CallsIngested prometheus.Counter
	StoreLatency  *prometheus.HistogramVec
}

// NewMetrics creates the metrics and their registry, with Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flare_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flare_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		CallsIngested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flare_calls_ingested_total", Help: "Calls stored (idempotent retries not counted).",
		}),
		StoreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flare_store_operation_duration_seconds", Help: "Store operation latency by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.CallsIngested, m.StoreLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveStore records the latency of one store operation.
func (m *Metrics) ObserveStore(op string, start time.Time) {
	m.StoreLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// observeRequest counts one request. Every label comes from a fixed set, so
// that no client can grow the metrics: route is the pattern that served
// the request (never the raw path), method one of the methods HTTP defines
// or "other", code a status text.
func (m *Metrics) observeRequest(route, method string, code int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, http.StatusText(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// methodLabel returns method when HTTP defines it, else "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
