package policies

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// retry runs its children once, then again while the condition is true and
// retries are left, waiting between attempts:
//
//   - interval only: interval every time (fixed);
//   - interval and delta: interval + (n-1)*delta before retry n (linear);
//   - interval, delta and max-interval: interval + (2^(n-1) - 1)*random(0.8*delta,
//     1.2*delta), at most max-interval (exponential: 10, 20, 40, 80, 100 s for
//     interval = delta = 10 and max-interval = 100, API Management's example).
//
// first-fast-retry makes the first retry immediate. A child that fails ends the
// retry and the failure goes to on-error, as any policy failure does; the
// condition decides on the state the children left (context.Response, variables).
type retryPolicy struct {
	cond                           pipeline.Value
	count, interval, maxInt, delta pipeline.Value
	hasMax, hasDelta               bool
	firstFast                      pipeline.Value
	steps                          []pipeline.Step
	// bufferBody is set when the children may forward the request: its body is
	// read into memory once, before the first attempt, so that every attempt can
	// send it.
	bufferBody bool
	// jitter returns a number in [0.8, 1.2) for the exponential waits; tests
	// replace it.
	jitter func() float64
}

const maxRetryCount = 50

func retry(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "condition", "count", "interval", "max-interval", "delta", "first-fast-retry")
	p := &retryPolicy{jitter: retryJitter}
	cond, okCond := c.Condition(el, "condition")
	p.cond = cond
	var okCount, okInterval bool
	p.count, okCount = retryNumber(c, el, "count", 1, maxRetryCount, true)
	p.interval, okInterval = retryNumber(c, el, "interval", 0, math.MaxInt32, true)
	// A max-interval of 0 would cap every wait at 0: interval="0" says that.
	p.maxInt, p.hasMax = retryNumber(c, el, "max-interval", 1, math.MaxInt32, false)
	p.delta, p.hasDelta = retryNumber(c, el, "delta", 0, math.MaxInt32, false)
	p.firstFast = c.BoolValue(el, "first-fast-retry", false)
	p.steps = c.Block(el)
	p.bufferBody = c.Section() == pipeline.Backend && mayForward(el)
	if !okCond || !okCount || !okInterval {
		return nil, nil
	}
	return p, nil
}

// retryJitter scales the exponential waits' delta by a random factor from 0.8 to
// 1.2, so that callers that failed together do not retry together.
func retryJitter() float64 { return 0.8 + 0.4*rand.Float64() }

// retryNumber compiles a whole-number attribute in [lo, hi]; a literal is checked
// now, an expression when it is evaluated. It reports whether the attribute is
// present (and says so when it is required and missing).
func retryNumber(c *pipeline.Compiler, el *policyxml.Element, name string, lo, hi int, required bool) (pipeline.Value, bool) {
	var v pipeline.Value
	var ok bool
	if required {
		v, ok = c.RequiredAttr(el, name)
	} else {
		v, ok = c.Attr(el, name)
	}
	if !ok {
		return v, false
	}
	if lit, isLit := v.Literal(); isLit {
		if _, perr := parseRetryNumber(name, lit, lo, hi); perr != nil {
			c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s", perr.Message))
		}
	}
	return v, true
}

func parseRetryNumber(name, s string, lo, hi int) (int, *pipeline.Error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		what := "a whole number of seconds, at least " + strconv.Itoa(lo)
		switch {
		case name == "count":
			what = "a whole number from 1 to " + strconv.Itoa(maxRetryCount)
		case name == "max-interval" && n == 0 && err == nil:
			what += " (interval=\"0\" retries without waiting)"
		}
		return 0, &pipeline.Error{Reason: "InvalidRetrySetting", Message: "retry " + name + " must be " + what + ", not " + quoteShort(s)}
	}
	return n, nil
}

// mayForward reports whether a retry's children contain forward-request, directly
// or nested, or include a fragment that might.
func mayForward(el *policyxml.Element) bool {
	for _, ch := range el.Elements() {
		if ch.Name == "forward-request" || ch.Name == "include-fragment" || mayForward(ch) {
			return true
		}
	}
	return false
}

// retrySettings are a retry's attributes, evaluated for one request.
type retrySettings struct {
	count                     int
	interval, maxInt, delta   time.Duration
	hasMax, hasDelta, fastOne bool
}

func (p *retryPolicy) settings(x *exchange.Exchange) (retrySettings, error) {
	var s retrySettings
	num := func(name string, v pipeline.Value, lo, hi int) (int, error) {
		str, err := v.String(x)
		if err != nil {
			return 0, err
		}
		n, perr := parseRetryNumber(name, str, lo, hi)
		if perr != nil {
			return 0, perr
		}
		return n, nil
	}
	var err error
	var n int
	if s.count, err = num("count", p.count, 1, maxRetryCount); err != nil {
		return s, err
	}
	if n, err = num("interval", p.interval, 0, math.MaxInt32); err != nil {
		return s, err
	}
	s.interval = time.Duration(n) * time.Second
	if p.hasMax {
		if n, err = num("max-interval", p.maxInt, 1, math.MaxInt32); err != nil {
			return s, err
		}
		s.maxInt, s.hasMax = time.Duration(n)*time.Second, true
	}
	if p.hasDelta {
		if n, err = num("delta", p.delta, 0, math.MaxInt32); err != nil {
			return s, err
		}
		s.delta, s.hasDelta = time.Duration(n)*time.Second, true
	}
	if s.fastOne, err = p.firstFast.Bool(x); err != nil {
		return s, err
	}
	return s, nil
}

// wait returns how long to wait before retry n (1 for the first retry).
func (s retrySettings) wait(n int, jitter func() float64) time.Duration {
	if n == 1 && s.fastOne {
		return 0
	}
	var secs float64
	base := s.interval.Seconds()
	switch {
	case s.hasDelta && s.hasMax:
		secs = base + (math.Exp2(float64(n-1))-1)*s.delta.Seconds()*jitter()
	case s.hasDelta:
		secs = base + float64(n-1)*s.delta.Seconds()
	default:
		secs = base
	}
	if s.hasMax && secs > s.maxInt.Seconds() {
		secs = s.maxInt.Seconds()
	}
	// At most a day: a wait longer than any request is a configuration mistake,
	// and a float that large would overflow a Duration.
	return time.Duration(min(secs, 86400) * float64(time.Second))
}

func (p *retryPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	s, err := p.settings(x)
	if err != nil {
		return err
	}
	if p.bufferBody && x.Request.Body != nil && !x.Request.Body.Consumed() {
		if _, err := x.Request.Body.Bytes(true); err != nil && !errors.Is(err, exchange.ErrBodyConsumed) {
			return pipeline.BodyFailure("retry could not buffer the request body to send it again", err)
		}
	}
	for n := 0; ; n++ {
		prev := x.Response
		err := pipeline.RunSteps(ctx, x, p.steps)
		if prev != nil && prev != x.Response && (x.Response == nil || x.Response.Body != prev.Body) {
			// An earlier attempt's response that nothing can reach any more: give
			// its connection back.
			prev.Body.Close()
		}
		if err != nil || n == s.count {
			return err
		}
		again, err := p.cond.Bool(x)
		if err != nil || !again {
			return err
		}
		if err := sleep(ctx, s.wait(n+1, p.jitter)); err != nil {
			return err
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return &pipeline.Error{Reason: "ClientConnectionFailure", Message: "the client went away", Status: 499, Err: err}
	}
	return nil
}
