// Package certfile reads a certificate, its chain and its private key from
// PEM or PKCS#12 (PFX) data: the files lastmile.yaml's certificates section
// names, and the bytes authentication-certificate's body attribute computes.
// It is the one place that decides what such data may hold.
package certfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// MaxSize bounds the data Parse reads: a certificate with its chain and key
// takes a few kilobytes.
const MaxSize = 1 << 20

// Parse reads a certificate chain and its private key from PEM data
// (CERTIFICATE blocks and at most one PRIVATE KEY, RSA PRIVATE KEY or EC
// PRIVATE KEY block, unencrypted) or from PKCS#12 data protected by password
// ("" for none). The result's Leaf is set; its PrivateKey is nil when the data
// holds no key, as a certificate that only verifies signatures does not need
// one. A key that does not belong to the certificate is an error. Errors never
// contain the password or key material.
func Parse(data []byte, password string) (*tls.Certificate, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%d bytes, more than the %d a certificate file may have", len(data), MaxSize)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		if password != "" {
			return nil, errors.New("a password is given, but the data is PEM, which lastmile reads unencrypted only; give the certificate as PKCS#12 (PFX), or leave the password out")
		}
		return parsePEM(data)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, errors.New("PKCS#12 (PFX): the password is wrong")
		}
		return nil, fmt.Errorf("neither PEM nor a PKCS#12 (PFX) file with one certificate and its key: %w", err)
	}
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, Leaf: leaf}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	if err := setKey(c, key); err != nil {
		return nil, err
	}
	return c, nil
}

func parsePEM(data []byte) (*tls.Certificate, error) {
	c := &tls.Certificate{}
	var key any
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c.Certificate = append(c.Certificate, b.Bytes)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return nil, fmt.Errorf("PEM block %d is a second private key; a file holds one certificate's key", n)
			}
			if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") { // RFC 1423
				return nil, fmt.Errorf("PEM block %d is an encrypted private key; give the certificate as PKCS#12 (PFX) with a password instead", n)
			}
			k, err := parseKey(b)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d (%s): %w", n, b.Type, err)
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("PEM block %d is an encrypted private key; give the certificate as PKCS#12 (PFX) with a password instead", n)
		default:
			return nil, fmt.Errorf("PEM block %d is a %s; expected CERTIFICATE and PRIVATE KEY blocks", n, b.Type)
		}
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("no CERTIFICATE block in the PEM data")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("the first certificate: %w", err)
	}
	c.Leaf = leaf
	for i, der := range c.Certificate[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("certificate %d of the chain: %w", i+2, err)
		}
	}
	if key != nil {
		if err := setKey(c, key); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parseKey(b *pem.Block) (any, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(b.Bytes)
}

// setKey sets c's private key after checking that it is the key of c's
// certificate.
func setKey(c *tls.Certificate, key any) error {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("the private key is a %T, which cannot sign", key)
	}
	if !samePublicKey(c.Leaf.PublicKey, signer.Public()) {
		return errors.New("the private key does not belong to the certificate")
	}
	c.PrivateKey = signer
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return a.(equaler).Equal(b)
	}
	return false
}

// Thumbprint is a certificate's thumbprint as API Management shows it and
// authentication-certificate's thumbprint names it: the SHA-1 of its DER
// encoding, in upper-case hex.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
