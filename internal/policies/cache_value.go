package policies

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// ValueCache keeps the values of cache-store-value: bytes by key, each for a
// time. store.Memory and store.Redis implement it.
type ValueCache interface {
	// Get returns the value under key and whether there is an unexpired one.
	// The caller does not modify the returned bytes.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl; a ttl of zero or less removes the key.
	// It returns store.ErrTooLarge for a value it does not accept.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the value under key, if any.
	Delete(ctx context.Context, key string) error
}

// Caches are where cache-lookup-value, cache-store-value and cache-remove-value
// keep values.
type Caches struct {
	// Internal is the gateway instance's own cache (caching-type="internal", and
	// "prefer-external" when there is no External). Register makes an in-memory
	// one when it is nil; the gateway passes one that lives across reloads.
	Internal ValueCache
	// External is the cache every gateway instance shares (Redis, when
	// lastmile.yaml's store.type is redis); nil when there is none, which makes
	// caching-type="external" a load error.
	External ValueCache
	// Namespace keeps this deployment's keys apart from other deployments and
	// other users of the same store; the gateway uses its service name.
	Namespace string
	// MaxValueBytes is the largest cached value, in its stored form (1 MiB when
	// zero); cache-store-value fails with CacheValueTooLarge above it.
	MaxValueBytes int
}

// DefaultMaxCachedValueBytes is Caches.MaxValueBytes when zero.
const DefaultMaxCachedValueBytes = 1 << 20

// maxCacheDuration is the longest duration cache-store-value takes: API
// Management's attribute is a C# int.
const maxCacheDuration = math.MaxInt32

// Reasons of the errors the cache policies raise, for context.LastError.
const (
	ReasonCacheValueTypeNotSupported = "CacheValueTypeNotSupported"
	ReasonCacheValueTooLarge         = "CacheValueTooLarge"
	ReasonInvalidCacheDuration       = "InvalidCacheDuration"
)

// cachePolicy is what the three policies share: the cache and how keys are
// written in it.
type cachePolicy struct {
	cache     ValueCache
	kind      string // "internal" or "external", for the log
	namespace string // "cache:" + Namespace + ":"
	log       *slog.Logger
	key       pipeline.Value
}

// compileCache reads key and caching-type and picks the cache.
func (d *Deps) compileCache(c *pipeline.Compiler, el *policyxml.Element) (cachePolicy, bool) {
	p := cachePolicy{log: d.Logger, namespace: "cache:" + d.Cache.Namespace + ":"}
	key, ok := c.RequiredAttr(el, "key")
	p.key = key
	var ok2 bool
	p.cache, p.kind, ok2 = d.pickCache(c, el)
	return p, ok && ok2
}

// pickCache reads caching-type and returns the cache it names and "internal"
// or "external" for the log. The value and response caches share it.
func (d *Deps) pickCache(c *pipeline.Compiler, el *policyxml.Element) (ValueCache, string, bool) {
	if d.Cache.Internal == nil {
		// Made on first use, so that every policy of one Register call shares
		// it; compiling is single-threaded. SetNX is not used: no keys for it.
		d.Cache.Internal = store.NewMemory(0)
	}
	ct := "prefer-external"
	if s, present := c.LiteralAttr(el, "caching-type"); present {
		ct = strings.TrimSpace(s)
	} else if el.Attr("caching-type") != nil {
		return nil, "", false // an expression, already reported
	}
	switch ct {
	case "prefer-external":
		if d.Cache.External != nil {
			return d.Cache.External, "external", true
		}
		return d.Cache.Internal, "internal", true
	case "external":
		if d.Cache.External == nil {
			c.Report(c.Errorf(el.Attr("caching-type").Value.Pos(),
				`caching-type="external" needs an external cache, and none is configured: set store.type to redis (with store.redis.address) in lastmile.yaml so that every gateway instance shares one, or use caching-type="prefer-external", which falls back to the gateway's own cache`))
			return nil, "", false
		}
		return d.Cache.External, "external", true
	case "internal":
		return d.Cache.Internal, "internal", true
	}
	c.Report(c.Errorf(el.Attr("caching-type").Value.Pos(), "caching-type must be prefer-external, external or internal, not %q", ct))
	return nil, "", false
}

// storeKey is where a policy's key lives in the store: the namespace and the
// key's SHA-256. Hashing bounds the length of keys made from request data and
// keeps secrets used as keys (an Authorization header, in the corpus) out of
// the store's key listings.
func (p *cachePolicy) storeKey(x *exchange.Exchange) (string, error) {
	k, err := p.key.String(x)
	if err != nil {
		return "", err
	}
	return hashedKey(p.namespace, k), nil
}

// hashedKey is namespace followed by the SHA-256 of key, so that keys made
// from request data have a bounded length and secrets in them (an
// Authorization header) are never written to the store in clear.
func hashedKey(namespace, key string) string {
	sum := sha256.Sum256([]byte(key))
	var b [43]byte // base64 without padding of 32 bytes
	base64.RawURLEncoding.Encode(b[:], sum[:])
	return namespace + string(b[:])
}

func (p *cachePolicy) warn(ctx context.Context, x *exchange.Exchange, policy, msg string, err error) {
	// The key is not logged: it may be made of credentials.
	p.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("policy", policy), slog.String("cache", p.kind),
		slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
}

// cache-lookup-value sets a variable to a cached value, or to default-value on
// a miss; without default-value a miss leaves the variable unset.
type cacheLookupValuePolicy struct {
	cachePolicy
	variable   string
	def        pipeline.Value
	hasDefault bool
}

func (d *Deps) cacheLookupValue(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "key", "variable-name", "default-value", "caching-type")
	c.CheckChildren(el)
	cp, ok := d.compileCache(c, el)
	name, hasName := c.LiteralAttr(el, "variable-name")
	if !hasName && el.Attr("variable-name") == nil {
		return nil, c.Errorf(el.Pos, "<cache-lookup-value> needs a variable-name attribute")
	}
	if hasName && strings.TrimSpace(name) == "" {
		return nil, c.Errorf(el.Attr("variable-name").Value.Pos(), "variable-name must not be empty")
	}
	def, hasDefault := c.Attr(el, "default-value")
	if !ok || !hasName {
		return nil, nil
	}
	return &cacheLookupValuePolicy{cachePolicy: cp, variable: name, def: def, hasDefault: hasDefault}, nil
}

func (p *cacheLookupValuePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	key, err := p.storeKey(x)
	if err != nil {
		return err
	}
	data, hit, err := p.cache.Get(ctx, key)
	if err != nil {
		// The cache is an optimisation: an unreachable one is a miss, so that
		// the policy fetches afresh what it would have cached.
		p.warn(ctx, x, "cache-lookup-value", "cache lookup failed; treating it as a miss", err)
		hit = false
	}
	if hit {
		v, err := decodeCachedValue(data)
		if err == nil {
			x.SetVar(p.variable, v)
			return nil
		}
		p.warn(ctx, x, "cache-lookup-value", "cached value unreadable; treating it as a miss", err)
	}
	if !p.hasDefault {
		return nil
	}
	v, err := p.def.Any(x)
	if err != nil {
		return err
	}
	x.SetVar(p.variable, v)
	return nil
}

// cache-store-value stores a value for duration seconds.
type cacheStoreValuePolicy struct {
	cachePolicy
	value, duration pipeline.Value
	maxBytes        int
}

// durationAttr reads the required duration attribute of the cache stores: a
// literal must be a whole number of seconds, at least 1; an expression is
// checked when it runs. ok is false when it is absent.
func durationAttr(c *pipeline.Compiler, el *policyxml.Element) (duration pipeline.Value, ok bool, err error) {
	duration, ok = c.RequiredAttr(el, "duration")
	if !ok {
		return duration, false, nil
	}
	if lit, isLit := duration.Literal(); isLit {
		n, err := parseDuration(lit)
		if err == nil && n < 1 {
			err = errors.New("must be at least 1 second")
		}
		if err != nil {
			return duration, false, c.Errorf(el.Attr("duration").Value.Pos(), "duration %s; write a whole number of seconds such as 3600, or a policy expression", err)
		}
	}
	return duration, true, nil
}

func (d *Deps) cacheStoreValue(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "key", "value", "duration", "caching-type")
	c.CheckChildren(el)
	cp, ok := d.compileCache(c, el)
	value, ok2 := c.RequiredAttr(el, "value")
	duration, ok3, err := durationAttr(c, el)
	if err != nil {
		return nil, err
	}
	if !ok || !ok2 || !ok3 {
		return nil, nil
	}
	maxBytes := d.Cache.MaxValueBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCachedValueBytes
	}
	return &cacheStoreValuePolicy{cachePolicy: cp, value: value, duration: duration, maxBytes: maxBytes}, nil
}

// parseDuration reads a duration in seconds; it fits a C# int.
func parseDuration(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	if n > maxCacheDuration || n < math.MinInt32 {
		return 0, fmt.Errorf("%d is out of range: at most %d seconds", n, maxCacheDuration)
	}
	return n, nil
}

func (p *cacheStoreValuePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	key, err := p.storeKey(x)
	if err != nil {
		return err
	}
	v, err := p.value.Any(x)
	if err != nil {
		return err
	}
	ds, err := p.duration.String(x)
	if err != nil {
		return err
	}
	secs, err := parseDuration(ds)
	if err != nil {
		return &pipeline.Error{Reason: ReasonInvalidCacheDuration, Message: "cache-store-value duration " + err.Error()}
	}
	data, err := encodeCachedValue(v)
	if err != nil {
		return &pipeline.Error{Reason: ReasonCacheValueTypeNotSupported, Message: "cache-store-value: " + err.Error()}
	}
	if len(data) > p.maxBytes {
		return tooLarge(len(data), p.maxBytes)
	}
	// A duration of zero or less stores a value that expires at once: the key
	// is removed.
	err = p.cache.Set(ctx, key, data, time.Duration(secs)*time.Second)
	if errors.Is(err, store.ErrTooLarge) {
		return tooLarge(len(data), 0)
	}
	if err != nil {
		// API Management stores asynchronously and does not promise that a value
		// is there to be read: a cache that is down is logged, not a failure.
		p.warn(ctx, x, "cache-store-value", "cache store failed", err)
	}
	return nil
}

// tooLarge is the error for a value of n bytes over limit, or over what the
// cache itself accepts when limit is 0.
func tooLarge(n, limit int) error {
	over := "more than the cache accepts"
	if limit > 0 {
		over = fmt.Sprintf("more than the limit of %d", limit)
	}
	return &pipeline.Error{Reason: ReasonCacheValueTooLarge,
		Message: fmt.Sprintf("cache-store-value: the value takes %d bytes cached, %s; cache a smaller value, such as only the fields you need", n, over)}
}

// cache-remove-value removes a cached value.
type cacheRemoveValuePolicy struct{ cachePolicy }

func (d *Deps) cacheRemoveValue(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "key", "caching-type")
	c.CheckChildren(el)
	cp, ok := d.compileCache(c, el)
	if !ok {
		return nil, nil
	}
	return &cacheRemoveValuePolicy{cp}, nil
}

func (p *cacheRemoveValuePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	key, err := p.storeKey(x)
	if err != nil {
		return err
	}
	if err := p.cache.Delete(ctx, key); err != nil {
		p.warn(ctx, x, "cache-remove-value", "cache remove failed", err)
	}
	return nil
}
