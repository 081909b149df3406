package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/store"
)

// FuzzParseTokenRequest feeds arbitrary requests to the token request parser
// and the audience resolution: no panic, errors are RFC 6749 errors with the
// right statuses, and no error description repeats the client secret.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "", "", "grant_type=client_credentials&client_id=x&client_secret=s&scope=api%3A%2F%2Forders%2F.default+openid")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "Basic eCUzQTp5", "", "grant_type=client_credentials&resource=api://a&resource=api://b")
	f.Add("application/x-www-form-urlencoded", "Basic !!!", "client_secret=x", "grant_type=client_credentials&audience=a&resource=b")
	f.Add("text/plain", "Bearer x", "a=%zz", "scope=a/.default%20b/.default")
	f.Add("application/x-www-form-urlencoded", "", "", "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&client_secret=z")
	codes := map[string]int{"invalid_request": 400, "invalid_client": 401, "invalid_target": 400, "invalid_scope": 400}
	f.Fuzz(func(t *testing.T, contentType, authorization, query, body string) {
		req, oerr := parseTokenRequest(contentType, authorization, query, []byte(body))
		if oerr != nil {
			if want, ok := codes[oerr.code]; !ok || want != oerr.status {
				t.Fatalf("error %s with status %d", oerr.code, oerr.status)
			}
			return
		}
		if req.assertion != "" && req.clientSecret != "" {
			t.Fatal("two client authentication methods accepted")
		}
		if req.assertion != "" && req.assertionType != ClientAssertionType {
			t.Fatal("an assertion of another type accepted")
		}
		res, param, oerr := req.target()
		if oerr != nil {
			if want, ok := codes[oerr.code]; !ok || want != oerr.status {
				t.Fatalf("target error %s with status %d", oerr.code, oerr.status)
			}
			if len(req.clientSecret) >= 8 && strings.Contains(oerr.desc, req.clientSecret) {
				t.Fatal("an error description repeats the client secret")
			}
			return
		}
		if res == "" || (param != "resource" && param != "audience" && param != "scope") {
			t.Fatalf("target %q from %q", res, param)
		}
	})
}

// fuzzKeys are the registered keys of FuzzClientAssertion, made once.
var fuzzKeys = func() (out struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	app *application
}) {
	out.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	out.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	out.app = &application{principal: principal{clientID: "3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70"}, keys: []VerificationKey{
		{Key: &out.rsa.PublicKey}, {Key: &out.ec.PublicKey, KeyID: "ec", Algorithm: "ES256"},
	}}
	return out
}()

const fuzzAud = "https://127.0.0.1:8443/oauth2/token"

func fuzzAssertion(t testing.TB, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// FuzzClientAssertion feeds arbitrary strings, and mutations of valid
// assertions, to the whole client assertion validator: no panic, and nothing
// verifies that was not signed by a registered key, which for a fuzzer means
// one of the seeds' signing inputs (anything else would be a forgery).
func FuzzClientAssertion(f *testing.F) {
	now := time.Now()
	claims := map[string]any{"iss": fuzzKeys.app.clientID, "sub": fuzzKeys.app.clientID, "aud": fuzzAud,
		"jti": "j1", "exp": now.Add(time.Hour).Unix(), "nbf": now.Unix()}
	signed := map[string]bool{}
	for _, s := range []string{
		fuzzAssertion(f, jose.PS256, fuzzKeys.rsa, claims),
		fuzzAssertion(f, jose.RS256, fuzzKeys.rsa, claims),
		fuzzAssertion(f, jose.ES256, fuzzKeys.ec, claims),
	} {
		f.Add(s)
		signed[s[:strings.LastIndexByte(s, '.')]] = true
	}
	enc := base64.RawURLEncoding
	f.Add(enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(`{}`)) + ".")
	f.Add(enc.EncodeToString([]byte(`{"alg":"HS256","alg":"ES256"}`)) + ".e30.AAAA")
	f.Add(`{"payload":"e30"}`)
	f.Add("..")
	f.Fuzz(func(t *testing.T, assertion string) {
		j, err := parseJWS(assertion)
		if err != nil {
			return
		}
		c, err := parseAssertionClaims(j.payload)
		if err != nil {
			return
		}
		replay := store.NewMemory(16)
		k, err := validateClientAssertion(context.Background(), j, c, fuzzKeys.app, []string{fuzzAud}, replay, time.Now())
		if err != nil {
			return
		}
		if k == nil || !signed[j.signingInput] {
			t.Fatalf("an assertion that no registered key signed was accepted: %q", assertion)
		}
		if _, err := validateClientAssertion(context.Background(), j, c, fuzzKeys.app, []string{fuzzAud}, replay, time.Now()); err == nil {
			t.Fatal("the same assertion was accepted twice")
		}
	})
}
