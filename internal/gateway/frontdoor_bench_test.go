package gateway_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// cannedBackend answers every forwarded request at once, without a network,
// so that a benchmark measures the gateway's own work.
type cannedBackend struct{}

func (cannedBackend) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          io.NopCloser(strings.NewReader("0123456789abcdef")),
		ContentLength: 16, Request: r,
	}, nil
}

// BenchmarkFrontDoor runs the pipeline a protected API typically has, through
// the gateway handler without a network: a subscription key, validate-jwt
// (RS256, keys from an OpenID configuration, already cached), rate-limit-by-key
// (in memory, and in Redis: one round trip to a local redis-server),
// set-header, authentication-managed-identity (a cached token) and
// forward-request to a backend that answers at once.
func BenchmarkFrontDoor(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	var issuer *httptest.Server
	issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/keys" {
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer.URL, "jwks_uri": issuer.URL + "/keys"})
	}))
	defer issuer.Close()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer.URL, "aud": "api://orders", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"Orders.Read"}})
	tok.Header["kid"] = "k1"
	bearer, err := tok.SignedString(key)
	if err != nil {
		b.Fatal(err)
	}

	dir := b.TempDir()
	files := map[string]string{
		"apis/orders/apiInformation.json": `{"properties":{"path":"orders","serviceUrl":"http://backend.example","subscriptionRequired":true}}`,
		"apis/orders/policy.xml": `<policies><inbound><base />
			<validate-jwt header-name="Authorization" failed-validation-httpcode="401">
				<openid-config url="` + issuer.URL + `/.well-known/openid-configuration" />
				<audiences><audience>api://orders</audience></audiences>
			</validate-jwt>
			<rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)" />
			<set-header name="X-Request-Source" exists-action="override"><value>lastmile</value></set-header>
			<authentication-managed-identity resource="api://orders" />
			</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"subscriptions/s/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"k1","secondaryKey":"k2"}}`,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	run := func(b *testing.B, limits policies.LimitStore) {
		st, _ := statedir.Open(b.TempDir())
		snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: benchTokens{}, Transport: cannedBackend{}, Limits: limits, Expr: policies.Expressions,
			Keys: jwks.NewCache(http.DefaultTransport, jwks.Options{}, false)}).Build(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		h := gateway.NewHandler(nil)
		h.Swap(snap)
		req := httptest.NewRequest("GET", "/orders/42", nil)
		serve := func() *httptest.ResponseRecorder {
			r := req.Clone(context.Background())
			r.Header = http.Header{"Ocp-Apim-Subscription-Key": {"k1"}, "Authorization": {"Bearer " + bearer}}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		if w := serve(); w.Code != 200 { // also fetches the issuer's keys
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, store.NewMemoryLimits(0)) })
	b.Run("redis", func(b *testing.B) {
		r, err := store.NewRedis(context.Background(), store.RedisOptions{Address: storetest.StartRedis(b, "")})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		l := r.Limits(store.LimitOptions{})
		defer l.Close()
		run(b, l)
	})
}
