package exchange

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestRemoveHopHeaders(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want []string // the names left
	}{
		{"keep-alive", http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "Content-Type": {"a"}}, []string{"Content-Type"}},
		{"close names a field", http.Header{"Connection": {"close"}, "Close": {"x"}, "Date": {"d"}}, []string{"Date"}},
		{"any case", http.Header{"Connection": {"KEEP-ALIVE, Close"}, "Keep-Alive": {"t"}, "Close": {"x"}, "Date": {"d"}}, []string{"Date"}},
		{"other names", http.Header{"Connection": {"X-Foo , ,x-bar", "x-baz"}, "X-Foo": {"1"}, "X-Bar": {"2"}, "X-Baz": {"3"}, "X-Keep": {"4"}}, []string{"X-Keep"}},
		{"fixed names without Connection", http.Header{"Te": {"trailers"}, "Upgrade": {"h2c"}, "Proxy-Connection": {"x"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"a"}, "Proxy-Authorization": {"b"}, "Accept": {"c"}}, []string{"Accept"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			RemoveHopHeaders(tt.in)
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range tt.in {
					if !yield(k) {
						return
					}
				}
			})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fields left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRemoveHopHeadersAllocations: a backend's usual Connection: keep-alive
// costs nothing to honour.
func TestRemoveHopHeadersAllocations(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive"}, "Content-Type": {"text/plain"}, "Date": {"d"}}
	n := testing.AllocsPerRun(100, func() {
		h["Connection"] = []string{"keep-alive"}[:1:1]
		RemoveHopHeaders(h)
	})
	if n > 1 { // the test's own one-element slice
		t.Errorf("RemoveHopHeaders made %v allocations, want none", n-1)
	}
}
