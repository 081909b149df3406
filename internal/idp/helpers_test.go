package idp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// testConfig is a configuration with two user-assigned identities and two
// resources, one with roles.
func testConfig(issuer string) idp.Config {
	return idp.Config{
		Issuer: issuer,
		UserAssigned: []idp.UserAssignedIdentity{
			{Name: "reports"},
			{Name: "billing", ClientID: "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D"},
		},
		Resources: []idp.Resource{
			{
				ID:    "api://orders",
				Roles: []string{"Orders.Read", "Orders.Write"},
				Assignments: map[string][]string{
					"system":  {"Orders.Read"},
					"reports": {"Orders.Read", "Orders.Write"},
				},
			},
			{ID: "https://billing.example.com/"},
		},
	}
}

func openState(t testing.TB, dir string) *statedir.Dir {
	t.Helper()
	d, err := statedir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newProvider(t testing.TB, cfg idp.Config, state *statedir.Dir) *idp.Provider {
	t.Helper()
	p, err := idp.New(context.Background(), cfg, state)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// serve starts the provider built from cfg (with the server's URL as issuer plus
// path) on a loopback httptest server.
func serve(t testing.TB, path string, cfg func(issuer string) idp.Config, state *statedir.Dir) (*idp.Provider, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p := newProvider(t, cfg("http://"+srv.Listener.Addr().String()+path), state)
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv
}

// fetchKeys fetches the JWKS the way a backend would (discovery, then jwks_uri)
// and decodes it without go-jose: every key must be a public P-256 key whose kid
// is its RFC 7638 thumbprint.
func fetchKeys(t testing.TB, issuer string) map[string]*ecdsa.PublicKey {
	t.Helper()
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, issuer+"/.well-known/openid-configuration", &disc)
	var set json.RawMessage
	getJSON(t, disc.JWKSURI, &set)
	return decodeKeys(t, set)
}

// decodeKeys decodes a JWKS without go-jose (see fetchKeys).
func decodeKeys(t testing.TB, jwks []byte) map[string]*ecdsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("decoding the JWKS: %v", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for i, k := range set.Keys {
		str := func(name string) string {
			s, _ := k[name].(string)
			return s
		}
		if _, private := k["d"]; private {
			t.Fatalf("JWKS key %d has a private part", i)
		}
		if str("kty") != "EC" || str("crv") != "P-256" || str("alg") != "ES256" || str("use") != "sig" {
			t.Fatalf("JWKS key %d = %v, want kty EC, crv P-256, alg ES256, use sig", i, k)
		}
		x, errX := base64.RawURLEncoding.DecodeString(str("x"))
		y, errY := base64.RawURLEncoding.DecodeString(str("y"))
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			t.Fatalf("JWKS key %d: bad coordinates", i)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatalf("JWKS key %d: %v", i, err)
		}
		// RFC 7638 §3.2: the required members in lexicographic order, no white space.
		canonical := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, str("x"), str("y"))
		sum := sha256.Sum256([]byte(canonical))
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); str("kid") != want {
			t.Fatalf("JWKS key %d: kid %q, want the RFC 7638 thumbprint %q", i, str("kid"), want)
		}
		keys[str("kid")] = pub
	}
	return keys
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// verifyJWT checks a token with golang-jwt against keys: ES256 only, typ at+jwt,
// iss, aud, exp and iat required. It returns the claims.
func verifyJWT(token string, keys map[string]*ecdsa.PublicKey, issuer, audience string, now time.Time) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
			return nil, fmt.Errorf("typ %q, want at+jwt", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		key, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// configErrors returns the *ConfigError values in err.
func configErrors(err error) []*idp.ConfigError {
	var out []*idp.ConfigError
	var walk func(error)
	walk = func(err error) {
		var ce *idp.ConfigError
		if errors.As(err, &ce) && err == error(ce) {
			out = append(out, ce)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
