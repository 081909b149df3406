package policies_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// rotatingTokens hands out "tok-N", moving to the next N when invalidated
// (unless frozen, as a cache does for young tokens).
type rotatingTokens struct {
	n           int
	frozen      bool
	invalidated []string
	asked       []string
}

func (r *rotatingTokens) AccessToken(ctx context.Context, clientID, resource string) (policies.AccessToken, error) {
	r.asked = append(r.asked, clientID+"|"+resource)
	return policies.AccessToken{Value: fmt.Sprintf("tok-%d", r.n), Outcome: "issued"}, nil
}

func (r *rotatingTokens) InvalidateToken(clientID, resource string) {
	r.invalidated = append(r.invalidated, clientID+"|"+resource)
	if !r.frozen {
		r.n++
	}
}

// rejecting is a backend that rejects the tokens in bad with a challenge.
type rejecting struct {
	bad       map[string]bool
	challenge string
	sent      []string // Authorization of each request
	bodies    []string
}

func (b *rejecting) Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error {
	auth := x.Request.Headers.Get("Authorization")
	b.sent = append(b.sent, auth)
	body := ""
	if x.Request.Body != nil {
		p, _ := x.Request.Body.Bytes(true)
		body = string(p)
	}
	b.bodies = append(b.bodies, body)
	status := 200
	h := http.Header{}
	if b.bad[auth] {
		status = 401
		h.Set("WWW-Authenticate", b.challenge)
	}
	x.Response = &exchange.Response{StatusCode: status, Headers: h, Body: exchange.NewBytesBody([]byte("answer"))}
	return nil
}

func runForward(t *testing.T, tokens policies.TokenSource, fwd policies.Forwarder, inbound string, body *exchange.Body, backends map[string]policies.Backend) *exchange.Exchange {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{Tokens: tokens, Forwarder: fwd, Backends: backends})
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+inbound+"</inbound><backend><forward-request /></backend><outbound /><on-error /></policies>"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, nil, nil).Compile(doc, "operation")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://backend.example/api/items")
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000002",
		Request:   exchange.Request{Method: "POST", URL: u, OriginalURL: u, Headers: http.Header{}, Body: body},
		Backend:   exchange.Backend{BaseURL: u},
	}
	if err := pipeline.Compose(d).Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestRejectedTokenRefreshedOnce(t *testing.T) {
	const mi = `<authentication-managed-identity resource="api://orders" />`
	invalid := `Bearer realm="orders", error="invalid_token", error_description="The token expired"`
	for _, tc := range []struct {
		name        string
		inbound     string
		bad         []string
		challenge   string
		frozen      bool
		body        *exchange.Body
		backendID   string
		wantSent    []string
		wantStatus  int
		invalidated int
	}{
		{"a rejected token is replaced and the request resent", mi, []string{"Bearer tok-0"}, invalid, false,
			exchange.NewBytesBody([]byte("order")), "", []string{"Bearer tok-0", "Bearer tok-1"}, 200, 1},
		{"resent once only", mi, []string{"Bearer tok-0", "Bearer tok-1"}, invalid, false,
			nil, "", []string{"Bearer tok-0", "Bearer tok-1"}, 401, 1},
		{"no new token: the 401 stands", mi, []string{"Bearer tok-0"}, invalid, true,
			nil, "", []string{"Bearer tok-0"}, 401, 1},
		{"another error: not refreshed", mi, []string{"Bearer tok-0"}, `Bearer error="insufficient_scope"`, false,
			nil, "", []string{"Bearer tok-0"}, 401, 0},
		{"another scheme", mi, []string{"Bearer tok-0"}, `Basic realm="x", error="invalid_token"`, false,
			nil, "", []string{"Bearer tok-0"}, 401, 0},
		{"a streamed body cannot be resent", mi, []string{"Bearer tok-0"}, invalid, false,
			exchange.NewStreamBody(io.NopCloser(strings.NewReader("big upload")), 10, nil), "", []string{"Bearer tok-0"}, 401, 0},
		{"the policy's header was replaced by another policy", mi + `<set-header name="Authorization" exists-action="override"><value>Bearer mine</value></set-header>`,
			[]string{"Bearer mine"}, invalid, false, nil, "", []string{"Bearer mine"}, 401, 0},
		{"the documented variable pattern", `<authentication-managed-identity resource="api://orders" output-token-variable-name="t" />` +
			`<set-header name="Authorization" exists-action="override"><value>Bearer tok-0</value></set-header>`,
			[]string{"Bearer tok-0"}, invalid, false, nil, "", []string{"Bearer tok-0", "Bearer tok-1"}, 200, 1},
		{"a backend entity's managed identity", `<set-backend-service backend-id="orders" />`, []string{"Bearer tok-0"}, invalid, false,
			nil, "orders", []string{"Bearer tok-0", "Bearer tok-1"}, 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := &rotatingTokens{frozen: tc.frozen}
			be := &rejecting{bad: map[string]bool{}, challenge: tc.challenge}
			for _, b := range tc.bad {
				be.bad[b] = true
			}
			backends := map[string]policies.Backend{"orders": {URL: "https://backend.example/api", Resource: "api://orders"}}
			x := runForward(t, tok, be, tc.inbound, tc.body, backends)
			if fmt.Sprint(be.sent) != fmt.Sprint(tc.wantSent) {
				t.Errorf("sent %q, want %q", be.sent, tc.wantSent)
			}
			if x.Response.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", x.Response.StatusCode, tc.wantStatus)
			}
			if len(tok.invalidated) != tc.invalidated {
				t.Errorf("invalidated %q, want %d", tok.invalidated, tc.invalidated)
			}
			for _, inv := range tok.invalidated {
				if inv != "|api://orders" {
					t.Errorf("invalidated %q, want the system identity's api://orders", inv)
				}
			}
			if tc.body != nil && tc.body.Buffered() && len(be.bodies) == 2 && be.bodies[1] != be.bodies[0] {
				t.Errorf("the resent body %q differs from the first %q", be.bodies[1], be.bodies[0])
			}
		})
	}
}

func TestWorkloadIdentityProvider(t *testing.T) {
	tok := &rotatingTokens{}
	runForward(t, tok, &rejecting{}, `<authentication-managed-identity resource="api://orders" authentication-provider="WorkloadIdentity" />`, nil, nil)
	if len(tok.asked) != 1 || tok.asked[0] != identity.WorkloadIdentity+"|api://orders" {
		t.Errorf("asked %q, want the WorkloadIdentity client id", tok.asked)
	}
}
