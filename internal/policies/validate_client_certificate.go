package policies

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/revocation"
)

// RevocationChecker reports whether cert, issued by issuer, was revoked: nil
// when it was not, an error when it was or when that cannot be learnt.
type RevocationChecker interface {
	Check(ctx context.Context, cert, issuer *x509.Certificate) error
}

// validate-client-certificate checks the certificate the client presented in
// its TLS handshake (context.Request.Certificate): its validity period, a chain
// to a trusted root, its revocation, and that it matches one of <identities>.
// Without a certificate (plain HTTP, or a client that sent none) it fails,
// unless ignore-error is true.
type clientCertPolicy struct {
	revocation, trust, notBefore, notAfter, ignoreError bool
	identities                                          []certIdentity

	roots   *x509.CertPool
	revoker RevocationChecker
}

// certIdentity is one <identity>; a certificate matches when every attribute
// given matches.
type certIdentity struct {
	thumbprint, serial, commonName, subject, dnsName, issuerSubject, issuerThumbprint string
	issuerCert                                                                        *x509.Certificate
	issuerCertID                                                                      string
}

// maxIdentities is API Management's limit.
const maxIdentities = 10

func (d Deps) validateClientCertificate(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "validate-revocation", "validate-trust", "validate-not-before", "validate-not-after", "ignore-error")
	c.CheckChildren(el, "identities")
	p := &clientCertPolicy{
		revocation:  c.BoolAttr(el, "validate-revocation", true),
		trust:       c.BoolAttr(el, "validate-trust", true),
		notBefore:   c.BoolAttr(el, "validate-not-before", true),
		notAfter:    c.BoolAttr(el, "validate-not-after", true),
		ignoreError: c.BoolAttr(el, "ignore-error", false),
		roots:       d.ClientCATrust,
		revoker:     d.Revocation,
	}
	for _, ids := range el.Elements() {
		c.CheckAttrs(ids)
		c.CheckChildren(ids, "identity")
		for _, id := range ids.Elements() {
			if len(p.identities) == maxIdentities {
				c.Report(c.Errorf(id.Pos, "<identities> takes at most %d <identity> elements, as in API Management", maxIdentities))
				break
			}
			if ci, ok := d.certIdentity(c, id); ok {
				p.identities = append(p.identities, ci)
			}
		}
	}
	if c.Failed() {
		return nil, nil
	}
	return p, nil
}

func (d Deps) certIdentity(c *pipeline.Compiler, el *policyxml.Element) (certIdentity, bool) {
	attrs := []string{"thumbprint", "serial-number", "common-name", "subject", "dns-name", "issuer-subject", "issuer-thumbprint", "issuer-certificate-id"}
	c.CheckAttrs(el, attrs...)
	c.CheckChildren(el)
	var ci certIdentity
	dst := []*string{&ci.thumbprint, &ci.serial, &ci.commonName, &ci.subject, &ci.dnsName, &ci.issuerSubject, &ci.issuerThumbprint, &ci.issuerCertID}
	n := 0
	for i, a := range attrs {
		if v, ok := c.LiteralAttr(el, a); ok {
			*dst[i] = strings.TrimSpace(v)
			n++
		}
	}
	if n == 0 {
		c.Report(c.Errorf(el.Pos, "<identity> needs at least one of %s", strings.Join(attrs, ", ")))
		return ci, false
	}
	for _, hexAttr := range []struct {
		name string
		v    *string
		size int
	}{{"thumbprint", &ci.thumbprint, sha1.Size}, {"issuer-thumbprint", &ci.issuerThumbprint, sha1.Size}, {"serial-number", &ci.serial, 0}} {
		if *hexAttr.v == "" {
			continue
		}
		s := strings.ToLower(strings.NewReplacer(" ", "", ":", "").Replace(*hexAttr.v))
		b, err := hex.DecodeString(s)
		if err != nil || hexAttr.size != 0 && len(b) != hexAttr.size {
			what := "hexadecimal"
			if hexAttr.size != 0 {
				what = "a SHA-1 thumbprint: 40 hexadecimal digits"
			}
			c.Report(c.Errorf(el.Attr(hexAttr.name).Value.Pos(), "%s of <identity> must be %s, not %q", hexAttr.name, what, *hexAttr.v))
			return ci, false
		}
		*hexAttr.v = s
	}
	ci.serial = strings.TrimLeft(ci.serial, "0")
	if ci.issuerCertID != "" {
		if ci.issuerSubject != "" || ci.issuerThumbprint != "" {
			c.Report(c.Errorf(el.Attr("issuer-certificate-id").NamePos, "issuer-certificate-id cannot be combined with issuer-subject or issuer-thumbprint, as in API Management"))
			return ci, false
		}
		cert, ok := d.certificate(c, el, "issuer-certificate-id", ci.issuerCertID)
		if !ok {
			return ci, false
		}
		ci.issuerCert = cert.Leaf
	}
	return ci, true
}

// Apply checks context.Request.Certificate.
func (p *clientCertPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	err := p.check(ctx, x)
	if err == nil || p.ignoreError {
		return nil
	}
	return err
}

func (p *clientCertPolicy) check(ctx context.Context, x *exchange.Exchange) error {
	cert := x.Request.Certificate
	if cert == nil {
		return certFailure("ClientCertificateNotPresent", "Client certificate not present.", "The request has no client certificate: the client sent none, or TLS is not terminated by lastmile.")
	}
	now := time.Now()
	if p.notBefore && now.Before(cert.NotBefore) {
		return certFailure("ClientCertificateNotYetValid", "Invalid client certificate.", "The client certificate is not valid before "+cert.NotBefore.UTC().Format(time.RFC3339)+".")
	}
	if p.notAfter && now.After(cert.NotAfter) {
		return certFailure("ClientCertificateExpired", "Invalid client certificate.", "The client certificate expired at "+cert.NotAfter.UTC().Format(time.RFC3339)+".")
	}
	var chain []*x509.Certificate
	if p.trust || p.revocation {
		chain = p.chain(x, cert, now)
		if p.trust && chain == nil {
			return certFailure("ClientCertificateNotTrusted", "Invalid client certificate.", "The client certificate does not chain to a trusted root.")
		}
	}
	if p.revocation {
		if len(chain) < 2 {
			return certFailure("ClientCertificateRevocationUnknown", "Invalid client certificate.", "The client certificate's revocation status is unknown: its issuer is not known.")
		}
		if p.revoker == nil {
			return certFailure("ClientCertificateRevocationUnknown", "Invalid client certificate.", "The client certificate's revocation status cannot be checked here.")
		}
		for i := 0; i+1 < len(chain); i++ {
			if err := p.revoker.Check(ctx, chain[i], chain[i+1]); err != nil {
				reason := "ClientCertificateRevocationUnknown"
				if errors.Is(err, revocation.ErrRevoked) {
					reason = "ClientCertificateRevoked"
				}
				return certFailure(reason, "Invalid client certificate.", "Revocation check failed for "+chain[i].Subject.String()+": "+err.Error()+".")
			}
		}
	}
	if len(p.identities) == 0 {
		return nil
	}
	issuer := issuerOf(x, cert, chain)
	for i := range p.identities {
		if p.identities[i].matches(cert, issuer) {
			return nil
		}
	}
	return certFailure("ClientCertificateIdentityNotAllowed", "Invalid client certificate.", "The client certificate matches none of the policy's identities.")
}

// chain builds a chain from cert to a trusted root (the system's and
// lastmile.yaml's CA certificates) with the intermediates the client sent,
// for client authentication; nil when there is none.
func (p *clientCertPolicy) chain(x *exchange.Exchange, cert *x509.Certificate, now time.Time) []*x509.Certificate {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if p.roots != nil {
		roots = p.roots
	}
	inter := x509.NewCertPool()
	for _, c := range x.Request.CertificateChain {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	// The leaf's period was checked (or not, on purpose) above: build the
	// chain at a time inside it, so that the verifier does not check it again.
	switch {
	case !p.notAfter && now.After(cert.NotAfter):
		opts.CurrentTime = cert.NotAfter
	case !p.notBefore && now.Before(cert.NotBefore):
		opts.CurrentTime = cert.NotBefore
	}
	chains, err := cert.Verify(opts)
	if err != nil || len(chains) == 0 {
		return nil
	}
	return chains[0]
}

// issuerOf is the certificate that signed cert: the next one in the verified
// chain, or one the client sent; nil when neither is.
func issuerOf(x *exchange.Exchange, cert *x509.Certificate, chain []*x509.Certificate) *x509.Certificate {
	if len(chain) >= 2 {
		return chain[1]
	}
	for _, c := range x.Request.CertificateChain {
		if cert.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

func (ci *certIdentity) matches(cert, issuer *x509.Certificate) bool {
	if ci.thumbprint != "" {
		sum := sha1.Sum(cert.Raw)
		if hex.EncodeToString(sum[:]) != ci.thumbprint {
			return false
		}
	}
	if ci.serial != "" && strings.TrimLeft(hex.EncodeToString(cert.SerialNumber.Bytes()), "0") != ci.serial {
		return false
	}
	if ci.commonName != "" && !strings.EqualFold(cert.Subject.CommonName, ci.commonName) {
		return false
	}
	if ci.subject != "" && !sameName(cert.Subject.String(), ci.subject) {
		return false
	}
	if ci.dnsName != "" && !containsFold(cert.DNSNames, ci.dnsName) {
		return false
	}
	if ci.issuerSubject != "" && !sameName(cert.Issuer.String(), ci.issuerSubject) {
		return false
	}
	if ci.issuerCert != nil && cert.CheckSignatureFrom(ci.issuerCert) != nil {
		return false
	}
	if ci.issuerThumbprint != "" {
		if issuer == nil {
			return false
		}
		sum := sha1.Sum(issuer.Raw)
		return hex.EncodeToString(sum[:]) == ci.issuerThumbprint
	}
	return true
}

// sameName compares distinguished names as written in a policy ("CN=x, O=y",
// .NET's order, most specific first) with Go's (RFC 2253, the same order),
// ignoring case and spaces after commas.
func sameName(got, want string) bool {
	norm := func(s string) string {
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = strings.TrimSpace(p)
		}
		return strings.ToLower(strings.Join(parts, ","))
	}
	return norm(got) == norm(want)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// certFailure is the policy's error: 401 with the public message, the reason
// and detail in LastError.
func certFailure(reason, public, message string) error {
	return &pipeline.Error{Reason: reason, Message: message, Status: http.StatusUnauthorized, Public: public}
}
