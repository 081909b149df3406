package idp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

func TestApplicationConfigErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := idp.Application{Name: "app", ClientID: certAppID, Keys: []idp.VerificationKey{{Key: &ec.PublicKey}}}
	type problem struct{ Field, Msg string }
	tests := []struct {
		name   string
		change func(*idp.Config)
		want   []problem
	}{
		{"application without credentials", func(c *idp.Config) { c.Applications = []idp.Application{{Name: "app", ClientID: certAppID}} },
			[]problem{{"Applications[0]", "has no credentials"}}},
		{"application without client id", func(c *idp.Config) { a := good; a.ClientID = ""; c.Applications = []idp.Application{a} },
			[]problem{{"Applications[0].ClientID", "missing"}}},
		{"client id not a GUID", func(c *idp.Config) { a := good; a.ClientID = "orders"; c.Applications = []idp.Application{a} },
			[]problem{{"Applications[0].ClientID", "is not a GUID"}}},
		{"client id of a managed identity", func(c *idp.Config) {
			a := good
			a.ClientID = "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D"
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].ClientID", "also the client id of UserAssigned[1]"}}},
		{"name of a managed identity", func(c *idp.Config) { a := good; a.Name = "Reports"; c.Applications = []idp.Application{a} },
			[]problem{{"Applications[0].Name", `"Reports" is also the name of UserAssigned[0]`}}},
		{"name system", func(c *idp.Config) { a := good; a.Name = "system"; c.Applications = []idp.Application{a} },
			[]problem{{"Applications[0].Name", "reserved"}}},
		{"bad secret hash", func(c *idp.Config) {
			a := good
			a.SecretHashes = []string{"$2a$10$bcrypt"}
			c.Applications = []idp.Application{a}
		},
			[]problem{{"Applications[0].SecretHashes[0]", "not an Argon2id hash"}}},
		{"secret hash with huge memory", func(c *idp.Config) {
			a := good
			a.SecretHashes = []string{"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].SecretHashes[0]", "want m=<1 to 262144>"}}},
		{"small RSA key", func(c *idp.Config) {
			a := good
			a.Keys = []idp.VerificationKey{{Key: &small.PublicKey}}
			c.Applications = []idp.Application{a}
		},
			[]problem{{"Applications[0].Keys[0]", "RSA key of 1024 bits"}}},
		{"federated credential without issuer or subject", func(c *idp.Config) {
			a := good
			a.Federated = []idp.FederatedCredential{{}}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[0].Issuer", "missing"}, {"Applications[0].Federated[0].Subject", "missing"}}},
		{"federated issuer over http", func(c *idp.Config) {
			a := good
			a.Federated = []idp.FederatedCredential{{Issuer: "http://oidc.example.com", Subject: "s"}}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[0].Issuer", "uses http on a host other than loopback"}}},
		{"two key sources", func(c *idp.Config) {
			a := good
			a.Federated = []idp.FederatedCredential{{Issuer: "https://oidc.example.com", Subject: "s", JWKSURI: "https://oidc.example.com/keys", JWKSFile: "/tmp/x"}}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[0].JWKSURI", "at most one"}}},
		{"SPIFFE trust domain without keys", func(c *idp.Config) {
			a := good
			a.Federated = []idp.FederatedCredential{{Issuer: "spiffe://example.org", Subject: "spiffe://example.org/x"}}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[0].JWKSFile", "no discovery document"}}},
		{"SPIFFE subject outside the trust domain", func(c *idp.Config) {
			a := good
			a.Federated = []idp.FederatedCredential{{Issuer: "spiffe://example.org", Subject: "spiffe://other.org/x", JWKSFile: "/b"}}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[0].Subject", "not a SPIFFE ID in trust domain"}}},
		{"same federated credential twice", func(c *idp.Config) {
			a := good
			f := idp.FederatedCredential{Issuer: "https://oidc.example.com", Subject: "s"}
			a.Federated = []idp.FederatedCredential{f, f}
			c.Applications = []idp.Application{a}
		}, []problem{{"Applications[0].Federated[1]", "also those of Federated[0]"}}},
		{"unknown profile and algorithm", func(c *idp.Config) {
			c.Resources[0].TokenProfile = "entra-v3"
			c.Resources[0].SigningAlgorithm = "EdDSA"
		}, []problem{{"Resources[0].TokenProfile", `"entra-v3" is not a token profile`}, {"Resources[0].SigningAlgorithm", `"EdDSA" is not a signing algorithm`}}},
		{"rotation period too short", func(c *idp.Config) { c.Keys.RotationPeriod = time.Minute },
			[]problem{{"Keys.RotationPeriod", "outside 1h0m0s"}}},
		{"pre-publication longer than the period", func(c *idp.Config) {
			c.Keys = idp.KeySchedule{RotationPeriod: 2 * time.Hour, Prepublish: 3 * time.Hour}
		},
			[]problem{{"Keys.Prepublish", "less than the rotation period"}}},
		{"pre-publication shorter than the JWKS max-age twice", func(c *idp.Config) { c.Keys.Prepublish = time.Minute },
			[]problem{{"Keys.Prepublish", "at least 10m0s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:8081")
			tt.change(&cfg)
			_, err := idp.New(context.Background(), cfg, openState(t, t.TempDir()))
			var got []problem
			for _, ce := range configErrors(err) {
				got = append(got, problem{ce.Field, ce.Msg})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%v\nwant %d like\n%v", got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i].Field != tt.want[i].Field || !strings.Contains(got[i].Msg, tt.want[i].Msg) {
					t.Errorf("problem %d = %s: %s, want %s: ...%s...", i, got[i].Field, got[i].Msg, tt.want[i].Field, tt.want[i].Msg)
				}
			}
		})
	}
}

func TestParseVerificationKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := newAppCert(t, 0, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	privDER, _ := x509.MarshalPKCS8PrivateKey(cert.key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	jwk := func(k jose.JSONWebKey) string { return string(mustJSON(k)) }
	tests := []struct {
		name    string
		data    string
		want    int
		wantErr string
	}{
		{"certificate", string(cert.pem), 1, ""},
		{"certificate and public key", string(cert.pem) + string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), 2, ""},
		{"JWK", jwk(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a"}), 1, ""},
		{"JWK set", `{"keys":[` + jwk(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a"}) + `,` + jwk(jose.JSONWebKey{Key: &cert.key.PublicKey, KeyID: "b", Algorithm: "PS256"}) + `]}`, 2, ""},
		{"certificate with its private key", string(cert.pem) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), 0, "is a private key"},
		{"private JWK", jwk(jose.JSONWebKey{Key: ec, KeyID: "a"}), 0, "private key material"},
		{"HMAC JWK", `{"kty":"oct","k":"AAAA"}`, 0, "private key material"},
		{"duplicate kid", `{"keys":[` + jwk(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a"}) + `,` + jwk(jose.JSONWebKey{Key: &cert.key.PublicKey, KeyID: "a"}) + `]}`, 0, "same kid"},
		{"encryption key", jwk(jose.JSONWebKey{Key: &ec.PublicKey, Use: "enc"}), 0, "not for signatures"},
		{"alg that does not fit the key", jwk(jose.JSONWebKey{Key: &ec.PublicKey, Algorithm: "RS256"}), 0, "cannot be used with this EC key"},
		{"key_ops without verify", `{"kty":"EC","crv":"P-256","x":"` + mustField(jwk(jose.JSONWebKey{Key: &ec.PublicKey}), "x") + `","y":"` + mustField(jwk(jose.JSONWebKey{Key: &ec.PublicKey}), "y") + `","key_ops":["encrypt"]}`, 0, "does not allow verify"},
		{"point not on the curve", `{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, 0, "not on the curve"},
		{"empty", "  ", 0, "empty"},
		{"text", "hello", 0, "neither PEM nor JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := directory.ParseVerificationKeys([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(keys) != tt.want {
				t.Fatalf("%d keys, %v; want %d", len(keys), err, tt.want)
			}
		})
	}
}

func mustField(jwkJSON, name string) string {
	var m map[string]string
	json.Unmarshal([]byte(jwkJSON), &m)
	return m[name]
}

// TestExpiredCertificate registers a certificate that expired: assertions
// signed with its key are refused, naming the expiry, as Entra refuses an
// expired credential.
func TestExpiredCertificate(t *testing.T) {
	expired := newAppCert(t, 0, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	keys, err := directory.ParseVerificationKeys(expired.pem)
	if err != nil {
		t.Fatal(err)
	}
	_, srv := serve(t, "", func(issuer string) idp.Config {
		c := testConfig(issuer)
		c.Applications = []idp.Application{{Name: "old", ClientID: certAppID, Keys: keys}}
		return c
	}, openState(t, t.TempDir()))
	env := &tokenServiceEnv{srv: srv, client: http.DefaultClient}
	assertion := signJWT(t, expired.key, jose.PS256, map[string]any{"x5t#S256": x5tS256(expired.cert)}, assertionClaims(certAppID, srv.URL, time.Now()))
	resp := env.postForm(t, "/oauth2/token", assertionForm(assertion), "", "")
	if resp.status != http.StatusUnauthorized || !strings.Contains(resp.str("error_description"), "the certificate expired at") {
		t.Errorf("status %d %v, want 401 naming the expiry", resp.status, resp.body)
	}
}
