package idp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

// testCA is a certificate authority made for one test run, with a server
// certificate for 127.0.0.1 and localhost.
type testCA struct {
	pool   *x509.CertPool
	server tls.Certificate
	caPEM  []byte
}

var (
	caOnce sync.Once
	ca     *testCA
)

func getTestCA(t testing.TB) *testCA {
	t.Helper()
	caOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "lastmile test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		caCert, _ := x509.ParseCertificate(caDER)
		leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		leafTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2),
			Subject:      pkix.Name{CommonName: "127.0.0.1"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			DNSNames:     []string{"localhost"},
		}
		leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(caCert)
		ca = &testCA{
			pool:   pool,
			server: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
			caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		}
	})
	return ca
}

// client returns an HTTP client that trusts only the test CA.
func (c *testCA) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}}}
}

// serveTLS starts a TLS server with the test CA's certificate; its URL is
// https://127.0.0.1:port.
func serveTLS(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{getTestCA(t).server}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// appCert is an application's certificate credential.
type appCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  []byte // the certificate only
}

var (
	rsaKeysMu sync.Mutex
	rsaKeys   []*rsa.PrivateKey
)

// rsaKey returns the i-th RSA key of the run: generating RSA keys is slow, so
// tests share them.
func rsaKey(i int) *rsa.PrivateKey {
	rsaKeysMu.Lock()
	defer rsaKeysMu.Unlock()
	for len(rsaKeys) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKeys = append(rsaKeys, k)
	}
	return rsaKeys[i]
}

func newAppCert(t testing.TB, keyIndex int, notBefore, notAfter time.Time) appCert {
	t.Helper()
	key := rsaKey(keyIndex)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "lastmile test application"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return appCert{key: key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Fixed application ids of the token service tests.
const (
	certAppID      = "3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70"
	secretAppID    = "4a6b2d3f-1c8e-4f90-8b2c-3d4e5f6a7b81"
	federatedAppID = "5b7c3e4a-2d9f-4a01-9c3d-4e5f6a7b8c92"
	testSecret     = "s3cret+with/odd=chars%and:colon ~"
)

// tokenServiceEnv is a running token service with registered applications.
type tokenServiceEnv struct {
	p      *idp.Provider
	srv    *httptest.Server
	cert   appCert
	ecKey  *ecdsa.PrivateKey // a second key of the certificate application, as a JWK
	ecKID  string
	client *http.Client
	tenant string
}

var (
	secretHashOnce sync.Once
	secretHash     string
)

// testSecretHash hashes testSecret once per run (Argon2 is slow on purpose).
func testSecretHash() string {
	secretHashOnce.Do(func() { secretHash = directory.HashClientSecret(testSecret) })
	return secretHash
}

// tokenServiceConfig registers three applications: one with a certificate and
// an EC JWK, one with a secret, one federated to fed (if non-nil), and resources
// in every profile.
func tokenServiceConfig(issuer string, cert appCert, ecPub *ecdsa.PublicKey, ecKID string, fed []idp.FederatedCredential) idp.Config {
	cfg := testConfig(issuer)
	cfg.TenantID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	certKeys, err := directory.ParseVerificationKeys(cert.pem)
	if err != nil {
		panic(err)
	}
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: ecPub, KeyID: ecKID, Algorithm: "ES256", Use: "sig"})
	ecKeys, err := directory.ParseVerificationKeys(jwk)
	if err != nil {
		panic(err)
	}
	cfg.Applications = []idp.Application{
		{Name: "orders-batch", ClientID: certAppID, Keys: append(certKeys, ecKeys...)},
		{Name: "legacy-policy", ClientID: strings.ToUpper(secretAppID), SecretHashes: []string{testSecretHash()}},
	}
	if fed != nil {
		cfg.Applications = append(cfg.Applications, idp.Application{Name: "k8s-workload", ClientID: federatedAppID, Federated: fed})
	}
	cfg.Resources[0].Assignments["orders-batch"] = []string{"Orders.Write"}
	cfg.Resources = append(cfg.Resources,
		idp.Resource{ID: "api://orders-rsa", SigningAlgorithm: idp.AlgRS256},
		idp.Resource{ID: "api://entra-v1", TokenProfile: idp.ProfileEntraV1, SigningAlgorithm: idp.AlgRS256,
			Roles: []string{"Read"}, Assignments: map[string][]string{"orders-batch": {"Read"}, "legacy-policy": {"Read"}}},
		idp.Resource{ID: "api://entra-v2", TokenProfile: idp.ProfileEntraV2},
		idp.Resource{ID: "api://AzureADTokenExchange", SigningAlgorithm: idp.AlgRS256},
	)
	return cfg
}

// startTokenService starts the token service on a TLS server with the test CA.
func startTokenService(t testing.TB, fed []idp.FederatedCredential, opts ...idp.Option) *tokenServiceEnv {
	t.Helper()
	env := &tokenServiceEnv{cert: newAppCert(t, 0, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)), client: getTestCA(t).client()}
	env.ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	env.ecKID = "ec-key-1"
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{getTestCA(t).server}, MinVersion: tls.VersionTLS12}
	issuer := "https://" + srv.Listener.Addr().String()
	p, err := idp.New(context.Background(), tokenServiceConfig(issuer, env.cert, &env.ecKey.PublicKey, env.ecKID, fed), openState(t, t.TempDir()), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv.Config.Handler = p.Handler()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	env.p, env.srv, env.tenant = p, srv, p.TenantID()
	return env
}

// signJWT signs claims with key (alg from the key unless given) and extra
// header members.
func signJWT(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, header map[string]any, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertionClaims are the claims MSAL puts in a certificate assertion.
func assertionClaims(clientID, aud string, now time.Time) map[string]any {
	return map[string]any{
		"aud": aud, "iss": clientID, "sub": clientID,
		"jti": randomID(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// x5tS256 is the certificate thumbprint as MSAL sends it: standard base64.
func x5tS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// tokenResponse is a token endpoint response, success or error.
type tokenResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func (r tokenResponse) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

// postForm posts a token request.
func (env *tokenServiceEnv) postForm(t testing.TB, path string, form url.Values, basicUser, basicPass string) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return env.do(t, req)
}

func (env *tokenServiceEnv) do(t testing.TB, req *http.Request) tokenResponse {
	t.Helper()
	resp, err := env.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := tokenResponse{status: resp.StatusCode, header: resp.Header}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out.body); err != nil {
			t.Fatalf("%s %s: %s: body is not JSON: %q", req.Method, req.URL.Path, resp.Status, data)
		}
	}
	return out
}

func (env *tokenServiceEnv) v2TokenPath() string { return "/" + env.tenant + "/oauth2/v2.0/token" }

// certAssertion is an assertion like MSAL's, for the certificate application.
func (env *tokenServiceEnv) certAssertion(t testing.TB, aud string, now time.Time) string {
	return signJWT(t, env.cert.key, jose.PS256, map[string]any{"typ": "JWT", "x5t#S256": x5tS256(env.cert.cert)},
		assertionClaims(certAppID, aud, now))
}
