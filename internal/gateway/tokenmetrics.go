package gateway

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// DefaultTokenSeries is how many label sets TokenMetrics keeps unless told
// otherwise.
const DefaultTokenSeries = 10000

// TokenOverflow is every dimension's value in the series that counts the
// calls whose label set came after TokenMetrics was full: emit-metric's.
const TokenOverflow = custommetrics.Overflow

// maxLabelValue is the longest label value kept; longer ones are cut.
const maxLabelValue = 128

// TokenMetrics exports the tokens that llm-emit-token-metric and
// azure-openai-emit-token-metric emit as Prometheus counters:
//
//	lastmile_llm_prompt_tokens_total
//	lastmile_llm_completion_tokens_total
//	lastmile_llm_tokens_total            prompt and completion
//	lastmile_llm_cached_tokens_total     when responses report them
//	lastmile_llm_reasoning_tokens_total  when responses report them
//
// each labelled with the policy's namespace and one label per dimension
// (custommetrics.Sanitize of its name: "API ID" is api_id, as for emit-metric). Dimension values
// come from requests, so the number of label sets is bounded: past the
// maximum, new label sets count in one series per policy shape whose
// dimension values are all TokenOverflow, and the log says so once. Values are
// cut at 128 bytes. It is a policies.TokenRecorder, safe for concurrent use;
// the server keeps one for its life, so that a reload keeps the counts.
type TokenMetrics struct {
	max int
	log *slog.Logger

	mu       sync.Mutex
	series   map[string]*tokenSeries
	overflow bool // the log said the series are full
}

type tokenSeries struct {
	labels, values                        []string
	prompt, completion, cached, reasoning float64
	hasCached, hasReasoning               bool
}

// NewTokenMetrics returns the token counters, registered with reg, keeping
// at most maxSeries label sets (DefaultTokenSeries when 0 or less).
func NewTokenMetrics(reg prometheus.Registerer, maxSeries int, log *slog.Logger) *TokenMetrics {
	if maxSeries <= 0 {
		maxSeries = DefaultTokenSeries
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &TokenMetrics{max: maxSeries, log: log, series: map[string]*tokenSeries{}}
	reg.MustRegister(m)
	return m
}

// RecordTokens adds one call's tokens to its series.
func (m *TokenMetrics) RecordTokens(_ context.Context, t policies.TokenMetric) {
	labels := make([]string, 1, len(t.Dimensions)+1)
	values := make([]string, 1, len(t.Dimensions)+1)
	labels[0], values[0] = "namespace", labelValue(t.Namespace)
	for _, d := range t.Dimensions {
		labels = append(labels, custommetrics.Sanitize(d.Name))
		values = append(values, labelValue(d.Value))
	}
	key := seriesKey(labels, values)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[key]
	if s == nil {
		if len(m.series) >= m.max {
			for i := 1; i < len(values); i++ {
				values[i] = TokenOverflow
			}
			key = seriesKey(labels, values)
			if !m.overflow {
				m.overflow = true
				m.log.Warn("the LLM token metrics have as many label sets as they keep; calls with new dimension values count under "+TokenOverflow,
					"series", m.max)
			}
		}
		if s = m.series[key]; s == nil {
			s = &tokenSeries{labels: labels, values: values}
			m.series[key] = s
		}
	}
	u := t.Usage
	s.prompt += float64(u.Prompt)
	s.completion += float64(u.Completion)
	if u.HasCached {
		s.cached, s.hasCached = s.cached+float64(u.Cached), true
	}
	if u.HasReasoning {
		s.reasoning, s.hasReasoning = s.reasoning+float64(u.Reasoning), true
	}
}

// seriesKey identifies a label set.
func seriesKey(labels, values []string) string {
	var b strings.Builder
	for i := range labels {
		b.WriteString(labels[i])
		b.WriteByte(0)
		b.WriteString(values[i])
		b.WriteByte(0)
	}
	return b.String()
}

// labelValue makes s a label value, as emit-metric's are.
func labelValue(s string) string { return custommetrics.LabelValue(s, maxLabelValue) }

// Describe sends nothing: the label names come from the policies, so
// TokenMetrics is an unchecked collector.
func (m *TokenMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series' counters.
func (m *TokenMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		counter := func(name, help string, v float64) {
			desc := prometheus.NewDesc(name, help, s.labels, nil)
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, s.values...)
		}
		counter("lastmile_llm_prompt_tokens_total", "Prompt tokens of LLM calls (llm-emit-token-metric, azure-openai-emit-token-metric).", s.prompt)
		counter("lastmile_llm_completion_tokens_total", "Completion tokens of LLM calls, reasoning tokens included.", s.completion)
		counter("lastmile_llm_tokens_total", "Prompt and completion tokens of LLM calls.", s.prompt+s.completion)
		if s.hasCached {
			counter("lastmile_llm_cached_tokens_total", "Prompt tokens of LLM calls served from the model's prompt cache.", s.cached)
		}
		if s.hasReasoning {
			counter("lastmile_llm_reasoning_tokens_total", "Reasoning tokens of LLM calls (part of their completion tokens).", s.reasoning)
		}
	}
}
