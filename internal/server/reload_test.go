package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// reloadConfig is lastmile.yaml in parts, so that each step of
// TestReloadAppliesEverySetting changes one of them.
type reloadConfig struct {
	tenant, lifetime, users, resources, sources, endpoints, workloads, apps, keys, insecure string
	listeners, backend, gateway, store                                                      string
}

func (c reloadConfig) yaml() string {
	var b strings.Builder
	b.WriteString("identity:\n")
	for _, part := range []string{c.tenant, c.lifetime, c.users, c.resources, c.sources, c.endpoints, c.workloads, c.apps, c.keys, c.insecure} {
		b.WriteString(part)
	}
	for _, part := range []string{c.listeners, c.backend, c.gateway, c.store} {
		b.WriteString(part)
	}
	return b.String()
}

// TestReloadAppliesEverySetting changes each setting of lastmile.yaml in turn,
// reloads as SIGHUP does, and observes the effect from the outside: through the
// gateway, the managed identity endpoint, the token endpoint and the discovery
// document. Settings that cannot change without a restart are named by the
// reload; a broken file is refused with its position and the running
// configuration stays.
func TestReloadAppliesEverySetting(t *testing.T) {
	tlsBackend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok") }))
	tlsBackend.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes refused before the CA is trusted
	tlsBackend.StartTLS()
	defer tlsBackend.Close()
	slowBackend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, "slow ok")
	}))
	defer slowBackend.Close()
	var mu sync.Mutex
	var lastAuth string
	plainBackend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastAuth = r.Header.Get("Authorization")
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer plainBackend.Close()
	// Another lastmile's App Service endpoint, for the lastmile token source.
	fakeMSI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != "fake-header" {
			http.Error(w, "no header", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"from-the-other-lastmile","expires_on":"%d","resource":%q,"token_type":"Bearer"}`,
			time.Now().Add(time.Hour).Unix(), r.URL.Query().Get("resource"))
	}))
	defer fakeMSI.Close()
	t.Setenv("FAKE_MSI_HEADER", "fake-header")

	api := func(path, serviceURL string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, serviceURL)
	}
	cfgDir, stateDir := t.TempDir(), t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"ca.pem":                        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsBackend.Certificate().Raw})),
		"apis/tls/apiInformation.json":  api("tls", tlsBackend.URL),
		"apis/slow/apiInformation.json": api("slow", slowBackend.URL),
		"apis/tok/apiInformation.json":  api("tok", plainBackend.URL),
		"apis/tok/policy.xml": `<policies><inbound><base /><authentication-managed-identity resource="api://orders" /></inbound>
			<backend><base /></backend><outbound><base />
			<set-header name="X-Deployment" exists-action="override"><value>@(context.Deployment.Region + "/" + context.Deployment.ServiceName)</value></set-header>
			</outbound><on-error><base /></on-error></policies>`,
	})
	c := reloadConfig{resources: "  resources:\n    - id: api://orders\n"}
	cfgFile := filepath.Join(cfgDir, "lastmile.yaml")
	write := func(t *testing.T, content string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(t, c.yaml())

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{
		ConfigDir: cfgDir, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Expr: policies.Expressions,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	header := s.WorkloadEnvironment().IdentityHeader

	reload := func(t *testing.T, next reloadConfig) {
		t.Helper()
		write(t, next.yaml())
		restart, err := s.Reload(context.Background())
		if err != nil || len(restart) > 0 {
			t.Fatalf("Reload: %v, restart needed for %v", err, restart)
		}
		c = next
	}
	// msiToken asks the App Service endpoint for a token, as a workload does.
	msiToken := func(t *testing.T, resource, clientID string) (int, string) {
		t.Helper()
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
		if clientID != "" {
			q.Set("client_id", clientID)
		}
		req, _ := http.NewRequest("GET", s.IdentityURL()+"/msi/token?"+q.Encode(), nil)
		req.Header.Set("X-IDENTITY-HEADER", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &body)
		if resp.StatusCode != 200 {
			return resp.StatusCode, string(raw)
		}
		return resp.StatusCode, body.AccessToken
	}
	// what describes a response of msiToken for a failure message, without
	// the token.
	what := func(status int, body string) string {
		if status == 200 {
			return "200 and a token"
		}
		return fmt.Sprintf("%d %s", status, body)
	}
	claimsOf := func(t *testing.T, raw string) (jwt.MapClaims, map[string]any) {
		t.Helper()
		tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
		if err != nil {
			t.Fatalf("not a JWT: %v", err)
		}
		return tok.Claims.(jwt.MapClaims), tok.Header
	}
	get := func(t *testing.T, path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(s.GatewayURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}

	t.Run("a syntax error keeps the running configuration", func(t *testing.T) {
		write(t, "identity: [\n")
		_, err := s.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), cfgFile+":2:1: YAML syntax") {
			t.Fatalf("Reload of a broken file: %v, want an error at %s:2:1", err, cfgFile)
		}
		if !strings.Contains(logs.String(), "reload failed; still serving the previous configuration") || strings.Contains(logs.String(), "configuration reloaded") {
			t.Errorf("the log does not say the reload failed:\n%s", logs.String())
		}
		if status, _, body := get(t, "/tok/x"); status != 200 || body != "ok" {
			t.Errorf("after a failed reload: %d %q", status, body)
		}
		write(t, c.yaml())
	})
	t.Run("a reload that fails late applies nothing", func(t *testing.T) {
		next := c
		next.resources += "    - id: api://late\n"
		next.sources = "  sources:\n    - type: lastmile\n      endpoint: " + fakeMSI.URL + "/msi/token\n      headerEnv: LASTMILE_TEST_UNSET\n"
		write(t, next.yaml())
		if _, err := s.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "LASTMILE_TEST_UNSET") {
			t.Fatalf("Reload with a token source that cannot be built: %v", err)
		}
		if status, body := msiToken(t, "api://late", ""); status != http.StatusBadRequest {
			t.Errorf("the resource of the failed reload: %s, want 400", what(status, body))
		}
		write(t, c.yaml())
	})
	t.Run("a new resource", func(t *testing.T) {
		if status, _ := msiToken(t, "api://new", ""); status == 200 {
			t.Fatal("a token for api://new before it is registered")
		}
		next := c
		next.resources += "    - id: api://new\n      roles: [New.Read]\n      assignments:\n        system: [New.Read]\n"
		reload(t, next)
		status, tok := msiToken(t, "api://new", "")
		if status != 200 {
			t.Fatalf("token for the new resource: %d %s", status, tok)
		}
		claims, _ := claimsOf(t, tok)
		if claims["aud"] != "api://new" || fmt.Sprint(claims["roles"]) != "[New.Read]" {
			t.Errorf("claims %v, want aud api://new and roles [New.Read]", claims)
		}
	})
	t.Run("token profile and signing algorithm", func(t *testing.T) {
		next := c
		next.resources = strings.Replace(c.resources, "    - id: api://new\n", "    - id: api://new\n      tokenProfile: entra-v2\n      signingAlgorithm: RS256\n", 1)
		reload(t, next)
		_, tok := msiToken(t, "api://new", "")
		claims, header := claimsOf(t, tok)
		if header["alg"] != "RS256" || claims["ver"] != "2.0" {
			t.Errorf("header %v, claims %v: want RS256 and ver 2.0", header, claims)
		}
	})
	t.Run("tenant id and token lifetime", func(t *testing.T) {
		next := c
		next.tenant = "  tenantId: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\n"
		next.lifetime = "  tokenLifetime: 10m\n"
		reload(t, next)
		_, tok := msiToken(t, "api://orders", "")
		claims, _ := claimsOf(t, tok)
		exp, _ := claims.GetExpirationTime()
		iat, _ := claims.GetIssuedAt()
		if claims["tid"] != "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" || exp == nil || iat == nil || exp.Sub(iat.Time) != 10*time.Minute {
			t.Errorf("tid %v, lifetime %v; want the new tenant and 10m", claims["tid"], exp.Sub(iat.Time))
		}
	})
	t.Run("a user-assigned identity", func(t *testing.T) {
		next := c
		next.users = "  userAssignedIdentities:\n    - name: reporting\n      clientId: " + reportingClientID + "\n"
		reload(t, next)
		status, tok := msiToken(t, "api://orders", reportingClientID)
		if status != 200 {
			t.Fatalf("token for the new identity: %d %s", status, tok)
		}
		if claims, _ := claimsOf(t, tok); claims["appid"] != reportingClientID {
			t.Errorf("appid %v, want %s", claims["appid"], reportingClientID)
		}
	})
	t.Run("an application", func(t *testing.T) {
		secret, hash := directory.NewClientSecret()
		next := c
		next.apps = "  applications:\n    - name: batch\n      clientId: " + batchClientID + "\n      secretHashes: [\"" + hash + "\"]\n"
		reload(t, next)
		resp, err := http.PostForm(s.Provider().TokenURL(), url.Values{
			"grant_type": {"client_credentials"}, "client_id": {batchClientID}, "client_secret": {secret}, "scope": {"api://orders/.default"},
		})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("client credentials of the new application: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("issuer and allowInsecureIssuer", func(t *testing.T) {
		next := c
		next.listeners = "listeners:\n  issuer: http://lastmile.test:8081\n"
		write(t, next.yaml())
		_, err := s.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), "listeners.issuer: \"http://lastmile.test:8081\" uses http on a host other than loopback") {
			t.Fatalf("Reload with an http issuer off loopback: %v", err)
		}
		next.insecure = "  allowInsecureIssuer: true\n"
		reload(t, next)
		var disc struct{ Issuer string }
		if err := getJSON(s.IdentityURL()+"/.well-known/openid-configuration", &disc); err != nil || disc.Issuer != "http://lastmile.test:8081" {
			t.Errorf("discovery issuer %q (%v), want the new one", disc.Issuer, err)
		}
	})
	t.Run("the key rotation schedule", func(t *testing.T) {
		keys := func() int {
			var set struct{ Keys []struct{ Alg string } }
			if err := getJSON(s.IdentityURL()+"/.well-known/jwks.json", &set); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, k := range set.Keys {
				if k.Alg == "ES256" {
					n++
				}
			}
			return n
		}
		if n := keys(); n != 1 {
			t.Fatalf("%d ES256 keys published before the change, want 1", n)
		}
		// The next key is due one second after the current one started signing.
		next := c
		next.keys = "  keys:\n    rotationPeriod: 1h\n    prepublish: 59m59s\n"
		reload(t, next)
		deadline := time.Now().Add(15 * time.Second)
		for keys() < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the next key was never published: the new schedule did not apply")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("token sources", func(t *testing.T) {
		next := c
		next.sources = "  sources:\n    - type: lastmile\n      endpoint: " + fakeMSI.URL + "/msi/token\n      headerEnv: FAKE_MSI_HEADER\n"
		reload(t, next)
		if status, _, body := get(t, "/tok/x"); status != 200 {
			t.Fatalf("through the lastmile source: %d %s", status, body)
		}
		mu.Lock()
		got := lastAuth
		mu.Unlock()
		if got != "Bearer from-the-other-lastmile" {
			t.Errorf("the backend got Authorization %.12q..., want the other lastmile's token", got)
		}
		next.sources = ""
		reload(t, next)
	})
	t.Run("managed identity endpoint settings and workloads", func(t *testing.T) {
		next := c
		next.endpoints = "  managedIdentityEndpoints:\n    tcpCallers: attested\n"
		reload(t, next)
		if status, body := msiToken(t, "api://orders", ""); status != http.StatusForbidden {
			t.Errorf("an unregistered caller with tcpCallers attested: %s, want 403", what(status, body))
		}
		next.workloads = fmt.Sprintf("  workloads:\n    - name: this-test\n      uid: %d\n      identities: [system]\n", os.Getuid())
		reload(t, next)
		if status, body := msiToken(t, "api://orders", ""); status != 200 {
			t.Errorf("a registered caller: %d %s", status, body)
		}
		next.endpoints += "    rateLimit:\n      requestsPerSecond: 1\n"
		reload(t, next)
		var statuses []int
		for range 5 {
			status, _ := msiToken(t, "api://orders", "")
			statuses = append(statuses, status)
		}
		if !slices.Contains(statuses, http.StatusTooManyRequests) {
			t.Errorf("5 requests at once with a limit of 1 a second: %v, want a 429", statuses)
		}
		next.endpoints, next.workloads = "", ""
		reload(t, next)
	})
	t.Run("backend CA file", func(t *testing.T) {
		if status, _, _ := get(t, "/tls/x"); status == 200 {
			t.Fatal("the TLS backend answered before its CA was trusted")
		}
		next := c
		next.backend = "backend:\n  caFile: ca.pem\n"
		reload(t, next)
		if status, _, body := get(t, "/tls/x"); status != 200 || body != "tls ok" {
			t.Errorf("with the CA file: %d %q", status, body)
		}
	})
	t.Run("backend timeout", func(t *testing.T) {
		next := c
		next.backend += "  timeout: 1s\n"
		reload(t, next)
		if status, _, body := get(t, "/slow/x"); status == 200 {
			t.Errorf("a backend slower than the new timeout answered: %d %q", status, body)
		}
	})
	t.Run("gateway region and service name", func(t *testing.T) {
		next := c
		next.gateway = "gateway:\n  region: west\n  serviceName: shop\n"
		reload(t, next)
		if _, h, _ := get(t, "/tok/x"); h.Get("X-Deployment") != "west/shop" {
			t.Errorf("context.Deployment: %q, want west/shop", h.Get("X-Deployment"))
		}
	})
	t.Run("settings that need a restart are named", func(t *testing.T) {
		next := c
		next.listeners = strings.TrimSuffix(c.listeners, "") + "  gateway: 127.0.0.1:1\n  metrics: 127.0.0.1:0\n  console: 127.0.0.1:0\n"
		next.endpoints = "  managedIdentityEndpoints:\n    appService: false\n    imds:\n      listen: 127.0.0.1:0\n    socket: /tmp/lastmile-reload-test.sock\n"
		next.store = "store:\n  type: redis\n  encryptionKeyFile: " + stateKeyFile(t, testStateKey) + "\n" +
			"console:\n  auth:\n    oidc:\n      issuer: https://idp.example.com\n      audience: api://console\n      role: Admin\n"
		write(t, next.yaml())
		restart, err := s.Reload(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"listeners.metrics", "listeners.console", "console", "identity.managedIdentityEndpoints.appService",
			"identity.managedIdentityEndpoints.imds.listen", "identity.managedIdentityEndpoints.socket", "store"}
		if diff := cmp.Diff(want, restart); diff != "" {
			t.Errorf("restart needed (-want +got):\n%s", diff)
		}
		if !strings.Contains(logs.String(), "restart_needed=\"listeners.metrics, listeners.console, console, identity.managedIdentityEndpoints.appService") {
			t.Errorf("the log does not name them:\n%s", logs.String())
		}
		// The gateway listener came from the command line, so the file's
		// address is not a change; everything else still runs as it did.
		if status, _, _ := get(t, "/tok/x"); status != 200 {
			t.Errorf("after the reload: %d", status)
		}
		if status, body := msiToken(t, "api://orders", ""); status != 200 {
			t.Errorf("the App Service endpoint stays until a restart: %d %s", status, body)
		}
	})
}

// syncBuffer is a bytes.Buffer for a logger used from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
