package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

func TestCertificates(t *testing.T) {
	dir := t.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partner"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pfx-password")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"ca.pem":       pemCert,
		"client.pem":   append(append([]byte{}, pemCert...), pemKey...),
		"client.pfx":   pfx,
		"mismatch.pem": append(append([]byte{}, pemCert...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER})...),
		"empty.pem":    []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n"),
	}
	for name, data := range files {
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	env := func(name string) (string, bool) {
		if name == "PFX_PASSWORD" {
			return "pfx-password", true
		}
		if name == "WRONG_PASSWORD" {
			return "nope", true
		}
		return "", false
	}
	file := filepath.Join(dir, "lastmile.yaml")
	c, err := parse(file, []byte(`certificates:
  - id: ca
    file: ca.pem
  - id: client-pem
    file: client.pem
  - id: client-pfx
    file: client.pfx
    passwordEnv: PFX_PASSWORD
`), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificates) != 3 {
		t.Fatalf("%d certificates, want 3", len(c.Certificates))
	}
	for _, got := range c.Certificates {
		loaded, err := got.Load(env)
		if err != nil {
			t.Fatalf("%s: %v", got.ID, err)
		}
		if loaded.Leaf == nil || !loaded.Leaf.Equal(cert) {
			t.Errorf("%s: leaf not read", got.ID)
		}
		if wantKey := got.ID != "ca"; (loaded.PrivateKey != nil) != wantKey {
			t.Errorf("%s: private key read = %v, want %v", got.ID, loaded.PrivateKey != nil, wantKey)
		}
		if !filepath.IsAbs(got.File) {
			t.Errorf("%s: file %q is not absolute", got.ID, got.File)
		}
	}

	for _, tt := range []struct{ name, yaml, want string }{
		{"a wrong PFX password", "certificates:\n  - id: a\n    file: client.pfx\n    passwordEnv: WRONG_PASSWORD\n", "PKCS#12 (PFX): the password is wrong"},
		{"an unset password variable", "certificates:\n  - id: a\n    file: client.pfx\n    passwordEnv: UNSET\n", "certificates[0].passwordEnv: environment variable UNSET is not set"},
		{"a key of another certificate", "certificates:\n  - id: a\n    file: mismatch.pem\n", "the private key does not belong to the certificate"},
		{"no certificate", "certificates:\n  - id: a\n    file: empty.pem\n", "expected CERTIFICATE and PRIVATE KEY blocks"},
		{"a missing file", "certificates:\n  - id: a\n    file: nope.pem\n", "does not exist"},
		{"a duplicate id", "certificates:\n  - id: a\n    file: ca.pem\n  - id: A\n    file: ca.pem\n", `certificates[1].id: "A" is already the id of the certificate at line 2`},
		{"no file", "certificates:\n  - id: a\n", "certificates[0] has no file"},
		{"the password itself", "certificates:\n  - id: a\n    file: client.pfx\n    passwordEnv: pfx-password!\n", "is not an environment variable name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(file, []byte(tt.yaml), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "pfx-password") && !strings.Contains(tt.yaml, "pfx-password!") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
