package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// echoBackend answers every request with the method, path and headers it
// received as JSON: whatever reaches a backend (the managed identity token, a
// key a policy puts back, a secret named value) comes back in the body, for
// the console to cut out. It remembers the last Authorization it got.
type echoBackend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func newEchoBackend(t *testing.T) *echoBackend {
	b := &echoBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		b.mu.Lock()
		b.auth = append(b.auth, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend-Saw-Key", r.Header.Get("X-Echo-Key"))
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// tokens are the managed identity tokens the backend received.
func (b *echoBackend) tokens() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.auth)
}

// Secrets of consoleConfig that no console response may hold.
const (
	consoleSecretValue = "nv-console-s3cret"
	consoleShopKey     = "shop-console-primary-key"
	consoleShopKey2    = "shop-console-secondary-key"
)

// consoleConfig is a sample configuration for the console: an API "orders"
// behind a managed identity, in product "shop" (with a product policy), whose
// backend is a pool of two members with circuit breakers; an API "status"
// that needs no key; a secret named value; and the console on listen with
// the lastmile.yaml lines in consoleYAML.
func consoleConfig(backend, listen, consoleYAML string) map[string]string {
	return map[string]string{
		"lastmile.yaml": `identity:
  resources:
    - id: api://orders
      roles: [Orders.Read]
      assignments:
        system: [Orders.Read]
    - id: api://lastmile-console
      roles: [Console.Admin]
      assignments:
        ops: [Console.Admin]
  applications:
    - name: ops
      clientId: 5d2f4a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b
      secretHashes: ["` + consoleOpsSecretHash + `"]
    - name: reader
      clientId: 6e3a5b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c
      secretHashes: ["` + consoleReaderSecretHash + `"]
listeners:
  console: "` + listen + `"
` + consoleYAML,
		"policy.xml": `<policies>
	<inbound>
		<set-header name="X-Gateway" exists-action="override"><value>lastmile</value></set-header>
	</inbound>
	<backend><forward-request /></backend>
	<outbound />
	<on-error />
</policies>`,
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"displayName":"Orders","path":"orders","serviceUrl":%q,"subscriptionRequired":true}}`, backend+"/orders"),
		"apis/orders/specification.yaml": `openapi: 3.0.1
info: {title: orders, version: "1"}
paths:
  /{id}:
    get:
      operationId: get-order
      summary: Get an order
      responses: {"200": {description: ok}}
`,
		"apis/orders/policy.xml": `<policies>
	<inbound>
		<base />
		<set-header name="X-Api-Key" exists-action="override"><value>{{backend-key}}</value></set-header>
		<set-header name="X-Echo-Key" exists-action="override"><value>@(context.Subscription.Key)</value></set-header>
		<authentication-managed-identity resource="api://orders" />
		<set-backend-service backend-id="orders-pool" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
		"apis/orders/operations/get-order/policy.xml": `<policies>
	<inbound>
		<base />
		<set-variable name="order" value="@(context.Request.MatchedParameters[&quot;id&quot;])" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
		"apis/status/policy.xml": `<policies>
	<inbound>
		<base />
		<check-header name="X-Probe" failed-check-httpcode="400" failed-check-error-message="X-Probe is required" ignore-case="true" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error>
		<base />
		<set-header name="X-On-Error" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
	</on-error>
</policies>`,
		"apis/status/apiInformation.json":                      fmt.Sprintf(`{"properties":{"path":"status","serviceUrl":%q,"subscriptionRequired":false}}`, backend+"/status"),
		"named values/backend-key/namedValueInformation.json":  `{"properties":{"displayName":"backend-key","value":"` + consoleSecretValue + `","secret":true}}`,
		"products/shop/productInformation.json":                `{"properties":{"displayName":"Shop","state":"published","subscriptionRequired":true}}`,
		"products/shop/apis/orders/productApiInformation.json": `{}`,
		"products/shop/apis/ghost/productApiInformation.json":  `{}`, // a warning: no such API
		"products/shop/policy.xml": `<policies>
	<inbound>
		<base />
		<set-header name="X-Product" exists-action="override"><value>shop</value></set-header>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
		"subscriptions/shop/subscriptionInformation.json": `{"properties":{"displayName":"Shop","scope":"/products/shop","state":"active","primaryKey":"` + consoleShopKey + `","secondaryKey":"` + consoleShopKey2 + `"}}`,
		"backends/orders-a/backendInformation.json":       fmt.Sprintf(`{"properties":{"url":%q,"protocol":"http","circuitBreaker":{"rules":[{"failureCondition":{"count":3,"interval":"PT1M","statusCodeRanges":[{"min":500,"max":599}]},"tripDuration":"PT1M"}]}}}`, backend+"/orders"),
		"backends/orders-b/backendInformation.json":       fmt.Sprintf(`{"properties":{"url":%q,"protocol":"http"}}`, backend+"/orders"),
		"backends/orders-pool/backendInformation.json":    `{"properties":{"type":"Pool","pool":{"services":[{"id":"/backends/orders-a","priority":1,"weight":3},{"id":"/backends/orders-b","priority":2,"weight":1}]}}}`,
	}
}

// The console applications' secrets: ops is assigned Console.Admin, reader
// is not.
var (
	consoleOpsSecret, consoleOpsSecretHash       = directory.NewClientSecret()
	consoleReaderSecret, consoleReaderSecretHash = directory.NewClientSecret()
)

// startConsole starts a server from files and returns it with a client of
// its console.
func startConsole(t *testing.T, files map[string]string) (*server.Server, *consoleClient) {
	t.Helper()
	cfgDir, stateDir := t.TempDir(), t.TempDir()
	writeFiles(t, cfgDir, files)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{ConfigDir: cfgDir, StateDir: stateDir,
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Expr: policies.Expressions})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, &consoleClient{t: t, base: s.ConsoleURL(), cfgDir: cfgDir, stateDir: stateDir}
}

// consoleClient calls the console's JSON API and keeps every body it got,
// for the test that none holds a secret.
type consoleClient struct {
	t      *testing.T
	base   string
	token  string
	cfgDir string
	// stateDir holds the signing keys.
	stateDir string
	bodies   []string
}

func (c *consoleClient) do(method, path string, body any, header http.Header) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	c.bodies = append(c.bodies, string(data))
	for k, vs := range resp.Header {
		c.bodies = append(c.bodies, k+": "+strings.Join(vs, ", "))
	}
	return resp.StatusCode, data
}

// get calls GET path and decodes the answer into v, failing unless it is 200.
func (c *consoleClient) get(path string, v any) {
	c.t.Helper()
	status, data := c.do(http.MethodGet, path, nil, nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, status, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		c.t.Fatalf("GET %s: %v: %s", path, err, data)
	}
}

type tryResult struct {
	Status    int
	Body      string
	BodyBytes int64
	Headers   []struct{ Name, Value string }
	Trace     struct {
		RequestID    string
		TraceEntries map[string][]struct {
			Source string
			Policy *struct {
				Name, Scope, File string
				Line              int
			}
			Data map[string]any
		}
		Response struct{ Status int }
	}
}

func (c *consoleClient) try(req map[string]any) tryResult {
	c.t.Helper()
	status, data := c.do(http.MethodPost, "/api/try", req, nil)
	if status != http.StatusOK {
		c.t.Fatalf("POST /api/try: %d %s", status, data)
	}
	var r tryResult
	if err := json.Unmarshal(data, &r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// tokenOutcomes are the managed identity token outcomes of a trace.
func (r tryResult) tokenOutcomes() []string {
	var out []string
	for _, e := range r.Trace.TraceEntries["inbound"] {
		if e.Source != "authentication-managed-identity" {
			continue
		}
		toks, _ := e.Data["tokens"].([]any)
		for _, tk := range toks {
			m, _ := tk.(map[string]any)
			out = append(out, fmt.Sprint(m["outcome"]))
		}
	}
	return out
}

// checkNoSecrets fails for every body and header the client got that holds
// one of secrets.
func (c *consoleClient) checkNoSecrets(secrets ...string) {
	c.t.Helper()
	for _, body := range c.bodies {
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				c.t.Errorf("a console response holds a secret or token %.12q...: %.300s", s, body)
			}
		}
	}
}

// privateKeyParts are the private parts of the signing keys in the state
// directory's key file, as JSON values: none may appear in a response.
func privateKeyParts(t *testing.T, stateDir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(stateDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(p)
		var v any
		if json.Unmarshal(data, &v) != nil {
			return nil
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if s, ok := x.(string); ok && (k == "d" || k == "p" || k == "q" || strings.Contains(strings.ToLower(k), "private")) && len(s) > 16 {
						out = append(out, s)
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(v)
		return nil
	})
	return out
}

// TestConsoleAPI drives the console's JSON API through the real server on a
// loopback listener: the APIs of the sample configuration, an operation's
// effective policy with each policy's origin, the backends and their
// breakers, "Try it" on the managed identity operation (the token issued,
// then from the cache), the live traffic, the identity plane and the
// validation after a failed reload; and no response holds a subscription
// key, the secret named value, a managed identity token or a private key.
func TestConsoleAPI(t *testing.T) {
	backend := newEchoBackend(t)
	s, c := startConsole(t, consoleConfig(backend.srv.URL, "127.0.0.1:0", ""))

	var apis []struct {
		ID, Name, Path       string
		SubscriptionRequired bool
		Products             []struct{ ID string }
		Backends             []string
		Operations           []struct {
			ID, Method, URLTemplate string
			Contexts, Backends      []string
		}
	}
	c.get("/api/apis", &apis)
	if len(apis) != 2 {
		t.Fatalf("%d APIs, want orders and status: %+v", len(apis), apis)
	}
	orders := apis[0]
	if orders.ID != "orders" || orders.Name != "Orders" || orders.Path != "orders" || !orders.SubscriptionRequired ||
		len(orders.Products) != 1 || orders.Products[0].ID != "shop" || !slices.Equal(orders.Backends, []string{"orders-pool"}) {
		t.Errorf("orders = %+v", orders)
	}
	if len(orders.Operations) != 1 || orders.Operations[0].ID != "get-order" || orders.Operations[0].URLTemplate != "/{id}" ||
		!slices.Equal(orders.Operations[0].Contexts, []string{"", "shop"}) {
		t.Errorf("orders' operations = %+v", orders.Operations)
	}

	// The effective policy in product shop's context: global, product, API
	// and operation policies spliced at <base/>, each with its origin.
	var pol struct {
		Product  string
		Sections map[string][]struct {
			Name, Scope, File, Source string
			Line                      int
		}
		Document string
	}
	c.get("/api/apis/orders/operations/get-order/policy?product=shop", &pol)
	type origin struct {
		Name, Scope, File string
		Line              int
	}
	var got []origin
	for _, st := range pol.Sections["inbound"] {
		got = append(got, origin{st.Name, st.Scope, st.File, st.Line})
	}
	want := []origin{
		{"set-header", "global", "policy.xml", 3},
		{"set-header", "product", "products/shop/policy.xml", 4},
		{"set-header", "api", "apis/orders/policy.xml", 4},
		{"set-header", "api", "apis/orders/policy.xml", 5},
		{"authentication-managed-identity", "api", "apis/orders/policy.xml", 6},
		{"set-backend-service", "api", "apis/orders/policy.xml", 7},
		{"set-variable", "operation", "apis/orders/operations/get-order/policy.xml", 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("effective inbound policy (-want +got):\n%s", diff)
	}
	if len(pol.Sections["inbound"]) > 2 && !strings.Contains(pol.Sections["inbound"][2].Source, "{{backend-key}}") {
		t.Errorf("a policy's source shows the named value, not its reference: %s", pol.Sections["inbound"][2].Source)
	}
	for _, s := range []string{"<!-- product: products/shop/policy.xml:4 -->", "<!-- operation: apis/orders/operations/get-order/policy.xml:4 -->", "<forward-request />"} {
		if !strings.Contains(pol.Document, s) {
			t.Errorf("the composed document lacks %q:\n%s", s, pol.Document)
		}
	}
	var noProduct struct{ Product string }
	c.get("/api/apis/orders/operations/get-order/policy?product=", &noProduct)
	if status, _ := c.do(http.MethodGet, "/api/apis/orders/operations/get-order/policy?product=nope", nil, nil); status != http.StatusNotFound {
		t.Errorf("the policy in an unknown product's context: %d, want 404", status)
	}

	var backends []struct {
		ID, URL        string
		CircuitBreaker *struct {
			Open  bool
			Trips int
		}
		Pool []struct {
			ID               string
			Priority, Weight int
			CircuitBreaker   *struct{ Open bool }
		}
	}
	c.get("/api/backends", &backends)
	if len(backends) != 3 || backends[0].ID != "orders-a" || backends[0].CircuitBreaker == nil || backends[0].CircuitBreaker.Open ||
		backends[2].ID != "orders-pool" || len(backends[2].Pool) != 2 || backends[2].Pool[0].ID != "orders-a" || backends[2].Pool[0].Weight != 3 ||
		backends[2].Pool[0].CircuitBreaker == nil || backends[2].Pool[1].CircuitBreaker != nil {
		t.Errorf("backends = %+v", backends)
	}

	var subs []map[string]any
	c.get("/api/subscriptions", &subs)
	if len(subs) != 1 || subs[0]["id"] != "shop" || subs[0]["scope"] != "/products/shop" {
		t.Errorf("subscriptions = %v", subs)
	}

	// Try it, twice: the first request waits for the token (issued), the
	// second gets it from the cache (hit).
	req := map[string]any{"api": "orders", "subscription": "shop", "method": "GET", "path": "/orders/42",
		"headers": []map[string]string{{"name": "Accept", "value": "application/json"}}}
	first, second := c.try(req), c.try(req)
	if first.Status != 200 || first.Trace.Response.Status != 200 {
		t.Fatalf("try: status %d, trace status %d: %s", first.Status, first.Trace.Response.Status, first.Body)
	}
	if diff := cmp.Diff([]string{"issued"}, first.tokenOutcomes()); diff != "" {
		t.Errorf("first try's token outcome (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"hit"}, second.tokenOutcomes()); diff != "" {
		t.Errorf("second try's token outcome (-want +got):\n%s", diff)
	}
	if !strings.Contains(first.Body, `"/orders/42"`) || !strings.Contains(first.Body, "[redacted]") {
		t.Errorf("try's body is not the backend's echo with the credentials cut out: %s", first.Body)
	}
	if first.Trace.RequestID == "" {
		t.Errorf("try's trace has no request id")
	}
	// A policy that fails: on-error runs, and the trace has context.LastError.
	status, data := c.do(http.MethodPost, "/api/try", map[string]any{"method": "GET", "path": "/status/up"}, nil)
	var failed struct {
		Status  int
		Headers []struct{ Name, Value string }
		Trace   struct {
			TraceEntries map[string][]struct{ Source string }
			LastError    *struct{ Source, Reason, Message, Section string }
		}
	}
	if err := json.Unmarshal(data, &failed); err != nil || status != 200 {
		t.Fatalf("try: %d %s", status, data)
	}
	le := failed.Trace.LastError
	if failed.Status != 400 || le == nil || le.Source != "check-header" || le.Section != "inbound" ||
		len(failed.Trace.TraceEntries["on-error"]) == 0 || failed.Trace.TraceEntries["on-error"][0].Source != "set-header" {
		t.Fatalf("try of a failing policy: status %d, lastError %+v, on-error %+v", failed.Status, le, failed.Trace.TraceEntries["on-error"])
	}
	if !slices.Contains(failed.Headers, struct{ Name, Value string }{"X-On-Error", le.Reason}) {
		t.Errorf("on-error's header is not in the response: %+v", failed.Headers)
	}
	// Without a key, the API refuses as it would any client.
	if r := c.try(map[string]any{"method": "GET", "path": "/orders/42"}); r.Status != 401 {
		t.Errorf("try without a key: %d, want 401", r.Status)
	}
	// A request a client sends directly counts in the live traffic as well.
	if resp, err := http.Get(s.GatewayURL() + "/status/up"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	var traffic struct {
		Recent []struct {
			API, Operation, Path string
			Status               int
			DurationMs           float64
		}
		APIs []struct {
			API    string
			Points []struct{ Requests int }
			Total  struct {
				Requests, Errors4xx, Errors5xx int
				P50Ms, P99Ms                   float64
			}
		}
	}
	c.get("/api/traffic", &traffic)
	if len(traffic.Recent) != 5 || traffic.Recent[0].API != "status" || traffic.Recent[1].Status != 401 || traffic.Recent[2].Status != 400 ||
		traffic.Recent[4].Path != "/orders/42" || traffic.Recent[4].Operation != "get-order" || traffic.Recent[4].DurationMs <= 0 {
		t.Errorf("recent requests = %+v", traffic.Recent)
	}
	var ordersTraffic = -1
	for i, a := range traffic.APIs {
		if a.API == "orders" {
			ordersTraffic = i
		}
	}
	if ordersTraffic < 0 {
		t.Fatalf("no series for orders: %+v", traffic.APIs)
	}
	if tot := traffic.APIs[ordersTraffic].Total; tot.Requests != 3 || tot.Errors4xx != 1 || tot.Errors5xx != 0 || tot.P50Ms <= 0 || tot.P99Ms < tot.P50Ms {
		t.Errorf("orders' traffic totals = %+v", tot)
	}

	var id struct {
		Issuer     string
		Identities []struct {
			Name           string
			SystemAssigned bool
		}
		Resources []struct {
			ID          string
			Assignments []struct {
				Identity string
				Roles    []string
			}
		}
		TokenCache []struct {
			ClientID, Resource, State string
			HasToken                  bool
			ExpiresAt, NextRefresh    *time.Time
		}
		SigningKeys []struct{ Kid, Alg, State string }
		KeySchedule struct {
			RotationPeriod string
			NextChange     *time.Time
		}
		RecentIssuance []struct{ Grant, Resource, Kid, Error string }
	}
	c.get("/api/identity", &id)
	if id.Issuer != s.Issuer() || len(id.Identities) != 1 || !id.Identities[0].SystemAssigned || len(id.Resources) != 2 ||
		id.Resources[0].Assignments[0].Identity != "system" {
		t.Errorf("identity: issuer %q, identities %+v, resources %+v", id.Issuer, id.Identities, id.Resources)
	}
	if len(id.TokenCache) != 1 || id.TokenCache[0].Resource != "api://orders" || id.TokenCache[0].State != "fresh" || !id.TokenCache[0].HasToken ||
		id.TokenCache[0].ExpiresAt == nil || id.TokenCache[0].NextRefresh == nil || !id.TokenCache[0].NextRefresh.Before(*id.TokenCache[0].ExpiresAt) {
		t.Errorf("token cache = %+v", id.TokenCache)
	}
	if len(id.SigningKeys) == 0 || id.SigningKeys[0].State != "current" || id.KeySchedule.NextChange == nil {
		t.Errorf("signing keys %+v, schedule %+v", id.SigningKeys, id.KeySchedule)
	}
	if len(id.RecentIssuance) != 1 || id.RecentIssuance[0].Resource != "api://orders" || id.RecentIssuance[0].Kid == "" {
		t.Errorf("recent issuance = %+v, want the one token of the first try", id.RecentIssuance)
	}

	// A reload that fails leaves the old configuration serving; validation
	// says what to fix, where.
	type problem struct {
		File, Message string
		Line, Column  int
	}
	var val struct {
		Errors, Warnings []problem
		LastReload       *struct{ OK bool }
	}
	c.get("/api/validation", &val)
	if len(val.Errors) != 0 || val.LastReload != nil || len(val.Warnings) != 1 || !strings.HasPrefix(val.Warnings[0].File, "products/shop") ||
		!strings.Contains(val.Warnings[0].Message, `"ghost"`) {
		t.Errorf("validation before any reload = %+v", val)
	}
	writeFiles(t, c.cfgDir, map[string]string{"apis/orders/policy.xml": "<policies><inbound><base /><no-such-policy /></inbound></policies>"})
	if _, err := s.Reload(t.Context()); err == nil {
		t.Fatal("the reload of a broken policy succeeded")
	}
	c.get("/api/validation", &val)
	if val.LastReload == nil || val.LastReload.OK || len(val.Errors) != 1 || val.Errors[0].File != "apis/orders/policy.xml" ||
		val.Errors[0].Line != 1 || val.Errors[0].Column != 28 || !strings.Contains(val.Errors[0].Message, "no-such-policy") {
		t.Errorf("validation after a failed reload = %+v", val)
	}

	toks := backend.tokens()
	if len(toks) < 2 || toks[0] == "" {
		t.Fatalf("the backend got no managed identity token: %q", toks)
	}
	c.checkNoSecrets(append([]string{consoleShopKey, consoleShopKey2, consoleSecretValue, toks[0], toks[1]},
		privateKeyParts(t, c.stateDir)...)...)
}

// consoleEndpoints are every call of the JSON API, with a body for POST.
var consoleEndpoints = []struct {
	method, path string
	body         any
}{
	{"GET", "/api/overview", nil},
	{"GET", "/api/apis", nil},
	{"GET", "/api/apis/orders", nil},
	{"GET", "/api/apis/orders/operations/get-order/policy", nil},
	{"GET", "/api/backends", nil},
	{"GET", "/api/subscriptions", nil},
	{"GET", "/api/traffic", nil},
	{"GET", "/api/identity", nil},
	{"GET", "/api/validation", nil},
	{"POST", "/api/try", map[string]any{"api": "orders", "subscription": "shop", "method": "GET", "path": "/orders/1"}},
}

// clientToken gets a token from lastmile's token endpoint with the client
// credentials of an application, as a script would.
func clientToken(t *testing.T, s *server.Server, clientID, secret, resource string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: s.Provider().TokenURL(), Scopes: []string{resource + "/.default"}}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("token for %s: %v", clientID, err)
	}
	return tok.AccessToken
}

// TestConsoleAuthentication starts the console on every address (0.0.0.0):
// every call of the JSON API, "Try it" too, is refused with 401 without a
// token and with tokens that are not for the console's audience, lack its
// role, come from another issuer or are not tokens at all; a token that
// lastmile's issuer minted for an application assigned the role, or one of
// the OIDC issuer's with the role, opens it. No answer repeats a token.
func TestConsoleAuthentication(t *testing.T) {
	backend := newEchoBackend(t)
	iss := newTestIssuer(t)
	s, c := startConsole(t, consoleConfig(backend.srv.URL, "0.0.0.0:0", `console:
  auth:
    lastmile:
      audience: api://lastmile-console
      role: Console.Admin
    oidc:
      issuer: `+iss.srv.URL+`
      audience: api://console
      role: Console.Admin
`))
	ops := clientToken(t, s, "5d2f4a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b", consoleOpsSecret, "api://lastmile-console")
	reader := clientToken(t, s, "6e3a5b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c", consoleReaderSecret, "api://lastmile-console")
	opsOrders := clientToken(t, s, "5d2f4a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b", consoleOpsSecret, "api://orders")
	oidcClaims := func(aud string, roles ...string) jwt.MapClaims {
		return jwt.MapClaims{"iss": iss.srv.URL, "aud": aud, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "roles": roles}
	}
	oidcAdmin := iss.token(t, "k1", oidcClaims("api://console", "Console.Admin"))
	oidcExpired := iss.token(t, "k1", jwt.MapClaims{"iss": iss.srv.URL, "aud": "api://console", "exp": time.Now().Add(-time.Hour).Unix(), "roles": []string{"Console.Admin"}})
	none := jwt.NewWithClaims(jwt.SigningMethodNone, oidcClaims("api://console", "Console.Admin"))
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	refused := []struct{ name, token string }{
		{"no token", ""},
		{"not a JWT", "abc.def"},
		{"lastmile's token without the role", reader},
		{"lastmile's token for another audience", opsOrders},
		{"the OIDC issuer's token without the role", iss.token(t, "k1", oidcClaims("api://console", "Orders.Read"))},
		{"the OIDC issuer's token for lastmile's audience", iss.token(t, "k1", oidcClaims("api://lastmile-console", "Console.Admin"))},
		{"an expired token", oidcExpired},
		{"a token signed by an unknown key", iss.token(t, "unknown", oidcClaims("api://console", "Console.Admin"))},
		{"an unsigned token", noneTok},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c.token = tc.token
			for _, e := range consoleEndpoints {
				status, body := c.do(e.method, e.path, e.body, nil)
				if status != http.StatusUnauthorized {
					t.Errorf("%s %s: %d, want 401: %s", e.method, e.path, status, body)
				}
			}
		})
	}
	for _, tc := range []struct{ name, token string }{{"lastmile's token with the role", ops}, {"the OIDC issuer's token with the role", oidcAdmin}} {
		t.Run(tc.name, func(t *testing.T) {
			c.token = tc.token
			for _, e := range consoleEndpoints {
				if status, body := c.do(e.method, e.path, e.body, nil); status != http.StatusOK {
					t.Errorf("%s %s: %d, want 200: %s", e.method, e.path, status, body)
				}
			}
		})
	}
	// The front end's files hold no data: a browser loads them first, then
	// asks for a token.
	c.token = ""
	if status, body := c.do("GET", "/", nil, nil); status != http.StatusOK || !strings.Contains(string(body), "<title>") {
		t.Errorf("GET /: %d %.100s", status, body)
	}
	c.checkNoSecrets(ops, reader, opsOrders, oidcAdmin, consoleShopKey, consoleShopKey2, consoleSecretValue)
}

// TestConsoleRefusals: without authentication the console answers only
// requests for a loopback name (a page that rebinds its own name to
// 127.0.0.1 is refused) and only JSON POSTs from its own origin; "Try it"
// sends only what a client could send.
func TestConsoleRefusals(t *testing.T) {
	backend := newEchoBackend(t)
	_, c := startConsole(t, consoleConfig(backend.srv.URL, "127.0.0.1:0", ""))
	try := func(req map[string]any) (int, string) {
		status, body := c.do("POST", "/api/try", req, nil)
		return status, string(body)
	}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		body   any
		want   int
	}{
		{"a rebound host name", "GET", http.Header{"Host": {"attacker.example:80"}}, nil, http.StatusMisdirectedRequest},
		{"localhost", "GET", http.Header{"Host": {"localhost"}}, nil, http.StatusOK},
		{"a cross-origin POST", "POST", http.Header{"Origin": {"http://attacker.example"}}, map[string]any{"path": "/orders/1"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, c.base+"/api/apis", nil)
			if tc.method == "POST" {
				data, _ := json.Marshal(tc.body)
				req, _ = http.NewRequest("POST", c.base+"/api/try", bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tc.header {
				if k == "Host" {
					req.Host = v[0]
				}
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	t.Run("a POST that is not JSON", func(t *testing.T) {
		resp, err := http.Post(c.base+"/api/try", "text/plain", strings.NewReader(`{"path":"/orders/1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.StatusCode)
		}
	})
	for _, tc := range []struct {
		name string
		req  map[string]any
		want int
	}{
		{"a method with a space", map[string]any{"method": "GE T", "path": "/orders/1"}, 400},
		{"CONNECT", map[string]any{"method": "CONNECT", "path": "/orders/1"}, 400},
		{"a path without /", map[string]any{"path": "orders/1"}, 400},
		{"an absolute URL", map[string]any{"path": "http://169.254.169.254/latest"}, 400},
		{"a path with a line break", map[string]any{"path": "/orders/1\r\nX-Injected: 1"}, 400},
		{"a header with a line break", map[string]any{"path": "/orders/1", "headers": []map[string]string{{"name": "X-A", "value": "1\r\nX-B: 2"}}}, 400},
		{"a header name with a colon", map[string]any{"path": "/orders/1", "headers": []map[string]string{{"name": "X:A", "value": "1"}}}, 400},
		{"a Host header", map[string]any{"path": "/orders/1", "headers": []map[string]string{{"name": "Host", "value": "internal"}}}, 400},
		{"a Transfer-Encoding header", map[string]any{"path": "/orders/1", "headers": []map[string]string{{"name": "Transfer-Encoding", "value": "chunked"}}}, 400},
		{"an unknown subscription", map[string]any{"path": "/orders/1", "subscription": "nope"}, 400},
		{"an unknown field", map[string]any{"path": "/orders/1", "url": "http://x"}, 400},
		{"a body over 1 MiB", map[string]any{"method": "POST", "path": "/orders/1", "body": strings.Repeat("a", 1<<20+1)}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := try(tc.req); status != tc.want {
				t.Errorf("status %d, want %d: %s", status, tc.want, body)
			}
		})
	}
	if status, body := c.do("GET", "/api/nothing", nil, nil); status != 404 || !strings.Contains(string(body), "docs/console.md") {
		t.Errorf("an unknown call: %d %s", status, body)
	}
}
