package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"software.sslmate.com/src/go-pkcs12"
)

// tlsFiles writes a server certificate (PEM with key, and PFX), the same
// certificate without its key, and a CA bundle into a new folder.
func tlsFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw"}, DNSNames: []string{"gw.example.com"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pfx-password")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"server.pem": append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...),
		"server.pfx": pfx,
		"cert.pem":   certPEM,
		"ca.pem":     certPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestListenersTLS(t *testing.T) {
	dir := tlsFiles(t)
	abs := func(name string) string { return filepath.Join(dir, name) }
	env := func(name string) (string, bool) { return "pfx-password", name == "PFX_PASSWORD" }
	shared := &TLS{Certificates: []CertificateFile{{File: abs("server.pem")}}, ClientCertificates: ClientCertificates{Mode: "none"}}
	tests := []struct {
		name, yaml string
		want       ListenersTLS
		acmeHTTP   string
	}{
		{"none: plain HTTP everywhere", "listeners:\n  gateway: \":8443\"\n", ListenersTLS{}, ""},
		{"shared by every listener", "listeners:\n  metrics: 127.0.0.1:9464\n  tls:\n    certificates:\n      - file: server.pem\n",
			ListenersTLS{Gateway: shared, Identity: shared, Metrics: shared}, ""},
		{"shared, no metrics listener", "listeners:\n  tls:\n    certificates:\n      - file: server.pem\n",
			ListenersTLS{Gateway: shared, Identity: shared}, ""},
		{"shared, turned off on one listener", "listeners:\n  identity:\n    address: 127.0.0.1:8081\n    tls: false\n  tls:\n    certificates:\n      - file: server.pem\n",
			ListenersTLS{Gateway: shared}, ""},
		{"a listener's own replaces the shared one whole",
			"listeners:\n  gateway:\n    tls:\n      certificates:\n        - file: server.pfx\n          passwordEnv: PFX_PASSWORD\n      clientCertificates:\n        mode: verify\n        caFile: ca.pem\n  tls:\n    certificates:\n      - file: server.pem\n    clientCertificates:\n      mode: request\n",
			ListenersTLS{
				Gateway:  &TLS{Certificates: []CertificateFile{{File: abs("server.pfx"), PasswordEnv: "PFX_PASSWORD"}}, ClientCertificates: ClientCertificates{Mode: "verify", CAFile: abs("ca.pem")}},
				Identity: &TLS{Certificates: shared.Certificates, ClientCertificates: ClientCertificates{Mode: "request"}},
			}, ""},
		{"acme with the default directory, and the challenge listener",
			"listeners:\n  acmeHTTP: \":80\"\n  gateway:\n    tls:\n      acme:\n        domains: [API.example.com]\n",
			ListenersTLS{Gateway: &TLS{ACME: &ACME{Domains: []string{"api.example.com"}, DirectoryURL: DefaultACMEDirectory}, ClientCertificates: ClientCertificates{Mode: "none"}}}, ":80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(filepath.Join(dir, "lastmile.yaml"), []byte(tt.yaml), env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Listeners.TLS); diff != "" {
				t.Errorf("TLS (-want +got):\n%s", diff)
			}
			if c.Listeners.ACMEHTTP != tt.acmeHTTP {
				t.Errorf("acmeHTTP %q, want %q", c.Listeners.ACMEHTTP, tt.acmeHTTP)
			}
			// Marshal writes each listener's TLS out; parsing it gives the same.
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := parse(filepath.Join(dir, "lastmile.yaml"), out, env)
			if err != nil {
				t.Fatalf("parse marshalled:\n%s\n%v", out, err)
			}
			if diff := cmp.Diff(c, again); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestListenersTLSErrors(t *testing.T) {
	dir := tlsFiles(t)
	env := func(name string) (string, bool) { return "wrong", name == "WRONG_PASSWORD" }
	const certs = "    certificates:\n      - file: server.pem\n"
	tests := []struct{ name, yaml, want string }{
		{"empty", "listeners:\n  tls:\n", "lastmile.yaml:2:7: listeners.tls is empty; give it certificates or acme"},
		{"neither certificates nor acme", "listeners:\n  tls:\n    clientCertificates:\n      mode: request\n",
			"lastmile.yaml:3:5: listeners.tls has no certificates and no acme; add one of them"},
		{"both", "listeners:\n  tls:\n" + certs + "    acme:\n      domains: [a.example.com]\n",
			"lastmile.yaml:5:5: listeners.tls has both certificates and acme; keep one"},
		{"a typo", "listeners:\n  tls:\n    certificate:\n      - file: server.pem\n",
			`lastmile.yaml:3:5: unknown key "certificate" in listeners.tls; did you mean "certificates"?`},
		{"tls: true", "listeners:\n  gateway:\n    tls: true\n", "lastmile.yaml:3:10: listeners.gateway.tls: write false to serve plain HTTP"},
		{"a certificate without its key", "listeners:\n  tls:\n    certificates:\n      - file: cert.pem\n",
			"lastmile.yaml:4:15: listeners.tls.certificates[0]: " + filepath.Join(dir, "cert.pem") + " holds no private key; a listener's certificate needs its key in the same file"},
		{"a missing file", "listeners:\n  tls:\n    certificates:\n      - file: nope.pem\n", "lastmile.yaml:4:15: listeners.tls.certificates[0]: " + filepath.Join(dir, "nope.pem") + " does not exist"},
		{"no file", "listeners:\n  tls:\n    certificates:\n      - passwordEnv: WRONG_PASSWORD\n", "lastmile.yaml:4:9: listeners.tls.certificates[0] has no file"},
		{"an unset password variable", "listeners:\n  tls:\n    certificates:\n      - file: server.pfx\n        passwordEnv: UNSET\n",
			"lastmile.yaml:5:22: listeners.tls.certificates[0].passwordEnv: environment variable UNSET is not set"},
		{"a wrong password", "listeners:\n  tls:\n    certificates:\n      - file: server.pfx\n        passwordEnv: WRONG_PASSWORD\n", "PKCS#12 (PFX): the password is wrong"},
		{"no domains", "listeners:\n  tls:\n    acme:\n      email: ops@example.com\n", "lastmile.yaml:4:7: listeners.tls.acme has no domains"},
		{"a wildcard", "listeners:\n  tls:\n    acme:\n      domains: [\"*.example.com\"]\n", `lastmile.yaml:4:17: listeners.tls.acme.domains[0]: "*.example.com" is a wildcard, which needs the DNS-01 challenge`},
		{"an IP address", "listeners:\n  tls:\n    acme:\n      domains: [192.0.2.1]\n", `"192.0.2.1" is an IP address`},
		{"a single label", "listeners:\n  tls:\n    acme:\n      domains: [gateway]\n", `"gateway" has a single label`},
		{"not a DNS name", "listeners:\n  tls:\n    acme:\n      domains: [a_b.example.com]\n", `"a_b.example.com" is not a DNS name`},
		{"a domain twice", "listeners:\n  tls:\n    acme:\n      domains: [a.example.com, A.example.com]\n", `listeners.tls.acme.domains[1]: "a.example.com" is listed twice`},
		{"a bad email", "listeners:\n  tls:\n    acme:\n      domains: [a.example.com]\n      email: ops\n", `lastmile.yaml:5:14: listeners.tls.acme.email: "ops" is not an email address`},
		{"an http directory", "listeners:\n  tls:\n    acme:\n      domains: [a.example.com]\n      directoryURL: http://acme.example.com/dir\n",
			`lastmile.yaml:5:21: listeners.tls.acme.directoryURL: "http://acme.example.com/dir" is not an https URL`},
		{"a CA file without certificates", "listeners:\n  tls:\n    acme:\n      domains: [a.example.com]\n      caFile: server.pfx\n", "holds no PEM certificates"},
		{"an unknown client certificate mode", "listeners:\n  tls:\n" + certs + "    clientCertificates:\n      mode: optional\n",
			`lastmile.yaml:6:13: listeners.tls.clientCertificates.mode: unknown mode "optional"; use none, request, require, verify-if-given, verify`},
		{"verify without a CA file", "listeners:\n  tls:\n" + certs + "    clientCertificates:\n      mode: verify\n",
			"lastmile.yaml:6:13: listeners.tls.clientCertificates.mode verify checks client certificates against caFile"},
		{"a CA file that request ignores", "listeners:\n  tls:\n" + certs + "    clientCertificates:\n      mode: request\n      caFile: ca.pem\n",
			"lastmile.yaml:7:15: listeners.tls.clientCertificates.caFile is used only by the modes verify and verify-if-given"},
		{"acmeHTTP without acme", "listeners:\n  acmeHTTP: \":80\"\n  tls:\n" + certs,
			"lastmile.yaml:2:3: listeners.acmeHTTP answers ACME challenges, but no listener's tls uses acme"},
		{"acmeHTTP with tls", "listeners:\n  acmeHTTP:\n    address: \":80\"\n", "lastmile.yaml:3:5: listeners.acmeHTTP must be a host:port address, not a mapping"},
		{"tls on no metrics listener", "listeners:\n  metrics:\n    tls:\n" + strings.ReplaceAll(certs, "    ", "      "),
			"lastmile.yaml:2:3: listeners.metrics has tls but no address"},
		{"a bad address in the mapping", "listeners:\n  gateway:\n    address: nope\n", `lastmile.yaml:3:14: listeners.gateway: "nope" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(filepath.Join(dir, "lastmile.yaml"), []byte(tt.yaml), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "pfx-password") {
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}
