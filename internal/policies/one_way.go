package policies

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Bounds of the requests send-one-way-request has in flight, all requests
// together.
const (
	DefaultOneWayInFlight = 256
	DefaultOneWayBytes    = 32 << 20
)

// OneWay sends send-one-way-request's requests in the background, so that the
// request that sends one never waits for it. It bounds them: at most
// MaxInFlight at once, with bodies of at most MaxBytes together, each within
// its policy's timeout (for the whole exchange, the response body included). A
// request over a bound is dropped and logged, never queued. One OneWay serves
// every reload of the configuration; it is safe for concurrent use.
type OneWay struct {
	MaxInFlight int   // DefaultOneWayInFlight when 0
	MaxBytes    int64 // DefaultOneWayBytes when 0
	Logger      *slog.Logger

	once     sync.Once
	slots    chan struct{}
	bytes    atomic.Int64
	wg       sync.WaitGroup
	lastWarn atomic.Int64 // UnixNano of the last warning logged
	quiet    atomic.Int64 // warnings left out since then
}

func (o *OneWay) init() {
	o.once.Do(func() {
		o.slots = make(chan struct{}, cmpOr(o.MaxInFlight, DefaultOneWayInFlight))
		if o.MaxBytes <= 0 {
			o.MaxBytes = DefaultOneWayBytes
		}
		if o.Logger == nil {
			o.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func cmpOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// start runs send in the background unless a bound is reached, in which case
// it reports false.
func (o *OneWay) start(size int64, send func()) bool {
	o.init()
	select {
	case o.slots <- struct{}{}:
	default:
		return false
	}
	if o.bytes.Add(size) > o.MaxBytes && size > 0 {
		o.bytes.Add(-size)
		<-o.slots
		return false
	}
	o.wg.Add(1)
	go func() {
		defer func() {
			o.bytes.Add(-size)
			<-o.slots
			o.wg.Done()
		}()
		send()
	}()
	return true
}

// Wait waits until no request is in flight, or ctx is done. With none in
// flight it returns nil at once, also when ctx is done already (a shutdown
// whose grace period the other requests used up).
func (o *OneWay) Wait(ctx context.Context) error {
	o.init()
	if len(o.slots) == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// warn logs a failure, at most once a second, counting those it leaves out.
func (o *OneWay) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := o.lastWarn.Load()
	if now-last < int64(time.Second) || !o.lastWarn.CompareAndSwap(last, now) {
		o.quiet.Add(1)
		return
	}
	if n := o.quiet.Swap(0); n > 0 {
		args = append(args, "similar_left_out", n)
	}
	o.Logger.Warn(msg, args...)
}

// send-one-way-request sends a request and does not wait for it: the request
// is built now, from the exchange as it is, and sent in the background by
// OneWay. Its outcome is only logged.
type oneWayPolicy struct {
	*sendRequestPolicy
	sender *OneWay
}

func (d Deps) sendOneWayRequest(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	p, err := d.compileSideRequest(c, el, true)
	if err != nil || p == nil {
		return nil, err
	}
	return &oneWayPolicy{sendRequestPolicy: p, sender: d.OneWay}, nil
}

func (p *oneWayPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	r, _, err := p.build(x)
	if err != nil {
		return err
	}
	requestID := x.RequestID
	p.sender.send(ctx, "send-one-way-request", requestID, p.hide.url(r.target.String()), int64(len(r.body)), r.timeout, func(ctx context.Context) error {
		return p.sendInBackground(ctx, requestID, r)
	})
	return nil
}

// send runs fn in the background within timeout, for the policy named
// policy: its failure, or its being dropped over the bounds, is logged with
// the request id and where it went (a URL fit to show).
func (o *OneWay) send(ctx context.Context, policy, requestID, where string, size int64, timeout time.Duration, fn func(context.Context) error) {
	// The request's context ends with the request; this one only with the
	// timeout.
	bg := context.WithoutCancel(ctx)
	sent := o.start(size, func() {
		ctx, cancel := context.WithTimeout(bg, timeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			o.warn(policy+" failed", "request_id", requestID, "url", where, "error", err.Error())
		}
	})
	if !sent {
		o.warn(policy+" dropped: too many one-way requests in flight", "request_id", requestID, "url", where)
	}
}

// discard reads and drops (a bounded part of) a response the sender does not
// use, so that its connection can be kept.
func discard(resp *exchange.Response) error {
	rd := resp.Body.Reader()
	io.Copy(io.Discard, io.LimitReader(rd, 64<<10))
	return rd.Close()
}

// sendInBackground gets the token the request needs, sends it, and reads and
// discards (a bounded part of) the response.
func (p *oneWayPolicy) sendInBackground(ctx context.Context, requestID string, r *sideRequest) error {
	if p.mi != nil {
		tok, err := accessToken(ctx, p.mi.tokens, nil, p.mi.clientID, r.resource)
		switch {
		case err == nil:
			r.header.Set("Authorization", "Bearer "+tok)
		case !p.mi.ignoreError:
			return err // the error names the resource, never a token
		}
	}
	// The response is read here, without buffering: the exchange is only
	// for the log line roundTrip writes.
	x := &exchange.Exchange{RequestID: requestID}
	resp, err := p.roundTrip(ctx, x, r.transport, r.method, r.target, r.header, r.body, r.timeout)
	if err != nil {
		return err
	}
	return discard(resp)
}
