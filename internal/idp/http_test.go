package idp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

func do(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestDiscoveryDocument(t *testing.T) {
	for _, path := range []string{"", "/tenants/a", "/tenants/a%20b"} {
		t.Run("issuer path "+strconv.Quote(path), func(t *testing.T) {
			p, srv := serve(t, path, testConfig, openState(t, t.TempDir()))
			issuer := srv.URL + path
			want := map[string]any{
				"issuer":                                           issuer,
				"jwks_uri":                                         issuer + "/.well-known/jwks.json",
				"token_endpoint":                                   issuer + "/oauth2/token",
				"grant_types_supported":                            []any{"client_credentials"},
				"response_types_supported":                         []any{},
				"subject_types_supported":                          []any{"public"},
				"id_token_signing_alg_values_supported":            []any{"ES256", "RS256"},
				"token_endpoint_auth_methods_supported":            []any{"client_secret_basic", "client_secret_post", "private_key_jwt"},
				"token_endpoint_auth_signing_alg_values_supported": []any{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"},
				"claims_supported": []any{"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
					"client_id", "appid", "azp", "oid", "tid", "roles"},
			}
			for _, url := range []string{
				issuer + "/.well-known/openid-configuration",
				srv.URL + "/.well-known/oauth-authorization-server" + path, // RFC 8414 §3.1
			} {
				resp, body := do(t, http.MethodGet, url, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %s", url, resp.Status)
				}
				var got map[string]any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("GET %s: %v", url, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("GET %s (-want +got):\n%s", url, diff)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if p.DiscoveryURL() != issuer+"/.well-known/openid-configuration" {
				t.Errorf("DiscoveryURL = %s", p.DiscoveryURL())
			}
			// Outside the issuer's path nothing is served.
			if path != "" {
				if resp, _ := do(t, http.MethodGet, srv.URL+"/.well-known/openid-configuration", nil); resp.StatusCode != http.StatusNotFound {
					t.Errorf("discovery outside the issuer path: %s, want 404", resp.Status)
				}
			}
		})
	}
}

func TestJWKSCaching(t *testing.T) {
	p, srv := serve(t, "", testConfig, openState(t, t.TempDir()))
	url := srv.URL + "/.well-known/jwks.json"
	resp, body := do(t, http.MethodGet, url, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s", resp.Status)
	}
	if string(body) != string(p.JWKS()) {
		t.Errorf("served JWKS differs from JWKS()")
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control %q", got)
	}

	tests := []struct {
		name        string
		method      string
		ifNoneMatch string
		wantStatus  int
		wantBody    bool
	}{
		{"matching ETag", http.MethodGet, etag, http.StatusNotModified, false},
		{"weak form of the ETag", http.MethodGet, "W/" + etag, http.StatusNotModified, false},
		{"ETag in a list", http.MethodGet, `"other", ` + etag, http.StatusNotModified, false},
		{"any", http.MethodGet, "*", http.StatusNotModified, false},
		{"stale ETag", http.MethodGet, `"stale"`, http.StatusOK, true},
		{"ETag without quotes", http.MethodGet, etag[1 : len(etag)-1], http.StatusOK, true},
		{"HEAD", http.MethodHead, "", http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.ifNoneMatch != "" {
				h["If-None-Match"] = tt.ifNoneMatch
			}
			resp, got := do(t, tt.method, url, h)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %s, want %d", resp.Status, tt.wantStatus)
			}
			if (len(got) > 0) != tt.wantBody {
				t.Errorf("body of %d bytes, want body: %v", len(got), tt.wantBody)
			}
			if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") == "" {
				t.Errorf("ETag %q Cache-Control %q on a %d", resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"), resp.StatusCode)
			}
			if tt.method == http.MethodHead && resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("HEAD Content-Length %q, want %d", resp.Header.Get("Content-Length"), len(body))
			}
		})
	}

	// A key change changes the ETag: the old one no longer matches.
	if _, err := p.PrepareKey(t.Context(), idp.AlgES256); err != nil {
		t.Fatal(err)
	}
	resp, _ = do(t, http.MethodGet, url, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after a key change: %s with ETag %s, want 200 with a new ETag", resp.Status, resp.Header.Get("ETag"))
	}
}

func TestHandlerRefusals(t *testing.T) {
	_, srv := serve(t, "", testConfig, openState(t, t.TempDir()))
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantAllow          string
	}{
		{"POST discovery", http.MethodPost, "/.well-known/openid-configuration", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE JWKS", http.MethodDelete, "/.well-known/jwks.json", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET token endpoint", http.MethodGet, "/oauth2/token", http.StatusMethodNotAllowed, "POST"},
		{"unknown path", http.MethodGet, "/.well-known/jwks", http.StatusNotFound, ""},
		{"root", http.MethodGet, "/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := do(t, tt.method, srv.URL+tt.path, nil)
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Allow") != tt.wantAllow {
				t.Errorf("%s %s: %s Allow %q, want %d Allow %q", tt.method, tt.path, resp.Status, resp.Header.Get("Allow"), tt.wantStatus, tt.wantAllow)
			}
		})
	}
}
