package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// testIssuer is an OpenID provider independent of lastmile: a discovery
// document and a JWKS whose keys the test changes, and tokens signed with
// golang-jwt.
type testIssuer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	fetches atomic.Int32
}

func newTestIssuer(t *testing.T) *testIssuer {
	iss := &testIssuer{keys: map[string]*ecdsa.PrivateKey{}}
	iss.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss.srv.URL, "jwks_uri": iss.srv.URL + "/keys"})
		case "/keys":
			iss.fetches.Add(1)
			iss.mu.Lock()
			var set jose.JSONWebKeySet
			for kid, k := range iss.keys {
				set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"})
			}
			iss.mu.Unlock()
			json.NewEncoder(w).Encode(set)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(iss.srv.Close)
	iss.addKey(t, "k1")
	return iss
}

func (iss *testIssuer) addKey(t *testing.T, kid string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	iss.keys[kid] = k
	iss.mu.Unlock()
}

func (iss *testIssuer) token(t *testing.T, kid string, claims jwt.MapClaims) string {
	iss.mu.Lock()
	k := iss.keys[kid]
	iss.mu.Unlock()
	if k == nil {
		k, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (iss *testIssuer) claims(aud string, exp time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"iss": iss.srv.URL, "aud": aud, "sub": "alice", "exp": time.Now().Add(exp).Unix(), "roles": []string{"Orders.Read"}}
}

func startWithLog(t *testing.T, cfgDir string, keyFetch jwks.Options) (*server.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{
		ConfigDir: cfgDir, StateDir: t.TempDir(),
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Expr:     policies.Expressions,
		KeyFetch: keyFetch,
	})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, logs
}

func call(t *testing.T, s *server.Server, path, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.GatewayURL()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func jwtPolicy(inbound string) string {
	return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound>
<on-error><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header><base /></on-error></policies>`
}

// TestValidateJWTThroughServer runs validate-jwt in the real server against an
// issuer the test starts: keys come through its discovery document, a key
// that appears later (rotation) is fetched when a token names it, and every
// kind of bad token is refused with API Management's reason, while neither a
// token nor the verifier's text reaches a response or the log.
func TestValidateJWTThroughServer(t *testing.T) {
	iss := newTestIssuer(t)
	other := newTestIssuer(t) // a second trusted issuer, with its own keys
	var backendHits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
		io.WriteString(w, "backend:"+r.Header.Get("X-Sub"))
	}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml": jwtPolicy(`<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
				<openid-config url="` + iss.srv.URL + `/.well-known/openid-configuration" />
				<openid-config url="` + other.srv.URL + `/.well-known/openid-configuration" />
				<audiences><audience>api://orders</audience></audiences>
				<required-claims><claim name="roles" match="any"><value>Orders.Read</value></claim></required-claims>
			</validate-jwt>
			<set-header name="X-Sub" exists-action="override"><value>@(((Jwt)context.Variables["jwt"]).Subject)</value></set-header>`),
	})
	// A short MinInterval so that the rotation below is seen at once; the
	// 5-minute default is TestUnknownKidRateLimit's (internal/jwks).
	s, logs := startWithLog(t, cfgDir, jwks.Options{MinInterval: time.Millisecond})

	good := iss.token(t, "k1", iss.claims("api://orders", time.Hour))
	status, _, body := call(t, s, "/orders/1", good)
	if status != 200 || body != "backend:alice" {
		t.Fatalf("a good token: %d %q", status, body)
	}

	iss.addKey(t, "k2") // rotation: a key the gateway has not fetched
	rotated := iss.token(t, "k2", iss.claims("api://orders", time.Hour))
	if status, _, body := call(t, s, "/orders/1", rotated); status != 200 {
		t.Errorf("a token with the new kid: %d %q", status, body)
	}
	if status, _, body := call(t, s, "/orders/1", other.token(t, "k1", other.claims("api://orders", time.Hour))); status != 200 {
		t.Errorf("a token from the second issuer: %d %q", status, body)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	hs := func(secret []byte, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = "k1"
		out, _ := tok.SignedString(secret)
		return out
	}
	ecPub, _ := x509.MarshalPKIXPublicKey(iss.keys["k1"].Public())
	enc := base64.RawURLEncoding.EncodeToString
	noneTok := enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + enc(mustJSON(iss.claims("api://orders", time.Hour))) + "."
	critTok := func() string {
		k := iss.keys["k1"]
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, iss.claims("api://orders", time.Hour))
		tok.Header["kid"], tok.Header["crit"], tok.Header["exp"] = "k1", []string{"exp"}, 1
		out, _ := tok.SignedString(k)
		return out
	}()
	// A token the second issuer signed, claiming to be from the first.
	forged := other.token(t, "k1", iss.claims("api://orders", time.Hour))
	noRoles := iss.claims("api://orders", time.Hour)
	delete(noRoles, "roles")
	otherRole := iss.claims("api://orders", time.Hour)
	otherRole["roles"] = []string{"Orders.Write"}
	noExp := iss.claims("api://orders", time.Hour)
	delete(noExp, "exp")
	notYet := iss.claims("api://orders", time.Hour)
	notYet["nbf"] = time.Now().Add(time.Hour).Unix()

	tokens := []string{good, rotated}
	for _, tt := range []struct {
		name, token, reason, message string
	}{
		{"no token", "", "TokenNotPresent", "JWT not present."},
		{"expired", iss.token(t, "k1", iss.claims("api://orders", -time.Minute)), "TokenExpired", "Invalid JWT."},
		{"another audience", iss.token(t, "k1", iss.claims("api://billing", time.Hour)), "TokenAudienceNotAllowed", "Invalid JWT."},
		{"signed by an unknown key", iss.token(t, "k1", nil), "TokenSignatureInvalid", "Invalid JWT."},
		{"unknown kid", iss.token(t, "made-up", iss.claims("api://orders", time.Hour)), "TokenSignatureKeyNotFound", "Invalid JWT."},
		{"alg none", noneTok, "TokenSignatureInvalid", "Invalid JWT."},
		{"HS256 with the EC key's bytes", hs(ecPub, iss.claims("api://orders", time.Hour)), "TokenSignatureKeyNotFound", "Invalid JWT."},
		{"HS256 with an RSA key's bytes", hs(pubDER, iss.claims("api://orders", time.Hour)), "TokenSignatureKeyNotFound", "Invalid JWT."},
		{"crit header", critTok, "JwtInvalid", "Invalid JWT."},
		{"another issuer's key", forged, "TokenIssuerNotAllowed", "Invalid JWT."},
		{"missing claim", iss.token(t, "k1", noRoles), "TokenClaimNotFound", "Invalid JWT."},
		{"claim value not allowed", iss.token(t, "k1", otherRole), "TokenClaimValueNotAllowed", "Invalid JWT."},
		{"no expiration", iss.token(t, "k1", noExp), "JwtInvalid", "Invalid JWT."},
		{"not valid yet", iss.token(t, "k1", notYet), "JwtInvalid", "Invalid JWT."},
		{"garbage", "not-a-jwt", "JwtInvalid", "Invalid JWT."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			if tt.name == "signed by an unknown key" {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				j := jwt.NewWithClaims(jwt.SigningMethodES256, iss.claims("api://orders", time.Hour))
				j.Header["kid"] = "k1"
				tok, _ = j.SignedString(k)
			}
			if tok != "" {
				tokens = append(tokens, tok)
			}
			before := backendHits.Load()
			status, h, body := call(t, s, "/orders/1", tok)
			want := fmt.Sprintf(`{"statusCode":401,"message":%q}`, tt.message)
			if status != 401 || body != want || h.Get("X-Reason") != tt.reason {
				t.Errorf("got %d %s (reason %q), want 401 %s (reason %q)", status, body, h.Get("X-Reason"), want, tt.reason)
			}
			if backendHits.Load() != before {
				t.Errorf("the backend was called")
			}
		})
	}

	log := logs.String()
	for _, tok := range tokens {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if len(sig) > 10 && strings.Contains(log, sig) || strings.Contains(log, tok) {
			t.Errorf("the log holds a token")
		}
	}
	for _, lib := range []string{"go-jose", "square/go-jose", "crypto/", "illegal base64"} {
		if strings.Contains(log, lib) {
			t.Errorf("the log holds the library's text %q", lib)
		}
	}
}

// TestUnknownKidsDoNotHammerTheIssuer: with API Management's schedule, tokens
// naming made-up kids make no fetch beyond the first one for 5 minutes.
func TestUnknownKidsDoNotHammerTheIssuer(t *testing.T) {
	iss := newTestIssuer(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml": jwtPolicy(`<validate-jwt header-name="Authorization">
				<openid-config url="` + iss.srv.URL + `/.well-known/openid-configuration" /></validate-jwt>`),
	})
	s, _ := startWithLog(t, cfgDir, jwks.Options{})
	if status, _, body := call(t, s, "/orders/1", iss.token(t, "k1", iss.claims("x", time.Hour))); status != 200 {
		t.Fatalf("a good token: %d %s", status, body)
	}
	for i := range 50 {
		if status, h, _ := call(t, s, "/orders/1", iss.token(t, fmt.Sprint("kid-", i), iss.claims("x", time.Hour))); status != 401 || h.Get("X-Reason") != "TokenSignatureKeyNotFound" {
			t.Fatalf("made-up kid %d: %d %s", i, status, h.Get("X-Reason"))
		}
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetches = %d, want 1", n)
	}

	// A reload that changes only policies keeps the cached keys.
	writeFiles(t, cfgDir, map[string]string{"apis/orders/policy.xml": jwtPolicy(`<validate-jwt header-name="Authorization" clock-skew="30">
				<openid-config url="` + iss.srv.URL + `/.well-known/openid-configuration" /></validate-jwt>`)})
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _, body := call(t, s, "/orders/1", iss.token(t, "k1", iss.claims("x", time.Hour))); status != 200 {
		t.Fatalf("a good token after the reload: %d %s", status, body)
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Errorf("JWKS fetches after a reload = %d, want 1", n)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
