package policies

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// LimitStore keeps the counters of the traffic limit policies (rate-limit,
// rate-limit-by-key, quota, quota-by-key, limit-concurrency).
// store.MemoryLimits and store.RedisLimits implement it.
type LimitStore interface {
	Rate(ctx context.Context, buckets []store.Bucket, n int64, mode store.RateMode) (store.RateResult, error)
	Quota(ctx context.Context, windows []store.Window, calls, bytes int64, mode store.QuotaMode) (store.QuotaResult, error)
	Acquire(ctx context.Context, key string, max int64) (release func(), ok bool, err error)
}

// Limits are where the traffic limit policies keep their counters, and what
// they do when that store fails.
type Limits struct {
	// Store holds the counters. Register makes an in-memory one when it is
	// nil; the gateway passes one that lives across reloads.
	Store LimitStore
	// FailClosed says, for each kind of limit, whether a request is refused
	// with 503 when Store cannot decide (Redis is down). Otherwise the limit
	// fails open: the request goes through uncounted.
	FailClosed FailClosed
	// Namespace keeps this deployment's counters apart from other deployments
	// and other users of the same store; the gateway uses its service name.
	Namespace string
}

// FailClosed is Limits.FailClosed, one switch per kind of limit.
type FailClosed struct {
	RateLimit   bool // rate-limit, rate-limit-by-key
	Quota       bool // quota, quota-by-key
	Concurrency bool // limit-concurrency
}

// Reasons of the errors the limit policies raise, for context.LastError.
const (
	ReasonRateLimitExceeded   = "RateLimitExceeded"
	ReasonQuotaExceeded       = "QuotaExceeded"
	ReasonConcurrencyExceeded = "ConcurrencyLimitExceeded"
	ReasonLimitUnavailable    = "LimitStoreUnavailable"
)

// limiter is what every limit policy shares: the store, the failure modes and
// the logger.
type limiter struct {
	store      LimitStore
	namespace  string
	failClosed bool
	log        *slog.Logger
}

func (d *Deps) limiter(failClosed func(FailClosed) bool) limiter {
	if d.Limits.Store == nil {
		// Made on first use, so that every policy of one Register call
		// shares it; compiling is single-threaded.
		d.Limits.Store = store.NewMemoryLimits(0)
	}
	return limiter{store: d.Limits.Store, namespace: d.Limits.Namespace, failClosed: failClosed(d.Limits.FailClosed), log: d.Logger}
}

// counted wraps a limit policy's factory so that its decisions are counted in
// d.Metrics; without metrics it is the factory itself.
func (d *Deps) counted(name string, f pipeline.Factory) pipeline.Factory {
	if d.Metrics == nil {
		return f
	}
	m := d.Metrics
	return func(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
		p, err := f(c, el)
		if p == nil || err != nil {
			return p, err
		}
		return pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
			err := p.Apply(ctx, x)
			m.LimitDecision(name, limitDecision(err))
			return err
		}), nil
	}
}

// limitDecision names what a limit policy's result means: allowed, refused
// (the limit is exceeded), unavailable (the store could not decide and the
// policy failed closed), or error (its key expression failed, say).
func limitDecision(err error) string {
	if err == nil {
		return "allowed"
	}
	switch pipeline.AsError(err).Reason {
	case ReasonRateLimitExceeded, ReasonQuotaExceeded, ReasonConcurrencyExceeded:
		return "refused"
	case ReasonLimitUnavailable:
		return "unavailable"
	}
	return "error"
}

// key is where a counter lives in the store: its kind, the namespace and the
// SHA-256 of what identifies it. Hashing bounds the length of keys made from
// request data and keeps secrets used as counter keys out of the store's key
// listings.
func (l *limiter) key(kind string, parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	var b [43]byte // base64 without padding of 32 bytes
	base64.RawURLEncoding.Encode(b[:], h.Sum(sum[:0]))
	return kind + ":" + l.namespace + ":" + string(b[:])
}

// unavailable decides a request the store could not decide: through
// (fail open), or refused with 503 (fail closed).
func (l *limiter) unavailable(ctx context.Context, x *exchange.Exchange, policy string, err error) error {
	if !l.failClosed {
		l.log.LogAttrs(ctx, slog.LevelDebug, "limit store unavailable; the request goes through uncounted",
			slog.String("policy", policy), slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
		return nil
	}
	h := make(http.Header, 1)
	h.Set("Retry-After", "1")
	return &pipeline.Error{Reason: ReasonLimitUnavailable, Message: policy + ": the counter store is unavailable",
		Public: "The gateway cannot check a usage limit right now; retry later.", Status: http.StatusServiceUnavailable,
		Header: h, Err: err}
}

// warn logs a failure to count what already happened (a deferred increment,
// a request's bytes): the request is over, so the only thing to do is to say
// so.
func (l *limiter) warn(ctx context.Context, policy, msg string, err error) {
	l.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("policy", policy), slog.String("error", err.Error()))
}

// ceilSeconds is d in whole seconds, rounded up, at least 1: what Retry-After
// says.
func ceilSeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}

// int32Var is a count as expressions see it: a C# int.
func int32Var(n int64) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}

// countAttr reads a literal whole-number attribute from lo to hi, reporting a
// bad one. ok is false when it is absent or bad.
func countAttr(c *pipeline.Compiler, el *policyxml.Element, name string, lo, hi int64) (n int64, ok bool) {
	s, present := c.LiteralAttr(el, name)
	if !present {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < lo || n > hi {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <%s> must be a whole number from %d to %d, not %q", name, el.Name, lo, hi, s))
		return 0, false
	}
	return n, true
}

// incrementAttrs reads the increment-condition and increment-count of a
// rate-limit-by-key or quota-by-key. deferred says either is an expression, so
// that the counting waits for the response they may read.
func incrementAttrs(c *pipeline.Compiler, el *policyxml.Element) (cond, count pipeline.Value, deferred bool) {
	cond = c.BoolValue(el, "increment-condition", true)
	count = pipeline.Literal("1")
	if v, has := c.Attr(el, "increment-count"); has {
		count = v
		if _, isLit := v.Literal(); isLit {
			countAttr(c, el, "increment-count", 0, math.MaxInt32)
		}
	}
	return cond, count, cond.IsExpr() || count.IsExpr()
}

// parseCount reads a whole number from lo to hi that an expression gave.
func parseCount(policy, name, s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, &pipeline.Error{Reason: "ExpressionValueEvaluationFailure",
			Message: policy + ": " + name + " must be a whole number from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10) + ", not " + strconv.Quote(s)}
	}
	return n, nil
}

// headerNameAttr reads a literal attribute naming a response header.
func headerNameAttr(c *pipeline.Compiler, el *policyxml.Element, name, def string) string {
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		return def
	}
	s = strings.TrimSpace(s)
	if !literalHeaderName(c, el.Attr(name).Value.Pos(), name+" of <"+el.Name+">", s) {
		return def
	}
	if fixedHeaders[http.CanonicalHeaderKey(s)] {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <%s>: header %s is managed by the gateway", name, el.Name, s))
		return def
	}
	return s
}

// varNameAttr reads a literal attribute naming a variable.
func varNameAttr(c *pipeline.Compiler, el *policyxml.Element, name string) string {
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <%s> must not be empty", name, el.Name))
	}
	return s
}

// target is an <api> or <operation> child of rate-limit or quota: a limit of
// its own for calls to one API or operation. id wins over name.
type target struct {
	id, name string
}

func compileTarget(c *pipeline.Compiler, el *policyxml.Element) (target, bool) {
	var t target
	t.id, _ = c.LiteralAttr(el, "id")
	t.name, _ = c.LiteralAttr(el, "name")
	t.id, t.name = strings.TrimSpace(t.id), strings.TrimSpace(t.name)
	if t.id == "" && t.name == "" {
		c.Report(c.Errorf(el.Pos, "<%s> needs a name or id attribute naming the %s it limits", el.Name, map[string]string{"api": "API", "operation": "operation"}[el.Name]))
		return t, false
	}
	return t, true
}

// matches reports whether the target names an API or operation with this id
// and name; ids and names compare without regard to case, as API Management's
// resource names do.
func (t target) matches(id, name string) bool {
	if t.id != "" {
		return strings.EqualFold(t.id, id)
	}
	return strings.EqualFold(t.name, name)
}

// scopeOf identifies the scope a policy was defined at, for the counters that
// rate-limit and quota keep per subscription and scope: the fragment's id
// inside a fragment (every includer shares it, as in API Management), else the
// product, API or operation the request runs through.
type scopeOf struct {
	kind, fragment string
}

func compileScope(c *pipeline.Compiler) scopeOf {
	return scopeOf{kind: c.Scope(), fragment: c.Fragment()}
}

func (s scopeOf) id(x *exchange.Exchange) string {
	switch {
	case s.fragment != "":
		return "fragment/" + s.fragment
	case s.kind == "product" && x.Product != nil:
		return "product/" + x.Product.ID
	case s.kind == "api" && x.API != nil:
		return "api/" + x.API.ID
	case s.kind == "operation" && x.API != nil && x.Operation != nil:
		return "operation/" + x.API.ID + "/" + x.Operation.ID
	}
	return s.kind
}

// subscriptionID is the caller's subscription, or "" for calls without a key:
// those share one counter per scope.
func subscriptionID(x *exchange.Exchange) string {
	if x.Subscription == nil {
		return ""
	}
	return x.Subscription.ID
}

// setResponseHeader sets a header on the response the pipeline decided.
func setResponseHeader(x *exchange.Exchange, name string, n int64) {
	if name == "" || x.Response == nil {
		return
	}
	if x.Response.Headers == nil {
		x.Response.Headers = make(http.Header)
	}
	x.Response.Headers.Set(name, strconv.FormatInt(n, 10))
}
