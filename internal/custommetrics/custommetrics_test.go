package custommetrics_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lastmile-gw/lastmile/internal/custommetrics"
)

func TestDefineErrors(t *testing.T) {
	tests := []struct {
		name string
		dims []string
		want string
	}{
		{"---", []string{"a"}, `metric name "---" has no letter or digit`},
		{"m", []string{"API ID", "api-id"}, `dimensions "api-id" and another are both the label api_id`},
		{"m", []string{"Namespace"}, `dimension name "Namespace" is the label namespace`},
		{"m", []string{"__x"}, `is the label __x`},
		{"m", []string{" "}, `dimension name " " has no letter or digit`},
	}
	for _, tt := range tests {
		_, err := custommetrics.New(custommetrics.Limits{}, nil).Define(tt.name, tt.dims)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Define(%q, %q) = %v, want %q", tt.name, tt.dims, err, tt.want)
		}
	}
	r := custommetrics.New(custommetrics.Limits{Metrics: 2}, nil)
	r.Define("a", []string{"x"})
	r.Define("b", []string{"x"})
	if _, err := r.Define("a", []string{"y"}); err != nil {
		t.Errorf("redefining a metric: %v", err)
	}
	if _, err := r.Define("c", []string{"x"}); err == nil {
		t.Error("a third metric over a limit of 2 was defined")
	}
}

// TestExport: values are summed and counted per label values; a metric
// defined twice with other dimensions has every label, empty where a series
// has none; beyond SeriesPerMetric, values go to the overflow series; label
// values are cut and made valid UTF-8.
func TestExport(t *testing.T) {
	r := custommetrics.New(custommetrics.Limits{SeriesPerMetric: 3, ValueBytes: 8}, nil)
	a, _ := r.Define("Requests", []string{"API ID", "Client IP"})
	b, _ := r.Define("requests", []string{"Team"})
	a.Emit("ns", []string{"orders", "10.0.0.1"}, 1)
	a.Emit("ns", []string{"orders", "10.0.0.1"}, 2.5)
	b.Emit("other", []string{"blue"}, 1)
	a.Emit("ns", []string{"a-very-long-api-id", "\xff"}, 1)
	a.Emit("ns", []string{"x", "y"}, 4) // a fourth series: overflow
	a.Emit("ns", []string{"z", "y"}, 5)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want := `
# HELP lastmile_custom_requests Custom metric emitted by the emit-metric policy (sum and count of its values).
# TYPE lastmile_custom_requests summary
lastmile_custom_requests_sum{api_id="",client_ip="",namespace="other",team="blue"} 1
lastmile_custom_requests_count{api_id="",client_ip="",namespace="other",team="blue"} 1
lastmile_custom_requests_sum{api_id="__overflow__",client_ip="__overflow__",namespace="__overflow__",team="__overflow__"} 9
lastmile_custom_requests_count{api_id="__overflow__",client_ip="__overflow__",namespace="__overflow__",team="__overflow__"} 2
lastmile_custom_requests_sum{api_id="a-very-l",client_ip="�",namespace="ns",team=""} 1
lastmile_custom_requests_count{api_id="a-very-l",client_ip="�",namespace="ns",team=""} 1
lastmile_custom_requests_sum{api_id="orders",client_ip="10.0.0.1",namespace="ns",team=""} 3.5
lastmile_custom_requests_count{api_id="orders",client_ip="10.0.0.1",namespace="ns",team=""} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lastmile_custom_requests"); err != nil {
		t.Error(err)
	}
	if err := a.Emit("ns", []string{"one"}, 1); err == nil {
		t.Error("Emit with too few values: no error")
	}
}

func BenchmarkEmit(b *testing.B) {
	r := custommetrics.New(custommetrics.Limits{}, nil)
	m, _ := r.Define("requests", []string{"API ID", "Client IP"})
	ips := make([]string, 64)
	for i := range ips {
		ips[i] = fmt.Sprint("10.0.0.", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Emit("API Management", []string{"orders", ips[i%64]}, 1)
	}
}
