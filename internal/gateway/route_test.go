package gateway

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// routeConfig is a snapshot with the given APIs, each with operations for the
// given templates (no operations: an API without a specification).
func routeConfig(t testing.TB, apis map[string][]string) SnapshotConfig {
	t.Helper()
	var c SnapshotConfig
	for path, templates := range apis {
		ac := APIConfig{Info: &exchange.API{ID: "api:" + path}, Path: path}
		if templates == nil {
			ac.Operations = []OperationConfig{{Info: &exchange.Operation{ID: "*", Method: "*"}}}
		}
		for _, tmpl := range templates {
			method, raw, _ := strings.Cut(tmpl, " ")
			tm, err := ParseTemplate(raw)
			if err != nil {
				t.Fatal(err)
			}
			ac.Operations = append(ac.Operations, OperationConfig{Info: &exchange.Operation{ID: tmpl, Method: method, URLTemplate: raw}, Template: tm})
		}
		c.APIs = append(c.APIs, ac)
	}
	return c
}

func TestRouting(t *testing.T) {
	snap, err := NewSnapshot(routeConfig(t, map[string][]string{
		"":         nil,
		"shop":     {"GET /items/{id}", "GET /items/new", "* /items/{id}", "GET /files/{*rest}", "GET /search?q={q}", "GET /search"},
		"shop/v2":  {"GET /items/{id}"},
		"Anything": nil,
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		wantAPI        string
		wantOp         string
	}{
		{"GET", "/shop/items/7", "api:shop", "GET /items/{id}"},
		{"GET", "/SHOP/Items/new", "api:shop", "GET /items/new"},     // literals first, ignoring case
		{"DELETE", "/shop/items/7", "api:shop", "* /items/{id}"},     // any method
		{"GET", "/shop/files/a/b", "api:shop", "GET /files/{*rest}"}, // wildcard
		{"GET", "/shop/search?q=x", "api:shop", "GET /search?q={q}"}, // more query parameters first
		{"GET", "/shop/search", "api:shop", "GET /search"},
		{"POST", "/shop/search", "api:shop", ""},
		{"GET", "/shop/v2/items/7", "api:shop/v2", "GET /items/{id}"}, // longest path first
		{"GET", "/anything/at/all", "api:Anything", "*"},
		{"PATCH", "/elsewhere", "api:", "*"},
	}
	for _, tt := range tests {
		gotAPI, gotOp := snap.RouteOf(httptest.NewRequest(tt.method, tt.target, nil))
		if gotAPI != tt.wantAPI || gotOp != tt.wantOp {
			t.Errorf("%s %s -> %q %q, want %q %q", tt.method, tt.target, gotAPI, gotOp, tt.wantAPI, tt.wantOp)
		}
	}
}

func TestNewSnapshotRefuses(t *testing.T) {
	tests := []struct {
		name string
		c    SnapshotConfig
		want string
	}{
		{
			name: "a key shared by two subscriptions",
			c: SnapshotConfig{Subscriptions: []apiops.Subscription{
				{Name: "a", PrimaryKey: "k1", SecondaryKey: "k2"},
				{Name: "b", PrimaryKey: "k3", SecondaryKey: "k1"},
			}},
			want: "subscriptions a and b have the same key; keys must be unique",
		},
		{
			name: "an unknown product",
			c:    SnapshotConfig{APIs: []APIConfig{{Info: &exchange.API{ID: "a"}, Products: []string{"p"}}}},
			want: `API a names product "p", which the configuration does not have`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSnapshot(tt.c)
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewSnapshot: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSnapshotRedact: what the console shows has the subscription keys cut
// out, in the case they were given and in the other (a policy or a backend
// may echo a hex key upper-cased), and the secrets.
func TestSnapshotRedact(t *testing.T) {
	snap, err := NewSnapshot(SnapshotConfig{Secrets: []string{"s3cret"}, Subscriptions: []apiops.Subscription{
		{Name: "a", PrimaryKey: "d9ee082bc1", SecondaryKey: "AB12CD"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := snap.Redact("D9EE082BC1 d9ee082bc1 ab12cd AB12CD s3cret")
	if strings.Contains(strings.ToLower(got), "d9ee") || strings.Contains(strings.ToLower(got), "ab12") || strings.Contains(got, "s3cret") {
		t.Errorf("Redact left a key or a secret: %s", got)
	}
}

// BenchmarkRoute measures finding the API and operation among 50.
func BenchmarkRoute(b *testing.B) {
	var templates []string
	for i := range 50 {
		templates = append(templates, fmt.Sprintf("GET /r%d/{id}", i))
	}
	snap, err := NewSnapshot(routeConfig(b, map[string][]string{"orders": templates}))
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/orders/r49/17", nil)
	q := r.URL.Query()
	params := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		var buf [16]string
		a, rest := snap.route(r, appendSegments(buf[:0], r.URL.EscapedPath()), q)
		if a == nil || a.operation("GET", "", rest, q, &params, nil) == nil {
			b.Fatal("no route")
		}
	}
}
