package gateway_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestTokenMetrics: two policies with other dimensions export the same
// metric names with their own labels, beside emit-metric's in one registry;
// label sets beyond the bound count in the overflow series; values are cut
// and made valid UTF-8. The scrape must not fail.
func TestTokenMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := gateway.NewTokenMetrics(reg, 3, nil)
	custom := custommetrics.New(custommetrics.Limits{}, nil)
	reg.MustRegister(custom)
	cm, err := custom.Define("calls", []string{"API ID"})
	if err != nil {
		t.Fatal(err)
	}
	cm.Emit("ns", []string{"openai"}, 1)
	ctx := context.Background()
	use := llm.Usage{Prompt: 10, Completion: 5}
	team := func(v string) []policies.Dimension { return []policies.Dimension{{Name: "Team", Value: v}} }
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "a", Dimensions: team("blue"), Usage: use})
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "a", Dimensions: team("blue"), Usage: use})
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "b", Dimensions: []policies.Dimension{{Name: "API ID", Value: "x"}, {Name: "Client IP", Value: "10.0.0.1"}},
		Usage: llm.Usage{Prompt: 1, Completion: 2, Cached: 1, HasCached: true}})
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "a", Dimensions: team(strings.Repeat("é", 100) + "\xff"), Usage: use})
	// The bound (3) is reached: new label sets overflow.
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "a", Dimensions: team("green"), Usage: use})
	m.RecordTokens(ctx, policies.TokenMetric{Namespace: "a", Dimensions: team("red"), Usage: use})

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	var got []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, "lastmile_llm_prompt") || strings.HasPrefix(l, "lastmile_llm_cached") || strings.HasPrefix(l, "lastmile_custom_calls_count") {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	long := strings.Repeat("é", 64) // 128 bytes; the invalid byte is beyond
	want := []string{
		`lastmile_custom_calls_count{api_id="openai",namespace="ns"} 1`,
		`lastmile_llm_cached_tokens_total{api_id="x",client_ip="10.0.0.1",namespace="b"} 1`,
		`lastmile_llm_prompt_tokens_total{api_id="x",client_ip="10.0.0.1",namespace="b"} 1`,
		`lastmile_llm_prompt_tokens_total{namespace="a",team="__overflow__"} 20`,
		`lastmile_llm_prompt_tokens_total{namespace="a",team="blue"} 20`,
		`lastmile_llm_prompt_tokens_total{namespace="a",team="` + long + `"} 10`,
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
}
