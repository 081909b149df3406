package idp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

// assertionForm is a token request with a client assertion.
func assertionForm(assertion string, extra ...string) url.Values {
	f := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {certAppID},
		"client_assertion_type": {idp.ClientAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {"api://orders/.default openid offline_access profile"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			f.Del(extra[i])
		} else {
			f.Set(extra[i], extra[i+1])
		}
	}
	return f
}

// unsignedJWT builds a JWT from raw header and claims JSON and a signature.
func unsignedJWT(header, claims string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString(sig)
}

// TestClientAssertionRules sends assertions that break one rule of RFC 7523 §3
// (or of JWS handling, RFC 8725) each, and a few that bend a rule the way real
// clients do and must be accepted.
func TestClientAssertionRules(t *testing.T) {
	env := startTokenService(t, nil)
	now := time.Now()
	tokenURL := env.srv.URL + env.v2TokenPath()
	pss := func(claims map[string]any) string {
		return signJWT(t, env.cert.key, jose.PS256, map[string]any{"typ": "JWT", "x5t#S256": x5tS256(env.cert.cert)}, claims)
	}
	claims := func(change func(m map[string]any)) map[string]any {
		m := assertionClaims(certAppID, tokenURL, now)
		if change != nil {
			change(m)
		}
		return m
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	expired := newAppCert(t, 0, now.Add(-2*time.Hour), now.Add(-time.Hour))
	unregistered := newAppCert(t, 1, now.Add(-time.Hour), now.Add(time.Hour))

	// HS256 signed with the certificate's public key bytes: the RS/HS confusion.
	pubDER, _ := x509.MarshalPKIXPublicKey(&env.cert.key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsHeader := `{"alg":"HS256","typ":"JWT"}`
	claimsJSON, _ := json.Marshal(claims(nil))
	enc := base64.RawURLEncoding
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(enc.EncodeToString([]byte(hsHeader)) + "." + enc.EncodeToString(claimsJSON)))
	hsConfusion := unsignedJWT(hsHeader, string(claimsJSON), mac.Sum(nil))

	valid := pss(claims(nil))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name      string
		assertion string
		extra     []string
		wantCode  string // "" for success
		wantInMsg string
	}{
		{"MSAL's assertion: PS256, x5t#S256 in standard base64, aud the v2 token endpoint", valid, nil, "", ""},
		{"aud the native token endpoint", pss(claims(func(m map[string]any) { m["aud"] = env.p.TokenURL() })), nil, "", ""},
		{"aud the v1 token endpoint", pss(claims(func(m map[string]any) { m["aud"] = env.srv.URL + "/" + env.tenant + "/oauth2/token" })), nil, "", ""},
		{"aud the issuer", pss(claims(func(m map[string]any) { m["aud"] = env.p.Issuer() })), nil, "", ""},
		{"aud an array with the token endpoint", pss(claims(func(m map[string]any) { m["aud"] = []string{"https://elsewhere", tokenURL} })), nil, "", ""},
		{"RS256 with x5t (SHA-1), as for ADFS", signJWT(t, env.cert.key, jose.RS256, map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(sha1Sum(env.cert.cert.Raw))}, claims(nil)), nil, "", ""},
		{"x5t#S256 in base64url", signJWT(t, env.cert.key, jose.PS256, map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sha256Sum(env.cert.cert.Raw))}, claims(nil)), nil, "", ""},
		{"no thumbprint or kid: every registered key is tried", signJWT(t, env.cert.key, jose.RS256, nil, claims(nil)), nil, "", ""},
		{"ES256 with the registered JWK's kid", signJWT(t, env.ecKey, jose.ES256, map[string]any{"kid": env.ecKID}, claims(nil)), nil, "", ""},
		{"typ client-authentication+jwt", signJWT(t, env.ecKey, jose.ES256, map[string]any{"typ": "client-authentication+jwt"}, claims(nil)), nil, "", ""},
		{"client_id omitted: taken from iss and sub", pss(claims(nil)), []string{"client_id", ""}, "", ""},
		{"client_id in upper case", pss(claims(nil)), []string{"client_id", strings.ToUpper(certAppID)}, "", ""},

		{"replayed jti", valid, nil, "invalid_client", "AADSTS700025"},
		{"aud another server", pss(claims(func(m map[string]any) {
			m["aud"] = "https://login.microsoftonline.com/" + env.tenant + "/oauth2/v2.0/token"
		})), nil, "invalid_client", "is not this token endpoint"},
		{"aud missing", pss(claims(func(m map[string]any) { delete(m, "aud") })), nil, "invalid_client", "is not this token endpoint"},
		{"aud a number", pss(claims(func(m map[string]any) { m["aud"] = 7 })), nil, "invalid_client", `"aud" is neither`},
		{"exp missing", pss(claims(func(m map[string]any) { delete(m, "exp") })), nil, "invalid_client", `no "exp" claim`},
		{"exp passed", pss(claims(func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() })), nil, "invalid_client", "expired"},
		{"exp a day away", pss(claims(func(m map[string]any) { m["exp"] = now.Add(24 * time.Hour).Unix() })), nil, "invalid_client", "more than 15m0s from now"},
		{"exp a string", pss(claims(func(m map[string]any) { m["exp"] = "tomorrow" })), nil, "invalid_client", `"exp" is not a number`},
		{"nbf in the future", pss(claims(func(m map[string]any) { m["nbf"] = now.Add(5 * time.Minute).Unix() })), nil, "invalid_client", "not valid before"},
		{"iat in the future", pss(claims(func(m map[string]any) { m["iat"] = now.Add(5 * time.Minute).Unix() })), nil, "invalid_client", "issued in the future"},
		{"jti missing", pss(claims(func(m map[string]any) { delete(m, "jti") })), nil, "invalid_client", `no "jti"`},
		{"iss differs from sub", pss(claims(func(m map[string]any) { m["sub"] = secretAppID })), nil, "invalid_client", "no matching federated identity record"},
		{"iss and sub another application", pss(claims(func(m map[string]any) { m["iss"], m["sub"] = secretAppID, secretAppID })), nil, "invalid_client", "no matching federated identity record"},
		{"iss and sub another application, no client_id", pss(claims(func(m map[string]any) { m["iss"], m["sub"] = secretAppID, secretAppID })), []string{"client_id", ""}, "invalid_client", "no certificates or keys"},
		{"client_id of an unknown application", pss(claims(nil)), []string{"client_id", "0c0c0c0c-1111-4222-8333-444455556666"}, "invalid_client", "AADSTS700016"},
		{"signed by another key", signJWT(t, otherKey, jose.ES256, map[string]any{"kid": env.ecKID}, claims(nil)), nil, "invalid_client", "does not verify"},
		{"kid of no registered key", signJWT(t, env.ecKey, jose.ES256, map[string]any{"kid": "other"}, claims(nil)), nil, "invalid_client", "no registered key"},
		{"an unregistered certificate's thumbprint", signJWT(t, unregistered.key, jose.PS256, map[string]any{"x5t#S256": x5tS256(unregistered.cert)}, claims(nil)), nil, "invalid_client", "no registered certificate has the thumbprint"},
		{"thumbprint of the registered certificate, signed by another key", signJWT(t, unregistered.key, jose.PS256, map[string]any{"x5t#S256": x5tS256(env.cert.cert)}, claims(nil)), nil, "invalid_client", "does not verify"},
		{"alg none", unsignedJWT(`{"alg":"none"}`, string(claimsJSON), nil), nil, "invalid_client", "no signature"},
		{"alg none with a signature", unsignedJWT(`{"alg":"none"}`, string(claimsJSON), []byte("x")), nil, "invalid_client", "alg none"},
		{"alg NoNe", unsignedJWT(`{"alg":"NoNe"}`, string(claimsJSON), []byte("x")), nil, "invalid_client", "alg none"},
		{"HS256 keyed with the public key (algorithm confusion)", hsConfusion, nil, "invalid_client", "symmetric signatures are not accepted"},
		{"ES256 header on an RSA signature", enc.EncodeToString([]byte(`{"alg":"ES256","x5t#S256":"`+x5tS256(env.cert.cert)+`"}`)) + "." + parts[1] + "." + parts[2], nil, "invalid_client", "no registered certificate"},
		{"ES256 header on an RSA signature, no thumbprint", enc.EncodeToString([]byte(`{"alg":"ES256"}`)) + "." + parts[1] + "." + parts[2], nil, "invalid_client", "does not verify"},
		{"RS256 header on a PS256 signature", enc.EncodeToString([]byte(`{"alg":"RS256","x5t#S256":"`+x5tS256(env.cert.cert)+`"}`)) + "." + parts[1] + "." + parts[2], nil, "invalid_client", "does not verify"},
		{"embedded jwk", signJWT(t, otherKey, jose.ES256, map[string]any{"jwk": map[string]any{"kty": "EC"}}, claims(nil)), nil, "invalid_client", `carries "jwk"`},
		{"jku", signJWT(t, otherKey, jose.ES256, map[string]any{"jku": "https://attacker.example/keys"}, claims(nil)), nil, "invalid_client", `carries "jku"`},
		{"crit", signJWT(t, env.ecKey, jose.ES256, map[string]any{"kid": env.ecKID, "crit": []string{"exp"}, "exp": 1}, claims(nil)), nil, "invalid_client", `"crit" is not supported`},
		{"typ at+jwt from an application's own key", signJWT(t, env.ecKey, jose.ES256, map[string]any{"kid": env.ecKID, "typ": "dpop+jwt"}, claims(nil)), nil, "invalid_client", "is not a JWT"},
		{"expired certificate", signJWT(t, expired.key, jose.PS256, map[string]any{"x5t#S256": x5tS256(expired.cert)}, claims(nil)), nil, "invalid_client", "no registered certificate"},
		{"duplicate alg in the header", unsignedJWT(`{"alg":"ES256","alg":"none"}`, string(claimsJSON), []byte("x")), nil, "invalid_client", `member "alg" appears twice`},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, nil, "invalid_client", "JSON serialization"},
		{"five parts (JWE)", "a.b.c.d.e", nil, "invalid_client", "three base64url parts"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], nil, "invalid_client", "canonical base64url"},
		{"garbage", "not a jwt", nil, "invalid_client", "three base64url parts"},
		{"claims not JSON", unsignedJWT(`{"alg":"ES256"}`, `nope`, []byte("x")), nil, "invalid_client", "not JSON"},
		{"wrong client_assertion_type", pss(claims(nil)), []string{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, "invalid_request", "client_assertion_type must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.postForm(t, env.v2TokenPath(), assertionForm(tt.assertion, tt.extra...), "", "")
			if tt.wantCode == "" {
				if resp.status != http.StatusOK || resp.str("access_token") == "" {
					t.Fatalf("status %d, body %v; want a token", resp.status, resp.body)
				}
				return
			}
			if resp.status == http.StatusOK || resp.str("error") != tt.wantCode || !strings.Contains(resp.str("error_description"), tt.wantInMsg) {
				t.Fatalf("status %d, error %q: %q; want %s mentioning %q", resp.status, resp.str("error"), resp.str("error_description"), tt.wantCode, tt.wantInMsg)
			}
			if tt.wantCode == "invalid_client" && (resp.status != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") != "") {
				t.Errorf("invalid_client: status %d, WWW-Authenticate %q; want 401 without a challenge (no Basic was used)", resp.status, resp.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(resp.str("error_description"), tt.assertion) && len(tt.assertion) > 20 {
				t.Error("the error description repeats the assertion")
			}
		})
	}
}

func sha1Sum(b []byte) []byte {
	h := sha1New()
	h.Write(b)
	return h.Sum(nil)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestTokenEndpointErrors checks RFC 6749 §5.2 errors and statuses, and that
// every response, success or not, says Cache-Control: no-store.
func TestTokenEndpointErrors(t *testing.T) {
	env := startTokenService(t, nil)
	secretForm := func(extra ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {secretAppID}, "client_secret": {testSecret}, "scope": {"api://orders/.default"}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				f.Del(extra[i])
			} else {
				f.Set(extra[i], extra[i+1])
			}
		}
		return f
	}
	raw := func(method, path, contentType, body string, header ...string) *http.Request {
		req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return req
	}
	form := "application/x-www-form-urlencoded"
	v2 := env.v2TokenPath()
	tests := []struct {
		name       string
		req        func() tokenResponse
		wantStatus int
		wantCode   string
		wantInMsg  string
		wantHeader map[string]string
	}{
		{"secret in the body", func() tokenResponse { return env.postForm(t, v2, secretForm(), "", "") }, 200, "", "", nil},
		{"secret with HTTP Basic", func() tokenResponse {
			return env.postForm(t, v2, secretForm("client_id", "", "client_secret", ""), secretAppID, testSecret)
		}, 200, "", "", nil},
		{"v1 endpoint with resource", func() tokenResponse {
			return env.postForm(t, "/"+env.tenant+"/oauth2/token", secretForm("scope", "", "resource", "API://Orders/"), "", "")
		}, 200, "", "", nil},
		{"audience parameter", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "", "audience", "api://orders"), "", "")
		}, 200, "", "", nil},
		{"resource and scope agree", func() tokenResponse { return env.postForm(t, v2, secretForm("resource", "api://orders/"), "", "") }, 200, "", "", nil},

		{"GET", func() tokenResponse { return env.do(t, raw(http.MethodGet, v2, "", "")) }, 405, "invalid_request", "POST", map[string]string{"Allow": "POST"}},
		{"repeated parameter", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm().Encode()+"&grant_type=client_credentials"))
		}, 400, "invalid_request", `"grant_type" is repeated`, nil},
		{"repeated parameter lastmile does not read (RFC 6749 §3.1)", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm().Encode()+"&client_info=1&client_info=1"))
		}, 400, "invalid_request", `"client_info" is repeated`, nil},
		{"repeated through an escape", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm().Encode()+"&client%5Fid="+secretAppID))
		}, 400, "invalid_request", `"client_id" is repeated`, nil},
		{"repeated resource", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm("scope", "").Encode()+"&resource=a&resource=b"))
		}, 400, "invalid_target", "more than one resource", nil},
		{"JSON body", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, "application/json", `{"grant_type":"client_credentials"}`))
		}, 400, "invalid_request", "x-www-form-urlencoded", nil},
		{"no Content-Type", func() tokenResponse { return env.do(t, raw(http.MethodPost, v2, "", secretForm().Encode())) }, 400, "invalid_request", "no Content-Type", nil},
		{"malformed form", func() tokenResponse { return env.do(t, raw(http.MethodPost, v2, form, "grant_type=%zz")) }, 400, "invalid_request", `"grant_type" is not form-encoded`, nil},
		{"a JSON body sent as a form is not quoted back: it may hold a secret", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, `{"client_secret":"`+testSecret+`;"}`))
		}, 400, "invalid_request", "(a name that is not a parameter name) is not form-encoded", nil},
		{"body too large", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, "x="+strings.Repeat("a", 70000)))
		}, 413, "invalid_request", "larger than", nil},
		{"secret in the query", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2+"?client_secret=x", form, secretForm().Encode()))
		}, 400, "invalid_request", "sent in the URL", nil},
		{"secret in the query beside a malformed pair", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2+"?client%5Fsecret=x&y=%zz", form, secretForm().Encode()))
		}, 400, "invalid_request", "client_secret was sent in the URL", nil},
		{"assertion in the query after a semicolon", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2+"?a=1;client_assertion=x", form, secretForm().Encode()))
		}, 400, "invalid_request", "client_assertion was sent in the URL", nil},
		{"grant_type missing", func() tokenResponse { return env.postForm(t, v2, secretForm("grant_type", ""), "", "") }, 400, "invalid_request", "grant_type is missing", nil},
		{"authorization_code", func() tokenResponse {
			return env.postForm(t, v2, secretForm("grant_type", "authorization_code"), "", "")
		}, 400, "unsupported_grant_type", "AADSTS70003", nil},
		{"password grant", func() tokenResponse { return env.postForm(t, v2, secretForm("grant_type", "password"), "", "") }, 400, "unsupported_grant_type", "client_credentials", nil},
		{"no credentials", func() tokenResponse { return env.postForm(t, v2, secretForm("client_secret", ""), "", "") }, 401, "invalid_client", "no client credentials", nil},
		{"no client at all", func() tokenResponse {
			return env.postForm(t, v2, secretForm("client_secret", "", "client_id", ""), "", "")
		}, 401, "invalid_client", "no client_id", nil},
		{"wrong secret in the body", func() tokenResponse { return env.postForm(t, v2, secretForm("client_secret", "wrong"), "", "") }, 401, "invalid_client", "AADSTS7000215", map[string]string{"WWW-Authenticate": ""}},
		{"wrong secret with Basic", func() tokenResponse {
			return env.postForm(t, v2, secretForm("client_id", "", "client_secret", ""), secretAppID, "wrong")
		}, 401, "invalid_client", "AADSTS7000215",
			map[string]string{"WWW-Authenticate": `Basic realm="lastmile", charset="UTF-8"`}},
		{"Basic that is not base64", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm("client_id", "", "client_secret", "").Encode(), "Authorization", "Basic %%%"))
		}, 401, "invalid_client", "not base64", map[string]string{"WWW-Authenticate": `Basic realm="lastmile", charset="UTF-8"`}},
		{"Basic and a secret in the body", func() tokenResponse { return env.postForm(t, v2, secretForm("client_id", ""), secretAppID, testSecret) }, 400, "invalid_request", "more than one client authentication method", nil},
		{"secret and assertion", func() tokenResponse {
			return env.postForm(t, v2, secretForm("client_assertion_type", idp.ClientAssertionType, "client_assertion", "a.b.c"), "", "")
		}, 400, "invalid_request", "more than one client authentication method", nil},
		{"Bearer authorization", func() tokenResponse {
			return env.do(t, raw(http.MethodPost, v2, form, secretForm().Encode(), "Authorization", "Bearer x"))
		}, 400, "invalid_request", "Authorization scheme", nil},
		{"unknown application", func() tokenResponse {
			return env.postForm(t, v2, secretForm("client_id", "0c0c0c0c-1111-4222-8333-444455556666"), "", "")
		}, 401, "invalid_client", "AADSTS700016", nil},
		{"secret for an application without secrets", func() tokenResponse { return env.postForm(t, v2, secretForm("client_id", certAppID), "", "") }, 401, "invalid_client", "no client secrets", nil},
		{"unknown resource as scope", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "api://payments/.default"), "", "")
		}, 400, "invalid_scope", "AADSTS500011", nil},
		{"unknown resource as resource", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "", "resource", "api://payments"), "", "")
		}, 400, "invalid_target", "AADSTS500011", nil},
		{"unknown resource as audience", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "", "audience", "api://payments"), "", "")
		}, 400, "invalid_target", "api://payments", nil},
		{"scope without /.default", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "api://orders/Orders.Read"), "", "")
		}, 400, "invalid_scope", "AADSTS1002012", nil},
		{"two resources in scope", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "api://orders/.default https://billing.example.com/.default"), "", "")
		}, 400, "invalid_scope", "more than one resource", nil},
		{"only OIDC scopes", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "openid profile offline_access"), "", "")
		}, 400, "invalid_request", "no resource", nil},
		{"resource and audience disagree", func() tokenResponse {
			return env.postForm(t, v2, secretForm("scope", "", "resource", "api://orders", "audience", "https://billing.example.com"), "", "")
		}, 400, "invalid_target", "different resources", nil},
		{"no resource", func() tokenResponse { return env.postForm(t, v2, secretForm("scope", ""), "", "") }, 400, "invalid_request", "no resource", nil},
		{"unknown tenant", func() tokenResponse {
			return env.postForm(t, "/0c0c0c0c-1111-4222-8333-444455556666/oauth2/v2.0/token", secretForm(), "", "")
		}, 400, "invalid_request", "AADSTS90002", nil},
		{"tenant by name", func() tokenResponse { return env.postForm(t, "/common/oauth2/v2.0/token", secretForm(), "", "") }, 400, "invalid_request", "tenant \"common\" not found", nil},
		{"authorize endpoint", func() tokenResponse {
			return env.do(t, raw(http.MethodGet, "/"+env.tenant+"/oauth2/v2.0/authorize?response_type=code", "", ""))
		}, 400, "unsupported_response_type", "app-only", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.req()
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", resp.status, resp.body, tt.wantStatus)
			}
			if got := resp.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if got := resp.header.Get("Pragma"); got != "no-cache" {
				t.Errorf("Pragma %q, want no-cache", got)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			for k, v := range tt.wantHeader {
				if got := resp.header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.wantCode == "" {
				if resp.str("token_type") != "Bearer" || resp.str("access_token") == "" {
					t.Errorf("success body %v", resp.body)
				}
				return
			}
			if resp.str("error") != tt.wantCode || !strings.Contains(resp.str("error_description"), tt.wantInMsg) {
				t.Errorf("error %q: %q; want %s mentioning %q", resp.str("error"), resp.str("error_description"), tt.wantCode, tt.wantInMsg)
			}
			if resp.str("access_token") != "" {
				t.Error("an error response carries a token")
			}
			if strings.Contains(resp.str("error_description"), testSecret) || strings.Contains(resp.str("error_description"), "wrong") {
				t.Error("the error description repeats the secret")
			}
		})
	}
}

// TestTokenResponseShapes checks the response of each endpoint: RFC 6749 §5.1
// numbers at the native and v2 endpoints, Entra v1's strings and resource at
// the v1 endpoint.
func TestTokenResponseShapes(t *testing.T) {
	env := startTokenService(t, nil)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {secretAppID}, "client_secret": {testSecret}, "resource": {"api://orders"}}
	before := time.Now().Unix()
	for _, tt := range []struct {
		name, path string
		v1         bool
	}{{"native", "/oauth2/token", false}, {"v2", env.v2TokenPath(), false}, {"v1", "/" + env.tenant + "/oauth2/token", true}} {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.postForm(t, tt.path, form, "", "")
			if resp.status != 200 {
				t.Fatalf("status %d: %v", resp.status, resp.body)
			}
			var keys []string
			for k := range resp.body {
				keys = append(keys, k)
			}
			wantKeys := []string{"access_token", "expires_in", "ext_expires_in", "token_type"}
			if tt.v1 {
				wantKeys = []string{"access_token", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"}
			}
			if diff := cmp.Diff(wantKeys, sortStrings(keys)); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			if tt.v1 {
				if in := resp.str("expires_in"); (in != "3599" && in != "3600") || resp.str("resource") != "api://orders" {
					t.Errorf("v1 expires_in %v resource %v; want the string 3599 or 3600 and the resource as registered", resp.body["expires_in"], resp.body["resource"])
				}
				on := resp.str("expires_on")
				if on < itoa(before+3600) || on > itoa(time.Now().Unix()+3600) {
					t.Errorf("v1 expires_on %q", on)
				}
			} else if in := resp.body["expires_in"]; in != float64(3600) && in != float64(3599) {
				t.Errorf("expires_in %v, want the number 3599 or 3600", in)
			}
		})
	}
}
