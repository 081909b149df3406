package idp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Workload identity federation: a token from a trusted external issuer (a
// Kubernetes service account issuer, a SPIFFE trust domain, another lastmile)
// stands in for the application's client assertion, when its iss, sub and aud
// are exactly those of one of the application's federated credentials.

type federatedCredential struct {
	name, issuer, subject, audience string
	spiffeTD                        string // "spiffe://td" when the issuer is a trust domain
	source                          keySource
}

// matches reports whether a token's iss and sub are this credential's. A
// JWT-SVID need not have an iss: for a trust domain, a token without iss
// matches by its sub alone (the subject is in the trust domain).
func (f *federatedCredential) matches(iss, sub string) bool {
	if sub != f.subject {
		return false
	}
	if f.spiffeTD != "" {
		return iss == "" || iss == f.issuer
	}
	return iss == f.issuer
}

// keySource gives the keys an external issuer signs with.
type keySource interface {
	// keys returns the issuer's keys; kid is the JWT's, which may prompt a
	// refetch when no key has it.
	keys(ctx context.Context, fetch *fetcher, kid string, now time.Time) ([]VerificationKey, error)
}

// errKeysUnavailable means the issuer's keys could not be had at all: the token
// endpoint answers 503 temporarily_unavailable, which clients retry.
var errKeysUnavailable = errors.New("the issuer's signing keys are unavailable")

type staticKeys []VerificationKey

func (s staticKeys) keys(context.Context, *fetcher, string, time.Time) ([]VerificationKey, error) {
	return s, nil
}

// fileKeys reads a JWKS (or PEM) file, again whenever it changes, checked at
// most every fileCheckInterval: the kubelet and spire-agent rewrite such files
// when keys rotate.
type fileKeys struct {
	path    string
	mu      sync.Mutex
	seen    fs.FileInfo
	checked time.Time
	cached  []VerificationKey
	err     error
}

const fileCheckInterval = 10 * time.Second

func (f *fileKeys) keys(_ context.Context, _ *fetcher, _ string, now time.Time) ([]VerificationKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (f.cached != nil || f.err != nil) && now.Sub(f.checked) < fileCheckInterval {
		return f.cached, f.err
	}
	f.checked = now
	fi, err := os.Stat(f.path)
	if err == nil && f.seen != nil && os.SameFile(fi, f.seen) && fi.ModTime().Equal(f.seen.ModTime()) && fi.Size() == f.seen.Size() {
		return f.cached, f.err
	}
	data, err := readLimited(f.path, 1<<20)
	if err != nil {
		if f.cached != nil {
			return f.cached, nil // keep the keys read last
		}
		f.err = fmt.Errorf("%w: reading %s: %v", errKeysUnavailable, f.path, err)
		return nil, f.err
	}
	keys, err := directory.ParsePublishedKeys(data)
	if err != nil {
		if f.cached != nil {
			return f.cached, nil
		}
		f.err = fmt.Errorf("%w: %s: %v", errKeysUnavailable, f.path, err)
		return nil, f.err
	}
	f.seen, f.cached, f.err = fi, keys, nil
	return keys, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// remoteKeys fetches an issuer's JWKS over HTTPS, from its jwks_uri or through
// its discovery document, the way a careful validator does: cached for the
// response's max-age (1 minute to 1 hour, default 5 minutes), refetched early
// when a token names an unknown kid but at most every 30 seconds (so tokens with
// random kids cannot make lastmile hammer the issuer), one fetch at a time, and
// the last good keys kept for up to a day when the issuer is unreachable.
type remoteKeys struct {
	issuer, jwksURI string // jwksURI "" means discover it
	rootCAs         *x509.CertPool

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex
	cached  []VerificationKey
	fetched time.Time // of cached
	expires time.Time // of cached
	tried   time.Time // last fetch attempt
	jwksAt  string    // discovered jwks_uri
	lastErr error
}

const (
	jwksDefaultMaxAge = 5 * time.Minute
	jwksMinMaxAge     = time.Minute
	jwksMaxMaxAge     = time.Hour
	jwksRefetchEvery  = 30 * time.Second
	jwksStaleFor      = 24 * time.Hour
	fetchTimeout      = 10 * time.Second
	maxFetchSize      = 1 << 20
)

func (r *remoteKeys) keys(ctx context.Context, f *fetcher, kid string, now time.Time) ([]VerificationKey, error) {
	if keys, ok := r.fresh(kid, now); ok {
		return keys, nil
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if keys, ok := r.fresh(kid, now); ok { // another request fetched meanwhile
		return keys, nil
	}
	// At most one attempt every jwksRefetchEvery, whether the last one failed
	// or found no such kid: neither tokens with made-up kids nor an issuer that
	// is down can make every request wait for a fetch.
	r.mu.Lock()
	tooSoon := !r.tried.IsZero() && now.Sub(r.tried) < jwksRefetchEvery
	r.mu.Unlock()
	if !tooSoon {
		r.fetch(ctx, f, now)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached != nil && now.Sub(r.fetched) < jwksStaleFor {
		return r.cached, nil
	}
	if r.lastErr != nil {
		return nil, fmt.Errorf("%w: %v", errKeysUnavailable, r.lastErr)
	}
	return nil, errKeysUnavailable
}

// fresh returns the cached keys if they are unexpired and have kid (or kid is "").
func (r *remoteKeys) fresh(kid string, now time.Time) ([]VerificationKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached == nil || !now.Before(r.expires) {
		return nil, false
	}
	if kid == "" {
		return r.cached, true
	}
	for _, k := range r.cached {
		if k.KeyID == kid {
			return r.cached, true
		}
	}
	return nil, false
}

func (r *remoteKeys) fetch(ctx context.Context, f *fetcher, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	client := f.client(r.rootCAs)
	r.mu.Lock()
	r.tried = now
	uri := r.jwksURI
	if uri == "" {
		uri = r.jwksAt
	}
	r.mu.Unlock()
	if uri == "" {
		var err error
		if uri, err = discoverJWKSURI(ctx, client, r.issuer, f.allowInsecure); err != nil {
			r.fail(err)
			return
		}
		r.mu.Lock()
		r.jwksAt = uri
		r.mu.Unlock()
	}
	body, header, err := get(ctx, client, uri)
	if err != nil {
		if r.jwksURI == "" { // the discovered URI may have moved
			r.mu.Lock()
			r.jwksAt = ""
			r.mu.Unlock()
		}
		r.fail(err)
		return
	}
	keys, err := directory.ParsePublishedKeys(body)
	if err != nil {
		r.fail(fmt.Errorf("the JWKS at %s: %w", uri, err))
		return
	}
	r.mu.Lock()
	r.cached, r.fetched, r.lastErr = keys, now, nil
	r.expires = now.Add(maxAge(header.Get("Cache-Control")))
	r.mu.Unlock()
}

func (r *remoteKeys) fail(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

// maxAge reads max-age from Cache-Control, clamped to the bounds above.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(strings.ToLower(d)), "max-age=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(v, `"`))
		if err != nil {
			break
		}
		return min(max(time.Duration(n)*time.Second, jwksMinMaxAge), jwksMaxMaxAge)
	}
	return jwksDefaultMaxAge
}

// discoverJWKSURI reads jwks_uri from the issuer's OpenID Connect discovery
// document, whose issuer must be exactly the configured one (OpenID Connect
// Discovery §4.3).
func discoverJWKSURI(ctx context.Context, client *http.Client, issuer string, allowInsecure bool) (string, error) {
	url := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := get(ctx, client, url)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("the discovery document %s is not JSON", url)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("the discovery document %s names issuer %q, not %q", url, clip(doc.Issuer), issuer)
	}
	if msg := directory.CheckKeyURL(doc.JWKSURI, allowInsecure); msg != "" {
		return "", fmt.Errorf("the discovery document %s: jwks_uri %s", url, msg)
	}
	return doc.JWKSURI, nil
}

// get fetches a JSON document: 200, at most maxFetchSize bytes, no redirects.
func get(ctx context.Context, client *http.Client, url string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && mt != "application/jwk-set+json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain") {
			return nil, nil, fmt.Errorf("fetching %s: Content-Type %q is not JSON", url, clip(ct))
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if len(body) > maxFetchSize {
		return nil, nil, fmt.Errorf("fetching %s: larger than %d bytes", url, maxFetchSize)
	}
	return body, resp.Header, nil
}

// fetcher makes the HTTP clients that fetch issuers' keys: one per set of root
// CAs, with timeouts and without redirects (a redirect could point key fetches
// anywhere).
type fetcher struct {
	allowInsecure bool
	mu            sync.Mutex
	clients       map[*x509.CertPool]*http.Client
}

func (f *fetcher) client(roots *x509.CertPool) *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.clients[roots]; c != nil {
		return c
	}
	if f.clients == nil {
		f.clients = map[*x509.CertPool]*http.Client{}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	t.ResponseHeaderTimeout = fetchTimeout
	c := &http.Client{
		Transport: t,
		Timeout:   fetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not followed when fetching keys")
		},
	}
	f.clients[roots] = c
	return c
}
