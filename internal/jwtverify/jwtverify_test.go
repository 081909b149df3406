package jwtverify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/jwtverify"
)

var (
	rsaKey, _  = rsa.GenerateKey(rand.Reader, 2048)
	rsaKey2, _ = rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _   = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _   = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec521, _   = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	hmacKey    = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
)

// sign makes a token with golang-jwt, an implementation independent of the
// verifier's go-jose.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handmade builds a compact JWS from a header and payload and an HMAC-SHA256
// signature with secret, for tokens no library would make.
func handmade(header, payload string, secret []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(header)) + "." + enc([]byte(payload))
	m := jwt.SigningMethodHS256
	sig, _ := m.Sign(in, secret)
	return in + "." + enc(sig)
}

func claims() jwt.MapClaims {
	return jwt.MapClaims{"iss": "https://issuer.test", "aud": "api://orders", "exp": time.Now().Add(time.Hour).Unix()}
}

func reason(err error) string {
	var ve *jwtverify.Error
	if errors.As(err, &ve) {
		return ve.Reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// verify parses and verifies raw with keys and checks the default rules.
func verify(raw string, keys []jwtverify.Key, rules jwtverify.Rules) error {
	tok, err := jwtverify.Parse(raw, nil, true)
	if err != nil {
		return err
	}
	payload, key, err := tok.Verify(keys)
	if err != nil {
		return err
	}
	c, err := jwtverify.ParseClaims(payload)
	if err != nil {
		return err
	}
	if rules.Now.IsZero() {
		rules.Now = time.Now()
	}
	if key != nil && key.Issuers != nil {
		rules.Issuers = key.Issuers
	}
	return rules.Check(c)
}

func TestVerify(t *testing.T) {
	rsaPub := []jwtverify.Key{{Key: &rsaKey.PublicKey}}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	past := jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}
	tests := []struct {
		name  string
		token string
		keys  []jwtverify.Key
		rules jwtverify.Rules
		want  string // reason, "" for valid
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"RS384", sign(t, jwt.SigningMethodRS384, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"RS512", sign(t, jwt.SigningMethodRS512, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"PS256", sign(t, jwt.SigningMethodPS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"PS384", sign(t, jwt.SigningMethodPS384, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"PS512", sign(t, jwt.SigningMethodPS512, rsaKey, "", claims()), rsaPub, jwtverify.Rules{}, ""},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, "", claims()), []jwtverify.Key{{Key: &ecKey.PublicKey}}, jwtverify.Rules{}, ""},
		{"ES384", sign(t, jwt.SigningMethodES384, ec384, "", claims()), []jwtverify.Key{{Key: &ec384.PublicKey}}, jwtverify.Rules{}, ""},
		{"ES512", sign(t, jwt.SigningMethodES512, ec521, "", claims()), []jwtverify.Key{{Key: &ec521.PublicKey}}, jwtverify.Rules{}, ""},
		{"HS256", sign(t, jwt.SigningMethodHS256, hmacKey, "", claims()), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, ""},
		{"HS384", sign(t, jwt.SigningMethodHS384, hmacKey, "", claims()), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, ""},
		{"HS512", sign(t, jwt.SigningMethodHS512, hmacKey, "", claims()), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, ""},
		{"kid picks the key", sign(t, jwt.SigningMethodRS256, rsaKey2, "b", claims()),
			[]jwtverify.Key{{ID: "a", Key: &rsaKey.PublicKey}, {ID: "b", Key: &rsaKey2.PublicKey}}, jwtverify.Rules{}, ""},
		{"no kid tries every key", sign(t, jwt.SigningMethodRS256, rsaKey2, "", claims()),
			[]jwtverify.Key{{ID: "a", Key: &rsaKey.PublicKey}, {ID: "b", Key: &rsaKey2.PublicKey}}, jwtverify.Rules{}, ""},

		{"wrong key", sign(t, jwt.SigningMethodRS256, rsaKey2, "", claims()), rsaPub, jwtverify.Rules{}, jwtverify.TokenSignatureInvalid},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rsaKey, "nope", claims()),
			[]jwtverify.Key{{ID: "a", Key: &rsaKey.PublicKey}}, jwtverify.Rules{}, jwtverify.TokenSignatureKeyNotFound},
		{"alg none", "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":9999999999}`)) + ".",
			rsaPub, jwtverify.Rules{}, jwtverify.TokenSignatureInvalid},
		{"alg None", handmade(`{"alg":"None"}`, `{}`, hmacKey), rsaPub, jwtverify.Rules{}, jwtverify.TokenSignatureInvalid},
		{"key confusion: HS256 with the RSA key's PEM", sign(t, jwt.SigningMethodHS256, pubPEM, "", claims()), rsaPub, jwtverify.Rules{}, jwtverify.TokenSignatureKeyNotFound},
		{"key confusion: HS256 with the RSA key's DER", sign(t, jwt.SigningMethodHS256, pubDER, "", claims()), rsaPub, jwtverify.Rules{}, jwtverify.TokenSignatureKeyNotFound},
		{"ES384 token, P-256 key", sign(t, jwt.SigningMethodES384, ec384, "", claims()), []jwtverify.Key{{Key: &ecKey.PublicKey}}, jwtverify.Rules{}, jwtverify.TokenSignatureKeyNotFound},
		{"RS256 token, key for PS256 only", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), []jwtverify.Key{{Key: &rsaKey.PublicKey, Alg: "PS256"}}, jwtverify.Rules{}, jwtverify.TokenSignatureKeyNotFound},
		{"crit", handmade(`{"alg":"HS256","crit":["exp"],"exp":1}`, `{}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"b64", handmade(`{"alg":"HS256","b64":false}`, `{}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"duplicate alg", handmade(`{"alg":"HS256","alg":"none"}`, `{}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"duplicate claim", handmade(`{"alg":"HS256"}`, `{"aud":"a","aud":"b","exp":9999999999}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"duplicate claim, escaped", handmade(`{"alg":"HS256"}`, `{"aud":"a","\u0061ud":"b","exp":9999999999}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"nested duplicates are data", handmade(`{"alg":"HS256"}`, `{"ctx":{"a":1,"b":{"a":2}},"list":[{"a":1},{"a":2}],"exp":9999999999}`, hmacKey), []jwtverify.Key{{Key: hmacKey}}, jwtverify.Rules{}, ""},
		{"two parts", "abc.def", rsaPub, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"not base64", "a!b.c.d", rsaPub, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"too long", strings.Repeat("a", jwtverify.MaxTokenSize+1), rsaPub, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"short HMAC key", sign(t, jwt.SigningMethodHS256, []byte("short"), "", claims()), []jwtverify.Key{{Key: []byte("short")}}, jwtverify.Rules{}, jwtverify.TokenSignatureInvalid},
		{"another issuer's key", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()),
			[]jwtverify.Key{{Key: &rsaKey.PublicKey, Issuers: []string{"https://other.test"}}}, jwtverify.Rules{}, jwtverify.TokenIssuerNotAllowed},

		{"expired", sign(t, jwt.SigningMethodRS256, rsaKey, "", past), rsaPub, jwtverify.Rules{}, jwtverify.TokenExpired},
		{"expired within skew", sign(t, jwt.SigningMethodRS256, rsaKey, "", past), rsaPub, jwtverify.Rules{ClockSkew: 2 * time.Minute}, ""},
		{"no exp, required", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{}), rsaPub, jwtverify.Rules{RequireExpiration: true}, jwtverify.JwtInvalid},
		{"no exp, not required", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{}), rsaPub, jwtverify.Rules{}, ""},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"nbf": time.Now().Add(time.Minute).Unix()}), rsaPub, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"exp not a number", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"exp": "tomorrow"}), rsaPub, jwtverify.Rules{}, jwtverify.JwtInvalid},
		{"audience", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{Audiences: []string{"api://other", "api://orders/"}}, ""},
		{"audience array", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"aud": []string{"x", "api://orders"}}), rsaPub, jwtverify.Rules{Audiences: []string{"api://orders"}}, ""},
		{"audience not allowed", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{Audiences: []string{"api://other"}}, jwtverify.TokenAudienceNotAllowed},
		{"audience case", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{Audiences: []string{"API://orders"}}, jwtverify.TokenAudienceNotAllowed},
		{"issuer", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{Issuers: []string{"https://issuer.test"}}, ""},
		{"issuer not allowed", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims()), rsaPub, jwtverify.Rules{Issuers: []string{"https://issuer.test/"}}, jwtverify.TokenIssuerNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify(tt.token, tt.keys, tt.rules)
			if got := reason(err); got != tt.want {
				t.Errorf("reason = %q (%v), want %q", got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "go-jose") {
				t.Errorf("the message shows the library's text: %v", err)
			}
			if err != nil && len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[:20]) {
				t.Errorf("the message shows the token: %v", err)
			}
		})
	}
}

// TestEncrypted: JWE tokens, direct and RSA-OAEP, holding a signed token or
// (when signatures are not required) bare claims.
func TestEncrypted(t *testing.T) {
	inner := sign(t, jwt.SigningMethodRS256, rsaKey, "", claims())
	aes := hmacKey[:32]
	encrypt := func(t *testing.T, alg jose.KeyAlgorithm, enc jose.ContentEncryption, key any, cty string, plain string) string {
		t.Helper()
		opts := &jose.EncrypterOptions{}
		if cty != "" {
			opts.WithContentType(jose.ContentType(cty))
		}
		e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := e.Encrypt([]byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	payload, _ := json.Marshal(claims())
	tests := []struct {
		name          string
		token         string
		dec           []jwtverify.DecryptionKey
		requireSigned bool
		want          string
	}{
		{"dir A128CBC-HS256", encrypt(t, jose.DIRECT, jose.A128CBC_HS256, aes, "JWT", inner), []jwtverify.DecryptionKey{{Key: aes}}, true, ""},
		{"dir A256GCM", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "JWT", inner), []jwtverify.DecryptionKey{{Key: aes}}, true, ""},
		{"RSA-OAEP A256GCM", encrypt(t, jose.RSA_OAEP, jose.A256GCM, &rsaKey2.PublicKey, "JWT", inner), []jwtverify.DecryptionKey{{Key: rsaKey2}}, true, ""},
		{"RSA-OAEP-256 A128CBC-HS256", encrypt(t, jose.RSA_OAEP_256, jose.A128CBC_HS256, &rsaKey2.PublicKey, "", inner), []jwtverify.DecryptionKey{{Key: aes}, {Key: rsaKey2}}, true, ""},
		{"wrong key", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "JWT", inner), []jwtverify.DecryptionKey{{Key: []byte("fedcba9876543210fedcba9876543210")}}, true, jwtverify.JwtInvalid},
		{"no decryption keys", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "JWT", inner), nil, true, jwtverify.JwtInvalid},
		{"unsigned claims, signatures required", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "", string(payload)), []jwtverify.DecryptionKey{{Key: aes}}, true, jwtverify.TokenSignatureInvalid},
		{"unsigned claims, signatures not required", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "", string(payload)), []jwtverify.DecryptionKey{{Key: aes}}, false, ""},
		{"alg none inside", encrypt(t, jose.DIRECT, jose.A256GCM, aes, "JWT", "eyJhbGciOiJub25lIn0.e30."), []jwtverify.DecryptionKey{{Key: aes}}, false, jwtverify.TokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := jwtverify.Parse(tt.token, tt.dec, tt.requireSigned)
			if err == nil {
				var p []byte
				if p, _, err = tok.Verify([]jwtverify.Key{{Key: &rsaKey.PublicKey}}); err == nil {
					var c *jwtverify.Claims
					if c, err = jwtverify.ParseClaims(p); err == nil {
						err = (&jwtverify.Rules{Now: time.Now(), RequireExpiration: true}).Check(c)
					}
				}
			}
			if got := reason(err); got != tt.want {
				t.Errorf("reason = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
