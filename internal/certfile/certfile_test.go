package certfile_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

func TestParse(t *testing.T) {
	ca := certtest.NewCA(t, "test CA")
	c := ca.Client("orders-client")
	other := ca.Client("other")
	ecKey, _ := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreignDER, _ := x509.MarshalPKCS8PrivateKey(foreign)
	certPEM := certtest.PEM(t, c, true)
	tests := []struct {
		name     string
		data     []byte
		password string
		wantKey  bool
		wantErr  string
	}{
		{"PEM with a PKCS#8 key", certtest.PEM(t, c, false), "", true, ""},
		{"PEM with an EC key", slices.Concat(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecKey})), "", true, ""},
		{"PEM without a key", certPEM, "", false, ""},
		{"PFX", certtest.PFX(t, c, "s3cret"), "s3cret", true, ""},
		{"PFX without a password", certtest.PFX(t, c, ""), "", true, ""},
		{"PFX, wrong password", certtest.PFX(t, c, "s3cret"), "guess", false, "PKCS#12 (PFX): the password is wrong"},
		{"PEM with another certificate's key", append(certtest.PEM(t, other, true), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: foreignDER})...), "", false,
			"the private key does not belong to the certificate"},
		{"PEM with two keys", append(certtest.PEM(t, c, false), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: foreignDER})...), "", false,
			"PEM block 4 is a second private key"},
		{"an encrypted PEM key", slices.Concat(certPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), "", false,
			"PEM block 3 is an encrypted private key"},
		{"a PEM password", certtest.PEM(t, c, false), "pw", false, "a password is given, but the data is PEM"},
		{"PEM without a certificate", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: foreignDER}), "", false, "no CERTIFICATE block"},
		{"another PEM block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "", false, "PEM block 1 is a PUBLIC KEY"},
		{"a broken certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), "", false, "the first certificate"},
		{"garbage", []byte("not a certificate"), "", false, "neither PEM nor a PKCS#12 (PFX) file"},
		{"too large", make([]byte, certfile.MaxSize+1), "", false, "more than the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := certfile.Parse(tt.data, tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Leaf == nil || got.Leaf.Subject.CommonName != "orders-client" {
				t.Errorf("leaf %v, want orders-client", got.Leaf)
			}
			if len(got.Certificate) != 2 {
				t.Errorf("chain of %d certificates, want 2", len(got.Certificate))
			}
			if (got.PrivateKey != nil) != tt.wantKey {
				t.Errorf("private key %T, want one: %v", got.PrivateKey, tt.wantKey)
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	c := certtest.NewCA(t, "ca").Client("x")
	tp := certfile.Thumbprint(c.Leaf)
	if len(tp) != 40 || strings.ToUpper(tp) != tp {
		t.Errorf("thumbprint %q, want 40 upper-case hex digits", tp)
	}
}
