package policies

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// Reasons of the token limits' refusals, for context.LastError, as API
// Management's gateway reports them.
const (
	ReasonTokenLimitExceeded = "OpenAITokenLimitExceeded"
	ReasonTokenQuotaExceeded = "OpenAITokenQuotaExceeded"
)

// maxTokenQuota bounds token-quota so that counts stay exact in Redis's
// doubles.
const maxTokenQuota = 1 << 50

// llm-token-limit and azure-openai-token-limit limit the tokens a counter key
// spends: a rate (tokens-per-minute, a token bucket) and, for llm-token-limit,
// a quota over a calendar period. What a call spends is its prompt and
// completion tokens, from the response's usage; with estimate-prompt-tokens
// (and always for a stream) the prompt's estimate is taken before the call
// and corrected when the usage is known.
type tokenLimitPolicy struct {
	rate         limiter // fails as FailClosed.RateLimit says
	quotaLim     limiter // fails as FailClosed.Quota says
	name         string
	counterKey   pipeline.Value
	tpm          *pipeline.Value // nil without tokens-per-minute
	quota        *pipeline.Value // nil without token-quota
	period       *pipeline.Value
	estimate     bool
	est          *llm.Estimator
	retryHeader  string
	retryVar     string
	remainHeader string
	remainVar    string
	quotaHeader  string
	quotaVar     string
	usedHeader   string
	usedVar      string
}

var tokenLimitAttrs = []string{"counter-key", "tokens-per-minute", "estimate-prompt-tokens", "retry-after-header-name",
	"retry-after-variable-name", "remaining-tokens-header-name", "remaining-tokens-variable-name",
	"tokens-consumed-header-name", "tokens-consumed-variable-name"}

var tokenQuotaAttrs = []string{"token-quota", "token-quota-period", "remaining-quota-tokens-header-name", "remaining-quota-tokens-variable-name"}

// llmTokenLimit compiles llm-token-limit.
func (d *Deps) llmTokenLimit(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return d.tokenLimit(c, el, false)
}

// azureOpenAITokenLimit compiles azure-openai-token-limit: no quota.
func (d *Deps) azureOpenAITokenLimit(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return d.tokenLimit(c, el, true)
}

func (d *Deps) tokenLimit(c *pipeline.Compiler, el *policyxml.Element, azure bool) (pipeline.Policy, error) {
	if azure {
		// The quota's attributes get a message of their own.
		rest := *el
		rest.Attrs = nil
		for _, a := range el.Attrs {
			if slices.Contains(tokenQuotaAttrs, a.Name) {
				c.Report(c.Errorf(a.NamePos, "azure-openai-token-limit has no token quota: %s needs llm-token-limit", a.Name))
				continue
			}
			rest.Attrs = append(rest.Attrs, a)
		}
		c.CheckAttrs(&rest, tokenLimitAttrs...)
	} else {
		c.CheckAttrs(el, append(tokenLimitAttrs, tokenQuotaAttrs...)...)
	}
	c.CheckChildren(el)
	p := &tokenLimitPolicy{
		rate:     d.limiter(func(f FailClosed) bool { return f.RateLimit }),
		quotaLim: d.limiter(func(f FailClosed) bool { return f.Quota }),
		name:     el.Name,
		est:      d.estimator(),
	}
	ok := true
	var has bool
	if p.counterKey, has = c.RequiredAttr(el, "counter-key"); !has {
		ok = false
	}
	if v, has := c.Attr(el, "tokens-per-minute"); has {
		p.tpm = &v
		if _, lit := v.Literal(); lit {
			_, ok = countAttr(c, el, "tokens-per-minute", 1, math.MaxInt32)
		}
	} else if azure {
		c.Report(c.Errorf(el.Pos, "<azure-openai-token-limit> needs a tokens-per-minute attribute"))
		ok = false
	}
	if !azure {
		q, hasQ := c.Attr(el, "token-quota")
		per, hasP := c.Attr(el, "token-quota-period")
		switch {
		case hasQ != hasP:
			c.Report(c.Errorf(el.Pos, "<llm-token-limit> needs token-quota and token-quota-period together"))
			ok = false
		case hasQ:
			p.quota, p.period = &q, &per
			if _, lit := q.Literal(); lit {
				_, qok := countAttr(c, el, "token-quota", 1, maxTokenQuota)
				ok = ok && qok
			}
			if s, lit := per.Literal(); lit {
				if _, err := quotaPeriod(s); err != nil {
					c.Report(c.Errorf(el.Attr("token-quota-period").Value.Pos(), "token-quota-period of <llm-token-limit> %s", err.Message))
					ok = false
				}
			}
		}
		if p.tpm == nil && p.quota == nil {
			c.Report(c.Errorf(el.Pos, "<llm-token-limit> needs tokens-per-minute, or token-quota with token-quota-period, or both"))
			ok = false
		}
	}
	if el.Attr("estimate-prompt-tokens") == nil {
		c.Report(c.Errorf(el.Pos, `<%s> needs estimate-prompt-tokens ("true" or "false")`, el.Name))
		ok = false
	}
	p.estimate = c.BoolAttr(el, "estimate-prompt-tokens", false)
	p.retryHeader = headerNameAttr(c, el, "retry-after-header-name", "Retry-After")
	p.retryVar = varNameAttr(c, el, "retry-after-variable-name")
	p.remainHeader = headerNameAttr(c, el, "remaining-tokens-header-name", "")
	p.remainVar = varNameAttr(c, el, "remaining-tokens-variable-name")
	p.quotaHeader = headerNameAttr(c, el, "remaining-quota-tokens-header-name", "")
	p.quotaVar = varNameAttr(c, el, "remaining-quota-tokens-variable-name")
	p.usedHeader = headerNameAttr(c, el, "tokens-consumed-header-name", "")
	p.usedVar = varNameAttr(c, el, "tokens-consumed-variable-name")
	if !ok {
		return nil, nil
	}
	return p, nil
}

// quotaPeriod is the calendar unit of token-quota-period.
type quotaPeriodUnit uint8

const (
	hourly quotaPeriodUnit = iota
	daily
	weekly
	monthly
	yearly
)

var quotaPeriodNames = [...]string{"Hourly", "Daily", "Weekly", "Monthly", "Yearly"}

func quotaPeriod(s string) (quotaPeriodUnit, *pipeline.Error) {
	for i, n := range quotaPeriodNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return quotaPeriodUnit(i), nil
		}
	}
	return 0, &pipeline.Error{Reason: "ExpressionValueEvaluationFailure",
		Message: "must be Hourly, Daily, Weekly, Monthly or Yearly, not " + strconv.Quote(s)}
}

// epochMonday is the Monday 00:00 UTC that weekly windows count from.
var epochMonday = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)

// window is the quota window that holds now: windows start at UTC time
// truncated to the unit (weeks on Monday, as ISO 8601 has them). Months and
// years differ in length, so their window is the calendar one now is in,
// named in the key; hours, days and weeks follow each other from the epoch,
// timed by the store's clock.
func (u quotaPeriodUnit) window(key string, quota int64, now time.Time) store.Window {
	w := store.Window{Key: key + ":" + quotaPeriodNames[u], Calls: quota, Start: time.Unix(0, 0)}
	now = now.UTC()
	switch u {
	case hourly:
		w.Period = time.Hour
	case daily:
		w.Period = 24 * time.Hour
	case weekly:
		w.Period, w.Start = 7*24*time.Hour, epochMonday
	case monthly:
		w.Start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		w.Period = w.Start.AddDate(0, 1, 0).Sub(w.Start)
		w.Key += ":" + w.Start.Format("2006-01")
	case yearly:
		w.Start = time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		w.Period = w.Start.AddDate(1, 0, 0).Sub(w.Start)
		w.Key += ":" + w.Start.Format("2006")
	}
	return w
}

// tokenSpend is what one request's token limit took and has left, shared by
// the work it leaves for later.
type tokenSpend struct {
	bucket        []store.Bucket // nil without a rate
	window        []store.Window // nil without a quota
	rateTaken     int64          // tokens taken from the bucket before the call
	quotaTaken    int64          // tokens counted in the window before the call
	remaining     int64          // the bucket's whole tokens, -1 without a rate
	quotaLeft     int64          // the window's tokens, -1 without a quota
	consumed      int64          // what the call used, -1 until known
	headersFrozen bool           // the response left before the count
}

func (p *tokenLimitPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	key, err := p.counterKey.String(x)
	if err != nil {
		return err
	}
	call, err := llmCallOf(x, p.est)
	if err != nil {
		return err
	}
	s := &tokenSpend{remaining: -1, quotaLeft: -1, consumed: -1}
	// What is taken before the call: the prompt's estimate, or nothing (the
	// limit only checks that the counter is not spent). A stream is always
	// estimated, as API Management does: its usage may never come.
	var n int64
	if p.estimate || call.req.Stream {
		n = call.promptEstimate()
	}
	if p.tpm != nil {
		tpm, err := evalCount(x, *p.tpm, p.name, "tokens-per-minute", 1, math.MaxInt32)
		if err != nil {
			return err
		}
		s.bucket = []store.Bucket{{Key: p.rate.key("tl", key), Calls: tpm, Period: time.Minute}}
		// A prompt larger than the whole bucket goes when the bucket is
		// full, and leaves it in debt, rather than never.
		take, mode := min(n, tpm), store.RateTake
		if take == 0 {
			take, mode = 1, store.RatePeek
		}
		res, err := p.rate.store.Rate(ctx, s.bucket, take, mode)
		switch {
		case err != nil:
			if err := p.rate.unavailable(ctx, x, p.name, err); err != nil {
				return err
			}
			s.bucket = nil // uncounted
		case !res.Allowed:
			return p.refuseRate(x, res.RetryAfter)
		default:
			if mode == store.RateTake {
				s.rateTaken = take
			}
			s.remaining = res.Remaining
		}
	}
	if p.quota != nil {
		quota, err := evalCount(x, *p.quota, p.name, "token-quota", 1, maxTokenQuota)
		if err != nil {
			return p.giveBack(ctx, s, err)
		}
		ps, err := p.period.String(x)
		if err != nil {
			return p.giveBack(ctx, s, err)
		}
		unit, perr := quotaPeriod(ps)
		if perr != nil {
			perr.Message = p.name + ": token-quota-period " + perr.Message
			return p.giveBack(ctx, s, perr)
		}
		s.window = []store.Window{unit.window(p.rate.key("tq", key), quota, time.Now())}
		mode, count := store.QuotaTake, n
		if n == 0 {
			mode, count = store.QuotaPeek, 1
		}
		res, err := p.rate.store.Quota(ctx, s.window, count, 0, mode)
		switch {
		case err != nil:
			if err := p.quotaLim.unavailable(ctx, x, p.name, err); err != nil {
				return p.giveBack(ctx, s, err)
			}
			s.window = nil // uncounted
		case !res.Allowed:
			return p.giveBack(ctx, s, p.refuseQuota(x, res.RenewsIn))
		default:
			if mode == store.QuotaTake {
				s.quotaTaken = n
			}
			s.quotaLeft = res.Remaining
		}
	}
	if p.remainVar != "" && s.remaining >= 0 {
		x.SetVar(p.remainVar, int32Var(s.remaining))
	}
	if p.quotaVar != "" && s.quotaLeft >= 0 {
		x.SetVar(p.quotaVar, int32Var(s.quotaLeft))
	}
	if p.usedVar != "" {
		x.SetVar(p.usedVar, int32Var(n)) // the estimate (0 without one) until the usage is known
	}
	call.watch(usageWatch{usage: func(ctx context.Context, r usageReport) { p.spend(ctx, x, s, r) }})
	x.Defer(func(context.Context) error {
		if !s.headersFrozen {
			setResponseHeader(x, p.remainHeader, s.remaining)
			setResponseHeader(x, p.quotaHeader, s.quotaLeft)
			if s.consumed >= 0 {
				setResponseHeader(x, p.usedHeader, s.consumed)
			}
		}
		return nil
	})
	return nil
}

// spend counts what the call used, in place of what was taken before it: the
// difference is added (or given back). A call the backend did not answer, or
// answered with an error that reports no usage, gives back what it took; a
// successful answer without usage keeps it.
func (p *tokenLimitPolicy) spend(ctx context.Context, x *exchange.Exchange, s *tokenSpend, r usageReport) {
	used := r.Prompt + r.Completion
	switch {
	case r.OK:
	case r.Status != 0 && successful(r.Status):
		used = max(s.rateTaken, s.quotaTaken)
	default:
		used = 0
	}
	if d := used - s.rateTaken; s.bucket != nil && d != 0 {
		res, err := p.rate.store.Rate(ctx, s.bucket, d, store.RateAdd)
		if err != nil {
			p.rate.warn(ctx, p.name, "could not count a call's tokens in the limit store", err)
		} else if !r.Streamed {
			s.remaining = res.Remaining
		}
	}
	if d := used - s.quotaTaken; s.window != nil && d != 0 {
		res, err := p.rate.store.Quota(ctx, s.window, d, 0, store.QuotaAdd)
		if err != nil {
			p.rate.warn(ctx, p.name, "could not count a call's tokens in the limit store", err)
		} else if !r.Streamed {
			s.quotaLeft = res.Remaining
		}
	}
	if !r.OK {
		return
	}
	s.consumed = used
	s.headersFrozen = r.Streamed
	if p.usedVar != "" && !r.Streamed {
		x.SetVar(p.usedVar, int32Var(used))
	}
}

// giveBack returns what the rate took before a later check refused the call,
// and returns err.
func (p *tokenLimitPolicy) giveBack(ctx context.Context, s *tokenSpend, err error) error {
	if s.bucket != nil && s.rateTaken > 0 {
		if _, gerr := p.rate.store.Rate(ctx, s.bucket, -s.rateTaken, store.RateAdd); gerr != nil {
			p.rate.warn(ctx, p.name, "could not give tokens back to the limit store", gerr)
		}
	}
	return err
}

// refuseRate is the 429 of the rate: Retry-After (or the configured header)
// and API Management's body.
func (p *tokenLimitPolicy) refuseRate(x *exchange.Exchange, wait time.Duration) error {
	secs := ceilSeconds(wait)
	if p.retryVar != "" {
		x.SetVar(p.retryVar, int32Var(secs))
	}
	msg := fmt.Sprintf("Token limit is exceeded. Try again in %d seconds.", secs)
	return &pipeline.Error{Reason: ReasonTokenLimitExceeded, Message: msg, Status: http.StatusTooManyRequests,
		Header: http.Header{http.CanonicalHeaderKey(p.retryHeader): {strconv.FormatInt(secs, 10)}}}
}

// refuseQuota is the 403 of the quota, with the time until the window renews
// in API Management's words and in Retry-After.
func (p *tokenLimitPolicy) refuseQuota(x *exchange.Exchange, renews time.Duration) error {
	secs := ceilSeconds(renews)
	if p.retryVar != "" {
		x.SetVar(p.retryVar, int32Var(secs))
	}
	msg := fmt.Sprintf("Token quota is exceeded. Try again in %d minutes and %d seconds.", secs/60, secs%60)
	return &pipeline.Error{Reason: ReasonTokenQuotaExceeded, Message: msg, Status: http.StatusForbidden,
		Header: http.Header{http.CanonicalHeaderKey(p.retryHeader): {strconv.FormatInt(secs, 10)}}}
}
