package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
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

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// writeFiles writes files (slash-separated relative paths) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyingBackend is a backend that checks each request's bearer token the way a
// real API would, with golang-jwt (an independent JOSE implementation) and keys
// fetched through the issuer's discovery document and JWKS.
type verifyingBackend struct {
	t        testing.TB
	srv      *httptest.Server
	issuer   string
	audience string

	mu       sync.Mutex
	requests []received
}

type received struct {
	Path, Query string
	Header      http.Header
	Claims      jwt.MapClaims // nil when there was no token
	Err         string        // why the token was rejected
	Kid         string
}

func newVerifyingBackend(t testing.TB, audience string) *verifyingBackend {
	b := &verifyingBackend{t: t, audience: audience}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *verifyingBackend) serve(w http.ResponseWriter, r *http.Request) {
	rec := received{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		claims, kid, err := b.verify(raw)
		rec.Claims, rec.Kid = claims, kid
		if err != nil {
			rec.Err = err.Error()
		}
	}
	b.mu.Lock()
	b.requests = append(b.requests, rec)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", "yes")
	fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
}

func (b *verifyingBackend) last(t *testing.T) received {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Fatal("the backend received no request")
	}
	return b.requests[len(b.requests)-1]
}

func (b *verifyingBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.requests)
}

// verify checks signature, iss, aud and exp, and returns the claims and kid.
func (b *verifyingBackend) verify(raw string) (jwt.MapClaims, string, error) {
	keys, err := fetchKeys(b.issuer)
	if err != nil {
		return nil, "", err
	}
	var kid string
	tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
		kid, _ = tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(b.issuer), jwt.WithAudience(b.audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return nil, kid, err
	}
	if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
		return nil, kid, fmt.Errorf("typ %q, want at+jwt", typ)
	}
	return tok.Claims.(jwt.MapClaims), kid, nil
}

// fetchKeys follows discovery to the JWKS and decodes its P-256 keys by hand.
func fetchKeys(issuer string) (map[string]*ecdsa.PublicKey, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(issuer+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != issuer {
		return nil, fmt.Errorf("discovery issuer %q, want %q", disc.Issuer, issuer)
	}
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X, Y, Use, Alg string }
	}
	if err := getJSON(disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad JWK %s", k.Kid)
		}
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("bad JWK %s: %w", k.Kid, err)
		}
		keys[k.Kid] = key
	}
	return keys, nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

const reportingClientID = "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11"

// testConfig is an APIOps folder exercising identities, products and subscriptions.
func testConfig(backendURL string) map[string]string {
	api := func(path string, required bool) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":%t,"protocols":["http","https"]}}`, path, backendURL+"/"+path, required)
	}
	policy := func(inbound, onError string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base />` + onError + `</on-error></policies>`
	}
	return map[string]string{
		"lastmile.yaml": `identity:
  userAssignedIdentities:
    - name: reporting
      clientId: ` + reportingClientID + `
  resources:
    - id: api://orders
      roles: [Orders.Read, Orders.Write]
      assignments:
        system: [Orders.Read]
        reporting: [Orders.Read, Orders.Write]
`,
		"apis/orders/apiInformation.json": api("orders", true),
		"apis/orders/specification.yaml": `openapi: 3.0.1
info: {title: orders, version: "1"}
paths:
  /{id}:
    get:
      operationId: get-order
      responses: {"200": {description: ok}}
`,
		"apis/orders/policy.xml":           policy(`<authentication-managed-identity resource="api://orders/" />`, ""),
		"apis/reports/apiInformation.json": api("reports", true),
		"apis/reports/policy.xml":          policy(`<authentication-managed-identity resource="api://orders" client-id="`+reportingClientID+`" />`, ""),
		"apis/unknown/apiInformation.json": api("unknown", false),
		"apis/unknown/policy.xml":          policy(`<authentication-managed-identity resource="api://not-registered" />`, `<set-header name="X-On-Error" exists-action="override"><value>ran</value></set-header>`),
		"apis/lenient/apiInformation.json": api("lenient", false),
		"apis/lenient/policy.xml":          policy(`<authentication-managed-identity resource="api://not-registered" ignore-error="true" />`, ""),
		"apis/other/apiInformation.json":   api("other", true),
		"apis/pattern/apiInformation.json": api("pattern", false),
		"apis/pattern/policy.xml": policy(`<authentication-managed-identity resource="api://orders" output-token-variable-name="msi-access-token" ignore-error="false" />
			<set-header name="Authorization" exists-action="override"><value>@("Bearer " + (string)context.Variables["msi-access-token"])</value></set-header>`, ""),
		"products/shop/productInformation.json":                 `{"properties":{"displayName":"Shop","state":"published","subscriptionRequired":true}}`,
		"products/shop/apis/orders/productApiInformation.json":  `{}`,
		"products/shop/apis/reports/productApiInformation.json": `{}`,
		"subscriptions/shop/subscriptionInformation.json":       `{"properties":{"displayName":"Shop","scope":"/products/shop","state":"active","primaryKey":"shop-primary-key","secondaryKey":"shop-secondary-key"}}`,
		"subscriptions/only-other/subscriptionInformation.json": `{"properties":{"scope":"/apis/other","state":"active","primaryKey":"other-key","secondaryKey":"other-key-2"}}`,
		"subscriptions/suspended/subscriptionInformation.json":  `{"properties":{"scope":"/apis","state":"suspended","primaryKey":"suspended-key","secondaryKey":"suspended-key-2"}}`,
		"subscriptions/generated/subscriptionInformation.json":  `{"properties":{"scope":"/apis","state":"active"}}`,
		"subscriptions/no-state/subscriptionInformation.json":   `{"properties":{"scope":"/apis","primaryKey":"no-state-key"}}`,
	}
}

type env struct {
	srv     *server.Server
	backend *verifyingBackend
	cancel  context.CancelFunc
	done    chan error
}

func start(t testing.TB, configDir, stateDir string, backend *verifyingBackend) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{
		ConfigDir: configDir, StateDir: stateDir,
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Expr:   policies.Expressions,
	})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	backend.issuer = s.Issuer()
	e := &env{srv: s, backend: backend, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- s.Serve(ctx) }()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

func (e *env) get(t *testing.T, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.GatewayURL()+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func key(k string) http.Header { return http.Header{"Ocp-Apim-Subscription-Key": {k}} }

func TestManagedIdentityEndToEnd(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, testConfig(backend.srv.URL))
	e := start(t, cfgDir, t.TempDir(), backend)
	sys := e.srv.Provider().SystemIdentity()

	t.Run("system-assigned identity", func(t *testing.T) {
		status, h, body := e.get(t, "/orders/42", key("shop-primary-key"))
		if status != 200 || h.Get("X-Backend") != "yes" {
			t.Fatalf("status %d, body %s", status, body)
		}
		got := backend.last(t)
		if got.Err != "" || got.Claims == nil {
			t.Fatalf("backend could not verify the token: %q", got.Err)
		}
		c := got.Claims
		checks := map[string]any{"iss": e.srv.Issuer(), "aud": "api://orders", "oid": sys.ObjectID, "sub": sys.ObjectID,
			"appid": sys.ClientID, "azp": sys.ClientID, "client_id": sys.ClientID, "tid": e.srv.Provider().TenantID()}
		for claim, want := range checks {
			if c[claim] != want {
				t.Errorf("claim %s = %v, want %v", claim, c[claim], want)
			}
		}
		if roles := c["roles"]; fmt.Sprint(roles) != "[Orders.Read]" {
			t.Errorf("roles = %v, want [Orders.Read]", roles)
		}
		exp, _ := c.GetExpirationTime()
		if d := time.Until(exp.Time); d <= 0 || d > time.Hour+time.Minute {
			t.Errorf("token expires in %s, want a short-lived token (about 1h)", d)
		}
		if got.Path != "/orders/42" || got.Header.Get("Ocp-Apim-Subscription-Key") != "" {
			t.Errorf("backend got path %q and key header %q", got.Path, got.Header.Get("Ocp-Apim-Subscription-Key"))
		}
		if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Proto") != "http" {
			t.Errorf("X-Forwarded-For %q, X-Forwarded-Proto %q", got.Header.Get("X-Forwarded-For"), got.Header.Get("X-Forwarded-Proto"))
		}
	})

	t.Run("user-assigned identity by client-id", func(t *testing.T) {
		status, _, body := e.get(t, "/reports/summary", key("shop-secondary-key"))
		if status != 200 {
			t.Fatalf("status %d, body %s", status, body)
		}
		got := backend.last(t)
		if got.Err != "" {
			t.Fatalf("token rejected: %s", got.Err)
		}
		var reporting string
		for _, id := range e.srv.Provider().Identities() {
			if id.Name == "reporting" {
				reporting = id.ObjectID
			}
		}
		if got.Claims["client_id"] != reportingClientID || got.Claims["oid"] != reporting || reporting == "" {
			t.Errorf("client_id %v oid %v, want %s %s", got.Claims["client_id"], got.Claims["oid"], reportingClientID, reporting)
		}
		roles := fmt.Sprint(got.Claims["roles"])
		if !strings.Contains(roles, "Orders.Read") || !strings.Contains(roles, "Orders.Write") {
			t.Errorf("roles = %s", roles)
		}
	})

	t.Run("token in a variable, header set by an expression", func(t *testing.T) {
		status, _, body := e.get(t, "/pattern/x", nil)
		if status != 200 {
			t.Fatalf("status %d, body %s", status, body)
		}
		got := backend.last(t)
		if got.Err != "" || got.Claims == nil || got.Claims["oid"] != sys.ObjectID {
			t.Errorf("backend verification: %q, claims %v", got.Err, got.Claims)
		}
	})

	t.Run("unregistered resource fails into on-error", func(t *testing.T) {
		before := backend.count()
		status, h, body := e.get(t, "/unknown/x", nil)
		if status != 500 {
			t.Errorf("status = %d, want 500", status)
		}
		if h.Get("X-On-Error") != "ran" {
			t.Errorf("on-error did not run")
		}
		if !strings.HasPrefix(body, `{"statusCode":500,"message":"Internal server error","activityId":"`) {
			t.Errorf("body = %s", body)
		}
		if backend.count() != before {
			t.Errorf("the request reached the backend")
		}
	})

	t.Run("ignore-error proceeds without a token", func(t *testing.T) {
		status, _, _ := e.get(t, "/lenient/x", nil)
		if status != 200 {
			t.Fatalf("status = %d", status)
		}
		if got := backend.last(t); got.Header.Get("Authorization") != "" {
			t.Errorf("Authorization = %q, want none", got.Header.Get("Authorization"))
		}
	})
}

func TestSubscriptionKeys(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, testConfig(backend.srv.URL))
	e := start(t, cfgDir, t.TempDir(), backend)
	var generated string
	for _, s := range e.srv.Snapshot().Subscriptions() {
		if s.Name == "generated" {
			generated = s.SecondaryKey
		}
	}
	if len(generated) != 32 {
		t.Fatalf("generated key %q, want 32 hex digits", generated)
	}
	const missing = `{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}`
	const invalid = `{"statusCode":401,"message":"Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}`
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantBody   string
	}{
		{"missing key", "/orders/1", nil, 401, missing},
		{"invalid key", "/orders/1", key("nope"), 401, invalid},
		{"secondary key", "/orders/1", key("shop-secondary-key"), 200, ""},
		{"key in the query", "/orders/1?subscription-key=shop-primary-key&x=1", nil, 200, ""},
		{"key scoped to another API", "/orders/1", key("other-key"), 401, invalid},
		{"key scoped to that API", "/other/anything", key("other-key-2"), 200, ""},
		{"suspended subscription", "/orders/1", key("suspended-key"), 401, invalid},
		{"subscription without a state: submitted", "/orders/1", key("no-state-key"), 401, invalid},
		{"generated all-APIs key", "/orders/1", key(generated), 200, ""},
		{"unknown path", "/nothing/here", nil, 404, `{"statusCode":404,"message":"Resource not found"}`},
		{"path matches, operation does not", "/orders/1/lines", key("shop-primary-key"), 404, `{"statusCode":404,"message":"Resource not found"}`},
		{"readiness", "/status-0123456789abcdef", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.get(t, tt.path, tt.header)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", body, tt.wantBody)
			}
		})
	}
	// The key never reaches the backend, in the header or the query.
	e.get(t, "/orders/7?subscription-key=shop-primary-key&x=1", nil)
	if got := backend.last(t); got.Query != "x=1" || got.Header.Get("Ocp-Apim-Subscription-Key") != "" {
		t.Errorf("backend query %q, key header %q", got.Query, got.Header.Get("Ocp-Apim-Subscription-Key"))
	}
}

func TestRestartKeepsIdentitiesAndKeys(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir, stateDir := t.TempDir(), filepath.Join(t.TempDir(), "state")
	writeFiles(t, cfgDir, testConfig(backend.srv.URL))

	type seen struct{ oid, kid, tid, generated string }
	observe := func() seen {
		e := start(t, cfgDir, stateDir, backend)
		defer e.stop()
		if status, _, body := e.get(t, "/orders/1", key("shop-primary-key")); status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		got := backend.last(t)
		if got.Err != "" {
			t.Fatalf("token rejected: %s", got.Err)
		}
		s := seen{oid: fmt.Sprint(got.Claims["oid"]), kid: got.Kid, tid: fmt.Sprint(got.Claims["tid"])}
		for _, sub := range e.srv.Snapshot().Subscriptions() {
			if sub.Name == "generated" {
				s.generated = sub.PrimaryKey
			}
		}
		return s
	}
	first := observe()
	second := observe()
	if first != second {
		t.Errorf("after a restart: %+v, before: %+v", second, first)
	}
	// The state directory is private.
	fi, err := os.Stat(stateDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	filepath.WalkDir(stateDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, _ := d.Info(); info.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", p, info.Mode().Perm())
			}
		}
		return nil
	})
	entries, _ := os.ReadDir(stateDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Contains(names, "subscription-keys.json") {
		t.Errorf("state files %v: no subscription-keys.json", names)
	}
}

func TestReload(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), backend)

	policy := filepath.Join(cfgDir, "apis", "other", "policy.xml")
	writeFiles(t, cfgDir, map[string]string{"apis/other/policy.xml": `<policies><inbound><base /></inbound><outbound><base />
		<set-header name="X-Version" exists-action="override"><value>2</value></set-header></outbound></policies>`})
	if _, h, _ := e.get(t, "/other/x", key("other-key")); h.Get("X-Version") != "" {
		t.Fatalf("the change applied before a reload")
	}
	if _, err := e.srv.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if status, h, _ := e.get(t, "/other/x", key("other-key")); status != 200 || h.Get("X-Version") != "2" {
		t.Errorf("after reload: status %d, X-Version %q, want 200 and 2", status, h.Get("X-Version"))
	}

	// A broken configuration is refused with its position, and the running one stays.
	os.WriteFile(policy, []byte("<policies><inbound><set-heder /></inbound></policies>"), 0o644)
	_, err := e.srv.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "policy.xml:1:20: unknown policy <set-heder>") {
		t.Errorf("Reload of a broken configuration: %v", err)
	}
	if status, h, _ := e.get(t, "/other/x", key("other-key")); status != 200 || h.Get("X-Version") != "2" {
		t.Errorf("after a failed reload: status %d, X-Version %q, want the previous configuration", status, h.Get("X-Version"))
	}
}

// TestStreaming shows that the gateway passes a streamed response on as it
// arrives: the client reads the first event while the backend is still waiting
// to send the second.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: two\n\n")
	}))
	defer sse.Close()
	defer close(release)
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	files["apis/other/apiInformation.json"] = fmt.Sprintf(`{"properties":{"path":"other","serviceUrl":%q,"subscriptionRequired":false}}`, sse.URL)
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), backend)

	resp, err := http.Get(e.srv.GatewayURL() + "/other/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("data: one\n\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "data: one\n\n" {
		t.Fatalf("first event: %q, %v", buf, err)
	}
	release <- struct{}{}
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "data: two\n\n" {
		t.Errorf("second event: %q", rest)
	}
}

// TestRedisStore starts the server with store: redis, a real redis-server, and
// refuses to start when Redis cannot be reached.
func TestRedisStore(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	files["lastmile.yaml"] += redisStore(t, addr)
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), backend)
	if status, _, body := e.get(t, "/orders/1", key("shop-primary-key")); status != 200 {
		t.Errorf("status %d: %s", status, body)
	}

	files["lastmile.yaml"] = strings.Replace(files["lastmile.yaml"], addr, "127.0.0.1:1", 1)
	writeFiles(t, cfgDir, files)
	_, err := server.New(context.Background(), server.Options{ConfigDir: cfgDir, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Expr: policies.Expressions})
	if err == nil || !strings.Contains(err.Error(), "store: redis at 127.0.0.1:1") {
		t.Errorf("an unreachable Redis: %v", err)
	}
}

// TestMetrics scrapes the Prometheus endpoint after a few requests.
func TestMetrics(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	files["lastmile.yaml"] += "listeners:\n  metrics: 127.0.0.1:0\n"
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), backend)
	e.get(t, "/orders/1", key("shop-primary-key"))
	e.get(t, "/orders/2", key("shop-primary-key"))
	e.get(t, "/orders/3", nil)
	e.get(t, "/unknown/x", nil)
	e.get(t, "/nowhere", nil)
	if e.srv.MetricsURL() == "" {
		t.Fatal("no metrics listener")
	}
	resp, err := http.Get(e.srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`lastmile_requests_total{api="orders",code="200",operation="get-order"} 2`,
		`lastmile_requests_total{api="orders",code="401",operation="get-order"} 1`,
		`lastmile_requests_total{api="unknown",code="500",operation="*"} 1`,
		`lastmile_requests_total{api="",code="404",operation=""} 1`,
		`lastmile_policy_failures_total{api="orders",reason="SubscriptionKeyNotFound",source="authorization"} 1`,
		`lastmile_policy_failures_total{api="unknown",reason="TokenAcquisitionFailure",source="authentication-managed-identity"} 1`,
		`lastmile_request_duration_seconds_count{api="orders"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
