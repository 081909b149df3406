// Package jwks provides the signing keys of token issuers to the gateway's
// token validation policies: an OpenID Connect discovery document and the JSON
// Web Key Set it points to, fetched with a deadline and a size limit, cached,
// refreshed on a schedule, and fetched again early, at a bounded rate, when a
// token names a key the cached set does not have.
//
// A request never waits for an issuer longer than Options.FetchTimeout, and only
// when there are no keys yet or its token names an unknown key; however many
// requests wait, there is one fetch per issuer at a time (singleflight).
package jwks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Set is one fetched key set.
type Set struct {
	// Issuer is the issuer the keys sign for: the discovery document's issuer.
	Issuer string
	// Keys are the signature verification keys (RSA of 2048 bits or more, EC on
	// P-256, P-384, P-521); keys of other kinds in the JWKS are left out.
	Keys []directory.VerificationKey
	// Fetched is when the set was fetched.
	Fetched time.Time
}

// Has reports whether the set has a key with kid.
func (s *Set) Has(kid string) bool {
	for i := range s.Keys {
		if s.Keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// Fetcher gets an issuer's current key set; Source calls it with a context that
// carries the fetch deadline. Fetched is filled in by Source.
type Fetcher interface {
	Fetch(ctx context.Context) (*Set, error)
}

// Options are a Source's schedule. The zero value of each field takes the
// default documented on it.
type Options struct {
	// Refresh is the age after which a set is fetched again, in the background:
	// requests go on with the cached set meanwhile. Default 1h (API Management's).
	Refresh time.Duration
	// MinInterval is how often, at most, a token that names an unknown kid makes
	// the source fetch early. Default 5m (API Management's).
	MinInterval time.Duration
	// RetryAfter is how long after a failed fetch the next one may start.
	// Default 30s.
	RetryAfter time.Duration
	// MaxStale is how long a set is used while the issuer cannot be reached;
	// after that tokens are refused until a fetch succeeds. Default 24h.
	MaxStale time.Duration
	// FetchTimeout bounds one fetch (discovery and JWKS together), and so the
	// longest a request waits for keys. Default 10s.
	FetchTimeout time.Duration
	// Logger gets a warning for each failed fetch. Default: none.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultRefresh      = time.Hour
	DefaultMinInterval  = 5 * time.Minute
	DefaultRetryAfter   = 30 * time.Second
	DefaultMaxStale     = 24 * time.Hour
	DefaultFetchTimeout = 10 * time.Second
)

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Refresh, DefaultRefresh)
	def(&o.MinInterval, DefaultMinInterval)
	def(&o.RetryAfter, DefaultRetryAfter)
	def(&o.MaxStale, DefaultMaxStale)
	def(&o.FetchTimeout, DefaultFetchTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ErrNoKeys is returned (wrapped with the last fetch error, if any) when a
// source has no usable key set.
var ErrNoKeys = errors.New("the issuer's signing keys are not available")

// Source is one issuer's keys. It is safe for concurrent use.
type Source struct {
	name    string // for logs: the discovery URL
	fetcher Fetcher
	opts    Options
	group   singleflight.Group

	mu       sync.Mutex
	set      *Set      // the last good set
	attempt  time.Time // start of the last fetch
	failed   bool      // whether the last fetch failed
	lastErr  error
	fetching bool
}

// NewSource returns a source that gets its keys from f. name identifies it in
// logs (never a secret: the discovery URL).
func NewSource(name string, f Fetcher, o Options) *Source {
	return &Source{name: name, fetcher: f, opts: o.withDefaults()}
}

// Name is the name the source was made with.
func (s *Source) Name() string { return s.name }

// Keys returns the current key set for a token that names kid ("" when it names
// none). It waits for a fetch, at most FetchTimeout and never past ctx, when
// there is no set yet, or when kid is not in the set and the last fetch started
// at least MinInterval ago (or one is under way); a set older than Refresh is
// refreshed in the background. The set returned may still lack kid: the
// caller decides what that means. Without a usable set it returns an error
// that wraps ErrNoKeys.
func (s *Source) Keys(ctx context.Context, kid string) (*Set, error) {
	now := time.Now()
	s.mu.Lock()
	set := s.usable(now)
	unknown := set != nil && kid != "" && !set.Has(kid)
	var wait <-chan singleflight.Result
	switch {
	case s.fetching:
		if set == nil || unknown {
			wait = s.group.DoChan("", s.fetch) // joins the fetch under way
		}
	case set == nil:
		if !s.failed || now.Sub(s.attempt) >= s.opts.RetryAfter {
			wait = s.start(now)
		}
	case unknown && now.Sub(s.attempt) >= s.opts.MinInterval:
		wait = s.start(now)
	case now.Sub(set.Fetched) >= s.opts.Refresh && (!s.failed || now.Sub(s.attempt) >= s.opts.RetryAfter):
		s.start(now) // in the background: this request goes on with set
	}
	s.mu.Unlock()

	if wait != nil {
		t := time.NewTimer(s.opts.FetchTimeout)
		select {
		case <-wait:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		s.mu.Lock()
		set = s.usable(time.Now())
		s.mu.Unlock()
	}
	if set != nil {
		return set, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKeys, s.lastErr)
	}
	return nil, ErrNoKeys
}

// usable returns the cached set unless it is older than MaxStale. s.mu is held.
func (s *Source) usable(now time.Time) *Set {
	if s.set == nil || now.Sub(s.set.Fetched) >= s.opts.MaxStale {
		return nil
	}
	return s.set
}

// start begins a fetch and returns the channel its result arrives on. s.mu is
// held, so that a request that sees fetching joins this fetch (the singleflight
// call ends only after fetch has cleared fetching under s.mu).
func (s *Source) start(now time.Time) <-chan singleflight.Result {
	s.fetching, s.attempt = true, now
	return s.group.DoChan("", s.fetch)
}

// fetch runs in its own goroutine (singleflight's), with its own deadline: a
// request that gives up waiting does not cancel the fetch others wait for.
func (s *Source) fetch() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.FetchTimeout)
	defer cancel()
	set, err := s.fetcher.Fetch(ctx)
	if err == nil && set == nil {
		err = errors.New("no key set")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetching = false
	if err != nil {
		s.failed, s.lastErr = true, err
		s.opts.Logger.Warn("fetching signing keys failed; tokens are checked with the keys fetched before, if any",
			"source", s.name, "error", err)
		return nil, err
	}
	set.Fetched = time.Now()
	s.set, s.failed, s.lastErr = set, false, nil
	return set, nil
}
