package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/federation"
)

// provider is a token endpoint that trusts one federated token per client id and
// records the forms it receives.
type provider struct {
	mu      sync.Mutex
	trusted map[string]string // client id -> the assertion it accepts
	forms   []map[string]string
	status  int // when non-zero, answer with it
	retry   string
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad method or content type", 400)
		return
	}
	r.ParseForm()
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	p.mu.Lock()
	p.forms = append(p.forms, form)
	status, retry := p.status, p.retry
	want := p.trusted[form["client_id"]]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"temporarily_unavailable"}`))
		return
	}
	if form["grant_type"] != "client_credentials" || form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		want == "" || form["client_assertion"] != want {
		w.WriteHeader(401)
		json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS700213: No matching federated identity record found for presented assertion subject"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "at-" + form["client_id"]})
}

func setup(t *testing.T, audience string) (*federation.Source, *provider, string) {
	t.Helper()
	p := &provider{trusted: map[string]string{"app": "sa-token-1", "other-app": "sa-token-1"}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("sa-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := federation.New(federation.Config{TokenEndpoint: srv.URL + "/tenant/oauth2/v2.0/token", ClientID: "app", TokenFile: file, AudienceParameter: audience})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, file
}

func TestSource(t *testing.T) {
	for _, tc := range []struct {
		name, audience, clientID, resource string
		want                               map[string]string
	}{
		{"scope, the default", "", "", "https://storage.azure.com/", map[string]string{"client_id": "app", "scope": "https://storage.azure.com//.default"}},
		{"scope already given", "scope", "", "api://orders/.default", map[string]string{"client_id": "app", "scope": "api://orders/.default"}},
		{"resource", "resource", identity.WorkloadIdentity, "api://orders", map[string]string{"client_id": "app", "resource": "api://orders"}},
		{"audience, and a policy's client id", "audience", "other-app", "api://orders", map[string]string{"client_id": "other-app", "audience": "api://orders"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, _ := setup(t, tc.audience)
			tok, err := s.Token(t.Context(), tc.clientID, tc.resource)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != "at-"+tc.want["client_id"] || time.Until(tok.ExpiresAt) < 59*time.Minute {
				t.Errorf("token %v", tok)
			}
			got := p.forms[0]
			for _, k := range []string{"grant_type", "client_assertion_type", "client_assertion"} {
				delete(got, k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTokenFileRotation: the platform replaces the token file; the next request
// uses the new token.
func TestTokenFileRotation(t *testing.T) {
	s, p, file := setup(t, "")
	if _, err := s.Token(t.Context(), "", "api://orders"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.trusted["app"] = "sa-token-2"
	p.mu.Unlock()
	// A new file, as the kubelet writes it (a new mtime).
	if err := os.WriteFile(file, []byte("sa-token-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	os.Chtimes(file, future, future)
	if _, err := s.Token(t.Context(), "", "api://orders"); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if got := p.forms[1]["client_assertion"]; got != "sa-token-2" {
		t.Errorf("assertion after rotation = %q", got)
	}
}

func TestSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		edit       func(p *provider, file string)
		wantConfig bool
		wantRetry  time.Duration
		wantIn     string
	}{
		{"no federated credential", func(p *provider, file string) { p.trusted["app"] = "something-else" }, true, 0, "401 invalid_client: AADSTS700213"},
		{"no token file", func(p *provider, file string) { os.Remove(file) }, true, 0, "the federated token file"},
		{"an empty token file", func(p *provider, file string) { os.WriteFile(file, []byte("\n"), 0o600) }, true, 0, "is empty"},
		{"throttled", func(p *provider, file string) { p.status, p.retry = 429, "30" }, false, 30 * time.Second, "429"},
		{"down", func(p *provider, file string) { p.status = 503 }, false, 0, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, file := setup(t, "")
			tc.edit(p, file)
			_, err := s.Token(t.Context(), "", "api://orders")
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("error %v, want one that says %q", err, tc.wantIn)
			}
			if strings.Contains(err.Error(), "sa-token") {
				t.Errorf("the error shows the assertion: %v", err)
			}
			if errors.Is(err, identity.ErrConfiguration) != tc.wantConfig {
				t.Errorf("configuration error %v, want %v", !tc.wantConfig, tc.wantConfig)
			}
			var te *identity.TransientError
			if !tc.wantConfig && (!errors.As(err, &te) || te.RetryAfter != tc.wantRetry) {
				t.Errorf("want a TransientError retrying after %s: %#v", tc.wantRetry, err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		cfg  federation.Config
		want string
	}{
		{federation.Config{TokenEndpoint: "ftp://x", ClientID: "a", TokenFile: "/t"}, `workload identity source: tokenEndpoint "ftp://x" is not an http(s) URL`},
		{federation.Config{TokenEndpoint: "https://x/token", TokenFile: "/t"}, "workload identity source: clientId and tokenFile are required"},
		{federation.Config{TokenEndpoint: "https://x/token", ClientID: "a", TokenFile: "/t", AudienceParameter: "aud"}, `workload identity source: audienceParameter "aud" is not scope, resource or audience`},
	} {
		if _, err := federation.New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %s", tc.cfg, err, tc.want)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	p := &provider{trusted: map[string]string{"app": "sa"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	file := filepath.Join(b.TempDir(), "token")
	os.WriteFile(file, []byte("sa"), 0o600)
	s, err := federation.New(federation.Config{TokenEndpoint: srv.URL, ClientID: "app", TokenFile: file})
	if err != nil {
		b.Fatal(err)
	}
	c := identity.NewCache(s)
	if _, err := c.Token(context.Background(), "", "api://orders"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Token(context.Background(), "", "api://orders")
	}
}
