package revocation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/revocation"
)

func TestCheck(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	crl := func(key *ecdsa.PrivateKey, next time.Duration, revoked ...int64) []byte {
		var entries []x509.RevocationListEntry
		for _, s := range revoked {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
			ThisUpdate: time.Now().Add(-2 * time.Hour), NextUpdate: time.Now().Add(next), RevokedCertificateEntries: entries}, ca, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch r.URL.Path {
		case "/good.crl":
			w.Write(crl(caKey, time.Hour, 42))
		case "/forged.crl":
			w.Write(crl(otherKey, time.Hour))
		case "/stale.crl":
			w.Write(crl(caKey, -time.Hour))
		case "/huge.crl":
			w.Write(make([]byte, revocation.MaxCRL+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cert := func(serial int64, cdp ...string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), CRLDistributionPoints: cdp}
	}
	c := revocation.New(http.DefaultTransport)
	for _, tt := range []struct {
		name string
		cert *x509.Certificate
		want error
		says string
	}{
		{"not listed", cert(7, srv.URL+"/good.crl"), nil, ""},
		{"listed", cert(42, srv.URL+"/good.crl"), revocation.ErrRevoked, ""},
		{"no distribution point", cert(7), revocation.ErrUnknown, "no http CRL distribution point"},
		{"ldap only", cert(7, "ldap://dir.example/cn=CA"), revocation.ErrUnknown, "no http CRL distribution point"},
		{"signed by another key", cert(7, srv.URL+"/forged.crl"), revocation.ErrUnknown, "not signed by the certificate's issuer"},
		{"out of date", cert(7, srv.URL+"/stale.crl"), revocation.ErrUnknown, "out of date"},
		{"too large", cert(7, srv.URL+"/huge.crl"), revocation.ErrUnknown, "larger than"},
		{"missing, then a good one", cert(7, srv.URL+"/missing.crl", srv.URL+"/good.crl"), nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(context.Background(), tt.cert, ca)
			if !errors.Is(err, tt.want) || tt.want == nil && err != nil {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v, want it to say %q", err, tt.says)
			}
		})
	}
	before := fetches.Load()
	for range 10 {
		c.Check(context.Background(), cert(7, srv.URL+"/good.crl"), ca)
	}
	if n := fetches.Load() - before; n != 0 {
		t.Errorf("%d fetches for a cached CRL, want 0", n)
	}
}
