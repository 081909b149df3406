package http1

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// reqState is what one request allocates for its head, in one allocation:
// the http.Request, its URL, its header map and values. A handler that calls
// ReleaseRequest lets the connection parse its next request into the same
// state. A body's reader is allocated apart, only for a request that has a
// body, and so is the context: contexts derived from it (WithoutCancel, an
// AfterFunc's stop) may still ask it for values after the request.
type reqState struct {
	req    http.Request
	url    url.URL
	hdr    http.Header // the map the head was parsed into
	fields [8]string   // the header values, when there are at most 8
}

// reset empties st for the connection's next request, keeping the header map
// unless it grew large (httpfield.Emptied).
func (st *reqState) reset() {
	*st = reqState{hdr: httpfield.Emptied(st.hdr)}
}

// reqContext is a request's context when its parent can never be canceled
// (the server's base context, usually Background): canceled when the handler
// returns or the client goes away. It replaces context.WithCancel, which
// costs two allocations a request: it is one, and makes its Done
// channel only for a caller that asks (most fast requests have none). It
// implements AfterFunc, so context.AfterFunc and the contexts derived from it
// need no goroutine to watch it.
type reqContext struct {
	parent   context.Context
	canceled atomic.Bool
	mu       sync.Mutex
	done     chan struct{}
	err      error
	funcs    []*afterFunc
}

type afterFunc struct{ f func() }

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *reqContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *reqContext) Value(key any) any           { return c.parent.Value(key) }

func (c *reqContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedDone
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

func (c *reqContext) Err() error {
	if !c.canceled.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc arranges for f to run in its own goroutine once the context is
// canceled, as context.AfterFunc documents; stop unregisters it.
func (c *reqContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	c.funcs = append(c.funcs, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.funcs, a)
		if i < 0 {
			return false
		}
		c.funcs = slices.Delete(c.funcs, i, i+1)
		return true
	}
}

// cancel ends the context; calls after the first do nothing.
func (c *reqContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = context.Canceled
	c.canceled.Store(true)
	if c.done == nil {
		c.done = closedDone
	} else {
		close(c.done)
	}
	for _, a := range c.funcs {
		go a.f()
	}
	c.funcs = nil
}

func (c *reqContext) String() string { return "http1.requestContext" }
