package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Cache is a TokenSource that keeps one token per (client id, normalized resource)
// and refreshes it ahead of expiry. It is safe for concurrent use.
//
// The life of a cached token with remaining lifetime L when received:
//
//   - refresh: the first request after about L/2 (half-life, ± the jitter, 10% of
//     the half-life by default, so keys issued together do not refresh together)
//     starts one refresh in the background and is served the cached token; so is
//     every request while the refresh runs. Without requests nothing is refreshed:
//     idle keys cost nothing.
//   - outage: a failed refresh is retried after an exponential backoff with jitter
//     (by default 1s, 2s, 4s ... capped at 1m, each delay drawn from its upper
//     half, and never sooner than a TransientError's RetryAfter), and the
//     cached token is still served until the safety margin before its expiry:
//     min(5m, L/6) by default. An issuer outage that starts after a
//     refresh therefore goes unnoticed for L/2 minus the margin: about 25 minutes
//     for 1h tokens (22 at worst with the jitter), about 100 seconds for 5m tokens.
//   - at the margin the token is never served again (a backend could see it expire in
//     flight, Envoy #44674); one request waits for a new attempt and the others wait
//     with it. If that fails too, requests get an *UnavailableError until the backoff
//     ends, without calling the source.
//
// Every request for a key that has no usable token waits for the same single call
// to the source, however many there are. Configuration errors (see ErrConfiguration)
// drop the key's token and are remembered for 30s by default, so a misconfigured
// policy cannot cause a storm of token requests.
//
// A hit (a usable token is cached) takes no lock and does not allocate.
type Cache struct {
	src TokenSource
	opt cacheOptions

	// entries is copy-on-write: readers load it without locking, writers hold mu,
	// copy the map, change the copy and store it.
	entries atomic.Pointer[map[cacheKey]*entry]

	mu       sync.Mutex
	negative map[cacheKey]negativeEntry // configuration errors, guarded by mu

	// flights makes every request that needs the source for a key share one call.
	flights singleflight.Group
}

var _ TokenSource = (*Cache)(nil)

type cacheKey struct {
	clientID string // ASCII lower case
	resource string // NormalizeResource
}

// entry is one key's token and refresh state. st always holds a complete,
// immutable state; it is replaced, never changed.
type entry struct {
	key      cacheKey
	clientID string // as the first request spelled them, passed to the source
	resource string

	flightKey string // the key in Cache.flights

	st       atomic.Pointer[entryState]
	mu       sync.Mutex  // serializes starting and finishing calls to the source
	inFlight atomic.Bool // a call to the source is in progress; written under mu
}

type entryState struct {
	tok         Token     // returned to callers; RefreshAt is refreshAt
	usableUntil time.Time // ExpiresAt minus the safety margin; zero when there is no token
	refreshAt   time.Time
	obtained    time.Time // when the source returned tok

	failures int       // consecutive failed calls to the source
	retryAt  time.Time // no call to the source before this
	lastErr  error
	cfgErr   bool // lastErr is a configuration error
}

type negativeEntry struct {
	err   error
	until time.Time
}

type cacheOptions struct {
	margin             time.Duration
	jitter             float64
	backoffBase        time.Duration
	backoffMax         time.Duration
	configErrorTTL     time.Duration
	maxEntries         int
	refreshTimeout     time.Duration
	invalidateInterval time.Duration
	log                *slog.Logger
	observer           CacheObserver
}

// CacheOption configures a Cache.
type CacheOption func(*cacheOptions)

// WithSafetyMargin sets the largest safety margin: a token is not served once
// less than min(d, L/6) of its lifetime L is left. Default 5 minutes, the margin
// MSAL and azcore use. It absorbs clock skew between gateway and backend and the
// time a request spends in flight.
func WithSafetyMargin(d time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if d >= 0 {
			o.margin = d
		}
	}
}

// WithRefreshJitter sets how far the refresh time may move from half-life, as a
// fraction of the half-life (0 to 0.5). Default 0.1, as SPIRE does.
func WithRefreshJitter(f float64) CacheOption {
	return func(o *cacheOptions) {
		if f >= 0 && f <= 0.5 {
			o.jitter = f
		}
	}
}

// WithBackoff sets the delay after the first failed call to the source and the cap
// of the doubling delays after further failures. Each delay is drawn uniformly
// from [d/2, d]. Defaults 1s and 1m.
func WithBackoff(base, max time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if base > 0 && max >= base {
			o.backoffBase, o.backoffMax = base, max
		}
	}
}

// WithConfigErrorTTL sets how long a configuration error is returned without
// asking the source again. Default 30s.
func WithConfigErrorTTL(d time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if d >= 0 {
			o.configErrorTTL = d
		}
	}
}

// WithMaxEntries bounds the number of cached keys and, separately, of remembered
// configuration errors. When full, keys without a usable token are dropped first,
// then the one closest to expiry. Default 1000.
func WithMaxEntries(n int) CacheOption {
	return func(o *cacheOptions) {
		if n > 0 {
			o.maxEntries = n
		}
	}
}

// WithRefreshTimeout bounds each call to the source. The call does not use the
// requests' contexts (a cancelled request must not fail the others waiting on the
// same call) but keeps the values of the request that started it. Default 30s.
func WithRefreshTimeout(d time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if d > 0 {
			o.refreshTimeout = d
		}
	}
}

// WithInvalidateInterval sets how old a token must be for Invalidate to drop it.
// Default 30s: a backend that rejects every token then causes one refresh per key
// per interval, not one per request.
func WithInvalidateInterval(d time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if d >= 0 {
			o.invalidateInterval = d
		}
	}
}

// WithLogger sets where failed and recovered refreshes are logged. Tokens are never
// logged. Default: nothing is logged.
func WithLogger(l *slog.Logger) CacheOption {
	return func(o *cacheOptions) {
		if l != nil {
			o.log = l
		}
	}
}

// WithObserver sets who is told how each token was served and how each call
// to the source went, for metrics. Default: nobody.
func WithObserver(o CacheObserver) CacheOption {
	return func(opt *cacheOptions) { opt.observer = o }
}

// CacheObserver is told what a Cache does. Its methods must be safe for
// concurrent use and cheap: TokenServed is called on every request.
type CacheObserver interface {
	// TokenServed is called once per Token or Get call.
	TokenServed(o Outcome)
	// SourceCalled is called after each call to the source: how long it took
	// and how it failed (nil when it gave a token).
	SourceCalled(d time.Duration, err error)
}

// Outcome is how Cache served a request for a token.
type Outcome uint8

// The outcomes, as the access log, the request trace, spans and metrics name
// them.
const (
	// Hit is a cached token, with no refresh due.
	Hit Outcome = iota + 1
	// Refresh is a cached token, served while a refresh starts in the
	// background (the token is past its refresh time).
	Refresh
	// Outage is a cached token served while the source is failing: the
	// serve-through-outage of the Cache's documentation.
	Outage
	// Issued is a token the request waited for: the key had no usable token,
	// and the source gave one.
	Issued
	// Failed is no token: the source failed, is backing off, or refused the
	// key.
	Failed
)

var outcomeNames = [...]string{"", "hit", "refresh", "outage", "issued", "error"}

// String returns the outcome's name: hit, refresh, outage, issued or error.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// NewCache returns a Cache in front of src.
func NewCache(src TokenSource, opts ...CacheOption) *Cache {
	c := &Cache{
		src: src,
		opt: cacheOptions{
			margin:             5 * time.Minute,
			jitter:             0.1,
			backoffBase:        time.Second,
			backoffMax:         time.Minute,
			configErrorTTL:     30 * time.Second,
			maxEntries:         1000,
			refreshTimeout:     30 * time.Second,
			invalidateInterval: 30 * time.Second,
			log:                slog.New(slog.DiscardHandler),
		},
		negative: make(map[cacheKey]negativeEntry),
	}
	for _, o := range opts {
		o(&c.opt)
	}
	m := make(map[cacheKey]*entry)
	c.entries.Store(&m)
	return c
}

// Token returns a token for the identity and resource from the cache, asking the
// source only when no usable token is cached (see Cache). Errors are the source's
// (matching ErrConfiguration for configuration errors), an *UnavailableError while
// backing off, or ctx's error if ctx ends while waiting for the source.
func (c *Cache) Token(ctx context.Context, clientID, resource string) (Token, error) {
	tok, _, err := c.Get(ctx, clientID, resource)
	return tok, err
}

// Get is Token, and says how the token was served. When ctx carries a span
// that records, the lookup gets a span of its own whose attributes say which
// outcome it had (never the token).
func (c *Cache) Get(ctx context.Context, clientID, resource string) (Token, Outcome, error) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		return c.traced(ctx, span, clientID, resource)
	}
	tok, o, err := c.get(ctx, clientID, resource)
	if c.opt.observer != nil {
		c.opt.observer.TokenServed(o)
	}
	return tok, o, err
}

func (c *Cache) get(ctx context.Context, clientID, resource string) (Token, Outcome, error) {
	k := cacheKey{clientID: lowerASCII(clientID), resource: NormalizeResource(resource)}
	if e := (*c.entries.Load())[k]; e != nil {
		return c.use(ctx, e)
	}
	return c.miss(ctx, k, clientID, resource)
}

// use serves e's token if it is usable, starting a background refresh when it is
// due, and otherwise waits for the source.
func (c *Cache) use(ctx context.Context, e *entry) (Token, Outcome, error) {
	st := e.st.Load()
	now := time.Now()
	if now.Before(st.usableUntil) {
		o := Hit
		if st.failures > 0 {
			o = Outage
		}
		if !now.Before(st.refreshAt) && !now.Before(st.retryAt) && !e.inFlight.Load() && c.refreshAsync(ctx, e) && o == Hit {
			o = Refresh
		}
		return st.tok, o, nil
	}
	return c.wait(ctx, e)
}

// miss handles a key with no entry: a remembered configuration error, or a new
// entry whose first call to the source every concurrent request waits for.
func (c *Cache) miss(ctx context.Context, k cacheKey, clientID, resource string) (Token, Outcome, error) {
	c.mu.Lock()
	if e := (*c.entries.Load())[k]; e != nil { // created while we waited for mu
		c.mu.Unlock()
		return c.use(ctx, e)
	}
	if n, ok := c.negative[k]; ok {
		if time.Now().Before(n.until) {
			c.mu.Unlock()
			return Token{}, Failed, n.err
		}
		delete(c.negative, k)
	}
	e := &entry{key: k, clientID: clientID, resource: resource, flightKey: k.clientID + "\x00" + k.resource}
	e.st.Store(&entryState{})
	call := c.start(ctx, e) // before e is visible, so nobody else starts one
	c.insertLocked(e)
	c.mu.Unlock()
	return c.await(ctx, call)
}

// wait returns a token for an entry with no usable token: it joins the call to the
// source in progress, starts one, or reports the backoff.
func (c *Cache) wait(ctx context.Context, e *entry) (Token, Outcome, error) {
	e.mu.Lock()
	st := e.st.Load()
	now := time.Now()
	if now.Before(st.usableUntil) { // refreshed meanwhile
		e.mu.Unlock()
		return st.tok, Hit, nil
	}
	if !e.inFlight.Load() && now.Before(st.retryAt) {
		e.mu.Unlock()
		if st.cfgErr {
			return Token{}, Failed, st.lastErr
		}
		return Token{}, Failed, &UnavailableError{Err: st.lastErr, RetryAfter: st.retryAt.Sub(now)}
	}
	// Joins the call in progress, or starts one. (A call in progress is still
	// registered in c.flights: run clears inFlight under e.mu, which we hold.)
	call := c.start(ctx, e)
	e.mu.Unlock()
	return c.await(ctx, call)
}

// await waits for a call to the source, or for ctx; the call goes on either way.
func (c *Cache) await(ctx context.Context, call <-chan singleflight.Result) (Token, Outcome, error) {
	select {
	case r := <-call:
		if r.Err != nil {
			return Token{}, Failed, r.Err
		}
		return r.Val.(Token), Issued, nil
	case <-ctx.Done():
		return Token{}, Failed, ctx.Err()
	}
}

// refreshAsync starts a background refresh of e unless one is running or not
// due, and reports whether it started one.
func (c *Cache) refreshAsync(ctx context.Context, e *entry) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st.Load()
	now := time.Now()
	if !e.inFlight.Load() && !now.Before(st.refreshAt) && !now.Before(st.retryAt) {
		c.start(ctx, e)
		return true
	}
	return false
}

// start begins a call to the source for e, or joins the one in progress. The
// caller holds e.mu or is the only one who can see e. The call is detached from
// ctx's cancellation (other requests may be waiting for it) and bounded by the
// refresh timeout.
func (c *Cache) start(ctx context.Context, e *entry) <-chan singleflight.Result {
	e.inFlight.Store(true)
	return c.flights.DoChan(e.flightKey, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opt.refreshTimeout)
		defer cancel()
		tok, err := c.run(fctx, e)
		if err != nil {
			return nil, err
		}
		return tok, nil
	})
}

// run calls the source, records the outcome in e and returns what the requests
// waiting for the call get.
func (c *Cache) run(ctx context.Context, e *entry) (Token, error) {
	began := time.Now()
	tok, err := c.callSource(ctx, e)
	now := time.Now()
	if c.opt.observer != nil {
		c.opt.observer.SourceCalled(now.Sub(began), err)
	}

	e.mu.Lock()
	old := e.st.Load()
	var next *entryState
	if err == nil {
		next, err = c.fresh(tok, now)
	}
	cfgErr := err != nil && errors.Is(err, ErrConfiguration)
	switch {
	case err == nil:
		if old.failures > 0 {
			c.opt.log.Info("managed identity token refresh recovered",
				"client_id", e.clientID, "resource", e.resource, "failures", old.failures)
		}
	case cfgErr:
		// The configuration now refuses this key: stop serving its token.
		next = &entryState{failures: old.failures + 1, retryAt: now.Add(c.opt.configErrorTTL), lastErr: err, cfgErr: true}
		c.opt.log.Warn("managed identity token refused by configuration",
			"client_id", e.clientID, "resource", e.resource, "error", err)
	default:
		s := *old
		s.failures++
		s.lastErr, s.cfgErr = err, false
		s.retryAt = now.Add(max(c.backoff(s.failures), retryAfter(err)))
		if now.Before(s.usableUntil) && s.usableUntil.Before(s.retryAt) {
			// Try once more when the token stops being served.
			s.retryAt = s.usableUntil
		}
		next = &s
		c.opt.log.Warn("managed identity token refresh failed",
			"client_id", e.clientID, "resource", e.resource, "error", err,
			"failures", s.failures, "retry_in", s.retryAt.Sub(now),
			"serving_cached_for", max(0, s.usableUntil.Sub(now)))
	}
	e.st.Store(next)
	var served Token
	var servedErr error
	switch {
	case err == nil:
		served = next.tok
	case now.Before(next.usableUntil):
		// A refresh failed while the cached token is still good: anyone waiting
		// on this call gets the cached token.
		served = next.tok
	default:
		servedErr = err // never hand out the stale token with an error
	}
	e.inFlight.Store(false)
	e.mu.Unlock()

	if cfgErr {
		c.mu.Lock()
		c.removeLocked(e)
		c.rememberLocked(e.key, err, now)
		c.mu.Unlock()
	}
	return served, servedErr
}

// fresh validates a token from the source and computes its refresh schedule.
func (c *Cache) fresh(tok Token, now time.Time) (*entryState, error) {
	if tok.Value == "" {
		return nil, errors.New("token source returned an empty token")
	}
	remaining := tok.ExpiresAt.Sub(now)
	if remaining <= 0 {
		return nil, fmt.Errorf("token source returned a token that expired at %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	margin := min(c.opt.margin, remaining/6)
	usableUntil := tok.ExpiresAt.Add(-margin)
	var refreshAt time.Time
	if now.Before(tok.RefreshAt) && tok.RefreshAt.Before(usableUntil) {
		refreshAt = tok.RefreshAt // the source's hint
	} else {
		half := float64(remaining) / 2
		refreshAt = now.Add(time.Duration(half + half*c.opt.jitter*(2*rand.Float64()-1)))
		if refreshAt.After(usableUntil) {
			refreshAt = usableUntil
		}
	}
	tok.RefreshAt = refreshAt
	return &entryState{tok: tok, usableUntil: usableUntil, refreshAt: refreshAt, obtained: now}, nil
}

// backoff returns the delay after the nth consecutive failure: base·2^(n-1) capped
// at the maximum, drawn uniformly from [d/2, d].
func (c *Cache) backoff(n int) time.Duration {
	d := c.opt.backoffBase
	for i := 1; i < n && d < c.opt.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opt.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// Invalidate drops the cached token for the identity and resource, so the next
// request gets a new one: for a backend that answered 401 to it. It is ignored
// when the token is younger than the invalidate interval (30s by default), so
// concurrent 401s, or a backend that rejects every token, cause at most one new
// token per key per interval.
func (c *Cache) Invalidate(clientID, resource string) {
	k := cacheKey{clientID: lowerASCII(clientID), resource: NormalizeResource(resource)}
	e := (*c.entries.Load())[k]
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st.Load()
	if st.tok.Value == "" || time.Since(st.obtained) < c.opt.invalidateInterval {
		return
	}
	e.st.Store(&entryState{failures: st.failures, lastErr: st.lastErr})
}

// InvalidateAll drops every cached token, whatever its age, so that each is
// obtained again when next asked for: the identity provider's signing keys
// changed, and a cached token may be signed with a key no longer published
// (revoked).
func (c *Cache) InvalidateAll() {
	for _, e := range *c.entries.Load() {
		e.mu.Lock()
		st := e.st.Load()
		e.st.Store(&entryState{failures: st.failures, lastErr: st.lastErr})
		e.mu.Unlock()
	}
}

// insertLocked adds e to the entries, evicting one if the cache is full. c.mu is held.
func (c *Cache) insertLocked(e *entry) {
	old := *c.entries.Load()
	m := make(map[cacheKey]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if len(m) >= c.opt.maxEntries {
		if victim := c.victim(m); victim != nil {
			delete(m, victim.key)
		}
	}
	m[e.key] = e
	c.entries.Store(&m)
}

// victim picks the entry to evict: one with no call in progress, preferring no
// usable token, then the earliest end of usability.
func (c *Cache) victim(m map[cacheKey]*entry) *entry {
	now := time.Now()
	var best *entry
	var bestUntil time.Time
	for _, e := range m {
		if e.inFlight.Load() {
			continue
		}
		until := e.st.Load().usableUntil
		if !now.Before(until) {
			return e
		}
		if best == nil || until.Before(bestUntil) {
			best, bestUntil = e, until
		}
	}
	return best
}

// removeLocked removes e from the entries if it is still there. c.mu is held.
func (c *Cache) removeLocked(e *entry) {
	old := *c.entries.Load()
	if old[e.key] != e {
		return
	}
	m := make(map[cacheKey]*entry, len(old))
	for k, v := range old {
		if k != e.key {
			m[k] = v
		}
	}
	c.entries.Store(&m)
}

// rememberLocked records a configuration error for k. c.mu is held.
func (c *Cache) rememberLocked(k cacheKey, err error, now time.Time) {
	if len(c.negative) >= c.opt.maxEntries {
		for nk, n := range c.negative {
			if !now.Before(n.until) {
				delete(c.negative, nk)
			}
		}
		for nk := range c.negative {
			if len(c.negative) < c.opt.maxEntries {
				break
			}
			delete(c.negative, nk)
		}
	}
	c.negative[k] = negativeEntry{err: err, until: now.Add(c.opt.configErrorTTL)}
}
