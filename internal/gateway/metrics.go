package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Metrics are the data plane's Prometheus metrics. API and operation labels come
// from the configuration, so their number is bounded; unmatched requests count
// under empty labels.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
}

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
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"api"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lastmile_policy_failures_total",
			Help: "Requests that failed in a policy (context.LastError), by API, source and reason.",
		}, []string{"api", "source", "reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.failures)
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
