package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// Metrics are lastmile's Prometheus metrics: the data plane's requests, and
// what the parts it calls decide (the token cache, the identity provider's
// issuance, traffic limits, backends and their circuit breakers, Redis).
// Every label value comes from the configuration (APIs, operations, backend
// entities, policy names) or from a small fixed set; unmatched requests count
// under empty labels. docs/observability.md lists them.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec

	tokens      *prometheus.CounterVec
	tokenSource *prometheus.HistogramVec
	issued      *prometheus.CounterVec
	limits      *prometheus.CounterVec
	backends    *prometheus.CounterVec
	backendTime *prometheus.HistogramVec
	redisTime   *prometheus.HistogramVec
	redisErrors *prometheus.CounterVec
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_requests_total",
			Help: "Requests answered by the data plane, by API, operation and status code.",
		}, []string{"api", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lastmile_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response, by API.",
			Buckets: latencyBuckets,
		}, []string{"api"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_policy_failures_total",
			Help: "Requests that failed in a policy (context.LastError), by API, source and reason.",
		}, []string{"api", "source", "reason"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_token_cache_requests_total",
			Help: "Managed identity tokens asked of the token cache, by outcome: hit, refresh (served while a refresh starts), outage (served while the source fails), issued (waited for the source), error.",
		}, []string{"outcome"}),
		tokenSource: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lastmile_token_source_duration_seconds",
			Help:    "Calls of the token cache to its token source (the identity provider, Azure, another lastmile), by result: ok, error, configuration.",
			Buckets: latencyBuckets,
		}, []string{"result"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_idp_tokens_total",
			Help: "Tokens the embedded identity provider issued, by grant (managed_identity, application) and result (ok, error).",
		}, []string{"grant", "result"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_limit_decisions_total",
			Help: "Decisions of the traffic limit policies, by policy and decision: allowed, refused, unavailable (the store could not decide and the policy failed closed).",
		}, []string{"policy", "decision"}),
		backends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_backend_requests_total",
			Help: "Attempts of forward-request, by backend entity (empty for a URL) and outcome: the status class, or the failure (BackendConnectionFailure, Timeout, ...).",
		}, []string{"backend", "outcome"}),
		backendTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lastmile_backend_duration_seconds",
			Help:    "Time from sending a request to a backend to its response headers, by backend entity (empty for a URL).",
			Buckets: latencyBuckets,
		}, []string{"backend"}),
		redisTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lastmile_redis_command_duration_seconds",
			Help:    "Redis commands of the shared store (values, response cache, traffic limits, identity state), by command.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"command"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_redis_errors_total",
			Help: "Redis commands that failed (a missing key is not a failure), by command.",
		}, []string{"command"}),
	}
	reg.MustRegister(m.requests, m.duration, m.failures, m.tokens, m.tokenSource, m.issued,
		m.limits, m.backends, m.backendTime, m.redisTime, m.redisErrors)
	return m
}

// observe records one answered request.
func (m *Metrics) observe(api, op string, code int, start time.Time, le *exchange.LastError) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(api, op, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(api).Observe(time.Since(start).Seconds())
	if le != nil {
		m.failures.WithLabelValues(api, le.Source, le.Reason).Inc()
	}
}

// TokenServed implements identity.CacheObserver.
func (m *Metrics) TokenServed(o identity.Outcome) { m.tokens.WithLabelValues(o.String()).Inc() }

// SourceCalled implements identity.CacheObserver.
func (m *Metrics) SourceCalled(d time.Duration, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, identity.ErrConfiguration):
		result = "configuration"
	default:
		result = "error"
	}
	m.tokenSource.WithLabelValues(result).Observe(d.Seconds())
}

// TokenIssued implements idp.IssueObserver.
func (m *Metrics) TokenIssued(grant string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.issued.WithLabelValues(grant, result).Inc()
}

// LimitDecision implements policies.Metrics.
func (m *Metrics) LimitDecision(policy, decision string) {
	m.limits.WithLabelValues(policy, decision).Inc()
}

// BackendCall implements policies.Metrics.
func (m *Metrics) BackendCall(backend, outcome string, d time.Duration) {
	m.backends.WithLabelValues(backend, outcome).Inc()
	m.backendTime.WithLabelValues(backend).Observe(d.Seconds())
}

// RedisCommand implements store.RedisObserver.
func (m *Metrics) RedisCommand(name string, d time.Duration, err error) {
	m.redisTime.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		m.redisErrors.WithLabelValues(name).Inc()
	}
}

// BreakerCollector exports the state of the backends' circuit breakers when
// Prometheus scrapes: whether each is open, and how often it opened. It reads
// them then, so forwarding pays nothing for it.
type BreakerCollector struct {
	Breakers *balancer.Breakers
}

var (
	breakerOpen = prometheus.NewDesc("lastmile_backend_circuit_open",
		"Whether the backend's circuit breaker is open (1) or closed (0), by backend entity.", []string{"backend"}, nil)
	breakerTrips = prometheus.NewDesc("lastmile_backend_circuit_trips_total",
		"Times the backend's circuit breaker opened since lastmile started, by backend entity.", []string{"backend"}, nil)
)

// Describe implements prometheus.Collector.
func (c BreakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerOpen
	ch <- breakerTrips
}

// Collect implements prometheus.Collector.
func (c BreakerCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	c.Breakers.Each(func(id string, b *balancer.Breaker) {
		open := 0.0
		if _, ok := b.Open(now); ok {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerOpen, prometheus.GaugeValue, open, id)
		ch <- prometheus.MustNewConstMetric(breakerTrips, prometheus.CounterValue, float64(b.Trips()), id)
	})
}
