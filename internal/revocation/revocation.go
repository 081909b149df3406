// Package revocation tells whether a certificate was revoked, from the CRL its
// issuer publishes at the certificate's CRL distribution points (RFC 5280
// §4.2.1.13). CRLs are fetched with a deadline and a size limit, checked
// against the issuer's signature, and cached until their nextUpdate (at most a
// day); one fetch per URL at a time, whatever the number of requests waiting.
//
// A certificate whose status cannot be learnt (no distribution point, an
// unreachable or invalid CRL) is reported as unknown, which validation treats
// as a failure, as .NET's online revocation check does.
package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Errors of Check.
var (
	// ErrRevoked: the issuer's CRL lists the certificate.
	ErrRevoked = errors.New("the certificate is revoked")
	// ErrUnknown: the certificate's revocation status could not be learnt.
	ErrUnknown = errors.New("the certificate's revocation status is unknown")
)

// Limits of a CRL fetch.
const (
	MaxCRL       = 10 << 20
	FetchTimeout = 10 * time.Second
	maxCache     = 24 * time.Hour
	minCache     = time.Minute
	failCache    = 30 * time.Second
)

// Checker checks certificates against CRLs. It is safe for concurrent use.
type Checker struct {
	client *http.Client
	group  singleflight.Group

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	crl     *x509.RevocationList // nil after a failed fetch
	err     error
	expires time.Time
}

// New returns a Checker that fetches CRLs over rt, without following
// redirects.
func New(rt http.RoundTripper) *Checker {
	return &Checker{
		client: &http.Client{Transport: rt, Timeout: FetchTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not followed when fetching CRLs")
		}},
		cache: map[string]entry{},
	}
}

// Check reports whether cert, issued by issuer, is revoked: nil when the
// issuer's CRL does not list it, an error wrapping ErrRevoked or ErrUnknown
// otherwise. It waits for a fetch at most FetchTimeout, and never past ctx.
func (c *Checker) Check(ctx context.Context, cert, issuer *x509.Certificate) error {
	var urls []string
	for _, u := range cert.CRLDistributionPoints {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return fmt.Errorf("%w: it names no http CRL distribution point", ErrUnknown)
	}
	var last error
	for _, u := range urls {
		crl, err := c.crl(ctx, u, issuer)
		if err != nil {
			last = err
			continue
		}
		for _, r := range crl.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return ErrRevoked
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnknown, last)
}

// crl returns the CRL at url, signed by issuer, from the cache or fetched.
func (c *Checker) crl(ctx context.Context, url string, issuer *x509.Certificate) (*x509.RevocationList, error) {
	key := url + "\x00" + string(issuer.Raw)
	now := time.Now()
	c.mu.Lock()
	e, ok := c.cache[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.crl, e.err
	}
	ch := c.group.DoChan(key, func() (any, error) {
		crl, err := c.fetch(url, issuer)
		e := entry{crl: crl, err: err, expires: time.Now().Add(failCache)}
		if err == nil {
			ttl := min(max(time.Until(crl.NextUpdate), minCache), maxCache)
			e.expires = time.Now().Add(ttl)
		}
		c.mu.Lock()
		c.prune(time.Now())
		c.cache[key] = e
		c.mu.Unlock()
		return crl, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*x509.RevocationList), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// maxEntries bounds the cache: CRLs come from trusted certificates, so there
// are few, but nothing should grow without bound.
const maxEntries = 1024

// prune drops expired entries when the cache is full, and everything when
// that is not enough. c.mu is held.
func (c *Checker) prune(now time.Time) {
	if len(c.cache) < maxEntries {
		return
	}
	for k, e := range c.cache {
		if !now.Before(e.expires) {
			delete(c.cache, k)
		}
	}
	if len(c.cache) >= maxEntries {
		clear(c.cache)
	}
}

func (c *Checker) fetch(url string, issuer *x509.Certificate) (*x509.RevocationList, error) {
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the CRL %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the CRL %s: %s", url, resp.Status)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, MaxCRL+1))
	if err != nil {
		return nil, fmt.Errorf("fetching the CRL %s: %w", url, err)
	}
	if len(der) > MaxCRL {
		return nil, fmt.Errorf("the CRL %s is larger than %d bytes", url, MaxCRL)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("the CRL %s: %w", url, err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("the CRL %s is not signed by the certificate's issuer: %w", url, err)
	}
	if !crl.NextUpdate.IsZero() && time.Now().After(crl.NextUpdate) {
		return nil, fmt.Errorf("the CRL %s is out of date (nextUpdate %s)", url, crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	return crl, nil
}
