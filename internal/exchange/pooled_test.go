package exchange_test

import (
	"net/http"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// TestPooledHeaders: a response's header map goes back to its pool only while
// it is still the map the backend's response came with.
func TestPooledHeaders(t *testing.T) {
	pooled := http.Header{"A": {"1"}}
	tests := []struct {
		name   string
		resp   func() *exchange.Response
		pooled bool
	}{
		{"no response", func() *exchange.Response { return nil }, false},
		{"not marked", func() *exchange.Response { return &exchange.Response{Headers: pooled} }, false},
		{"marked", func() *exchange.Response {
			r := &exchange.Response{Headers: pooled}
			r.MarkPooled()
			return r
		}, true},
		{"marked, then changed in place", func() *exchange.Response {
			r := &exchange.Response{Headers: pooled}
			r.MarkPooled()
			r.Headers.Set("B", "2")
			return r
		}, true},
		{"marked, then replaced by a policy's map", func() *exchange.Response {
			r := &exchange.Response{Headers: pooled}
			r.MarkPooled()
			r.Headers = http.Header{"A": {"1"}}
			return r
		}, false},
		{"marked, then replaced by nil", func() *exchange.Response {
			r := &exchange.Response{Headers: pooled}
			r.MarkPooled()
			r.Headers = nil
			return r
		}, false},
		{"marked with no map", func() *exchange.Response {
			r := &exchange.Response{}
			r.MarkPooled()
			return r
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.resp().PooledHeaders()
			if (got != nil) != tc.pooled {
				t.Fatalf("PooledHeaders() = %v, want pooled %v", got, tc.pooled)
			}
		})
	}
}
