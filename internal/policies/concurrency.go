package policies

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// limit-concurrency lets at most max-count requests run its child policies at
// once per key value, across every policy and instance that shares the key.
// A request over the limit fails at once with 429, as API Management's
// documentation says, unless the policy has the timeout attribute that older
// API Management versions documented: then it waits up to timeout seconds for
// a slot, with at most max-queue-length requests waiting on this instance.
//
// The slot is given back when the children are done, or, when they produced a
// response whose body is still streaming (forward-request), when that body is
// closed: sent, discarded, or abandoned with the request. The gateway also
// gives back whatever a request still holds when it ends.
type limitConcurrencyPolicy struct {
	limiter
	key      pipeline.Value
	max      int64
	timeout  pipeline.Value // when hasTimeout; otherwise no waiting
	queueLen pipeline.Value // when hasQueueLen; otherwise no bound on waiting requests
	steps    []pipeline.Step

	hasTimeout, hasQueueLen bool

	mu      sync.Mutex
	waiting map[string]int64 // requests waiting per store key, on this instance
}

// maxQueueWait bounds the timeout attribute, in seconds.
const maxQueueWait = pipeline.MaxSeconds

func (d *Deps) limitConcurrency(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "key", "max-count", "timeout", "max-queue-length")
	p := &limitConcurrencyPolicy{limiter: d.limiter(func(f FailClosed) bool { return f.Concurrency }), waiting: map[string]int64{}}
	var ok [2]bool
	p.key, ok[0] = c.RequiredAttr(el, "key")
	if el.Attr("max-count") == nil {
		c.Report(c.Errorf(el.Pos, "<limit-concurrency> needs a max-count attribute"))
	} else {
		p.max, ok[1] = countAttr(c, el, "max-count", 1, math.MaxInt32)
	}
	if v, has := c.Attr(el, "timeout"); has {
		p.timeout, p.hasTimeout = v, true
		if _, isLit := v.Literal(); isLit {
			countAttr(c, el, "timeout", 0, maxQueueWait)
		}
	}
	if v, has := c.Attr(el, "max-queue-length"); has {
		if el.Attr("timeout") == nil {
			c.Report(c.Errorf(v.Source().Pos(), "max-queue-length of <limit-concurrency> needs a timeout attribute: requests wait in the queue at most timeout seconds"))
		}
		p.queueLen, p.hasQueueLen = v, true
		if _, isLit := v.Literal(); isLit {
			countAttr(c, el, "max-queue-length", 0, math.MaxInt32)
		}
	}
	p.steps = c.Block(el)
	if ok != [2]bool{true, true} {
		return nil, nil
	}
	return p, nil
}

func (p *limitConcurrencyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	const policy = "limit-concurrency"
	key, err := p.key.String(x)
	if err != nil {
		return err
	}
	k := p.limiter.key("cc", key)
	release, ok, err := p.store.Acquire(ctx, k, p.max)
	if err == nil && !ok {
		release, ok, err = p.wait(ctx, x, k)
	}
	if err != nil {
		if uerr := p.unavailable(ctx, x, policy, err); uerr != nil {
			return uerr
		}
		// Fail open: the children run without a slot.
		return pipeline.RunSteps(ctx, x, p.steps)
	}
	if !ok {
		return &pipeline.Error{Reason: ReasonConcurrencyExceeded, Message: "Too many concurrent requests.", Status: http.StatusTooManyRequests}
	}
	// A request that ends early (the client went away) gives the slot back.
	x.OnDone(func(context.Context, exchange.Usage) { release() })
	before := x.Response
	err = pipeline.RunSteps(ctx, x, p.steps)
	if r := x.Response; r != nil && r != before && r.Body.OnClose(release) {
		// The children's response still streams from the backend: the slot
		// is held until its body is closed.
		return err
	}
	release()
	return err
}

// wait waits for a slot when the policy has a timeout, polling the store
// (every 5ms at first, then less often, up to 100ms) so that it works the same
// in memory and in Redis, where another instance frees the slot.
func (p *limitConcurrencyPolicy) wait(ctx context.Context, x *exchange.Exchange, k string) (release func(), ok bool, err error) {
	const policy = "limit-concurrency"
	if !p.hasTimeout {
		return nil, false, nil
	}
	secs, err := evalCount(x, p.timeout, policy, "timeout", 0, maxQueueWait)
	if err != nil || secs == 0 {
		return nil, false, err
	}
	queueLen := int64(math.MaxInt64)
	if p.hasQueueLen {
		if queueLen, err = evalCount(x, p.queueLen, policy, "max-queue-length", 0, math.MaxInt32); err != nil {
			return nil, false, err
		}
	}
	p.mu.Lock()
	if p.waiting[k] >= queueLen {
		p.mu.Unlock()
		return nil, false, nil
	}
	p.waiting[k]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.waiting[k]--; p.waiting[k] <= 0 {
			delete(p.waiting, k)
		}
		p.mu.Unlock()
	}()
	deadline := time.NewTimer(time.Duration(secs) * time.Second)
	defer deadline.Stop()
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false, nil
		case <-deadline.C:
			t.Stop()
			return nil, false, nil
		case <-t.C:
		}
		if release, ok, err = p.store.Acquire(ctx, k, p.max); err != nil || ok {
			return release, ok, err
		}
	}
}
