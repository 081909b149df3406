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

// quotaLimit is one quota's calls and kilobytes in a renewal period; 0 means
// that one is not limited, and a period of 0 never renews.
type quotaLimit struct {
	calls, bytes int64
	period       time.Duration
}

// maxBandwidthKB bounds bandwidth so that its bytes fit an int64 with room to
// count past it.
const maxBandwidthKB = math.MaxInt64 >> 12

// compileQuotaLimit reads calls, bandwidth and renewal-period, literals only;
// at least one of calls and bandwidth. A child's renewal-period defaults to
// its parent's (inherit).
func compileQuotaLimit(c *pipeline.Compiler, el *policyxml.Element, minPeriod int64, inherit *time.Duration) (quotaLimit, bool) {
	var q quotaLimit
	ok := true
	if el.Attr("calls") == nil && el.Attr("bandwidth") == nil {
		c.Report(c.Errorf(el.Pos, "<%s> needs a calls or a bandwidth attribute (or both)", el.Name))
		ok = false
	}
	if el.Attr("calls") != nil {
		n, cok := countAttr(c, el, "calls", 1, math.MaxInt32)
		q.calls, ok = n, ok && cok
	}
	if el.Attr("bandwidth") != nil {
		kb, bok := countAttr(c, el, "bandwidth", 1, maxBandwidthKB)
		q.bytes, ok = kb*1024, ok && bok
	}
	switch {
	case el.Attr("renewal-period") != nil:
		secs, pok := countAttr(c, el, "renewal-period", 0, math.MaxInt32)
		if pok && secs != 0 && secs < minPeriod {
			c.Report(c.Errorf(el.Attr("renewal-period").Value.Pos(), "renewal-period of <%s> must be 0 (never renews) or at least %d seconds, not %d", el.Name, minPeriod, secs))
			pok = false
		}
		q.period, ok = time.Duration(secs)*time.Second, ok && pok
	case inherit != nil:
		q.period = *inherit
	default:
		c.Report(c.Errorf(el.Pos, "<%s> needs a renewal-period attribute (seconds; 0 never renews)", el.Name))
		ok = false
	}
	return q, ok
}

func (q quotaLimit) window(key string, start time.Time) store.Window {
	return store.Window{Key: key, Calls: q.calls, Bytes: q.bytes, Period: q.period, Start: start}
}

// quotaRefused is the 403 of a quota, with API Management's message and
// Retry-After until the window renews (none when it never does).
func quotaRefused(res store.QuotaResult) error {
	msg := "Out of call volume quota."
	if res.Bandwidth {
		msg = "Out of bandwidth quota."
	}
	var hdr http.Header
	if res.RenewsIn > 0 {
		msg += " Quota will be replenished in " + timeSpan(res.RenewsIn) + "."
		hdr = http.Header{"Retry-After": {strconv.FormatInt(ceilSeconds(res.RenewsIn), 10)}}
	}
	return &pipeline.Error{Reason: ReasonQuotaExceeded, Message: msg, Status: http.StatusForbidden, Header: hdr}
}

// timeSpan formats d, rounded up to a second, as .NET prints a TimeSpan:
// hh:mm:ss, with d. before it past a day.
func timeSpan(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	days, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if days > 0 {
		return fmt.Sprintf("%d.%02d:%02d:%02d", days, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// countBytes counts what the request transferred in the windows once it is
// over, when one of them limits bandwidth.
func (l *limiter) countBytes(x *exchange.Exchange, policy string, windows []store.Window) {
	limited := false
	for _, w := range windows {
		limited = limited || w.Bytes > 0
	}
	if !limited {
		return
	}
	x.OnDone(func(ctx context.Context, u exchange.Usage) {
		if n := u.RequestBytes + u.ResponseBytes; n > 0 {
			if _, err := l.store.Quota(ctx, windows, 0, n, store.QuotaAdd); err != nil {
				l.warn(ctx, policy, "could not count a request's bytes in the limit store", err)
			}
		}
	})
}

// quota limits calls and bandwidth per subscription in the scope that defines
// it, in fixed windows that start when the subscription did.
type quotaPolicy struct {
	limiter
	scope scopeOf
	quotaLimit
	apis []quotaAPI
}

type quotaAPI struct {
	target
	quotaLimit
	ops []quotaOp
}

type quotaOp struct {
	target
	quotaLimit
}

func (d *Deps) quota(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "calls", "bandwidth", "renewal-period")
	c.CheckChildren(el, "api")
	p := &quotaPolicy{limiter: d.limiter(func(f FailClosed) bool { return f.Quota }), scope: compileScope(c)}
	var ok bool
	p.quotaLimit, ok = compileQuotaLimit(c, el, 0, nil)
	for _, a := range el.Elements() {
		if a.Name != "api" {
			continue
		}
		c.CheckAttrs(a, "name", "id", "calls", "bandwidth", "renewal-period")
		c.CheckChildren(a, "operation")
		t, tok := compileTarget(c, a)
		q, qok := compileQuotaLimit(c, a, 0, &p.period)
		api := quotaAPI{target: t, quotaLimit: q}
		for _, o := range a.Elements() {
			if o.Name != "operation" {
				continue
			}
			c.CheckAttrs(o, "name", "id", "calls", "bandwidth", "renewal-period")
			c.CheckChildren(o)
			ot, otok := compileTarget(c, o)
			oq, oqok := compileQuotaLimit(c, o, 0, &q.period)
			if otok && oqok {
				api.ops = append(api.ops, quotaOp{target: ot, quotaLimit: oq})
			}
		}
		if tok && qok {
			p.apis = append(p.apis, api)
		}
	}
	if !ok {
		return nil, nil
	}
	return p, nil
}

// subscriptionStart is when a subscription's quota periods start: its start
// date, else its creation; calls without a subscription count from
// 0001-01-01, like quota-by-key's default first-period-start.
func subscriptionStart(x *exchange.Exchange) time.Time {
	s := x.Subscription
	switch {
	case s == nil:
		return time.Time{}
	case s.StartDate != nil:
		return *s.StartDate
	}
	return s.CreatedDate
}

func (p *quotaPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	scope, sub, start := p.scope.id(x), subscriptionID(x), subscriptionStart(x)
	windows := []store.Window{p.window(p.key("q", scope, sub), start)}
	if x.API != nil {
		for _, a := range p.apis {
			if !a.matches(x.API.ID, x.API.Name) {
				continue
			}
			api := strings.ToLower(x.API.ID)
			windows = append(windows, a.window(p.key("q", scope, sub, "api", api), start))
			for _, o := range a.ops {
				if x.Operation != nil && o.matches(x.Operation.ID, x.Operation.Name) {
					windows = append(windows, o.window(p.key("q", scope, sub, "api", api, "operation", strings.ToLower(x.Operation.ID)), start))
					break
				}
			}
			break
		}
	}
	res, err := p.store.Quota(ctx, windows, 1, 0, store.QuotaTake)
	if err != nil {
		return p.unavailable(ctx, x, "quota", err)
	}
	if !res.Allowed {
		return quotaRefused(res)
	}
	p.countBytes(x, "quota", windows)
	return nil
}

// quota-by-key limits calls and bandwidth per counter-key value, in fixed
// windows from first-period-start.
type quotaByKeyPolicy struct {
	limiter
	quotaLimit
	start                   time.Time
	counterKey, cond, count pipeline.Value
	// deferred: increment-condition or increment-count is an expression, so
	// the call is counted at the end of outbound, when the response is known.
	deferred bool
}

// minQuotaByKeyPeriod is quota-by-key's shortest renewal period, in seconds,
// as in API Management.
const minQuotaByKeyPeriod = 300

func (d *Deps) quotaByKey(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "calls", "bandwidth", "renewal-period", "counter-key", "increment-condition", "increment-count", "first-period-start")
	c.CheckChildren(el)
	p := &quotaByKeyPolicy{limiter: d.limiter(func(f FailClosed) bool { return f.Quota })}
	var ok [3]bool
	p.quotaLimit, ok[0] = compileQuotaLimit(c, el, minQuotaByKeyPeriod, nil)
	p.counterKey, ok[1] = c.RequiredAttr(el, "counter-key")
	ok[2] = true
	if s, has := c.LiteralAttr(el, "first-period-start"); has {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
		if err != nil {
			c.Report(c.Errorf(el.Attr("first-period-start").Value.Pos(), "first-period-start of <quota-by-key> must be a time such as 2024-01-01T00:00:00Z, not %q", s))
			ok[2] = false
		}
		p.start = t.UTC()
	}
	p.cond, p.count, p.deferred = incrementAttrs(c, el)
	if ok != [3]bool{true, true, true} {
		return nil, nil
	}
	return p, nil
}

func (p *quotaByKeyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	const policy = "quota-by-key"
	key, err := p.counterKey.String(x)
	if err != nil {
		return err
	}
	k := p.key("qk", key)
	windows := []store.Window{p.window(k, p.start)}
	// Several policies on one key count a request once: the first counts,
	// the others only check, not counting this request again.
	first := x.Mark(k)
	n, room := int64(0), int64(1) // calls counted now; calls the window must have room for
	switch {
	case !first:
		room = 0
	case !p.deferred:
		cond, _ := p.cond.Bool(x)
		if n, err = evalCount(x, p.count, policy, "increment-count", 0, math.MaxInt32); err != nil {
			return err
		}
		if !cond {
			n = 0
		}
		room = max(n, 1)
	}
	mode := store.QuotaPeek
	if n > 0 {
		mode = store.QuotaTake
	}
	res, err := p.store.Quota(ctx, windows, room, 0, mode)
	if err != nil {
		return p.unavailable(ctx, x, policy, err)
	}
	if !res.Allowed {
		return quotaRefused(res)
	}
	switch {
	case !first:
	case !p.deferred:
		if n > 0 {
			p.countBytes(x, policy, windows)
		}
	default:
		x.Defer(func(ctx context.Context) error {
			cond, err := p.cond.Bool(x)
			if err != nil || !cond {
				return err
			}
			n, err := evalCount(x, p.count, policy, "increment-count", 0, math.MaxInt32)
			if err != nil {
				return err
			}
			if n > 0 {
				if _, err := p.store.Quota(ctx, windows, n, 0, store.QuotaAdd); err != nil {
					p.warn(ctx, policy, "could not count a call in the limit store", err)
				}
			}
			p.countBytes(x, policy, windows)
			return nil
		})
	}
	return nil
}
