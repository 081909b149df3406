package policies_test

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
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/revocation"
)

// testPKI is a CA with an intermediate, client certificates they issue, and a
// CRL server for the intermediate's CRL.
type testPKI struct {
	root, inter         *x509.Certificate
	rootKey, interKey   *ecdsa.PrivateKey
	crlURL              string
	revoked             []*big.Int
	good, expired, gone *x509.Certificate // gone is revoked
	noCRL, selfSigned   *x509.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var entries []x509.RevocationListEntry
		for _, s := range p.revoked {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Hour)})
		}
		issuer, key := p.inter, p.interKey
		if r.URL.Path == "/root.crl" {
			issuer, key, entries = p.root, p.rootKey, nil
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
			RevokedCertificateEntries: entries,
		}, issuer, key)
		if err != nil {
			t.Error(err)
		}
		w.Write(der)
	}))
	t.Cleanup(srv.Close)
	p.crlURL = srv.URL + "/inter.crl"
	serial := int64(100)
	issue := func(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		if tmpl.NotBefore.IsZero() {
			tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		}
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Test"}}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(72 * time.Hour)}
	}
	p.root, p.rootKey = issue(nil, nil, ca("Test Root"))
	interTmpl := ca("Test Issuing CA")
	interTmpl.CRLDistributionPoints = []string{srv.URL + "/root.crl"}
	p.inter, p.interKey = issue(p.root, p.rootKey, interTmpl)
	client := func(cn string, crl bool) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Partner"}}, DNSNames: []string{cn},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		if crl {
			c.CRLDistributionPoints = []string{p.crlURL}
		}
		return c
	}
	p.good, _ = issue(p.inter, p.interKey, client("partner.example", true))
	exp := client("partner.example", true)
	exp.NotBefore, exp.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	p.expired, _ = issue(p.inter, p.interKey, exp)
	p.gone, _ = issue(p.inter, p.interKey, client("gone.example", true))
	p.revoked = []*big.Int{p.gone.SerialNumber}
	p.noCRL, _ = issue(p.inter, p.interKey, client("nocrl.example", false))
	p.selfSigned, _ = issue(nil, nil, client("partner.example", false))
	return p
}

func thumbprint(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return hex.EncodeToString(s[:])
}

// runCert runs one inbound policy on a request that presents chain (leaf
// first; nil for none) and returns LastError's reason, "" when it passed.
func runCert(t *testing.T, deps policies.Deps, policy string, chain []*x509.Certificate) string {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+policy+"</inbound><backend /><outbound /><on-error /></policies>"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, nil, nil).Compile(doc, "operation")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://backend.example/api")
	x := &exchange.Exchange{Request: exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: http.Header{}}}
	if len(chain) > 0 {
		x.Request.Certificate, x.Request.CertificateChain = chain[0], chain[1:]
	}
	pipeline.Compose(d).Run(context.Background(), x)
	if x.LastError == nil {
		return ""
	}
	if x.Response == nil || x.Response.StatusCode != 401 {
		t.Errorf("%s: status %v, want 401", x.LastError.Reason, x.Response)
	}
	return x.LastError.Reason
}

func TestValidateClientCertificate(t *testing.T) {
	p := newPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.root)
	deps := policies.Deps{
		ClientCATrust: roots,
		Revocation:    revocation.New(http.DefaultTransport),
		Certificates:  policies.NewCertificateSet(map[string]*tls.Certificate{"issuing-ca": {Leaf: p.inter}, "root": {Leaf: p.root}}),
	}
	chain := func(leaf *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{leaf, p.inter} }
	all := `<validate-client-certificate>`
	noRevocation := `<validate-client-certificate validate-revocation="false">`
	end := `</validate-client-certificate>`
	id := func(attrs string) string {
		return `<validate-client-certificate><identities><identity ` + attrs + ` /></identities>` + end
	}
	tests := []struct {
		name, policy string
		chain        []*x509.Certificate
		want         string
	}{
		{"no certificate", all + end, nil, "ClientCertificateNotPresent"},
		{"no certificate, ignore-error", `<validate-client-certificate ignore-error="true">` + end, nil, ""},
		{"valid, every check", all + end, chain(p.good), ""},
		{"expired", all + end, chain(p.expired), "ClientCertificateExpired"},
		{"expired, validate-not-after off", `<validate-client-certificate validate-not-after="false">` + end, chain(p.expired), ""},
		{"revoked", all + end, chain(p.gone), "ClientCertificateRevoked"},
		{"revoked, validate-revocation off", noRevocation + end, chain(p.gone), ""},
		{"no CRL distribution point", all + end, chain(p.noCRL), "ClientCertificateRevocationUnknown"},
		{"intermediate not sent", noRevocation + end, []*x509.Certificate{p.good}, "ClientCertificateNotTrusted"},
		{"self-signed", noRevocation + end, []*x509.Certificate{p.selfSigned}, "ClientCertificateNotTrusted"},
		{"self-signed, trust and revocation off", `<validate-client-certificate validate-trust="false" validate-revocation="false">` + end, []*x509.Certificate{p.selfSigned}, ""},
		{"thumbprint", id(`thumbprint="` + thumbprint(p.good) + `"`), chain(p.good), ""},
		{"thumbprint upper case", id(`thumbprint="` + upper(thumbprint(p.good)) + `"`), chain(p.good), ""},
		{"another thumbprint", id(`thumbprint="` + thumbprint(p.expired) + `"`), chain(p.good), "ClientCertificateIdentityNotAllowed"},
		{"serial number", id(`serial-number="` + hex.EncodeToString(p.good.SerialNumber.Bytes()) + `"`), chain(p.good), ""},
		{"common name and dns name", id(`common-name="partner.example" dns-name="PARTNER.example"`), chain(p.good), ""},
		{"subject", id(`subject="CN=partner.example, O=Partner"`), chain(p.good), ""},
		{"issuer subject", id(`issuer-subject="CN=Test Issuing CA,O=Test"`), chain(p.good), ""},
		{"issuer thumbprint", id(`issuer-thumbprint="` + thumbprint(p.inter) + `"`), chain(p.good), ""},
		{"issuer certificate id", id(`issuer-certificate-id="issuing-ca"`), chain(p.good), ""},
		{"another issuer certificate", id(`issuer-certificate-id="root"`), chain(p.good), "ClientCertificateIdentityNotAllowed"},
		{"one criterion of two fails", id(`common-name="partner.example" dns-name="other.example"`), chain(p.good), "ClientCertificateIdentityNotAllowed"},
		{"second identity matches", `<validate-client-certificate><identities><identity common-name="x" /><identity common-name="partner.example" /></identities>` + end, chain(p.good), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runCert(t, deps, tt.policy, tt.chain); got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return string(b)
}
