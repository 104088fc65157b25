// Package metrics is twitchrelay's Prometheus instrumentation: one registry, no globals,
// and the hook methods the other packages call (web.Observer, the Helix and relay hooks).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "twitchrelay"

// Metrics holds every collector. Create it with New.
type Metrics struct {
	reg *prometheus.Registry

	webhooks        *prometheus.CounterVec
	deliveryLatency prometheus.Histogram
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	wsOpen          prometheus.Gauge
	wsRejected      *prometheus.CounterVec
	wsSlow          prometheus.Counter
	helixCalls      *prometheus.CounterVec
	helixDuration   *prometheus.HistogramVec
	rateLimitWaits  prometheus.Counter
	rateLimitSecs   prometheus.Counter
	redisErrors     *prometheus.CounterVec
	feedStatus      *prometheus.CounterVec
	backgroundErrs  *prometheus.CounterVec
}

// New registers every collector, plus the Go and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_deliveries_total",
		Help: "EventSub webhook deliveries by message/subscription type and outcome (accepted, duplicate, bad_signature, stale, unknown_session, ...)."}, []string{"type", "outcome"})
	m.deliveryLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "delivery_latency_seconds",
		Help:    "Time from a verified webhook callback to its frame being written to a browser socket.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "HTTP request duration by route pattern (WebSockets excluded).", Buckets: prometheus.DefBuckets}, []string{"route"})
	m.wsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "websockets_open", Help: "Open browser sockets."})
	m.wsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "websockets_rejected_total",
		Help: "Sockets refused or closed for bad input, by reason."}, []string{"reason"})
	m.wsSlow = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "websockets_slow_total",
		Help: "Sockets closed because they fell behind (the client resumes without loss)."})
	m.helixCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "helix_requests_total",
		Help: "Requests to Twitch Helix by endpoint and status (0 = no answer)."}, []string{"endpoint", "code"})
	m.helixDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "helix_request_duration_seconds",
		Help: "Twitch Helix request duration by endpoint.", Buckets: prometheus.DefBuckets}, []string{"endpoint"})
	m.rateLimitWaits = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "helix_rate_limit_waits_total",
		Help: "Times a Helix call waited for the rate-limit bucket to refill."})
	m.rateLimitSecs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "helix_rate_limit_wait_seconds_total",
		Help: "Seconds spent waiting for Helix rate limits."})
	m.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "redis_errors_total",
		Help: "Failed Redis operations by component (sessions, dedupe, relay_store, tokens)."}, []string{"component"})
	m.feedStatus = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "feed_status_changes_total",
		Help: "Feed status changes by feed and new status."}, []string{"feed", "status"})
	m.backgroundErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "background_errors_total",
		Help: "Failed background operations (subscribe, delete, poll, reconcile) by operation."}, []string{"op"})
	m.reg.MustRegister(m.webhooks, m.deliveryLatency, m.httpRequests, m.httpDuration, m.wsOpen, m.wsRejected,
		m.wsSlow, m.helixCalls, m.helixDuration, m.rateLimitWaits, m.rateLimitSecs, m.redisErrors, m.feedStatus,
		m.backgroundErrs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where callers add gauges computed on scrape (hub and relay sizes).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// GaugeFunc registers a gauge computed on every scrape.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f))
}

// GaugeVecFunc registers a labelled gauge whose values come from f on every scrape.
func (m *Metrics) GaugeVecFunc(name, help, label string, f func() map[string]int) {
	m.reg.MustRegister(&mapCollector{desc: prometheus.NewDesc(namespace+"_"+name, help, []string{label}, nil), f: f})
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// web.Observer

func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if status != http.StatusSwitchingProtocols {
		m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
	}
}
func (m *Metrics) WSOpened()                   { m.wsOpen.Inc() }
func (m *Metrics) WSClosed()                   { m.wsOpen.Dec() }
func (m *Metrics) WSRejected(reason string)    { m.wsRejected.WithLabelValues(reason).Inc() }
func (m *Metrics) WSSlow()                     { m.wsSlow.Inc() }
func (m *Metrics) SessionStoreError()          { m.redisErrors.WithLabelValues("sessions").Inc() }
func (m *Metrics) Delivered(d time.Duration)   { m.deliveryLatency.Observe(d.Seconds()) }
func (m *Metrics) RedisError(component string) { m.redisErrors.WithLabelValues(component).Inc() }

// Helix hooks.

func (m *Metrics) HelixCall(endpoint string, status int, d time.Duration) {
	m.helixCalls.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	m.helixDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}
func (m *Metrics) RateLimitWait(d time.Duration) {
	m.rateLimitWaits.Inc()
	m.rateLimitSecs.Add(d.Seconds())
}

// Relay hooks.

func (m *Metrics) Webhook(eventType, outcome string) {
	m.webhooks.WithLabelValues(eventType, outcome).Inc()
}
func (m *Metrics) FeedStatus(feed, status string) { m.feedStatus.WithLabelValues(feed, status).Inc() }
func (m *Metrics) BackgroundError(op string)      { m.backgroundErrs.WithLabelValues(op).Inc() }

// mapCollector exposes a map of label value → count as a gauge family.
type mapCollector struct {
	desc *prometheus.Desc
	f    func() map[string]int
}

func (c *mapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *mapCollector) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), k)
	}
}
