package policies

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// authentication-basic sends the backend "Authorization: Basic
// base64(username:password)". The credentials appear in no error and no log.
type basicAuthPolicy struct {
	username, password pipeline.Value
}

func basicAuth(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "username", "password")
	c.CheckChildren(el)
	user, ok1 := c.RequiredAttr(el, "username")
	pass, ok2 := c.RequiredAttr(el, "password")
	if !ok1 || !ok2 {
		return nil, nil
	}
	if lit, ok := user.Literal(); ok && strings.Contains(lit, ":") {
		// The value is not repeated: it may be a named value holding a secret.
		return nil, c.Errorf(el.Attr("username").Value.Pos(), "username of <authentication-basic> must not contain ':' (RFC 7617)")
	}
	return &basicAuthPolicy{username: user, password: pass}, nil
}

func (p *basicAuthPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	user, err := p.username.String(x)
	if err != nil {
		return err
	}
	if strings.Contains(user, ":") {
		return &pipeline.Error{Reason: "InvalidCredentials", Message: "the username of authentication-basic contains ':'", Status: 500}
	}
	pass, err := p.password.String(x)
	if err != nil {
		return err
	}
	x.Request.Headers.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	return nil
}

// Certificates finds the certificates of lastmile.yaml's certificates section
// that policies name.
type Certificates interface {
	// ByID returns the certificate with that id, ignoring case.
	ByID(id string) (*tls.Certificate, bool)
	// ByThumbprint returns the certificate with that thumbprint (the hex SHA-1
	// of the certificate, in any case).
	ByThumbprint(thumbprint string) (*tls.Certificate, bool)
}

// CertificateSet is a fixed set of Certificates.
type CertificateSet struct {
	byID, byThumbprint map[string]*tls.Certificate
}

// NewCertificateSet returns the set of certificates by id. Each has its Leaf.
func NewCertificateSet(byID map[string]*tls.Certificate) *CertificateSet {
	s := &CertificateSet{byID: map[string]*tls.Certificate{}, byThumbprint: map[string]*tls.Certificate{}}
	for id, c := range byID {
		s.byID[strings.ToLower(id)] = c
		if c.Leaf != nil {
			s.byThumbprint[certfile.Thumbprint(c.Leaf)] = c
		}
	}
	return s
}

// ByID implements Certificates.
func (s *CertificateSet) ByID(id string) (*tls.Certificate, bool) {
	c, ok := s.byID[strings.ToLower(strings.TrimSpace(id))]
	return c, ok
}

// ByThumbprint implements Certificates.
func (s *CertificateSet) ByThumbprint(thumbprint string) (*tls.Certificate, bool) {
	c, ok := s.byThumbprint[strings.ToUpper(strings.TrimSpace(thumbprint))]
	return c, ok
}

// authentication-certificate presents a client certificate to the backend:
// one of lastmile.yaml's certificates by thumbprint or certificate-id, or one
// computed by body (PKCS#12 or PEM bytes) with password. forward-request
// presents it to this request's backend only (internal/proxy).
type certificatePolicy struct {
	fixed      *tls.Certificate // a literal thumbprint or certificate-id, found at load
	certs      Certificates
	thumbprint pipeline.Value
	id         pipeline.Value
	byID       bool
	body       pipeline.Value
	password   pipeline.Value
	hasBody    bool
	parsed     *parsedCertificates
}

func (d Deps) authCertificate(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "thumbprint", "certificate-id", "body", "password")
	c.CheckChildren(el)
	tp, hasTP := c.Attr(el, "thumbprint")
	id, hasID := c.Attr(el, "certificate-id")
	body, hasBody := c.Attr(el, "body")
	pw, hasPW := c.Attr(el, "password")
	n := 0
	for _, has := range []bool{hasTP, hasID, hasBody} {
		if has {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, c.Errorf(el.Pos, "<authentication-certificate> needs exactly one of thumbprint, certificate-id and body")
	case hasPW && !hasBody:
		return nil, c.Errorf(el.Attr("password").NamePos, "password of <authentication-certificate> goes with body only; a certificate of lastmile.yaml takes its password from passwordEnv")
	case hasBody:
		if !body.IsExpr() {
			return nil, c.Errorf(el.Attr("body").Value.Pos(), "body of <authentication-certificate> must be a policy expression that gives the certificate's bytes (byte[]), such as @(Convert.FromBase64String((string)context.Variables[\"cert\"]))")
		}
		if !hasPW {
			pw = pipeline.Literal("")
		}
		return &certificatePolicy{body: body, password: pw, hasBody: true, parsed: &parsedCertificates{}}, nil
	}
	p := &certificatePolicy{certs: d.Certificates, thumbprint: tp, id: id, byID: hasID}
	name, attr := tp, "thumbprint"
	if hasID {
		name, attr = id, "certificate-id"
	}
	if d.Certificates == nil {
		return nil, c.Errorf(el.Attr(attr).Value.Pos(), "<authentication-certificate> names a certificate, but lastmile.yaml has no certificates; add the certificate to its certificates section")
	}
	if lit, ok := name.Literal(); ok {
		cert, err := p.find(lit)
		if err != nil {
			return nil, c.Errorf(el.Attr(attr).Value.Pos(), "%s", err.Message)
		}
		p.fixed = cert
	}
	return p, nil
}

// find looks a certificate up by the policy's thumbprint or certificate-id.
func (p *certificatePolicy) find(name string) (*tls.Certificate, *pipeline.Error) {
	var cert *tls.Certificate
	var ok bool
	what := "thumbprint"
	if p.byID {
		cert, ok = p.certs.ByID(name)
		what = "id"
	} else {
		cert, ok = p.certs.ByThumbprint(name)
	}
	switch {
	case !ok:
		return nil, &pipeline.Error{Reason: "CertificateNotFound", Message: "no certificate of lastmile.yaml's certificates has the " + what + " " + quoteShort(name) + "; add it there", Status: 500}
	case cert.PrivateKey == nil:
		return nil, &pipeline.Error{Reason: "CertificateNotFound", Message: "the certificate with the " + what + " " + quoteShort(name) + " has no private key, which a client certificate needs; put the key in its file", Status: 500}
	}
	return cert, nil
}

func (p *certificatePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	cert, err := p.certificate(x)
	if err != nil {
		return err
	}
	x.Backend.SetCertificate(cert)
	return nil
}

func (p *certificatePolicy) certificate(x *exchange.Exchange) (*tls.Certificate, error) {
	switch {
	case p.fixed != nil:
		return p.fixed, nil
	case p.hasBody:
		v, err := p.body.Any(x)
		if err != nil {
			return nil, err
		}
		data, ok := v.([]byte)
		if !ok {
			return nil, &pipeline.Error{Reason: "CertificateInvalid", Message: "body of authentication-certificate must give a byte[], such as Convert.FromBase64String(...)", Status: 500}
		}
		pw, err := p.password.String(x)
		if err != nil {
			return nil, err
		}
		return p.parsed.parse(data, pw)
	}
	name := p.thumbprint
	if p.byID {
		name = p.id
	}
	s, err := name.String(x)
	if err != nil {
		return nil, err
	}
	cert, perr := p.find(s)
	if perr != nil {
		return nil, perr
	}
	return cert, nil
}

// maxParsedCertificates bounds the certificates a body policy keeps parsed:
// reading a PKCS#12 file derives keys from its password, which is slow.
const maxParsedCertificates = 32

// parsedCertificates are the certificates a body policy parsed, by the digest
// of their bytes and password.
type parsedCertificates struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*tls.Certificate
}

func (pc *parsedCertificates) parse(data []byte, password string) (*tls.Certificate, error) {
	h := sha256.New()
	h.Write([]byte(password))
	h.Write([]byte{0})
	h.Write(data)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	pc.mu.Lock()
	cert, ok := pc.m[key]
	pc.mu.Unlock()
	if ok {
		return cert, nil
	}
	cert, err := certfile.Parse(data, password)
	switch {
	case err != nil:
		return nil, &pipeline.Error{Reason: "CertificateInvalid", Message: "the certificate body of authentication-certificate cannot be read: " + err.Error(), Status: 500, Err: err}
	case cert.PrivateKey == nil:
		return nil, &pipeline.Error{Reason: "CertificateInvalid", Message: "the certificate body of authentication-certificate has no private key, which a client certificate needs", Status: 500}
	}
	pc.mu.Lock()
	if pc.m == nil || len(pc.m) >= maxParsedCertificates {
		pc.m = make(map[[sha256.Size]byte]*tls.Certificate)
	}
	pc.m[key] = cert
	pc.mu.Unlock()
	return cert, nil
}
