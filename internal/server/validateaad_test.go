package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/jwks"
)

const (
	aadTenant   = "5d3e2c1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0"
	aadCaller   = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	aadStranger = "7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"
)

// TestValidateAzureADTokenOwnTenant: validate-azure-ad-token with lastmile's
// own tenant id takes the keys of lastmile's identity provider, and accepts
// its tokens in the entra-v1 and entra-v2 profiles from the listed client
// application only.
func TestValidateAzureADTokenOwnTenant(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": `identity:
  tenantId: ` + aadTenant + `
  userAssignedIdentities:
    - name: caller
      clientId: ` + aadCaller + `
    - name: stranger
      clientId: ` + aadStranger + `
  resources:
    - id: api://orders-v1
      tokenProfile: entra-v1
      signingAlgorithm: RS256
      roles: [Orders.Read]
      assignments: {caller: [Orders.Read], stranger: [Orders.Read]}
    - id: api://orders-v2
      tokenProfile: entra-v2
      roles: [Orders.Read]
      assignments: {caller: [Orders.Read]}
    - id: api://orders-native
      roles: [Orders.Read]
      assignments: {caller: [Orders.Read]}
    - id: api://billing
      tokenProfile: entra-v2
      assignments: {caller: []}
`,
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml": jwtPolicy(`<validate-azure-ad-token tenant-id="` + aadTenant + `">
				<client-application-ids><application-id>` + aadCaller + `</application-id></client-application-ids>
				<audiences><audience>api://orders-v1</audience><audience>api://orders-v2</audience><audience>api://orders-native</audience></audiences>
				<required-claims><claim name="roles"><value>Orders.Read</value></claim></required-claims>
			</validate-azure-ad-token>`),
	})
	s, _ := startWithLog(t, cfgDir, jwks.Options{})
	token := func(clientID, resource string) string {
		tok, err := s.Provider().Token(context.Background(), clientID, resource)
		if err != nil {
			t.Fatalf("token for %s: %v", resource, err)
		}
		return tok.Value
	}
	for _, tt := range []struct {
		name, token string
		status      int
		reason      string
	}{
		{"entra-v2", token(aadCaller, "api://orders-v2"), 200, ""},
		{"entra-v1 (RS256)", token(aadCaller, "api://orders-v1"), 200, ""},
		{"native profile: lastmile's own issuer, not Entra's", token(aadCaller, "api://orders-native"), 401, "TokenIssuerNotAllowed"},
		{"another client application", token(aadStranger, "api://orders-v1"), 401, "TokenClaimValueNotAllowed"},
		{"another audience", token(aadCaller, "api://billing"), 401, "TokenAudienceNotAllowed"},
		{"no token", "", 401, "TokenNotPresent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := call(t, s, "/orders/1", tt.token)
			if status != tt.status || h.Get("X-Reason") != tt.reason {
				t.Errorf("got %d %s (reason %q), want %d (reason %q)", status, body, h.Get("X-Reason"), tt.status, tt.reason)
			}
		})
	}
}

// TestValidateAzureADTokenEndpoint: with authentication-endpoint, the tenant's
// v2 and v1 discovery documents come from that endpoint (here a stand-in for
// Entra ID), and tokens of both versions pass; a token of another tenant,
// signed with the same keys (Entra's keys are shared by all tenants), does not.
func TestValidateAzureADTokenEndpoint(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var entra *httptest.Server
	entra = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/" + aadTenant + "/v2.0/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://login.microsoftonline.com/" + aadTenant + "/v2.0", "jwks_uri": entra.URL + "/common/discovery/v2.0/keys"})
		case "/" + aadTenant + "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://sts.windows.net/" + aadTenant + "/", "jwks_uri": entra.URL + "/common/discovery/keys"})
		case "/common/discovery/v2.0/keys", "/common/discovery/keys":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "entra-1", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer entra.Close()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml": jwtPolicy(`<validate-azure-ad-token tenant-id="` + aadTenant + `" authentication-endpoint="` + entra.URL + `">
				<client-application-ids><application-id>` + aadCaller + `</application-id></client-application-ids>
				<backend-application-ids><application-id>orders-app</application-id></backend-application-ids>
			</validate-azure-ad-token>`),
	})
	s, _ := startWithLog(t, cfgDir, jwks.Options{})
	sign := func(c jwt.MapClaims) string {
		c["exp"] = time.Now().Add(time.Hour).Unix()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["kid"] = "entra-1"
		out, _ := tok.SignedString(key)
		return out
	}
	v1 := "https://sts.windows.net/" + aadTenant + "/"
	v2 := "https://login.microsoftonline.com/" + aadTenant + "/v2.0"
	for _, tt := range []struct {
		name   string
		claims jwt.MapClaims
		status int
		reason string
	}{
		{"v2 token", jwt.MapClaims{"iss": v2, "aud": "orders-app", "azp": aadCaller}, 200, ""},
		{"v1 token", jwt.MapClaims{"iss": v1, "aud": "api://orders-app", "appid": aadCaller}, 200, ""},
		{"another tenant", jwt.MapClaims{"iss": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0", "aud": "orders-app", "azp": aadCaller}, 401, "TokenIssuerNotAllowed"},
		{"another backend", jwt.MapClaims{"iss": v2, "aud": "billing-app", "azp": aadCaller}, 401, "TokenAudienceNotAllowed"},
		{"no client application", jwt.MapClaims{"iss": v2, "aud": "orders-app"}, 401, "TokenClaimNotFound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := call(t, s, "/orders/1", sign(tt.claims))
			if status != tt.status || h.Get("X-Reason") != tt.reason {
				t.Errorf("got %d %s (reason %q), want %d (reason %q)", status, body, h.Get("X-Reason"), tt.status, tt.reason)
			}
		})
	}
}
