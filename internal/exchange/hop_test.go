package exchange

import (
	"fmt"
	"net/http"
	"testing"
)

// TestHopHeaderListsAgree keeps IsHopHeader's switch and hopHeaders the same
// set, and checks both ways of removing them.
func TestHopHeaderListsAgree(t *testing.T) {
	for _, k := range hopHeaders {
		if !IsHopHeader(k) {
			t.Errorf("IsHopHeader(%q) = false", k)
		}
	}
	for _, extra := range []int{0, 30} {
		h := http.Header{"X-Keep": {"1"}}
		for _, k := range hopHeaders {
			h[k] = []string{"v"}
		}
		for i := range extra {
			h[fmt.Sprintf("X-Filler-%d", i)] = []string{"f"}
		}
		RemoveFixedHopHeaders(h)
		if len(h) != 1+extra || h.Get("X-Keep") != "1" {
			t.Errorf("with %d other fields, left %v", extra, h)
		}
	}
}
