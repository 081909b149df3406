package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// MaxDocument bounds a discovery document or a JWKS. Entra's JWKS is about
// 10 KB.
const MaxDocument = 1 << 20

// Discovery fetches keys through an OpenID Connect discovery document: its
// issuer, and the JWKS at its jwks_uri.
type Discovery struct {
	// URL is the discovery document's URL.
	URL string
	// Client makes the requests; it must not follow redirects (NewClient's
	// does not: a redirect could point key fetches anywhere).
	Client *http.Client
	// AllowInsecure permits a jwks_uri on http on hosts other than loopback
	// (identity.allowInsecureIssuer).
	AllowInsecure bool
}

// Fetch fetches the discovery document and then the JWKS it names.
func (d *Discovery) Fetch(ctx context.Context) (*Set, error) {
	body, err := get(ctx, d.Client, d.URL)
	if err != nil {
		return nil, err
	}
	obj, err := directory.DecodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("the discovery document %s: %w", d.URL, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	for name, dst := range map[string]*string{"issuer": &doc.Issuer, "jwks_uri": &doc.JWKSURI} {
		if raw, ok := obj[name]; ok && json.Unmarshal(raw, dst) != nil {
			return nil, fmt.Errorf("the discovery document %s: %s is not a string", d.URL, name)
		}
	}
	if doc.Issuer == "" {
		return nil, fmt.Errorf("the discovery document %s has no issuer", d.URL)
	}
	if msg := directory.CheckKeyURL(doc.JWKSURI, d.AllowInsecure); msg != "" {
		return nil, fmt.Errorf("the discovery document %s: jwks_uri %s", d.URL, msg)
	}
	body, err = get(ctx, d.Client, doc.JWKSURI)
	if err != nil {
		return nil, err
	}
	keys, err := directory.ParsePublishedKeys(body)
	if err != nil {
		return nil, fmt.Errorf("the JWKS at %s: %w", doc.JWKSURI, err)
	}
	return &Set{Issuer: doc.Issuer, Keys: keys}, nil
}

// get fetches a JSON document: 200, at most MaxDocument bytes.
func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain") {
			return nil, fmt.Errorf("fetching %s: the Content-Type is not JSON", url)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if len(body) > MaxDocument {
		return nil, fmt.Errorf("fetching %s: larger than %d bytes", url, MaxDocument)
	}
	return body, nil
}

// NewClient returns a client for key fetches over rt (the gateway's backend
// transport, with its CA bundle): it never follows redirects and gives up
// after timeout.
func NewClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: rt,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not followed when fetching keys")
		},
	}
}

// Cache holds a Source per discovery URL, shared by every policy that names
// the URL and kept across configuration reloads, so that a reload does not
// fetch keys again.
type Cache struct {
	client        *http.Client
	opts          Options
	allowInsecure bool

	mu      sync.Mutex
	sources map[string]*Source
}

// NewCache returns a cache whose sources fetch over rt with the schedule o.
// allowInsecure permits http key URLs on hosts other than loopback.
func NewCache(rt http.RoundTripper, o Options, allowInsecure bool) *Cache {
	o = o.withDefaults()
	return &Cache{client: NewClient(rt, o.FetchTimeout), opts: o, allowInsecure: allowInsecure, sources: map[string]*Source{}}
}

// Source returns the source for a discovery URL, making it on first use. The
// URL is checked by the caller (CheckURL) when the policy is compiled.
func (c *Cache) Source(url string) *Source {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sources[url]; s != nil {
		return s
	}
	s := NewSource(url, &Discovery{URL: url, Client: c.client, AllowInsecure: c.allowInsecure}, c.opts)
	c.sources[url] = s
	return s
}

// CheckURL reports what is wrong with a discovery URL, or "": https, or http on
// loopback (anywhere with allowInsecure).
func CheckURL(url string, allowInsecure bool) string {
	return directory.CheckKeyURL(url, allowInsecure)
}

// StaticFetcher serves a key set that is already in the process, such as the
// embedded identity provider's: JWKS returns the current JWKS document.
type StaticFetcher struct {
	Issuer string
	JWKS   func() []byte
}

// Fetch parses the current JWKS.
func (f StaticFetcher) Fetch(context.Context) (*Set, error) {
	keys, err := directory.ParsePublishedKeys(f.JWKS())
	if err != nil {
		return nil, err
	}
	return &Set{Issuer: f.Issuer, Keys: keys}, nil
}
