package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// circuit stops calls to a store that is failing, so that a dead Redis costs a
// request an atomic load instead of a timeout. After a failure it opens for a
// cool-down (minCooldown, doubling with each failed probe up to maxCooldown);
// when that is over, one call goes through as a probe, and its success closes
// the circuit.
type circuit struct {
	// openUntil is 0 while closed, else the Unix nanoseconds the cool-down ends.
	openUntil atomic.Int64
	probing   atomic.Bool

	mu       sync.Mutex
	cooldown time.Duration
	onChange func(up bool, err error)
}

const (
	minCooldown = 500 * time.Millisecond
	maxCooldown = 5 * time.Second
)

// allow reports whether a call may go to the store. While open it lets one
// probe through per cool-down; the caller must report its outcome with done.
func (c *circuit) allow() bool {
	until := c.openUntil.Load()
	if until == 0 {
		return true
	}
	if time.Now().UnixNano() < until {
		return false
	}
	return c.probing.CompareAndSwap(false, true)
}

// done records a call's outcome: nil closes the circuit, an error opens it.
func (c *circuit) done(err error) {
	if err == nil {
		if c.openUntil.Load() == 0 {
			return
		}
		c.mu.Lock()
		reopened := c.openUntil.Swap(0) != 0
		c.cooldown = 0
		c.probing.Store(false)
		c.mu.Unlock()
		if reopened && c.onChange != nil {
			c.onChange(true, nil)
		}
		return
	}
	c.mu.Lock()
	wasClosed := c.openUntil.Load() == 0
	if wasClosed || c.probing.Load() {
		// A failure while closed, or a failed probe: (re)open for a longer
		// cool-down. Failures of calls that started before the circuit opened
		// do not extend it.
		c.cooldown = min(max(2*c.cooldown, minCooldown), maxCooldown)
		c.openUntil.Store(time.Now().Add(c.cooldown).UnixNano())
		c.probing.Store(false)
	}
	c.mu.Unlock()
	if wasClosed && c.onChange != nil {
		c.onChange(false, err)
	}
}

// abandon records a call that ended without saying anything about the store
// (its caller went away): a probe's turn passes to the next call.
func (c *circuit) abandon() { c.probing.Store(false) }

// run runs f with timeout, through the circuit: ErrUnavailable at once while
// it is open. A call whose caller went away says nothing about the store.
func (c *circuit) run(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	if !c.allow() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	err := f(cctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		c.abandon()
		return err
	}
	c.done(err)
	return err
}
