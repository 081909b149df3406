package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/identity/azure"
)

const header = "azure-test-header-0123456789abcdefghijklmnopq"
const userClient = "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11"

// msi is the managed identity endpoint of an Azure host, played by lastmile's
// own App Service endpoint with a recording token source behind it.
type msi struct {
	mu    sync.Mutex
	asked []string
	err   error
}

func (m *msi) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, clientID+" "+resource)
	if m.err != nil {
		return identity.Token{}, m.err
	}
	return identity.Token{Value: "entra-token", ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// azureHost sets the App Service environment, as Azure does for an app, and
// clears what would make azidentity look elsewhere (never at the IMDS address).
func azureHost(t *testing.T, m *msi, rps int) {
	a, err := agent.New(agent.Config{Tokens: m, Header: header, RequestsPerSecond: rps, Identities: []agent.Identity{
		{Name: "system", SystemAssigned: true, ClientID: "11111111-0000-0000-0000-000000000000"},
		{Name: "reporting", ClientID: userClient},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Wrap(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	env(t, map[string]string{"IDENTITY_ENDPOINT": srv.URL + agent.AppServicePath, "IDENTITY_HEADER": header})
}

func env(t *testing.T, vars map[string]string) {
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
		"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_POD_IDENTITY_AUTHORITY_HOST"} {
		t.Setenv(k, vars[k])
	}
}

func noRetry() azure.Options {
	return azure.Options{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
}

func TestManagedIdentity(t *testing.T) {
	m := &msi{}
	azureHost(t, m, 0)
	s := azure.New(noRetry())
	for _, tc := range []struct{ clientID, resource, want string }{
		{"", "https://vault.azure.net", " https://vault.azure.net"},
		{userClient, "https://storage.azure.com/", userClient + " https://storage.azure.com/"},
	} {
		m.asked = nil
		tok, err := s.Token(t.Context(), tc.clientID, tc.resource)
		if err != nil {
			t.Fatalf("%q: %v", tc.clientID, err)
		}
		if tok.Value != "entra-token" || time.Until(tok.ExpiresAt) < 59*time.Minute {
			t.Errorf("token %v", tok)
		}
		if len(m.asked) != 1 || m.asked[0] != tc.want {
			t.Errorf("the endpoint was asked %q, want %q", m.asked, tc.want)
		}
	}
}

func TestManagedIdentityErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		clientID    string
		srcErr      error
		dead        bool
		wantConfig  bool
		wantUnavail bool
	}{
		{"an identity not assigned here", "22222222-0000-0000-0000-000000000000", nil, false, true, false},
		{"a resource Entra does not know", "", identity.ErrConfiguration, false, true, false},
		{"the endpoint fails", "", errors.New("boom"), false, false, false},
		{"no managed identity endpoint answers", "", nil, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &msi{err: tc.srcErr}
			azureHost(t, m, 0)
			if tc.dead {
				t.Setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
			}
			s := azure.New(noRetry())
			_, err := s.Token(t.Context(), tc.clientID, "api://errors-"+strings.ReplaceAll(tc.name, " ", "-"))
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, identity.ErrConfiguration) != tc.wantConfig || errors.Is(err, identity.ErrUnavailable) != tc.wantUnavail {
				t.Errorf("%v: configuration %v, unavailable %v; want %v, %v", err,
					errors.Is(err, identity.ErrConfiguration), errors.Is(err, identity.ErrUnavailable), tc.wantConfig, tc.wantUnavail)
			}
			if strings.Contains(err.Error(), header) {
				t.Error("the error shows the identity header")
			}
			var te *identity.TransientError
			if !tc.wantConfig && !tc.wantUnavail && !errors.As(err, &te) {
				t.Errorf("%v is not transient", err)
			}
		})
	}
}

// entra is a tenant's authority: discovery and a v2 token endpoint that accepts
// one federated token for one client.
type entra struct {
	url       string
	tenant    string
	clientID  string
	assertion string
	forms     []map[string]string
}

func (e *entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/" + e.tenant + "/v2.0/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":                 e.url + "/" + e.tenant + "/v2.0",
			"authorization_endpoint": e.url + "/" + e.tenant + "/oauth2/v2.0/authorize",
			"token_endpoint":         e.url + "/" + e.tenant + "/oauth2/v2.0/token",
			"jwks_uri":               e.url + "/" + e.tenant + "/discovery/v2.0/keys",
		})
	case "/" + e.tenant + "/oauth2/v2.0/token":
		r.ParseForm()
		f := map[string]string{}
		for k := range r.PostForm {
			f[k] = r.PostForm.Get(k)
		}
		e.forms = append(e.forms, f)
		if f["client_id"] != e.clientID || f["client_assertion"] != e.assertion || f["grant_type"] != "client_credentials" {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found"}`))
			return
		}
		w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"wi-token"}`))
	default:
		http.NotFound(w, r)
	}
}

// TestWorkloadIdentity: authentication-provider="WorkloadIdentity" goes through
// azidentity's WorkloadIdentityCredential, configured as the AKS webhook does.
func TestWorkloadIdentity(t *testing.T) {
	e := &entra{tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientID: userClient, assertion: "projected-sa-token"}
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	os.WriteFile(file, []byte(e.assertion), 0o600)
	env(t, map[string]string{"AZURE_CLIENT_ID": userClient, "AZURE_TENANT_ID": e.tenant, "AZURE_FEDERATED_TOKEN_FILE": file, "AZURE_AUTHORITY_HOST": srv.URL + "/"})

	opts := noRetry()
	opts.ClientOptions.Transport = srv.Client()
	opts.DisableInstanceDiscovery = true
	s := azure.New(opts)
	tok, err := s.Token(t.Context(), identity.WorkloadIdentity, "https://storage.azure.com/")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "wi-token" || time.Until(tok.ExpiresAt) < 59*time.Minute {
		t.Errorf("token %v", tok)
	}
	if len(e.forms) != 1 || e.forms[0]["scope"] != "https://storage.azure.com//.default openid offline_access profile" {
		t.Errorf("token requests %v", e.forms)
	}

	// A federated credential Entra does not have: a configuration error.
	e.assertion = "another"
	_, err = s.Token(t.Context(), identity.WorkloadIdentity, "api://other")
	if !errors.Is(err, identity.ErrConfiguration) || !strings.Contains(err.Error(), "400") {
		t.Errorf("wrong assertion: %v, want a configuration error", err)
	}
}

func TestWorkloadIdentityNotConfigured(t *testing.T) {
	env(t, nil)
	_, err := azure.New(noRetry()).Token(t.Context(), identity.WorkloadIdentity, "api://x")
	if !errors.Is(err, identity.ErrConfiguration) || !strings.Contains(err.Error(), "Azure workload identity") {
		t.Errorf("error %v, want a configuration error naming workload identity", err)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	m := &msi{}
	a, _ := agent.New(agent.Config{Tokens: m, Header: header, Identities: []agent.Identity{{Name: "system", SystemAssigned: true, ClientID: "c"}}})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: a.Wrap(http.NotFoundHandler())}
	go srv.Serve(ln)
	defer srv.Close()
	b.Setenv("IDENTITY_ENDPOINT", "http://"+ln.Addr().String()+agent.AppServicePath)
	b.Setenv("IDENTITY_HEADER", header)
	c := identity.NewCache(azure.New(noRetry()))
	if _, err := c.Token(context.Background(), "", "api://bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Token(context.Background(), "", "api://bench")
	}
}
