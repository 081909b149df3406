package policies_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

// TestValidateJWTCompileErrors: mistakes that would make the policies refuse
// every token, or accept tokens they should not, are load errors with their
// position; secrets in keys never appear in them.
func TestValidateJWTCompileErrors(t *testing.T) {
	const key = `<issuer-signing-keys><key>c2VjcmV0LWtleS1mb3ItdGhlLWNvcnB1cy10ZXN0cy0zMg==</key></issuer-signing-keys>`
	tests := []struct{ name, policy, want string }{
		{"no token source", `<validate-jwt>` + key + `</validate-jwt>`,
			"<validate-jwt> needs exactly one of header-name, query-parameter-name and token-value"},
		{"two token sources", `<validate-jwt header-name="A" token-value="x">` + key + `</validate-jwt>`,
			"<validate-jwt> needs exactly one of header-name, query-parameter-name and token-value"},
		{"no keys", `<validate-jwt header-name="Authorization" />`,
			"<validate-jwt> has no keys to verify signatures with, so it would refuse every token"},
		{"a key that is not base64", `<validate-jwt header-name="A"><issuer-signing-keys><key>s3cr3t!!</key></issuer-signing-keys></validate-jwt>`,
			"the key in <issuer-signing-keys> is not base64"},
		{"a short HMAC key", `<validate-jwt header-name="A"><issuer-signing-keys><key>c2hvcnQ=</key></issuer-signing-keys></validate-jwt>`,
			"the symmetric key in <issuer-signing-keys> is 5 bytes; HMAC keys must be at least 32 bytes"},
		{"n without e", `<validate-jwt header-name="A"><issuer-signing-keys><key n="AQAB" /></issuer-signing-keys></validate-jwt>`,
			"<key> needs both n and e"},
		{"a small RSA key", `<validate-jwt header-name="A"><issuer-signing-keys><key n="` + strings.Repeat("A", 171) + `" e="AQAB" /></issuer-signing-keys></validate-jwt>`,
			"the RSA key of <key>: RSA key of 0 bits"},
		{"an unknown certificate", `<validate-jwt header-name="A"><issuer-signing-keys><key certificate-id="nope" /></issuer-signing-keys></validate-jwt>`,
			`certificate "nope" is not in lastmile.yaml's certificates`},
		{"openid-config over http", `<validate-jwt header-name="A"><openid-config url="http://idp.example.com/.well-known/openid-configuration" /></validate-jwt>`,
			"uses http on a host other than loopback"},
		{"openid-config without url", `<validate-jwt header-name="A"><openid-config /></validate-jwt>`,
			"<openid-config> needs a url attribute"},
		{"a bad clock-skew", `<validate-jwt header-name="A" clock-skew="five">` + key + `</validate-jwt>`,
			`clock-skew of <validate-jwt>: must be whole seconds`},
		{"a bad match", `<validate-jwt header-name="A">` + key + `<required-claims><claim name="roles" match="some" /></required-claims></validate-jwt>`,
			`match of <claim> must be all or any, not "some"`},
		{"a decryption key of the wrong size", `<validate-jwt header-name="A">` + key + `<decryption-keys><key>dGVzdA==</key></decryption-keys></validate-jwt>`,
			"the symmetric key in <decryption-keys> is 4 bytes"},
		{"validate-azure-ad-token without client applications", `<validate-azure-ad-token tenant-id="contoso.onmicrosoft.com" />`,
			"<validate-azure-ad-token> needs <client-application-ids>"},
		{"a tenant that is not a name", `<validate-azure-ad-token tenant-id="../evil"><client-application-ids><application-id>a</application-id></client-application-ids></validate-azure-ad-token>`,
			`tenant-id must be a GUID or a domain name`},
		{"too many identities", `<validate-client-certificate><identities>` + strings.Repeat(`<identity common-name="a" />`, 11) + `</identities></validate-client-certificate>`,
			"<identities> takes at most 10 <identity> elements"},
		{"a thumbprint that is not one", `<validate-client-certificate><identities><identity thumbprint="abc" /></identities></validate-client-certificate>`,
			`thumbprint of <identity> must be a SHA-1 thumbprint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, "<policies><inbound>"+tt.policy+"</inbound></policies>")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
			if !strings.Contains(err.Error(), "policy.xml:1:") {
				t.Errorf("no position: %v", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// TestValidateJWTRequests covers what the golden files do not: where the token
// is, expressions in the attributes, and what the caller sees.
func TestValidateJWTRequests(t *testing.T) {
	secret := []byte("policy-test-hmac-secret-32-bytes")
	keyXML := `<issuer-signing-keys><key>` + base64.StdEncoding.EncodeToString(secret) + `</key></issuer-signing-keys>`
	sign := func(c jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		return s
	}
	good := sign(jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	expired := sign(jwt.MapClaims{"exp": time.Now().Add(-2 * time.Minute).Unix()})
	other := sign(jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix()})
	tests := []struct {
		name, attrs string
		header      http.Header
		wantStatus  int // 0: passes
		wantBody    string
	}{
		{"token-value expression", `token-value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Token&quot;, &quot;&quot;))"`,
			http.Header{"X-Token": {good}}, 0, ""},
		{"custom header keeps its value whole", `header-name="X-Token"`, http.Header{"X-Token": {"Bearer " + good}}, 401, `{"statusCode":401,"message":"Invalid JWT."}`},
		{"the same token twice", `header-name="Authorization"`, http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 0, ""},
		{"two different tokens", `header-name="Authorization"`, http.Header{"Authorization": {"Bearer " + good, "Bearer " + other}}, 401, `{"statusCode":401,"message":"Invalid JWT."}`},
		{"clock-skew as a time span", `header-name="Authorization" clock-skew="00:05:00"`, http.Header{"Authorization": {"Bearer " + expired}}, 0, ""},
		{"clock-skew in seconds, too short", `header-name="Authorization" clock-skew="60"`, http.Header{"Authorization": {"Bearer " + expired}}, 401, `{"statusCode":401,"message":"Invalid JWT."}`},
		{"status and message from expressions", `header-name="Authorization" failed-validation-httpcode="@(403)" failed-validation-error-message="@(&quot;no: &quot; + context.Request.Method)"`,
			http.Header{}, 403, `{"statusCode":403,"message":"no: GET"}`},
		{"an empty message gives the default", `header-name="Authorization" failed-validation-error-message=""`, http.Header{"Authorization": {"Bearer " + expired}}, 401, `{"statusCode":401,"message":"Invalid JWT."}`},
		{"require-expiration-time off", `header-name="Authorization" require-expiration-time="false"`, http.Header{"Authorization": {"Bearer " + sign(jwt.MapClaims{"sub": "x"})}}, 0, ""},
		{"require-expiration-time on", `header-name="Authorization"`, http.Header{"Authorization": {"Bearer " + sign(jwt.MapClaims{"sub": "x"})}}, 401, `{"statusCode":401,"message":"Invalid JWT."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := runHeaders(t, policies.Deps{}, `<validate-jwt `+tt.attrs+`>`+keyXML+`</validate-jwt>`, tt.header)
			if tt.wantStatus == 0 {
				if x.LastError != nil {
					t.Errorf("refused: %s: %s", x.LastError.Reason, x.LastError.Message)
				}
				return
			}
			if x.Response == nil {
				t.Fatal("passed")
			}
			body, _ := x.Response.Body.Bytes(true)
			if x.Response.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", x.Response.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func runHeaders(t *testing.T, deps policies.Deps, inbound string, h http.Header) *exchange.Exchange {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+inbound+"</inbound><backend /><outbound /><on-error /></policies>"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "operation")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://backend.example/api")
	x := &exchange.Exchange{RequestID: "00000000-0000-4000-8000-000000000001", Request: exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: h}}
	pipeline.Compose(d).Run(context.Background(), x)
	return x
}

// TestValidateJWTIssuerBinding: a lone <openid-config>'s keys vouch for its
// issuer and the <issuers> listed beside it; with two configurations, each
// one's keys vouch only for its own issuer.
func TestValidateJWTIssuerBinding(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, name := range []string{"a", "b"} {
		mux.HandleFunc("/"+name+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://" + name + ".example", "jwks_uri": srv.URL + "/keys"})
		})
	}
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Use: "sig"}}})
	})
	deps := policies.Deps{Keys: jwks.NewCache(http.DefaultTransport, jwks.Options{}, false)}
	token := func(iss string) http.Header {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": iss, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "k"
		s, _ := tok.SignedString(key)
		return http.Header{"Authorization": {"Bearer " + s}}
	}
	config := func(name string) string {
		return `<openid-config url="` + srv.URL + `/` + name + `/.well-known/openid-configuration" />`
	}
	listed := `<issuers><issuer>https://listed.example</issuer></issuers>`
	for _, tt := range []struct {
		name, policy, iss, want string
	}{
		{"its own issuer", config("a"), "https://a.example", ""},
		{"an issuer listed beside a lone configuration", config("a") + listed, "https://listed.example", ""},
		{"an issuer not listed", config("a") + listed, "https://other.example", "TokenIssuerNotAllowed"},
		{"two configurations: each its own", config("a") + config("b"), "https://b.example", ""},
		{"two configurations: not a listed issuer", config("a") + config("b") + listed, "https://listed.example", "TokenIssuerNotAllowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := runHeaders(t, deps, `<validate-jwt header-name="Authorization">`+tt.policy+`</validate-jwt>`, token(tt.iss))
			got := ""
			if x.LastError != nil {
				got = x.LastError.Reason
			}
			if got != tt.want {
				t.Errorf("reason %q, want %q", got, tt.want)
			}
		})
	}
}
