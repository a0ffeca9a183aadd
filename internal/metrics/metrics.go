// Package metrics owns the gateway's Prometheus collectors, registered on a
// registry of its own (never the global default), and serves them at
// /metrics. Consumers do not import this package: each declares the small
// interface it needs (server.Metrics, vendorhttp.Observer) and *Metrics
// satisfies them.
//
// Labels carry only bounded, non-secret values: route templates (never raw
// paths), methods, statuses, connection and vendor names and operation
// templates. No request id, customer data or credential ever becomes a label.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "crm_gateway"

// latencyBuckets cover a fast local answer up to a call that waited the
// longest default rate budget (10 s) and then a slow vendor.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}

// waitBuckets start at zero: most calls get a token at once.
var waitBuckets = []float64{0, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30}

// Metrics holds the gateway's collectors. Its methods are safe for
// concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	vendorRequests  *prometheus.CounterVec
	vendorDuration  *prometheus.HistogramVec
	vendorLimited   *prometheus.CounterVec
	limiterWait     *prometheus.HistogramVec
	limiterRefusals *prometheus.CounterVec
	bucketRemaining *prometheus.GaugeVec
	deliveries      *prometheus.CounterVec
	deliveryTime    *prometheus.HistogramVec
}

// New registers the gateway's collectors, plus the Go runtime and process
// collectors, on a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, waits for vendor rate budget included, by route template and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		vendorRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "vendor_requests_total",
			Help: `Vendor calls (each attempt), by connection, vendor, operation and status (the vendor's HTTP status, or "error" when no answer came).`,
		}, []string{"connection", "vendor", "operation", "status"}),
		vendorDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "vendor_request_duration_seconds",
			Help:    "Duration of one vendor call attempt (after its rate token was granted), by connection, vendor and operation.",
			Buckets: latencyBuckets,
		}, []string{"connection", "vendor", "operation"}),
		vendorLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "vendor_rate_limited_total",
			Help: "429 answers received from vendors, by connection and vendor. Should stay at zero.",
		}, []string{"connection", "vendor"}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "limiter_wait_seconds",
			Help:    "Time a vendor call waited for its rate token (the decision included), by connection.",
			Buckets: waitBuckets,
		}, []string{"connection"}),
		limiterRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "limiter_refusals_total",
			Help: "Vendor calls refused by the rate limiter (answered 429 before sending), by connection.",
		}, []string{"connection"}),
		bucketRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "limiter_bucket_remaining",
			Help: "Tokens left in the connection's rate bucket after its last reservation.",
		}, []string{"connection"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_deliveries_total",
			Help: `Event delivery attempts to subscriptions, by subscription and outcome ("delivered", "failed" with a retry scheduled, "dead" after the last retry).`,
		}, []string{"subscription", "outcome"}),
		deliveryTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "webhook_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt, by subscription.",
			Buckets: latencyBuckets,
		}, []string{"subscription"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.vendorRequests, m.vendorDuration, m.vendorLimited,
		m.limiterWait, m.limiterRefusals, m.bucketRemaining,
		m.deliveries, m.deliveryTime,
	)
	return m
}

// Registry returns the registry the collectors are registered on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// WatchDegraded exports degraded (the Redis limiter deciding locally because
// Redis is down) as the gauge crm_gateway_limiter_degraded, 0 or 1, read at
// each scrape. Call it once, when Redis is configured.
func (m *Metrics) WatchDegraded(degraded func() bool) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "limiter_degraded",
		Help: "1 while the shared (Redis) rate limiter is unreachable and this replica decides with its local share of each limit.",
	}, func() float64 {
		if degraded() {
			return 1
		}
		return 0
	}))
}

// HTTPRequest records one served request. route is the route template
// ("unmatched" when no route matched), never the raw path.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// VendorCall records one vendor call attempt; status is the HTTP status or
// "error".
func (m *Metrics) VendorCall(connection, vendor, op, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.vendorRequests.WithLabelValues(connection, vendor, op, status).Inc()
	m.vendorDuration.WithLabelValues(connection, vendor, op).Observe(d.Seconds())
}

// VendorRateLimited records a 429 received from a vendor.
func (m *Metrics) VendorRateLimited(connection, vendor string) {
	if m == nil {
		return
	}
	m.vendorLimited.WithLabelValues(connection, vendor).Inc()
}

// LimiterWait records the time a call waited for its rate token.
func (m *Metrics) LimiterWait(connection string, d time.Duration) {
	if m == nil {
		return
	}
	m.limiterWait.WithLabelValues(connection).Observe(d.Seconds())
}

// LimiterRefused records a call the limiter refused within its wait bound.
func (m *Metrics) LimiterRefused(connection string) {
	if m == nil {
		return
	}
	m.limiterRefusals.WithLabelValues(connection).Inc()
}

// BucketRemaining records the tokens left after a reservation.
func (m *Metrics) BucketRemaining(connection string, remaining int) {
	if m == nil {
		return
	}
	m.bucketRemaining.WithLabelValues(connection).Set(float64(remaining))
}

// Delivery records one attempt to deliver an event to a subscription
// (it implements events.Observer).
func (m *Metrics) Delivery(subscription, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(subscription, outcome).Inc()
	m.deliveryTime.WithLabelValues(subscription).Observe(d.Seconds())
}
