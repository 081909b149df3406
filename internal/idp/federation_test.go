package idp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

// fakeIssuer is an OIDC issuer like a Kubernetes API server's service account
// issuer: a discovery document and a JWKS, over TLS with the test CA.
type fakeIssuer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	key     *rsa.PrivateKey
	kid     string
	down    atomic.Bool
	fetches atomic.Int32
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	f := &fakeIssuer{key: rsaKey(2), kid: "sa-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/openid/v1/jwks"})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.fetches.Add(1)
		f.mu.Lock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: f.kid, Algorithm: "RS256", Use: "sig"}}}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(set)
	})
	f.srv = serveTLS(t, mux)
	return f
}

// token returns a service account token like the kubelet projects.
func (f *fakeIssuer) token(t *testing.T, sub string, aud []string, exp time.Duration) string {
	f.mu.Lock()
	key, kid := f.key, f.kid
	f.mu.Unlock()
	now := time.Now()
	return signJWT(t, key, jose.RS256, map[string]any{"kid": kid}, map[string]any{
		"aud": aud, "iss": f.srv.URL, "sub": sub, "exp": now.Add(exp).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"kubernetes.io": map[string]any{"namespace": "default", "serviceaccount": map[string]any{"name": strings.TrimPrefix(sub, "system:serviceaccount:default:")}},
	})
}

func federatedForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {federatedAppID},
		"client_assertion_type": {idp.ClientAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
}

func TestWorkloadIdentityFederation(t *testing.T) {
	ctx := context.Background()
	k8s := newFakeIssuer(t)
	down := newFakeIssuer(t)
	down.down.Store(true)

	// A SPIFFE trust bundle with a JWT-SVID key and an X.509-SVID key (skipped).
	spiffeKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	x509Key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bundle, _ := json.Marshal(map[string]any{
		"spiffe_sequence": 1, "spiffe_refresh_hint": 300,
		"keys": []any{
			json.RawMessage(mustJSON(jose.JSONWebKey{Key: &x509Key.PublicKey, Use: "x509-svid"})),
			json.RawMessage(mustJSON(jose.JSONWebKey{Key: &spiffeKey.PublicKey, KeyID: "svid-1", Use: "jwt-svid"})),
		},
	})
	bundleFile := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(bundleFile, bundle, 0o600); err != nil {
		t.Fatal(err)
	}

	// Another lastmile, over TLS, whose system-assigned identity gets tokens for
	// api://AzureADTokenExchange.
	otherSrv := httptest.NewUnstartedServer(nil)
	otherSrv.TLS = &tls.Config{Certificates: []tls.Certificate{getTestCA(t).server}}
	otherCfg := testConfig("https://" + otherSrv.Listener.Addr().String())
	otherCfg.Resources = append(otherCfg.Resources, idp.Resource{ID: "api://AzureADTokenExchange", SigningAlgorithm: idp.AlgRS256})
	other := newProvider(t, otherCfg, openState(t, t.TempDir()))
	otherSrv.Config.Handler = other.Handler()
	otherSrv.StartTLS()
	t.Cleanup(otherSrv.Close)

	roots := getTestCA(t).pool
	env := startTokenService(t, []idp.FederatedCredential{
		{Name: "aks-orders", Issuer: k8s.srv.URL, Subject: "system:serviceaccount:default:orders", RootCAs: roots},
		{Name: "aks-reports", Issuer: k8s.srv.URL, Subject: "system:serviceaccount:default:reports", JWKSURI: k8s.srv.URL + "/openid/v1/jwks", RootCAs: roots},
		{Name: "spire", Issuer: "spiffe://example.org", Subject: "spiffe://example.org/ns/default/sa/orders", JWKSFile: bundleFile},
		{Name: "lastmile-west", Issuer: other.Issuer(), Subject: other.SystemIdentity().ObjectID, RootCAs: roots},
		{Name: "unreachable", Issuer: down.srv.URL, Subject: "system:serviceaccount:default:orders", RootCAs: roots},
	})
	fromOther, err := other.Issue(ctx, "", "api://AzureADTokenExchange")
	if err != nil {
		t.Fatal(err)
	}
	svid := func(iss, sub string) string {
		claims := map[string]any{"sub": sub, "aud": []string{"api://AzureADTokenExchange"}, "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()}
		if iss != "" {
			claims["iss"] = iss
		}
		return signJWT(t, spiffeKey, jose.ES256, map[string]any{"kid": "svid-1", "typ": "JWT"}, claims)
	}
	aud := []string{"api://AzureADTokenExchange"}
	orders := k8s.token(t, "system:serviceaccount:default:orders", aud, time.Hour)

	tests := []struct {
		name      string
		assertion string
		wantCode  string
		wantInMsg string
	}{
		{"Kubernetes token, keys by discovery", orders, "", ""},
		{"the same token again: federated tokens are not single use", orders, "", ""},
		{"another subject, keys from jwks_uri", k8s.token(t, "system:serviceaccount:default:reports", aud, 24*time.Hour), "", ""},
		{"JWT-SVID without iss, keys from a SPIFFE bundle", svid("", "spiffe://example.org/ns/default/sa/orders"), "", ""},
		{"JWT-SVID with the trust domain as iss", svid("spiffe://example.org", "spiffe://example.org/ns/default/sa/orders"), "", ""},
		{"another lastmile's managed identity token (RS256, at+jwt)", fromOther.Value, "", ""},

		{"unknown subject", k8s.token(t, "system:serviceaccount:default:admin", aud, time.Hour), "invalid_client", "AADSTS70021"},
		{"wrong audience", k8s.token(t, "system:serviceaccount:default:orders", []string{"sts.amazonaws.com"}, time.Hour), "invalid_client", "AADSTS700212"},
		{"expired", k8s.token(t, "system:serviceaccount:default:orders", aud, -5*time.Minute), "invalid_client", "expired"},
		{"valid for two days", k8s.token(t, "system:serviceaccount:default:orders", aud, 48*time.Hour), "invalid_client", "more than 24h0m0s"},
		{"JWT-SVID from another trust domain", svid("", "spiffe://evil.org/ns/default/sa/orders"), "invalid_client", "AADSTS70021"},
		{"JWT-SVID signed by the X.509-SVID key", signJWT(t, x509Key, jose.ES256, map[string]any{"kid": "svid-1"}, map[string]any{"sub": "spiffe://example.org/ns/default/sa/orders", "aud": aud, "exp": time.Now().Add(time.Minute).Unix()}), "invalid_client", "does not verify"},
		{"another lastmile's token for another audience", mustIssue(t, other, "api://orders"), "invalid_client", "AADSTS700212"},
		{"issuer unreachable", down.token(t, "system:serviceaccount:default:orders", aud, time.Hour), "temporarily_unavailable", "could not be fetched"},
		{"a client assertion instead", env.certAssertion(t, env.p.Issuer(), time.Now()), "invalid_client", "AADSTS70021"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.postForm(t, env.v2TokenPath(), federatedForm(tt.assertion, "api://orders/.default"), "", "")
			if tt.wantCode == "" {
				if resp.status != http.StatusOK {
					t.Fatalf("status %d: %v", resp.status, resp.body)
				}
				tok := verifyByDiscovery(t, env.client, env.p.Issuer(), "", resp.str("access_token"), "api://orders", "ES256")
				if c := claimsOf(t, tok); c["appid"] != federatedAppID {
					t.Errorf("appid %v, want the federated application's", c["appid"])
				}
				return
			}
			if resp.str("error") != tt.wantCode || !strings.Contains(resp.str("error_description"), tt.wantInMsg) {
				t.Fatalf("status %d, %q: %q; want %s mentioning %q", resp.status, resp.str("error"), resp.str("error_description"), tt.wantCode, tt.wantInMsg)
			}
			if tt.wantCode == "temporarily_unavailable" && (resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "") {
				t.Errorf("status %d Retry-After %q, want 503 with Retry-After", resp.status, resp.header.Get("Retry-After"))
			}
		})
	}

	t.Run("client_id is required", func(t *testing.T) {
		f := federatedForm(orders, "api://orders/.default")
		f.Del("client_id")
		resp := env.postForm(t, env.v2TokenPath(), f, "", "")
		if resp.status != 400 || resp.str("error") != "invalid_request" || !strings.Contains(resp.str("error_description"), "client_id is required") {
			t.Errorf("status %d %v", resp.status, resp.body)
		}
	})

	t.Run("an unknown kid does not make lastmile hammer the issuer", func(t *testing.T) {
		before := k8s.fetches.Load()
		k8s.mu.Lock()
		k8s.key, k8s.kid = rsaKey(3), "sa-key-2"
		k8s.mu.Unlock()
		for range 5 {
			resp := env.postForm(t, env.v2TokenPath(), federatedForm(k8s.token(t, "system:serviceaccount:default:orders", aud, time.Hour), "api://orders/.default"), "", "")
			if resp.status != http.StatusUnauthorized {
				t.Fatalf("token with a key fetched less than 30s ago: status %d", resp.status)
			}
		}
		// Two credentials use the issuer (by discovery and by jwks_uri); each
		// may refetch once at most in 30 seconds.
		if n := k8s.fetches.Load() - before; n > 0 {
			t.Errorf("%d JWKS fetches for 5 tokens with an unknown kid within 30s of the last fetch, want none", n)
		}
	})
}

func mustIssue(t *testing.T, p *idp.Provider, resource string) string {
	tok, err := p.Issue(context.Background(), "", resource)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
