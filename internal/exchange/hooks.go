package exchange

import (
	"context"
	"io"
	"sync"
)

// hooks are what policies leave for later in a request: work for when the
// pipeline has decided the response, and for when the request is over. Most
// requests leave nothing, so an exchange makes them on first use (hooksFor):
// they would otherwise be a seventh of its size.
type hooks struct {
	afterBackend []func(ctx context.Context) error
	deferred     []func(ctx context.Context) error
	done         []func(ctx context.Context, u Usage)
	marks        map[string]struct{}
}

// hooksFor returns x's hooks, made on first use.
func (x *Exchange) hooksFor() *hooks {
	if x.hooks == nil {
		x.hooks = &hooks{}
	}
	return x.hooks
}

// AfterBackend registers f to run when the backend section has produced the
// response, before outbound: once, however often a retry forwarded the
// request. It does not run when the backend section did not finish (a policy
// failed, or return-response answered) or did not run (inbound answered). The
// token limits read the model's usage there, so that outbound sees it.
func (x *Exchange) AfterBackend(f func(ctx context.Context) error) {
	h := x.hooksFor()
	h.afterBackend = append(h.afterBackend, f)
}

// TakeAfterBackend returns the functions AfterBackend registered, in order,
// and forgets them, so that each runs once.
func (x *Exchange) TakeAfterBackend() []func(ctx context.Context) error {
	if x.hooks == nil {
		return nil
	}
	f := x.hooks.afterBackend
	x.hooks.afterBackend = nil
	return f
}

// Defer registers f to run once the pipeline has decided the response: at the
// end of outbound, or after on-error when a policy failed (the pipeline runs
// them; see TakeDeferred). rate-limit-by-key and quota-by-key count a call
// there when their increment depends on the response, and limits put their
// headers on the response.
func (x *Exchange) Defer(f func(ctx context.Context) error) {
	h := x.hooksFor()
	h.deferred = append(h.deferred, f)
}

// TakeDeferred returns the functions Defer registered, in order, and forgets
// them, so that each runs once.
func (x *Exchange) TakeDeferred() []func(ctx context.Context) error {
	if x.hooks == nil {
		return nil
	}
	d := x.hooks.deferred
	x.hooks.deferred = nil
	return d
}

// Usage is what one request transferred, for bandwidth quotas: the bytes of
// the request body the gateway read from the client and of the response body
// it wrote to the client (after any decoding of chunks; headers are not
// counted).
type Usage struct {
	RequestBytes, ResponseBytes int64
}

// OnDone registers f to run when the request is over: its response written,
// given up on half-way, or never sent because the client went away. The
// gateway calls Done. ctx carries the request's values but is not cancelled
// with it.
func (x *Exchange) OnDone(f func(ctx context.Context, u Usage)) {
	h := x.hooksFor()
	h.done = append(h.done, f)
}

// Done runs the functions OnDone registered, in order, once; later calls do
// nothing.
func (x *Exchange) Done(ctx context.Context, u Usage) {
	if x.finished {
		return
	}
	x.finished = true
	h := x.hooks
	if h == nil || len(h.done) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, f := range h.done {
		f(ctx, u)
	}
	h.done = nil
}

// Mark records key for this request and reports whether it was new, for
// policies that must act once per request however often they run (quota-by-key
// counts a key once when several policies would).
func (x *Exchange) Mark(key string) bool {
	h := x.hooksFor()
	if _, ok := h.marks[key]; ok {
		return false
	}
	if h.marks == nil {
		h.marks = make(map[string]struct{}, 2)
	}
	h.marks[key] = struct{}{}
	return true
}

// OnClose arranges for fn to run when the body's stream is closed, however it
// ends: sent to the client, discarded by a policy (retry closes a response it
// replaces) or left when the request ends. It reports false, without arranging
// anything, when the body is not an unread stream: then nothing is left to
// wait for. fn runs at most once.
func (b *Body) OnClose(fn func()) bool {
	if b == nil || b.buffered || b.stream == nil {
		return false
	}
	b.stream = &closeOnce{ReadCloser: b.stream, fn: fn}
	return true
}

type closeOnce struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (c *closeOnce) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.fn)
	return err
}
