package gateway_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// buildSample compiles the APIOps sample with the expression language.
func buildSample(t *testing.T) *gateway.Snapshot {
	t.Helper()
	st, err := statedir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := (&snapshot.Builder{ConfigDir: corpustest.Dir(t, "apiops/SampleArtifacts"), State: st, Expr: policies.Expressions}).Build(context.Background())
	if err != nil {
		t.Fatalf("the sample does not load: %v", err)
	}
	return snap
}

func TestAPIOpsSampleRoutes(t *testing.T) {
	snap := buildSample(t)
	tests := []struct {
		method, path string
		wantAPI      string // "" = no API
		wantOp       string // "" = no operation
	}{
		{"GET", "/basic-api/items", "basic-api", "get-items"},
		{"POST", "/basic-api/items", "basic-api", "create-item"},
		{"DELETE", "/basic-api/items", "basic-api", ""},
		{"GET", "/basic-api/nothing", "basic-api", ""},
		{"GET", "/revisioned-api/revision", "revisioned-api", "get-revision"},
		{"GET", "/revisioned-api/revision/details", "revisioned-api", ""}, // only in rev 2, which is not current
		{"GET", "/versioned-api/v1/version", "versioned-api-v1", "get-version-v1"},
		{"GET", "/versioned-api/v2/version", "versioned-api-v2", "get-version-v2"},
		{"POST", "/graphql-api", "graphql-api", "*"},               // a GraphQL pass-through API: one operation
		{"POST", "/soap-api", "soap-api", "*"},                     // SOAP pass-through, no WSDL: one operation
		{"GET", "/wadl-api/status", "wadl-api", "get-wadl-status"}, // operations from its WADL
		{"POST", "/wadl-api/status", "wadl-api", ""},
		{"GET", "/wadl-api/x", "wadl-api", ""},
		{"GET", "/nothing", "", ""},
	}
	for _, tt := range tests {
		gotAPI, gotOp := snap.RouteOf(httptest.NewRequest(tt.method, tt.path, nil))
		if gotAPI != tt.wantAPI || gotOp != tt.wantOp {
			t.Errorf("%s %s -> api %q op %q, want %q %q", tt.method, tt.path, gotAPI, gotOp, tt.wantAPI, tt.wantOp)
		}
	}
}

// TestAPIOpsSampleServes sends requests through the sample that end before the
// network (its backends are public hosts). versioned-api-v2 is in the open
// product2, whose policy admits only 10.0.0.1: its 403 shows a keyless request
// routed, put in the product's context and run through the composed pipeline.
// (Most of the sample's API and operation policies leave out <base />, so the
// global ip-filter does not apply to them, exactly as in API Management.)
func TestAPIOpsSampleServes(t *testing.T) {
	h := gateway.NewHandler(nil)
	h.Swap(buildSample(t))
	tests := []struct {
		method, path, key string
		wantStatus        int
		wantBody          string
	}{
		{"GET", "/basic-api/items", "", 401, "missing subscription key"},
		{"GET", "/basic-api/items", "wrong", 401, "invalid subscription key"},
		{"GET", "/versioned-api/v2/version", "", 403, `"Caller IP address 192.0.2.1 is not allowed. Access denied."`},
		{"GET", "/graphql-api", "", 403, `"Caller IP address 192.0.2.1 is not allowed. Access denied."`}, // also in product2
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.key != "" {
			r.Header.Set("Ocp-Apim-Subscription-Key", tt.key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) {
			t.Errorf("%s %s: %d %s; want %d containing %q", tt.method, tt.path, w.Code, w.Body, tt.wantStatus, tt.wantBody)
		}
	}
}
