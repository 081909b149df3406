package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/http1"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// TestClientCertificateOverTLS terminates TLS in lastmile's HTTP server with
// client certificates requested: the certificate the client presents reaches
// validate-client-certificate as context.Request.Certificate; without one the
// request is refused with 401.
func TestClientCertificateOverTLS(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "partner.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(8)
	otherDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, other.Public(), other)

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend") }))
	defer backend.Close()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"apis/api/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"api","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/api/policy.xml": `<policies><inbound><base />
			<validate-client-certificate validate-trust="false" validate-revocation="false">
				<identities><identity thumbprint="` + hex.EncodeToString(sum[:]) + `" /></identities>
			</validate-client-certificate>
		</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	st, _ := statedir.Open(t.TempDir())
	snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: fakeTokens{}, Expr: goldenExpr}).Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := gateway.NewHandler(nil)
	h.Swap(snap)

	certSrv := httptest.NewTLSServer(h) // only for its server certificate
	roots := certSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	serverCert := certSrv.TLS.Certificates
	certSrv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: serverCert, ClientAuth: tls.RequestClientCert})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http1.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()

	for _, tt := range []struct {
		name   string
		certs  []tls.Certificate
		status int
		body   string
	}{
		{"the listed certificate", []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, 200, "backend"},
		{"another certificate", []tls.Certificate{{Certificate: [][]byte{otherDER}, PrivateKey: other}}, 401, `{"statusCode":401,"message":"Invalid client certificate."}`},
		{"no certificate", nil, 401, `{"statusCode":401,"message":"Client certificate not present."}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: tt.certs}}}
			resp, err := client.Get("https://" + ln.Addr().String() + "/api/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}
