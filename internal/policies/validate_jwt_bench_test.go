package policies_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// BenchmarkValidateJWT measures validate-jwt on a valid token with the keys
// already in memory (a static key, or an <openid-config> whose keys were
// fetched before the loop): ns/op and allocs/op of the policy alone.
func BenchmarkValidateJWT(b *testing.B) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	secret := []byte("benchmark-hmac-secret-of-32-byte")
	var issuer *httptest.Server
	issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/keys" {
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ecKey.Public(), KeyID: "ec1", Algorithm: "ES256", Use: "sig"}}})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer.URL, "jwks_uri": issuer.URL + "/keys"})
	}))
	defer issuer.Close()
	claims := jwt.MapClaims{"iss": issuer.URL, "aud": "api://orders", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"Orders.Read"}}
	sign := func(m jwt.SigningMethod, key any, kid string) string {
		t := jwt.NewWithClaims(m, claims)
		if kid != "" {
			t.Header["kid"] = kid
		}
		s, _ := t.SignedString(key)
		return s
	}
	enc := base64.RawURLEncoding.EncodeToString
	deps := policies.Deps{Keys: jwks.NewCache(http.DefaultTransport, jwks.Options{}, false)}
	for _, bc := range []struct {
		name, keys, token, extra string
	}{
		{"HS256 issuer-signing-key", `<issuer-signing-keys><key>` + base64.StdEncoding.EncodeToString(secret) + `</key></issuer-signing-keys>`, sign(jwt.SigningMethodHS256, secret, ""), ""},
		{"RS256 n and e", `<issuer-signing-keys><key n="` + enc(rsaKey.N.Bytes()) + `" e="` + enc(big.NewInt(int64(rsaKey.E)).Bytes()) + `" /></issuer-signing-keys>`, sign(jwt.SigningMethodRS256, rsaKey, ""), ""},
		{"ES256 openid-config cached", `<openid-config url="` + issuer.URL + `/.well-known/openid-configuration" />`, sign(jwt.SigningMethodES256, ecKey, "ec1"), ""},
		{"ES256 openid-config cached, claims and output variable", `<openid-config url="` + issuer.URL + `/.well-known/openid-configuration" />`, sign(jwt.SigningMethodES256, ecKey, "ec1"),
			`<required-claims><claim name="roles" match="any"><value>Orders.Read</value></claim></required-claims>`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out := ""
			if bc.extra != "" {
				out = ` output-token-variable-name="jwt"`
			}
			run := compileBench(b, deps, `<validate-jwt header-name="Authorization"`+out+`>`+bc.keys+`<audiences><audience>api://orders</audience></audiences>`+bc.extra+`</validate-jwt>`)
			header := http.Header{"Authorization": {"Bearer " + bc.token}}
			if x := run(header); x.LastError != nil {
				b.Fatalf("%s: %s", x.LastError.Reason, x.LastError.Message)
			}
			b.ReportAllocs()
			for b.Loop() {
				run(header)
			}
		})
	}
}

func compileBench(b *testing.B, deps policies.Deps, inbound string) func(http.Header) *exchange.Exchange {
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+inbound+"</inbound><backend /><outbound /><on-error /></policies>"))
	if err != nil {
		b.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "operation")
	if err != nil {
		b.Fatal(err)
	}
	p := pipeline.Compose(d)
	u, _ := url.Parse("https://backend.example/api")
	return func(h http.Header) *exchange.Exchange {
		x := &exchange.Exchange{Request: exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: h}}
		p.Run(context.Background(), x)
		return x
	}
}
