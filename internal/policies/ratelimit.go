package policies

import (
	"context"
	"fmt"
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

// maxRenewalPeriod is the longest renewal-period of the rate limits, in
// seconds, as in API Management.
const maxRenewalPeriod = 300

// rateHeaders are the header and variable attributes rate-limit and
// rate-limit-by-key share.
type rateHeaders struct {
	retryAfterHeader, retryAfterVar string
	remainingHeader, remainingVar   string
	totalHeader                     string
}

var rateHeaderAttrs = []string{"retry-after-header-name", "retry-after-variable-name", "remaining-calls-header-name",
	"remaining-calls-variable-name", "total-calls-header-name"}

func compileRateHeaders(c *pipeline.Compiler, el *policyxml.Element) rateHeaders {
	return rateHeaders{
		retryAfterHeader: headerNameAttr(c, el, "retry-after-header-name", "Retry-After"),
		retryAfterVar:    varNameAttr(c, el, "retry-after-variable-name"),
		remainingHeader:  headerNameAttr(c, el, "remaining-calls-header-name", ""),
		remainingVar:     varNameAttr(c, el, "remaining-calls-variable-name"),
		totalHeader:      headerNameAttr(c, el, "total-calls-header-name", ""),
	}
}

// refuse is the 429 of a rate limit: API Management's body, Retry-After (or
// the configured header) and the total-calls header; the retry-after
// variable is set for on-error.
func (h *rateHeaders) refuse(x *exchange.Exchange, res store.RateResult, calls int64) error {
	secs := ceilSeconds(res.RetryAfter)
	if h.retryAfterVar != "" {
		x.SetVar(h.retryAfterVar, int32Var(secs))
	}
	hdr := make(http.Header, 2)
	hdr.Set(h.retryAfterHeader, strconv.FormatInt(secs, 10))
	if h.totalHeader != "" {
		hdr.Set(h.totalHeader, strconv.FormatInt(calls, 10))
	}
	return &pipeline.Error{Reason: ReasonRateLimitExceeded, Message: "Rate limit is exceeded", Status: http.StatusTooManyRequests,
		Public: fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", secs), Header: hdr}
}

// allow records what is left: the variable now, the headers on the response
// once the pipeline decided it.
func (h *rateHeaders) allow(x *exchange.Exchange, remaining, calls int64) {
	if h.remainingVar != "" {
		x.SetVar(h.remainingVar, int32Var(remaining))
	}
	if h.remainingHeader != "" || h.totalHeader != "" {
		x.Defer(func(context.Context) error {
			setResponseHeader(x, h.remainingHeader, remaining)
			setResponseHeader(x, h.totalHeader, calls)
			return nil
		})
	}
}

// rate-limit-by-key limits calls per counter-key value, with one counter per
// value shared by every scope and policy that uses it.
type rateLimitByKeyPolicy struct {
	limiter
	calls, period, counterKey pipeline.Value
	cond, count               pipeline.Value
	// deferred: increment-condition or increment-count is an expression, so
	// the call is counted at the end of outbound, when the response is known.
	deferred bool
	rateHeaders
}

func (d *Deps) rateLimitByKey(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, append([]string{"calls", "renewal-period", "counter-key", "increment-condition", "increment-count"}, rateHeaderAttrs...)...)
	c.CheckChildren(el)
	p := &rateLimitByKeyPolicy{limiter: d.limiter(func(f FailClosed) bool { return f.RateLimit }), rateHeaders: compileRateHeaders(c, el)}
	var ok [3]bool
	p.calls, ok[0] = c.RequiredAttr(el, "calls")
	p.period, ok[1] = c.RequiredAttr(el, "renewal-period")
	p.counterKey, ok[2] = c.RequiredAttr(el, "counter-key")
	if _, isLit := p.calls.Literal(); ok[0] && isLit {
		_, ok[0] = countAttr(c, el, "calls", 1, math.MaxInt32)
	}
	if _, isLit := p.period.Literal(); ok[1] && isLit {
		_, ok[1] = countAttr(c, el, "renewal-period", 1, maxRenewalPeriod)
	}
	p.cond, p.count, p.deferred = incrementAttrs(c, el)
	if ok != [3]bool{true, true, true} {
		return nil, nil
	}
	return p, nil
}

func (p *rateLimitByKeyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	const policy = "rate-limit-by-key"
	calls, err := evalCount(x, p.calls, policy, "calls", 1, math.MaxInt32)
	if err != nil {
		return err
	}
	period, err := evalCount(x, p.period, policy, "renewal-period", 1, maxRenewalPeriod)
	if err != nil {
		return err
	}
	key, err := p.counterKey.String(x)
	if err != nil {
		return err
	}
	bucket := []store.Bucket{{Key: p.key("rlk", key), Calls: calls, Period: time.Duration(period) * time.Second}}
	if p.deferred {
		return p.applyDeferred(ctx, x, bucket)
	}
	n, err := evalCount(x, p.count, policy, "increment-count", 0, math.MaxInt32)
	if err != nil {
		return err
	}
	mode := store.RateTake
	if cond, _ := p.cond.Bool(x); !cond || n == 0 {
		// Counted never: the limit still refuses calls once the counter is
		// full (other policies may count in it).
		mode, n = store.RatePeek, 1
	}
	res, err := p.store.Rate(ctx, bucket, n, mode)
	if err != nil {
		return p.unavailable(ctx, x, policy, err)
	}
	if !res.Allowed {
		return p.refuse(x, res, calls)
	}
	p.allow(x, res.Remaining, calls)
	return nil
}

// applyDeferred refuses the call if the counter is full now, and counts it at
// the end of outbound if increment-condition says so.
func (p *rateLimitByKeyPolicy) applyDeferred(ctx context.Context, x *exchange.Exchange, bucket []store.Bucket) error {
	const policy = "rate-limit-by-key"
	calls := bucket[0].Calls
	res, err := p.store.Rate(ctx, bucket, 1, store.RatePeek)
	if err != nil {
		return p.unavailable(ctx, x, policy, err)
	}
	if !res.Allowed {
		return p.refuse(x, res, calls)
	}
	if p.remainingVar != "" {
		x.SetVar(p.remainingVar, int32Var(res.Remaining))
	}
	remaining := res.Remaining
	x.Defer(func(ctx context.Context) error {
		cond, err := p.cond.Bool(x)
		if err != nil {
			return err
		}
		n := int64(0)
		if cond {
			if n, err = evalCount(x, p.count, policy, "increment-count", 0, math.MaxInt32); err != nil {
				return err
			}
		}
		if n > 0 {
			res, err := p.store.Rate(ctx, bucket, n, store.RateAdd)
			if err != nil {
				p.warn(ctx, policy, "could not count a call in the limit store", err)
			} else {
				remaining = res.Remaining
			}
		}
		setResponseHeader(x, p.remainingHeader, remaining)
		setResponseHeader(x, p.totalHeader, calls)
		return nil
	})
	return nil
}

// evalCount evaluates a whole-number attribute from lo to hi.
func evalCount(x *exchange.Exchange, v pipeline.Value, policy, name string, lo, hi int64) (int64, error) {
	s, err := v.String(x)
	if err != nil {
		return 0, err
	}
	return parseCount(policy, name, s, lo, hi)
}

// rate-limit limits calls per subscription in the scope that defines it, with
// optional limits of their own for one API and one of its operations.
type rateLimitPolicy struct {
	limiter
	scope  scopeOf
	calls  int64
	period time.Duration
	apis   []rateLimitAPI
	rateHeaders
}

type rateLimitAPI struct {
	target
	calls  int64
	period time.Duration
	ops    []rateLimitOp
}

type rateLimitOp struct {
	target
	calls  int64
	period time.Duration
}

func (d *Deps) rateLimit(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, append([]string{"calls", "renewal-period"}, rateHeaderAttrs...)...)
	c.CheckChildren(el, "api")
	p := &rateLimitPolicy{limiter: d.limiter(func(f FailClosed) bool { return f.RateLimit }), scope: compileScope(c), rateHeaders: compileRateHeaders(c, el)}
	var ok bool
	p.calls, p.period, ok = compileRate(c, el, 0)
	for _, a := range el.Elements() {
		if a.Name != "api" {
			continue
		}
		c.CheckAttrs(a, "name", "id", "calls", "renewal-period")
		c.CheckChildren(a, "operation")
		t, tok := compileTarget(c, a)
		calls, period, rok := compileRate(c, a, p.period)
		api := rateLimitAPI{target: t, calls: calls, period: period}
		for _, o := range a.Elements() {
			if o.Name != "operation" {
				continue
			}
			c.CheckAttrs(o, "name", "id", "calls", "renewal-period")
			c.CheckChildren(o)
			ot, otok := compileTarget(c, o)
			ocalls, operiod, orok := compileRate(c, o, period)
			if otok && orok {
				api.ops = append(api.ops, rateLimitOp{target: ot, calls: ocalls, period: operiod})
			}
		}
		if tok && rok {
			p.apis = append(p.apis, api)
		}
	}
	if !ok {
		return nil, nil
	}
	return p, nil
}

// compileRate reads calls and renewal-period, literals only. A child's
// renewal-period defaults to its parent's (def).
func compileRate(c *pipeline.Compiler, el *policyxml.Element, def time.Duration) (calls int64, period time.Duration, ok bool) {
	if el.Attr("calls") == nil {
		c.Report(c.Errorf(el.Pos, "<%s> needs a calls attribute", el.Name))
		return 0, 0, false
	}
	calls, ok = countAttr(c, el, "calls", 1, math.MaxInt32)
	if el.Attr("renewal-period") == nil {
		if def == 0 {
			c.Report(c.Errorf(el.Pos, "<%s> needs a renewal-period attribute (seconds, at most %d)", el.Name, maxRenewalPeriod))
			return 0, 0, false
		}
		return calls, def, ok
	}
	secs, pok := countAttr(c, el, "renewal-period", 1, maxRenewalPeriod)
	return calls, time.Duration(secs) * time.Second, ok && pok
}

func (p *rateLimitPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	scope, sub := p.scope.id(x), subscriptionID(x)
	var buf [3]store.Bucket
	buckets := append(buf[:0], store.Bucket{Key: p.key("rl", scope, sub), Calls: p.calls, Period: p.period})
	if i := p.matchAPI(x); i >= 0 {
		a := &p.apis[i]
		buckets = append(buckets, store.Bucket{Key: p.key("rl", scope, sub, "api", strings.ToLower(x.API.ID)), Calls: a.calls, Period: a.period})
		for _, o := range a.ops {
			if x.Operation != nil && o.matches(x.Operation.ID, x.Operation.Name) {
				buckets = append(buckets, store.Bucket{Key: p.key("rl", scope, sub, "api", strings.ToLower(x.API.ID), "operation", strings.ToLower(x.Operation.ID)),
					Calls: o.calls, Period: o.period})
				break
			}
		}
	}
	res, err := p.store.Rate(ctx, buckets, 1, store.RateTake)
	if err != nil {
		return p.unavailable(ctx, x, "rate-limit", err)
	}
	if !res.Allowed {
		return p.refuse(x, res, p.calls)
	}
	p.allow(x, res.Remaining, p.calls)
	return nil
}

// matchAPI returns the index of the first <api> naming the request's API, or -1.
func (p *rateLimitPolicy) matchAPI(x *exchange.Exchange) int {
	if x.API == nil {
		return -1
	}
	for i := range p.apis {
		if p.apis[i].matches(x.API.ID, x.API.Name) {
			return i
		}
	}
	return -1
}
