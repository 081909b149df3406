package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/jwks"
)

// TestValidateJWTCertificateID: keys named by certificate-id come from
// lastmile.yaml's certificates: the issuer's certificate verifies signatures,
// and the gateway's own certificate with its private key decrypts JWE tokens.
func TestValidateJWTCertificateID(t *testing.T) {
	selfSigned := func(cn string) (*rsa.PrivateKey, []byte) {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		return k, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	issuerKey, issuerPEM := selfSigned("issuer")
	gatewayKey, gatewayPEM := selfSigned("gateway")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(gatewayKey)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": `certificates:
  - id: issuer-signing
    file: certs/issuer.pem
  - id: gateway-decryption
    file: certs/gateway.pem
`,
		"certs/issuer.pem":                string(issuerPEM),
		"certs/gateway.pem":               string(gatewayPEM) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml": jwtPolicy(`<validate-jwt header-name="Authorization">
				<issuer-signing-keys><key certificate-id="issuer-signing" /></issuer-signing-keys>
				<decryption-keys><key certificate-id="gateway-decryption" /></decryption-keys>
			</validate-jwt>`),
	})
	s, _ := startWithLog(t, cfgDir, jwks.Options{})
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(issuerKey)
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &gatewayKey.PublicKey}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
	obj, _ := enc.Encrypt([]byte(signed))
	encrypted, _ := obj.CompactSerialize()
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(otherKey)
	for _, tt := range []struct {
		name, token string
		status      int
		reason      string
	}{
		{"signed by the certificate's key", signed, 200, ""},
		{"encrypted to the gateway's certificate", encrypted, 200, ""},
		{"signed by another key", forged, 401, "TokenSignatureInvalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := call(t, s, "/orders/1", tt.token)
			if status != tt.status || h.Get("X-Reason") != tt.reason {
				t.Errorf("got %d %s (reason %q), want %d (reason %q)", status, body, h.Get("X-Reason"), tt.status, tt.reason)
			}
		})
	}
}
