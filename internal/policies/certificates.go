package policies

import (
	"crypto/tls"
	"strings"
)

// Certificates are lastmile.yaml's certificates, named by certificate-id and
// issuer-certificate-id. A certificate without Leaf stands for one that exists
// but was not read (lastmile validate on a single file).
//
// The cors branch (authentication-certificate) defines the same interface
// with ByThumbprint too, and CertificateSet; when both are merged, theirs is
// the one to keep and this file goes.
type Certificates interface {
	// ByID returns the certificate with that id, ignoring case.
	ByID(id string) (*tls.Certificate, bool)
}

// CertificateSet is a fixed set of Certificates.
type CertificateSet struct {
	byID map[string]*tls.Certificate
}

// NewCertificateSet returns the set of certificates by id.
func NewCertificateSet(byID map[string]*tls.Certificate) *CertificateSet {
	s := &CertificateSet{byID: map[string]*tls.Certificate{}}
	for id, c := range byID {
		s.byID[strings.ToLower(id)] = c
	}
	return s
}

// ByID implements Certificates.
func (s *CertificateSet) ByID(id string) (*tls.Certificate, bool) {
	c, ok := s.byID[strings.ToLower(strings.TrimSpace(id))]
	return c, ok
}
