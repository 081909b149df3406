package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
)

// clearAzureEnv unsets what would make azidentity choose another source.
func clearAzureEnv(t *testing.T) {
	for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
		"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_POD_IDENTITY_AUTHORITY_HOST"} {
		t.Setenv(k, "")
	}
}

// TestAzidentityAppService runs Azure's own Go client against the App Service
// endpoint, as a workload given IDENTITY_ENDPOINT and IDENTITY_HEADER would.
func TestAzidentityAppService(t *testing.T) {
	f := newFixture(t, nil)
	clearAzureEnv(t)
	t.Setenv("IDENTITY_ENDPOINT", f.url+agent.AppServicePath)
	t.Setenv("IDENTITY_HEADER", testHeader)

	reporting := f.identity("reporting")
	system := f.provider.SystemIdentity()
	for _, tc := range []struct {
		name     string
		id       azidentity.ManagedIDKind
		scope    string
		audience string
		wantOID  string
		wantRole bool
	}{
		{"system-assigned", nil, "api://orders/.default", "api://orders", system.ObjectID, false},
		{"user-assigned by client id", azidentity.ClientID(reporting.ClientID), "api://orders/.default", "api://orders", reporting.ObjectID, true},
		{"user-assigned by object id", azidentity.ObjectID(reporting.ObjectID), "https://storage.example.com/.default", "https://storage.example.com/", reporting.ObjectID, false},
		{"user-assigned by resource id", azidentity.ResourceID("/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reporting"),
			"api://orders/.default", "api://orders", reporting.ObjectID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: tc.id})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{tc.scope}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if d := time.Until(tok.ExpiresOn); d < 50*time.Minute || d > time.Hour+time.Minute {
				t.Errorf("ExpiresOn is %s away, want about an hour", d)
			}
			claims := f.verify(t, tok.Token, tc.audience)
			if claims["oid"] != tc.wantOID {
				t.Errorf("oid = %v, want %s", claims["oid"], tc.wantOID)
			}
			_, hasRoles := claims["roles"]
			if hasRoles != tc.wantRole {
				t.Errorf("roles claim present = %v, want %v (%v)", hasRoles, tc.wantRole, claims["roles"])
			}
		})
	}

	t.Run("an identity lastmile does not have", func(t *testing.T) {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID("00000000-0000-0000-0000-000000000001")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://orders/.default"}})
		if err == nil || !strings.Contains(err.Error(), "Identity not found") {
			t.Errorf("GetToken error = %v, want one that says Identity not found", err)
		}
	})
	t.Run("a wrong header", func(t *testing.T) {
		t.Setenv("IDENTITY_HEADER", "not-the-header")
		cred, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			t.Fatal(err)
		}
		// A resource the system identity has not asked for yet: MSAL caches
		// tokens process-wide.
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.example.com/.default"}})
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("GetToken error = %v, want a 401", err)
		}
		if err != nil && strings.Contains(err.Error(), testHeader) {
			t.Errorf("the error shows the identity header")
		}
	})
}

func TestAppServiceProtocol(t *testing.T) {
	f := newFixture(t, nil)
	ok := map[string]string{"X-IDENTITY-HEADER": testHeader}
	for _, tc := range []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
		wantError  string
	}{
		{"system-assigned", "/msi/token?api-version=2019-08-01&resource=api://orders", ok, 200, ""},
		{"lower case path and a trailing slash, as @azure/identity sends", "/msi/token/?api-version=2019-08-01&resource=api%3A%2F%2Forders", ok, 200, ""},
		{"upper case path", "/MSI/Token?api-version=2019-08-01&resource=api://orders/.default", ok, 200, ""},
		{"a later api version", "/msi/token?api-version=2021-02-01-preview&resource=api://orders", ok, 200, ""},
		{"no header", "/msi/token?api-version=2019-08-01&resource=api://orders", nil, 401, "unauthorized_client"},
		{"wrong header", "/msi/token?api-version=2019-08-01&resource=api://orders", map[string]string{"X-IDENTITY-HEADER": testHeader + "x"}, 401, "unauthorized_client"},
		{"header prefix", "/msi/token?api-version=2019-08-01&resource=api://orders", map[string]string{"X-IDENTITY-HEADER": testHeader[:10]}, 401, "unauthorized_client"},
		{"the header twice, the right one first", "/msi/token?api-version=2019-08-01&resource=api://orders", map[string]string{"X-IDENTITY-HEADER": testHeader + "\nother"}, 400, "invalid_request"},
		{"the header twice, the right one second", "/msi/token?api-version=2019-08-01&resource=api://orders", map[string]string{"X-IDENTITY-HEADER": "other\n" + testHeader}, 400, "invalid_request"},
		{"no api version", "/msi/token?resource=api://orders", ok, 400, "invalid_request"},
		{"the legacy api version", "/msi/token?api-version=2017-09-01&resource=api://orders", ok, 400, "invalid_request"},
		{"a made-up api version", "/msi/token?api-version=latest&resource=api://orders", ok, 400, "invalid_request"},
		{"no resource", "/msi/token?api-version=2019-08-01", ok, 400, "invalid_request"},
		{"an unregistered resource", "/msi/token?api-version=2019-08-01&resource=api://nobody", ok, 400, "invalid_resource"},
		{"two identity selectors", "/msi/token?api-version=2019-08-01&resource=api://orders&client_id=a&object_id=b", ok, 400, "invalid_request"},
		{"an unknown principal id", "/msi/token?api-version=2019-08-01&resource=api://orders&principal_id=00000000-0000-0000-0000-000000000000", ok, 400, "invalid_request"},
		{"through a proxy", "/msi/token?api-version=2019-08-01&resource=api://orders",
			map[string]string{"X-IDENTITY-HEADER": testHeader, "X-Forwarded-For": "10.1.2.3"}, 400, "invalid_request"},
		{"Forwarded", "/msi/token?api-version=2019-08-01&resource=api://orders",
			map[string]string{"X-IDENTITY-HEADER": testHeader, "Forwarded": "for=10.1.2.3"}, 400, "invalid_request"},
		{"a rebound host name", "/msi/token?api-version=2019-08-01&resource=api://orders",
			map[string]string{"X-IDENTITY-HEADER": testHeader, "Host": "attacker.example.com"}, 400, "invalid_request"},
		{"localhost is loopback", "/msi/token?api-version=2019-08-01&resource=api://orders",
			map[string]string{"X-IDENTITY-HEADER": testHeader, "Host": "localhost:1234"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, nil, f.url+tc.path, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.wantStatus, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError {
					t.Errorf("error = %v, want %s (%v)", body["error"], tc.wantError, body["error_description"])
				}
				if strings.Contains(fmt.Sprint(body), testHeader[:16]) {
					t.Errorf("the answer shows the identity header: %v", body)
				}
				return
			}
			for _, k := range []string{"access_token", "expires_on", "expires_in", "not_before", "resource", "token_type", "client_id"} {
				if _, ok := body[k].(string); !ok {
					t.Errorf("%s = %#v, want a string", k, body[k])
				}
			}
			if body["client_id"] != f.provider.SystemIdentity().ClientID {
				t.Errorf("client_id = %v, want the system identity's %s", body["client_id"], f.provider.SystemIdentity().ClientID)
			}
			if _, ok := body["refresh_token"]; ok {
				t.Errorf("the App Service answer has refresh_token, which only IMDS sends")
			}
			f.verify(t, body["access_token"].(string), "api://orders")
		})
	}
	t.Run("other paths go to the identity provider", func(t *testing.T) {
		resp, body := get(t, nil, f.url+"/.well-known/openid-configuration", nil)
		if resp.StatusCode != 200 || body["issuer"] != f.url {
			t.Errorf("discovery: status %d, issuer %v", resp.StatusCode, body["issuer"])
		}
	})
}

// TestIMDSProtocol serves the IMDS protocol the way lastmile does, on its own
// loopback listener.
func TestIMDSProtocol(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewUnstartedServer(f.agent.IMDSHandler())
	srv.Config.ConnContext = f.agent.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	md := map[string]string{"Metadata": "true"}
	reporting := f.identity("reporting")
	for _, tc := range []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
		wantError  string
		wantClient string
	}{
		{"system-assigned", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders", md, 200, "", f.provider.SystemIdentity().ClientID},
		{"trailing slash and lower case", "/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=api://orders", md, 200, "", f.provider.SystemIdentity().ClientID},
		{"by client id", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&client_id=" + strings.ToUpper(reporting.ClientID), md, 200, "", reporting.ClientID},
		{"by object id", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&object_id=" + reporting.ObjectID, md, 200, "", reporting.ClientID},
		{"by msi_res_id", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&msi_res_id=/subscriptions/0/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/REPORTING", md, 200, "", reporting.ClientID},
		// App Service's name for it, on IMDS: the identity it names, never the
		// system-assigned one instead.
		{"by mi_res_id", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&mi_res_id=/subscriptions/0/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/reporting", md, 200, "", reporting.ClientID},
		{"an empty selector", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&client_id=", md, 400, "invalid_request", ""},
		{"the probe: no Metadata header", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders", nil, 400, "bad_request_102", ""},
		{"the probe: no parameters at all", "/metadata/identity/oauth2/token", nil, 400, "bad_request_102", ""},
		{"Metadata: false", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders", map[string]string{"Metadata": "false"}, 400, "bad_request_102", ""},
		{"through a proxy", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders", map[string]string{"Metadata": "true", "X-Forwarded-For": "1.2.3.4"}, 400, "invalid_request", ""},
		{"a rebound host name", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders", map[string]string{"Metadata": "true", "Host": "evil.example:80"}, 400, "invalid_request", ""},
		{"an old api version", "/metadata/identity/oauth2/token?api-version=2017-12-01&resource=api://orders", md, 400, "invalid_request", ""},
		{"another path", "/metadata/instance?api-version=2021-02-01", md, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, nil, srv.URL+tc.path, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantError == "bad_request_102" && body["error_description"] != "Required metadata header not specified" {
				t.Errorf("error_description = %v, want Azure's", body["error_description"])
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError {
					t.Errorf("error = %v, want %s (%v)", body["error"], tc.wantError, body["error_description"])
				}
				return
			}
			// IMDS sends every number as a string, and an empty refresh token.
			for _, k := range []string{"access_token", "refresh_token", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type", "client_id"} {
				if _, ok := body[k].(string); !ok {
					t.Errorf("%s = %#v, want a string", k, body[k])
				}
			}
			if body["client_id"] != tc.wantClient {
				t.Errorf("client_id = %v, want %s", body["client_id"], tc.wantClient)
			}
			exp, _ := strconv.ParseInt(body["expires_on"].(string), 10, 64)
			in, _ := strconv.ParseInt(body["expires_in"].(string), 10, 64)
			if d := exp - time.Now().Unix() - in; d < -2 || d > 2 {
				t.Errorf("expires_on %d and expires_in %d disagree by %ds", exp, in, d)
			}
			f.verify(t, body["access_token"].(string), "api://orders")
		})
	}
	t.Run("only GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+agent.IMDSPath+"?api-version=2018-02-01&resource=api://orders", nil)
		req.Header.Set("Metadata", "true")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Errorf("POST: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// fakeSource answers with a fixed token or error.
type fakeSource struct {
	tok identity.Token
	err error
}

func (s fakeSource) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	return s.tok, s.err
}

func TestTokenSourceErrors(t *testing.T) {
	secretish := errors.New("dial tcp 10.0.0.9:443: connection refused")
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantError  string
		wantRetry  string
	}{
		{"configuration", fmt.Errorf("resource not registered: %w", identity.ErrConfiguration), 400, "invalid_resource", ""},
		{"backing off", &identity.UnavailableError{Err: secretish, RetryAfter: 2500 * time.Millisecond}, 503, "temporarily_unavailable", "3"},
		{"the source is down", &identity.TransientError{Err: secretish}, 503, "temporarily_unavailable", "1"},
		{"anything else", secretish, 500, "unknown", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := agent.New(agent.Config{Tokens: fakeSource{err: tc.err}, Identities: []agent.Identity{{Name: "system", SystemAssigned: true, ClientID: "c"}}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(a.IMDSHandler())
			t.Cleanup(srv.Close)
			resp, body := get(t, nil, srv.URL+agent.IMDSPath+"?api-version=2018-02-01&resource=r", map[string]string{"Metadata": "true"})
			if resp.StatusCode != tc.wantStatus || body["error"] != tc.wantError {
				t.Errorf("got %d %v, want %d %s", resp.StatusCode, body, tc.wantStatus, tc.wantError)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
			if strings.Contains(fmt.Sprint(body), "10.0.0.9") {
				t.Errorf("the answer shows the source's internal error: %v", body)
			}
		})
	}
}

func TestTokenResponse(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	a, err := agent.New(agent.Config{
		Tokens: fakeSource{tok: identity.Token{Value: "header.payload.sig", IssuedAt: now.Add(-time.Minute),
			ExpiresAt: now.Add(59 * time.Minute), RefreshAt: now.Add(29 * time.Minute)}},
		Identities: []agent.Identity{{Name: "system", SystemAssigned: true, ClientID: "5e29463d-0000-0000-0000-000000000000"}},
		Header:     testHeader,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Wrap(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	_, body := get(t, nil, srv.URL+"/msi/token?api-version=2019-08-01&resource="+url.QueryEscape("https://Vault.azure.net"), map[string]string{"X-Identity-Header": testHeader})
	// refresh_in is a JSON number, as Entra's token endpoint sends it: MSAL
	// Python's token cache adds it to an int (TestPythonClients).
	in, _ := strconv.Atoi(body["expires_in"].(string))
	refresh, isNumber := body["refresh_in"].(float64)
	if !isNumber {
		t.Errorf("refresh_in = %#v, want a JSON number", body["refresh_in"])
	}
	body["expires_in"], body["refresh_in"] = "checked", "checked"
	want := map[string]any{
		"access_token": "header.payload.sig",
		"expires_in":   "checked",
		"expires_on":   strconv.FormatInt(now.Add(59*time.Minute).Unix(), 10),
		"not_before":   strconv.FormatInt(now.Add(-time.Minute).Unix(), 10),
		"refresh_in":   "checked",
		"resource":     "https://Vault.azure.net",
		"token_type":   "Bearer",
		"client_id":    "5e29463d-0000-0000-0000-000000000000",
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if in < 58*60 || in > 59*60 || refresh < 28*60 || refresh > 29*60 || refresh != float64(int(refresh)) {
		t.Errorf("expires_in %d, refresh_in %v: want about 59 and 29 minutes in whole seconds", in, refresh)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	sys := agent.Identity{Name: "system", SystemAssigned: true}
	uid := uint32(1)
	for _, tc := range []struct {
		name string
		cfg  agent.Config
		want string
	}{
		{"no source", agent.Config{Identities: []agent.Identity{sys}}, "managed identity agent: no token source"},
		{"no system identity", agent.Config{Tokens: fakeSource{}}, "managed identity agent: the system-assigned identity must come first"},
		{"a workload without selectors", agent.Config{Tokens: fakeSource{}, Identities: []agent.Identity{sys},
			Workloads: []agent.Workload{{Name: "w", Identities: []string{"system"}}}}, "managed identity agent: workload w has no selector"},
		{"a workload with an unknown identity", agent.Config{Tokens: fakeSource{}, Identities: []agent.Identity{sys},
			Workloads: []agent.Workload{{Name: "w", UID: &uid, Identities: []string{"ghost"}}}}, `managed identity agent: workload w names unknown identity "ghost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agent.New(tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New error = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestNotLoopback: a caller from another host is refused even with the header.
func TestNotLoopback(t *testing.T) {
	a, err := agent.New(agent.Config{Tokens: fakeSource{}, Identities: []agent.Identity{{Name: "system", SystemAssigned: true}}, Header: testHeader})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/msi/token?api-version=2019-08-01&resource=r", nil)
	req.RemoteAddr = net.JoinHostPort("192.0.2.7", "5555")
	req.Header.Set("X-Identity-Header", testHeader)
	rec := httptest.NewRecorder()
	a.Wrap(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("status %d, want 403: %s", rec.Code, rec.Body)
	}
}

// BenchmarkCacheHit is a cache hit with the embedded provider behind the cache,
// as the gateway's policy sees it.
func BenchmarkCacheHit(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	if _, err := f.cache.Token(ctx, "", "api://orders"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.cache.Token(ctx, "", "api://orders")
	}
}

// BenchmarkAppServiceRequest is a workload's token request to the App Service
// endpoint answered from the cache: HTTP on loopback, header check, rate limit,
// JSON answer.
func BenchmarkAppServiceRequest(b *testing.B) {
	f := newFixture(b, func(c *agent.Config) { c.RequestsPerSecond = 1 << 30 })
	req, _ := http.NewRequest(http.MethodGet, f.url+"/msi/token?api-version=2019-08-01&resource=api://orders", nil)
	req.Header.Set("X-Identity-Header", testHeader)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkServeAppService is the handler alone, without the network.
func BenchmarkServeAppService(b *testing.B) {
	f := newFixture(b, func(c *agent.Config) { c.RequestsPerSecond = 1 << 30 })
	h := f.agent.Wrap(http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/msi/token?api-version=2019-08-01&resource=api://orders", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("X-Identity-Header", testHeader)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
