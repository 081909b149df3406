package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// observedConfig is tracedConfig with a named value marked secret that a
// policy sends to the backend, and a subscription that may not trace.
func observedConfig(issuer, backend, telemetry string) map[string]string {
	files := tracedConfig(issuer, backend, telemetry)
	files["apis/orders/policy.xml"] = strings.Replace(files["apis/orders/policy.xml"], `<authentication-managed-identity`,
		`<set-header name="X-Api-Key" exists-action="override"><value>{{backend-key}}</value></set-header>
			<set-query-parameter name="code" exists-action="override"><value>{{backend-key}}</value></set-query-parameter>
			<set-variable name="greeting" value="@("hello " + context.Request.MatchedParameters["id"])" />
			<authentication-managed-identity`, 1)
	files["named values/backend-key/namedValueInformation.json"] = `{"properties":{"displayName":"backend-key","value":"` + observedSecret + `","secret":true}}`
	files["subscriptions/quiet/subscriptionInformation.json"] = `{"properties":{"scope":"/apis","state":"active","primaryKey":"quiet-primary-key","secondaryKey":"quiet-secondary-key"}}`
	return files
}

// observedSecret is the value of the secret named value of observedConfig:
// escaped in a query, it reads otherwise ("%2B", "%2F", "%3D").
const observedSecret = "nv-s3cret+value/="

// secretForms are observedSecret as it may appear: as it is, and escaped.
var secretForms = []string{observedSecret, url.QueryEscape(observedSecret), url.PathEscape(observedSecret)}

func get(t *testing.T, url string, h map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestAccessLog sends a request that passes, one with a wrong key and one to
// no API, and reads the access log file: one JSON line each, with the API,
// operation, product, subscription id, status, bytes, latencies, the token's
// and the failure's outcome; and neither the subscription key nor a token
// anywhere in it.
func TestAccessLog(t *testing.T) {
	iss := newTestIssuer(t)
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, observedConfig(iss.srv.URL, backend.srv.URL, `telemetry:
  accessLog:
    file: logs/access.log
    format: json
`))
	s, stop := serveUntil(t, cfgDir, nil)
	backend.issuer = s.Issuer()
	jwtTok := iss.token(t, "k1", iss.claims("api://orders", time.Hour))

	resp, body := get(t, s.GatewayURL()+"/orders/42?subscription-key=shop-primary-key", map[string]string{"Authorization": "Bearer " + jwtTok})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	miToken := strings.TrimPrefix(backend.last(t).Header.Get("Authorization"), "Bearer ")
	get(t, s.GatewayURL()+"/orders/42", map[string]string{"Ocp-Apim-Subscription-Key": "wrong-key-123", "Authorization": "Bearer " + jwtTok})
	get(t, s.GatewayURL()+"/nowhere", nil)
	stop()

	data, err := os.ReadFile(filepath.Join(cfgDir, "logs", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range append([]string{"shop-primary-key", "shop-secondary-key", "wrong-key-123", jwtTok, miToken}, secretForms...) {
		if strings.Contains(string(data), secret) {
			t.Errorf("the access log holds a key or token: %q", secret)
		}
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), data)
	}
	pick := func(m map[string]any, keys ...string) map[string]any {
		out := map[string]any{}
		for _, k := range keys {
			if v, ok := m[k]; ok {
				out[k] = v
			}
		}
		return out
	}
	keys := []string{"msg", "method", "path", "api", "operation", "product", "subscription", "status", "cache", "token", "backend_tries", "error_source", "error_reason"}
	want := []map[string]any{
		{"msg": "request", "method": "GET", "path": "/orders/42", "api": "orders", "operation": "get-order", "product": "", "subscription": "shop",
			"status": 200.0, "cache": "", "token": "issued", "backend_tries": 1.0},
		{"msg": "request", "method": "GET", "path": "/orders/42", "api": "orders", "operation": "get-order", "product": "", "subscription": "",
			"status": 401.0, "cache": "", "token": "", "backend_tries": 0.0, "error_source": "authorization", "error_reason": "SubscriptionKeyInvalid"},
		{"msg": "request", "method": "GET", "path": "/nowhere", "api": "", "operation": "", "product": "", "subscription": "",
			"status": 404.0, "cache": "", "token": "", "backend_tries": 0.0},
	}
	for i := range want {
		if diff := cmp.Diff(want[i], pick(lines[i], keys...)); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, diff)
		}
	}
	first := lines[0]
	for _, k := range []string{"duration_ms", "backend_ms", "bytes_in", "bytes_out", "request_id", "client_ip"} {
		if _, ok := first[k]; !ok {
			t.Errorf("the first line has no %s: %v", k, first)
		}
	}
	if first["bytes_out"].(float64) != float64(len(body)) {
		t.Errorf("bytes_out %v, want %d", first["bytes_out"], len(body))
	}
	if d, b := first["duration_ms"].(float64), first["backend_ms"].(float64); b <= 0 || d < b {
		t.Errorf("duration_ms %v, backend_ms %v: want 0 < backend <= total", d, b)
	}
}

// TestAccessLogDefault: without a telemetry section the access log goes to
// the server's log, one line per request; accessLog.enabled false turns it
// off.
func TestAccessLogDefault(t *testing.T) {
	for _, tc := range []struct {
		name, telemetry string
		want            int
	}{
		{"default", "", 1},
		{"off", "telemetry:\n  accessLog:\n    enabled: false\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := newVerifyingBackend(t, "api://orders")
			cfgDir := t.TempDir()
			writeFiles(t, cfgDir, testConfig(backend.srv.URL))
			if tc.telemetry != "" {
				writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": tc.telemetry})
			}
			logs := &syncBuffer{}
			s, stop := serveUntil(t, cfgDir, slog.New(slog.NewTextHandler(logs, nil)))
			get(t, s.GatewayURL()+"/other/1", map[string]string{"Ocp-Apim-Subscription-Key": "other-key"})
			stop()
			if got := strings.Count(logs.String(), "msg=request "); got != tc.want {
				t.Errorf("%d access log lines, want %d:\n%s", got, tc.want, logs)
			}
		})
	}
}

// TestRequestTrace asks for a request trace the way API Management's
// developers do (Ocp-Apim-Trace: true, the key of a subscription with
// allowTracing) and reads it from Ocp-Apim-Trace-Location: every policy with
// where it is written, what it changed and the expressions it evaluated, the
// token's outcome, the backend attempt; and no token, key or secret named
// value anywhere in it. A subscription without allowTracing, or a request
// that does not ask, gets no trace.
func TestRequestTrace(t *testing.T) {
	iss := newTestIssuer(t)
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, observedConfig(iss.srv.URL, backend.srv.URL, ""))
	s, _ := serveUntil(t, cfgDir, nil)
	backend.issuer = s.Issuer()
	jwtTok := iss.token(t, "k1", iss.claims("api://orders", time.Hour))

	t.Run("no trace", func(t *testing.T) {
		for name, h := range map[string]map[string]string{
			"not asked":         {"Ocp-Apim-Subscription-Key": "shop-primary-key"},
			"tracing forbidden": {"Ocp-Apim-Subscription-Key": "quiet-primary-key", "Ocp-Apim-Trace": "true"},
		} {
			h["Authorization"] = "Bearer " + jwtTok
			resp, body := get(t, s.GatewayURL()+"/orders/7", h)
			if resp.StatusCode != 200 || resp.Header.Get(gateway.TraceLocationHeader) != "" {
				t.Errorf("%s: status %d, trace location %q: %s", name, resp.StatusCode, resp.Header.Get(gateway.TraceLocationHeader), body)
			}
		}
	})

	resp, body := get(t, s.GatewayURL()+"/orders/42", map[string]string{"Ocp-Apim-Subscription-Key": "shop-primary-key",
		"Ocp-Apim-Trace": "true", "Authorization": "Bearer " + jwtTok})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	miToken := strings.TrimPrefix(backend.last(t).Header.Get("Authorization"), "Bearer ")
	loc := resp.Header.Get(gateway.TraceLocationHeader)
	if !strings.HasPrefix(loc, s.GatewayURL()+gateway.TracePath) || len(loc) != len(s.GatewayURL()+gateway.TracePath)+32 {
		t.Fatalf("trace location %q", loc)
	}
	tresp, raw := get(t, loc, nil)
	if tresp.StatusCode != 200 || tresp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET trace: %d %s", tresp.StatusCode, raw)
	}
	for _, secret := range append([]string{jwtTok, miToken, "shop-primary-key", "shop-secondary-key"}, secretForms...) {
		if strings.Contains(raw, secret) {
			t.Errorf("the trace holds a token, key or secret: %q", secret)
		}
	}
	var tr reqtrace.Trace
	if err := json.Unmarshal([]byte(raw), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.API == nil || *tr.API != (reqtrace.API{ID: "orders", Operation: "get-order", Subscription: "shop"}) {
		t.Errorf("api %+v", tr.API)
	}
	if tr.Response == nil || tr.Response.Status != 200 {
		t.Errorf("response %+v", tr.Response)
	}
	if got := tr.Request.Headers["Authorization"]; !cmp.Equal(got, []string{reqtrace.Redacted}) {
		t.Errorf("request Authorization shown as %q", got)
	}
	var inbound []string
	entry := map[string]*reqtrace.Entry{}
	for _, e := range tr.Entries.Inbound {
		inbound = append(inbound, e.Source)
		entry[e.Source] = e
	}
	if diff := cmp.Diff([]string{"api-inspector", "validate-jwt", "trace", "orders", "set-header", "set-query-parameter", "set-variable", "authentication-managed-identity"}, inbound); diff != "" {
		t.Errorf("inbound entries (-want +got):\n%s", diff)
	}
	if p := entry["validate-jwt"].Policy; p == nil || p.Scope != "api" || p.Section != "inbound" || p.File != "apis/orders/policy.xml" || p.Line != 2 {
		t.Errorf("validate-jwt's origin %+v", p)
	}
	if e := entry["orders"]; e.Message != "caller alice" || e.Data["severity"] != "information" {
		t.Errorf("the trace policy's entry %+v", e)
	}
	if diff := cmp.Diff([]reqtrace.Change{{Target: "request.headers", Name: "X-Api-Key", From: nil, To: []any{reqtrace.Redacted}}}, entry["set-header"].Changes); diff != "" {
		t.Errorf("set-header's changes (-want +got):\n%s", diff)
	}
	sv := entry["set-variable"]
	if diff := cmp.Diff([]reqtrace.Change{{Target: "variables", Name: "greeting", From: nil, To: "hello 42"}}, sv.Changes); diff != "" {
		t.Errorf("set-variable's changes (-want +got):\n%s", diff)
	}
	if len(sv.Expressions) != 1 || sv.Expressions[0].Value != "hello 42" || !strings.Contains(sv.Expressions[0].Source, "MatchedParameters") {
		t.Errorf("set-variable's expressions %+v", sv.Expressions)
	}
	mi := entry["authentication-managed-identity"]
	if toks, _ := mi.Data["tokens"].([]any); len(toks) != 1 || toks[0].(map[string]any)["outcome"] != "hit" {
		t.Errorf("the token's outcome %v", mi.Data)
	}
	if diff := cmp.Diff([]reqtrace.Change{{Target: "request.headers", Name: "Authorization", From: []any{reqtrace.Redacted}, To: []any{reqtrace.Redacted}}}, mi.Changes); diff != "" {
		t.Errorf("authentication-managed-identity's changes (-want +got):\n%s", diff)
	}
	if len(tr.Entries.Backend) != 1 || tr.Entries.Backend[0].Source != "forward-request" {
		t.Fatalf("backend entries %+v", tr.Entries.Backend)
	}
	attempts, _ := tr.Entries.Backend[0].Data["attempts"].([]any)
	if len(attempts) != 1 || attempts[0].(map[string]any)["status"] != 200.0 || attempts[0].(map[string]any)["outcome"] != "2xx" {
		t.Errorf("forward-request's attempts %v", tr.Entries.Backend[0].Data)
	}

	t.Run("unknown id", func(t *testing.T) {
		if resp, _ := get(t, s.GatewayURL()+gateway.TracePath+"0123456789abcdef0123456789abcdef", nil); resp.StatusCode != 404 {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

// TestMetricsOfWhatPoliciesDecide runs requests through a gateway whose store is a real Redis
// and reads /metrics: the token cache's outcomes, the token source's calls
// and the identity provider's issuance, the rate limit's decisions, the
// backend attempts by backend entity, a circuit breaker that opened, and the
// Redis commands the limit ran.
func TestMetricsOfWhatPoliciesDecide(t *testing.T) {
	redisSrv := storetest.NewServer(t, "")
	backend := newVerifyingBackend(t, "api://orders")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	cfgDir := t.TempDir()
	policy := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": `identity:
  resources:
    - id: api://orders
listeners:
  metrics: 127.0.0.1:0
store:
  type: redis
  encryptionKeyFile: ` + stateKeyFile(t, testStateKey) + `
  redis:
    address: ` + redisSrv.Addr + `
`,
		"apis/orders/apiInformation.json": `{"properties":{"path":"orders","subscriptionRequired":false}}`,
		"apis/orders/policy.xml": policy(`<rate-limit-by-key calls="1" renewal-period="300" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))" />
			<authentication-managed-identity resource="api://orders" />
			<set-backend-service backend-id="orders-backend" />`),
		"apis/broken/apiInformation.json":                 `{"properties":{"path":"broken","subscriptionRequired":false}}`,
		"apis/broken/policy.xml":                          policy(`<set-backend-service backend-id="broken-backend" />`),
		"backends/orders-backend/backendInformation.json": `{"properties": {"url": "` + backend.srv.URL + `", "protocol": "http"}}`,
		"backends/broken-backend/backendInformation.json": `{"properties": {"url": "` + failing.URL + `", "protocol": "http", "circuitBreaker": {"rules": [` +
			`{"failureCondition": {"count": 1, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1H"}]}}}`,
	})
	s, _ := serveUntil(t, cfgDir, nil)
	backend.issuer = s.Issuer()
	for _, tc := range []struct {
		path, key string
		want      int
	}{
		{"/orders/1", "a", 200}, {"/orders/1", "a", 429}, {"/orders/1", "b", 200},
		{"/broken/1", "", 500}, {"/broken/1", "", 503},
	} {
		if resp, body := get(t, s.GatewayURL()+tc.path, map[string]string{"X-Key": tc.key}); resp.StatusCode != tc.want {
			t.Fatalf("GET %s (key %q): %d, want %d: %s", tc.path, tc.key, resp.StatusCode, tc.want, body)
		}
	}
	resp, text := get(t, s.MetricsURL(), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`lastmile_token_cache_requests_total{outcome="issued"} 1`,
		`lastmile_token_cache_requests_total{outcome="hit"} 1`,
		`lastmile_token_source_duration_seconds_count{result="ok"} 1`,
		`lastmile_idp_tokens_total{grant="managed_identity",result="ok"} 1`,
		`lastmile_limit_decisions_total{decision="allowed",policy="rate-limit-by-key"} 2`,
		`lastmile_limit_decisions_total{decision="refused",policy="rate-limit-by-key"} 1`,
		`lastmile_backend_requests_total{backend="orders-backend",outcome="2xx"} 2`,
		`lastmile_backend_requests_total{backend="broken-backend",outcome="5xx"} 1`,
		`lastmile_backend_duration_seconds_count{backend="orders-backend"} 2`,
		`lastmile_backend_circuit_open{backend="broken-backend"} 1`,
		`lastmile_backend_circuit_trips_total{backend="broken-backend"} 1`,
		`lastmile_requests_total{api="orders",code="429",operation="*"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^lastmile_redis_command_duration_seconds_count\{command="evalsha"\} [1-9]`).MatchString(text) {
		t.Errorf("metrics lack the rate limit's Redis commands:\n%s", grepLines(text, "lastmile_redis"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSecretsOutOfErrorMessages: a send-request whose URL holds a secret
// named value (a webhook's path) fails; context.LastError.Message, which a
// policy may send to the client, and the log say where it went without the
// secret.
func TestSecretsOutOfErrorMessages(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hook.Close)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/a/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"a","serviceUrl":%q,"subscriptionRequired":false}}`, hook.URL),
		"apis/a/policy.xml": `<policies><inbound><send-request mode="new" response-variable-name="r" timeout="1"><set-url>` + hook.URL + `/services/{{hook-token}}/x?sig={{hook-token}}</set-url><set-method>POST</set-method></send-request></inbound>` +
			`<backend /><outbound /><on-error><return-response><set-status code="502" /><set-body>@(context.LastError.Message)</set-body></return-response></on-error></policies>`,
		"named values/hook-token/namedValueInformation.json": `{"properties":{"displayName":"hook-token","value":"T0K+EN/x=","secret":true}}`,
	})
	s, logs := startWithLog(t, cfgDir, jwks.Options{})
	resp, body := get(t, s.GatewayURL()+"/a/x", nil)
	if resp.StatusCode != 502 || !strings.Contains(body, "did not get a response within 1s") || !strings.Contains(body, "/services/***/x") {
		t.Errorf("%d %s, want the timeout with the secret cut out", resp.StatusCode, body)
	}
	for _, form := range []string{"T0K+EN/x=", url.QueryEscape("T0K+EN/x="), url.PathEscape("T0K+EN/x=")} {
		if strings.Contains(body, form) || strings.Contains(logs.String(), form) {
			t.Errorf("the secret (%q) shows:\n%s\n%s", form, body, logs.String())
		}
	}
}
