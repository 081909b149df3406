// Package custommetrics keeps the metrics that policies emit (emit-metric) and
// exports them to Prometheus, within bounds: a policy's dimension values come
// from requests, so the number of series each metric may have is limited.
//
// A metric named N is exported as the summary lastmile_custom_N (its _sum and
// _count, as Application Insights keeps valueSum and valueCount), with a
// "namespace" label and one label per dimension. Names are lowercased and
// every character other than a letter, a digit or "_" becomes "_": the
// dimension "API ID" is the label api_id.
package custommetrics

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound the metrics. Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// Metrics is the most metric names.
	Metrics int
	// SeriesPerMetric is the most label value combinations a metric keeps;
	// beyond it values are added to one series whose labels are all Overflow.
	SeriesPerMetric int
	// ValueBytes is the longest label value; longer ones are cut.
	ValueBytes int
}

// DefaultLimits: 100 metrics of at most 1000 series each, values of at most
// 128 bytes.
var DefaultLimits = Limits{Metrics: 100, SeriesPerMetric: 1000, ValueBytes: 128}

// Overflow is every label value of the series that takes a metric's values
// beyond Limits.SeriesPerMetric.
const Overflow = "__overflow__"

// Prefix is put before every metric name.
const Prefix = "lastmile_custom_"

// Registry is the custom metrics, a prometheus.Collector. It is safe for
// concurrent use; the gateway keeps one for its life, so that a reload keeps
// the values.
type Registry struct {
	limits Limits
	log    *slog.Logger

	mu      sync.Mutex
	metrics map[string]*metric // by exported name
}

type metric struct {
	name   string
	labels []string // "namespace" first, then dimensions in the order defined
	series map[string]*series
	warned bool
}

type series struct {
	labels     map[string]string
	sum        float64
	count      uint64
	overflowed bool
}

// New returns an empty registry within l; log gets one warning per metric
// that overflows.
func New(l Limits, log *slog.Logger) *Registry {
	if l.Metrics <= 0 {
		l.Metrics = DefaultLimits.Metrics
	}
	if l.SeriesPerMetric <= 0 {
		l.SeriesPerMetric = DefaultLimits.SeriesPerMetric
	}
	if l.ValueBytes <= 0 {
		l.ValueBytes = DefaultLimits.ValueBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{limits: l, log: log, metrics: map[string]*metric{}}
}

// Sanitize is a name as Prometheus takes it: lowercase letters, digits and
// underscores. Every metric lastmile exports names its labels with it, the
// token metrics too.
func Sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Metric is a defined metric, to emit values to.
type Metric struct {
	r      *Registry
	name   string   // exported name
	labels []string // sanitized dimension names
}

// Define declares the metric name with the given dimensions, adding any label
// it lacks (series emitted without a label have it empty). It fails for a
// name or dimension that is empty once sanitized, two dimensions that
// sanitize alike, a dimension named namespace, or one metric too many.
func (r *Registry) Define(name string, dimensions []string) (*Metric, error) {
	base := Sanitize(name)
	if strings.Trim(base, "_") == "" {
		return nil, fmt.Errorf("metric name %q has no letter or digit", name)
	}
	full := Prefix + base
	labels := make([]string, len(dimensions))
	for i, d := range dimensions {
		l := Sanitize(d)
		switch {
		case strings.Trim(l, "_") == "":
			return nil, fmt.Errorf("dimension name %q has no letter or digit", d)
		case l == "namespace" || l == "quantile" || strings.HasPrefix(l, "__"):
			return nil, fmt.Errorf("dimension name %q is the label %s, which lastmile's export reserves; choose another name", d, l)
		case slices.Contains(labels[:i], l):
			return nil, fmt.Errorf("dimensions %q and another are both the label %s; name them apart", d, l)
		}
		labels[i] = l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.metrics[full]
	if !ok {
		if len(r.metrics) >= r.limits.Metrics {
			return nil, fmt.Errorf("more than %d custom metrics; emit fewer metric names", r.limits.Metrics)
		}
		m = &metric{name: full, labels: []string{"namespace"}, series: map[string]*series{}}
		r.metrics[full] = m
	}
	for _, l := range labels {
		if !slices.Contains(m.labels, l) {
			m.labels = append(m.labels, l)
		}
	}
	return &Metric{r: r, name: full, labels: labels}, nil
}

// errValues is returned when Emit gets another number of values than the
// metric has dimensions.
var errValues = errors.New("custommetrics: one value per dimension")

// Emit adds value to the series of namespace and the dimensions' values.
func (m *Metric) Emit(namespace string, values []string, value float64) error {
	if len(values) != len(m.labels) {
		return errValues
	}
	r := m.r
	var key strings.Builder
	labels := make(map[string]string, len(values)+1)
	labels["namespace"] = r.cut(namespace)
	key.WriteString(labels["namespace"])
	for i, l := range m.labels {
		v := r.cut(values[i])
		labels[l] = v
		key.WriteByte(0)
		key.WriteString(l)
		key.WriteByte('=')
		key.WriteString(v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	met := r.metrics[m.name]
	s, ok := met.series[key.String()]
	if !ok {
		if len(met.series) >= r.limits.SeriesPerMetric {
			s = met.series[Overflow]
			if s == nil {
				s = &series{overflowed: true}
				met.series[Overflow] = s
			}
			if !met.warned {
				met.warned = true
				r.log.Warn("a custom metric has too many series; further label values are counted under "+Overflow,
					"metric", m.name, "limit", r.limits.SeriesPerMetric)
			}
		} else {
			s = &series{labels: labels}
			met.series[key.String()] = s
		}
	}
	s.sum += value
	s.count++
	return nil
}

// cut makes s a label value within the registry's limit.
func (r *Registry) cut(s string) string { return LabelValue(s, r.limits.ValueBytes) }

// LabelValue makes s a label value: valid UTF-8 (Prometheus refuses anything
// else), at most max bytes; a character cut in two is dropped.
func LabelValue(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "")
}

// Describe sends nothing: the metrics are defined by policies, as they are
// compiled, so the registry is an unchecked collector.
func (r *Registry) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.metrics {
		desc := prometheus.NewDesc(m.name, "Custom metric emitted by the emit-metric policy (sum and count of its values).", m.labels, nil)
		for _, s := range m.series {
			values := make([]string, len(m.labels))
			for i, l := range m.labels {
				if s.overflowed {
					values[i] = Overflow
				} else {
					values[i] = s.labels[l]
				}
			}
			ch <- prometheus.MustNewConstSummary(desc, s.count, s.sum, nil, values...)
		}
	}
}
