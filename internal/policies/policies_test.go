package policies_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

type fakeTokens struct {
	calls []string
	err   error
}

func (f *fakeTokens) AccessToken(ctx context.Context, clientID, resource string) (policies.AccessToken, error) {
	f.calls = append(f.calls, clientID+"|"+resource)
	if f.err != nil {
		return policies.AccessToken{}, f.err
	}
	return policies.AccessToken{Value: "tok-for-" + clientID + "-" + resource, Outcome: "issued"}, nil
}

// run compiles inbound policies into a pipeline, runs it on a GET request for
// https://backend.example/api/items/42?a=1&b=2 and returns the exchange.
func run(t *testing.T, deps policies.Deps, inbound string) *exchange.Exchange {
	t.Helper()
	x, err := tryRun(t, deps, inbound)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func tryRun(t *testing.T, deps policies.Deps, inbound string) (*exchange.Exchange, error) {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+inbound+"</inbound><backend /><outbound /><on-error /></policies>"))
	if err != nil {
		return nil, err
	}
	c := pipeline.NewCompiler(r, nil, nil)
	d, err := c.Compile(doc, "operation")
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse("https://backend.example/api")
	u, _ := url.Parse("https://backend.example/api/items/42?a=1&b=2")
	orig, _ := url.Parse("http://gateway.local/shop/items/42?a=1&b=2")
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request: exchange.Request{
			Method: "GET", URL: u, OriginalURL: orig, IPAddress: "10.1.2.3",
			Headers:           http.Header{"Existing": {"old"}, "Accept": {"a", "b"}},
			MatchedParameters: map[string]string{"id": "42", "b": "2"},
			Body:              exchange.NewBytesBody([]byte("hello legacy world, legacy!")),
		},
		Backend: exchange.Backend{BaseURL: base},
	}
	if err := pipeline.Compose(d).Run(context.Background(), x); err != nil {
		return nil, err
	}
	return x, nil
}

func TestSetHeader(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		header string
		want   []string
	}{
		{"override replaces", `<set-header name="Existing" exists-action="override"><value>new</value></set-header>`, "Existing", []string{"new"}},
		{"override is the default", `<set-header name="Existing"><value>new</value></set-header>`, "Existing", []string{"new"}},
		{"skip keeps an existing header", `<set-header name="Existing" exists-action="skip"><value>new</value></set-header>`, "Existing", []string{"old"}},
		{"skip sets a missing header", `<set-header name="Fresh" exists-action="skip"><value>new</value></set-header>`, "Fresh", []string{"new"}},
		{"append adds", `<set-header name="Existing" exists-action="append"><value>new</value></set-header>`, "Existing", []string{"old", "new"}},
		{"delete removes", `<set-header name="existing" exists-action="delete" />`, "Existing", nil},
		{"several values are one comma-separated line", `<set-header name="X-Multi"><value>1</value><value>2</value><value>3</value></set-header>`, "X-Multi", []string{"1,2,3"}},
		{"multi-line headers keep separate lines", `<set-header name="Cookie"><value>a=1</value><value>b=2</value></set-header>`, "Cookie", []string{"a=1", "b=2"}},
		{"names are case-insensitive", `<set-header name="existing" exists-action="append"><value>new</value></set-header>`, "Existing", []string{"old", "new"}},
		{"entities in values are decoded", `<set-header name="X-E"><value>a &amp; b &lt;c&gt;</value></set-header>`, "X-E", []string{"a & b <c>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := run(t, policies.Deps{}, tt.policy)
			if diff := cmp.Diff(tt.want, x.Request.Headers.Values(tt.header)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}

func TestSetHeaderRefusesGatewayHeaders(t *testing.T) {
	_, err := tryRun(t, policies.Deps{}, `<set-header name="content-length"><value>1</value></set-header>`)
	if err == nil || !strings.Contains(err.Error(), "policy.xml:1:38: header Content-Length is managed by the gateway") {
		t.Errorf("err = %v", err)
	}
}

func TestSetQueryParameter(t *testing.T) {
	tests := []struct {
		policy string
		want   string
	}{
		{`<set-query-parameter name="a" exists-action="override"><value>9</value></set-query-parameter>`, "a=9&b=2"},
		{`<set-query-parameter name="a" exists-action="skip"><value>9</value></set-query-parameter>`, "a=1&b=2"},
		{`<set-query-parameter name="a" exists-action="append"><value>9</value></set-query-parameter>`, "a=1&a=9&b=2"},
		{`<set-query-parameter name="a" exists-action="delete" />`, "b=2"},
		{`<set-query-parameter name="c"><value>x y</value><value>z</value></set-query-parameter>`, "a=1&b=2&c=x+y&c=z"},
	}
	for _, tt := range tests {
		x := run(t, policies.Deps{}, tt.policy)
		if got := x.Request.URL.RawQuery; got != tt.want {
			t.Errorf("%s: query = %q, want %q", tt.policy, got, tt.want)
		}
	}
}

func TestRouting(t *testing.T) {
	deps := policies.Deps{Backends: map[string]policies.Backend{"orders": {URL: "http://orders.internal:8080/v1"}}}
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{"base-url keeps the suffix and query", `<set-backend-service base-url="https://other.example/base/" />`, "https://other.example/base/items/42?a=1&b=2"},
		{"backend-id uses the entity's URL", `<set-backend-service backend-id="orders" />`, "http://orders.internal:8080/v1/items/42?a=1&b=2"},
		{"backend-id ignores case, as Azure's resource names do", `<set-backend-service backend-id="Orders" />`, "http://orders.internal:8080/v1/items/42?a=1&b=2"},
		{"rewrite-uri fills parameters and copies unmatched query", `<rewrite-uri template="/v2/orders/{id}?x=1" />`, "https://backend.example/api/v2/orders/42?x=1&a=1"},
		{"rewrite-uri without copying", `<rewrite-uri template="/v2/{id}" copy-unmatched-params="false" />`, "https://backend.example/api/v2/42"},
		// The template's query is the backend's as written: a SAS token's escapes
		// stay single.
		{"rewrite-uri keeps the template's escapes", `<rewrite-uri template="/c/f.txt?sv=2022-11-02&amp;sig=AbC%2BdEf%2Fgh%3D&amp;id={id}&amp;b={b}" copy-unmatched-params="false" />`,
			"https://backend.example/api/c/f.txt?sv=2022-11-02&sig=AbC%2BdEf%2Fgh%3D&id=42&b=2"},
		{"rewrite then retarget", `<rewrite-uri template="/v2/{id}" copy-unmatched-params="false" /><set-backend-service base-url="http://b.example" />`, "http://b.example/v2/42"},
		{"retarget then rewrite", `<set-backend-service base-url="http://b.example/root" /><rewrite-uri template="/v3" copy-unmatched-params="false" />`, "http://b.example/root/v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := run(t, deps, tt.policy)
			if got := x.Request.URL.String(); got != tt.want {
				t.Errorf("URL = %s, want %s", got, tt.want)
			}
		})
	}
	_, err := tryRun(t, deps, `<set-backend-service backend-id="nope" />`)
	if err == nil || !strings.Contains(err.Error(), `backend "nope" does not exist; add backends/nope/backendInformation.json`) {
		t.Errorf("unknown backend: err = %v", err)
	}
	_, err = tryRun(t, deps, `<set-backend-service base-url="ftp://x" />`)
	if err == nil || !strings.Contains(err.Error(), `policy.xml:1:51: backend URL must be an absolute http or https URL, not "ftp://x"`) {
		t.Errorf("bad base-url: err = %v", err)
	}
}

// TestRoutingPathRules covers the path rules where the policy author wrote the
// path: dot segments written in a template or URL are resolved when they stay
// below the root, and refused at load, with their position, when they climb.
// Request-time forms are in internal/server's TestPathTraversal.
func TestRoutingPathRules(t *testing.T) {
	deps := policies.Deps{Backends: map[string]policies.Backend{
		"dotted":   {URL: "http://orders.internal/x/../v1"},
		"climbing": {URL: "http://orders.internal/../v1"},
	}}
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{"a written .. in a template is resolved below the base", `<rewrite-uri template="/v2/../v3/{id}" copy-unmatched-params="false" />`, "https://backend.example/api/v3/42"},
		{"a written . is dropped", `<rewrite-uri template="./v2/./{id}/" copy-unmatched-params="false" />`, "https://backend.example/api/v2/42/"},
		{"escapes in a template are kept", `<rewrite-uri template="/a%2Fb/%3A/{id}" copy-unmatched-params="false" />`, "https://backend.example/api/a%2Fb/%3A/42"},
		{"a parameter is escaped as data", `<rewrite-uri template="/{b}/x y" copy-unmatched-params="false" />`, "https://backend.example/api/2/x%20y"},
		{"a written base-url is resolved", `<set-backend-service base-url="http://b.example/x/../root/" />`, "http://b.example/root/items/42?a=1&b=2"},
		{"a base-url keeps its escapes", `<set-backend-service base-url="http://b.example/a%2Fb" />`, "http://b.example/a%2Fb/items/42?a=1&b=2"},
		{"a backend entity's url is resolved", `<set-backend-service backend-id="dotted" />`, "http://orders.internal/v1/items/42?a=1&b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := run(t, deps, tt.policy)
			if got := x.Request.URL.String(); got != tt.want {
				t.Errorf("URL = %s, want %s", got, tt.want)
			}
		})
	}
	refused := []struct{ policy, want string }{
		{`<rewrite-uri template="/../admin" />`, `policy.xml:1:43: rewrite-uri path is not allowed: a ".." segment climbs above the root; the path is below the backend's base URL: use set-backend-service to change the base`},
		{`<rewrite-uri template="/{id}/../../admin" />`, `policy.xml:1:43: rewrite-uri path is not allowed: a ".." segment climbs above the root`},
		{`<rewrite-uri template="/..%2fadmin" />`, `policy.xml:1:43: rewrite-uri path is not allowed: a segment would read as "." or ".." once decoded`},
		{`<set-backend-service base-url="http://b.example/../x" />`, `policy.xml:1:51: backend URL path is not allowed: a ".." segment climbs above the root`},
		{`<set-backend-service base-url="http://b.example/a%2f..%2fx" />`, `policy.xml:1:51: backend URL path is not allowed: a segment would read as "." or ".." once decoded`},
		{`<set-backend-service backend-id="climbing" />`, `policy.xml:1:53: backend "climbing": backend URL path is not allowed: a ".." segment climbs above the root; fix url in backends/climbing/backendInformation.json`},
	}
	for _, tt := range refused {
		if _, err := tryRun(t, deps, tt.policy); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %s", tt.policy, err, tt.want)
		}
	}
}

func TestFindAndReplace(t *testing.T) {
	x := run(t, policies.Deps{}, `<find-and-replace from="legacy" to="modern" />`)
	b, _ := x.Request.Body.Bytes(true)
	if got, want := string(b), "hello modern world, modern!"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestIPFilter(t *testing.T) {
	tests := []struct {
		policy     string
		wantStatus int
	}{
		{`<ip-filter action="allow"><address>10.1.2.3</address></ip-filter>`, 200},
		{`<ip-filter action="allow"><address-range from="10.0.0.0" to="10.255.255.255" /></ip-filter>`, 200},
		{`<ip-filter action="allow"><address>10.1.2.4</address><address>::1</address></ip-filter>`, 403},
		{`<ip-filter action="forbid"><address-range from="10.1.0.0" to="10.1.255.255" /></ip-filter>`, 403},
		{`<ip-filter action="forbid"><address>10.9.9.9</address></ip-filter>`, 200},
	}
	for _, tt := range tests {
		x := run(t, policies.Deps{}, tt.policy)
		if x.Response.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d, want %d", tt.policy, x.Response.StatusCode, tt.wantStatus)
		}
	}
}

// ctxTokens hands out the token a request's context carries, as a cache that
// renews its token does between requests.
type ctxTokens struct{}

type tokenKey struct{}

func (ctxTokens) AccessToken(ctx context.Context, clientID, resource string) (policies.AccessToken, error) {
	return policies.AccessToken{Value: ctx.Value(tokenKey{}).(string), Outcome: "hit"}, nil
}

// TestManagedIdentityHeaderFollowsTheToken runs one compiled policy on many
// requests, some at once, while the token changes: the policy keeps the
// header of its last token, and each request must still carry its own.
func TestManagedIdentityHeaderFollowsTheToken(t *testing.T) {
	for _, resource := range []string{`api://orders`, `@("api://" + "orders")`} {
		t.Run(resource, func(t *testing.T) {
			r := pipeline.NewRegistry()
			policies.Register(r, policies.Deps{Tokens: ctxTokens{}})
			doc, err := policyxml.Parse("policy.xml", []byte(`<policies><inbound><authentication-managed-identity resource="`+
				strings.ReplaceAll(resource, `"`, "&quot;")+`" /></inbound><backend /><outbound /><on-error /></policies>`))
			if err != nil {
				t.Fatal(err)
			}
			d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "operation")
			if err != nil {
				t.Fatal(err)
			}
			p := pipeline.Compose(d)
			send := func(tok string) string {
				u, _ := url.Parse("https://backend.example/api")
				x := &exchange.Exchange{Request: exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: http.Header{}}}
				if err := p.Run(context.WithValue(context.Background(), tokenKey{}, tok), x); err != nil {
					t.Error(err)
				}
				return x.Request.Headers.Get("Authorization")
			}
			for _, tok := range []string{"tok-0", "tok-0", "tok-1", "tok-1", "tok-0"} {
				if got, want := send(tok), "Bearer "+tok; got != want {
					t.Errorf("Authorization = %q, want %q", got, want)
				}
			}
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 200 {
						tok := fmt.Sprintf("tok-%d", (g+i)%3)
						if got, want := send(tok), "Bearer "+tok; got != want {
							t.Errorf("Authorization = %q, want %q", got, want)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestManagedIdentity(t *testing.T) {
	t.Run("sets the bearer header", func(t *testing.T) {
		tok := &fakeTokens{}
		x := run(t, policies.Deps{Tokens: tok}, `<authentication-managed-identity resource="api://orders" />`)
		if got := x.Request.Headers.Get("Authorization"); got != "Bearer tok-for--api://orders" {
			t.Errorf("Authorization = %q", got)
		}
	})
	t.Run("client-id picks the user-assigned identity, variable instead of header", func(t *testing.T) {
		tok := &fakeTokens{}
		x := run(t, policies.Deps{Tokens: tok}, `<authentication-managed-identity resource="api://orders" client-id="cid" output-token-variable-name="msi" />`)
		if got, _ := x.Var("msi"); got != "tok-for-cid-api://orders" {
			t.Errorf("variable = %v", got)
		}
		if got := x.Request.Headers.Get("Authorization"); got != "" {
			t.Errorf("Authorization set to %q with output-token-variable-name", got)
		}
	})
	t.Run("failure goes to on-error without leaking details to the caller", func(t *testing.T) {
		tok := &fakeTokens{err: errors.New(`AADSTS500011: the resource principal named "api://nope" was not found`)}
		x := run(t, policies.Deps{Tokens: tok}, `<authentication-managed-identity resource="api://nope" />`)
		if x.Response.StatusCode != 500 {
			t.Errorf("status = %d, want 500", x.Response.StatusCode)
		}
		if x.LastError == nil || x.LastError.Source != "authentication-managed-identity" || !strings.Contains(x.LastError.Message, "AADSTS500011") {
			t.Errorf("LastError = %+v", x.LastError)
		}
		b, _ := x.Response.Body.Bytes(true)
		if strings.Contains(string(b), "AADSTS") || !strings.Contains(string(b), `"message":"Internal server error"`) {
			t.Errorf("caller body = %s", b)
		}
	})
	t.Run("ignore-error proceeds without a header", func(t *testing.T) {
		tok := &fakeTokens{err: errors.New("down")}
		x := run(t, policies.Deps{Tokens: tok}, `<authentication-managed-identity resource="api://x" ignore-error="true" />`)
		if x.LastError != nil || x.Request.Headers.Get("Authorization") != "" {
			t.Errorf("LastError = %+v, Authorization = %q", x.LastError, x.Request.Headers.Get("Authorization"))
		}
	})
	t.Run("compile errors", func(t *testing.T) {
		for policy, want := range map[string]string{
			`<authentication-managed-identity />`: "policy.xml:1:20: <authentication-managed-identity> needs a resource attribute",
			`<authentication-managed-identity resource="r" client-id="@(context.Variables[&quot;c&quot;])" />`:          "policy.xml:1:77: attribute client-id of <authentication-managed-identity> does not accept policy expressions",
			`<authentication-managed-identity resource="r" authentication-provider="WorkloadIdentity" client-id="c" />`: "policy.xml:1:109: client-id cannot be combined with authentication-provider=\"WorkloadIdentity\"",
			`<authentication-managed-identity resource="r" ignore-error="maybe" />`:                                     `policy.xml:1:80: attribute ignore-error of <authentication-managed-identity> must be true or false, not "maybe"`,
		} {
			_, err := tryRun(t, policies.Deps{Tokens: &fakeTokens{}}, policy)
			if err == nil || err.Error() != want {
				t.Errorf("%s:\n got %v\nwant %s", policy, err, want)
			}
		}
	})
}

func TestSetVariableStatusMethodBody(t *testing.T) {
	x := run(t, policies.Deps{}, `<set-variable name="v" value="literal" /><set-method>post</set-method><set-body>new body</set-body><set-status code="202" reason="Accepted later" />`)
	if v, _ := x.Var("v"); v != "literal" {
		t.Errorf("v = %v", v)
	}
	if x.Request.Method != "POST" {
		t.Errorf("method = %s", x.Request.Method)
	}
	if b, _ := x.Request.Body.Bytes(true); string(b) != "new body" {
		t.Errorf("body = %q", b)
	}
	if x.Response.StatusCode != 202 || x.Response.StatusReason != "Accepted later" {
		t.Errorf("status = %d %s", x.Response.StatusCode, x.Response.StatusReason)
	}
}

// TestStatusCodesAreFinal: every policy that makes a response's status takes a
// final one, 200 to 999. A 1xx is an interim response: written as a literal it
// is a load error at its place, given by an expression a policy error
// (InvalidStatusCode, on-error runs; golden set-status-interim).
func TestStatusCodesAreFinal(t *testing.T) {
	const key = `<issuer-signing-keys><key>c2VjcmV0LWtleS1mb3ItdGhlLWNvcnB1cy10ZXN0cy0zMg==</key></issuer-signing-keys>`
	for _, code := range []string{"100", "101", "103", "199"} {
		interim := "status code " + code + " is an interim (1xx) response, which a policy cannot send; use a final status from 200 to 999"
		for _, tt := range []struct{ policy, want string }{
			{`<set-status code="` + code + `" />`, "policy.xml:1:38: " + interim},
			{`<return-response><set-status code="` + code + `" /></return-response>`, "policy.xml:1:55: " + interim},
			{`<check-header name="A" failed-check-httpcode="` + code + `" failed-check-error-message="m" ignore-case="true" />`,
				"policy.xml:1:66: failed-check-httpcode of <check-header>: " + interim},
			{`<validate-jwt header-name="A" failed-validation-httpcode="` + code + `">` + key + `</validate-jwt>`,
				"policy.xml:1:78: failed-validation-httpcode of <validate-jwt>: " + interim},
			{`<mock-response status-code="` + code + `" />`, "policy.xml:1:48: " + interim},
		} {
			_, err := sideCompile(t, policies.Deps{}, "<policies><inbound>"+tt.policy+"</inbound></policies>")
			if err == nil || err.Error() != tt.want {
				t.Errorf("%s:\n got %v\nwant %s", tt.policy, err, tt.want)
			}
		}
	}
	for _, code := range []string{"200", "204", "999"} {
		if _, err := sideCompile(t, policies.Deps{}, `<policies><inbound><set-status code="`+code+`" /><mock-response status-code="`+code+`" /></inbound></policies>`); err != nil {
			t.Errorf("code %s: %v", code, err)
		}
	}
}
