package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCache is the values of the cache policies in Redis, on connections of
// its own: each call is bounded by a timeout and goes through a circuit, as
// the traffic limits' calls do, so that a Redis that is down or hung costs a
// request at most one timeout and, while the circuit is open, nothing. A
// cache is an optimisation: its callers treat a failure as a miss.
type RedisCache struct {
	r       *Redis // on the cache's own client
	timeout time.Duration
	circuit circuit
}

// Cache returns the cache on the same Redis as r, under the same prefix,
// with calls bounded by timeout (DefaultLimitTimeout when 0). Close it with
// its Close.
func (r *Redis) Cache(timeout time.Duration) *RedisCache {
	if timeout <= 0 {
		timeout = DefaultLimitTimeout
	}
	opts := *r.c.Options()
	opts.MaxRetries = -1
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.PoolTimeout = timeout
	opts.DialerRetries = 1 // the circuit decides when to try again
	return &RedisCache{r: &Redis{c: redis.NewClient(&opts), prefix: r.prefix, valueBytes: r.valueBytes}, timeout: timeout}
}

// call runs f with the timeout, through the circuit.
func (c *RedisCache) call(ctx context.Context, f func(ctx context.Context) error) error {
	if !c.circuit.allow() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	err := f(cctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		c.circuit.abandon() // the caller went away; that says nothing about Redis
		return err
	}
	if errors.Is(err, ErrTooLarge) {
		c.circuit.done(nil) // the value's fault, not Redis's
		return err
	}
	c.circuit.done(err)
	return err
}

// Get returns the value under key and whether there is one.
func (c *RedisCache) Get(ctx context.Context, key string) (v []byte, ok bool, err error) {
	err = c.call(ctx, func(ctx context.Context) error {
		v, ok, err = c.r.Get(ctx, key)
		return err
	})
	return v, ok, err
}

// Set stores value under key for ttl; a ttl of zero or less removes the key.
func (c *RedisCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.call(ctx, func(ctx context.Context) error { return c.r.Set(ctx, key, value, ttl) })
}

// Delete removes the value under key, if any.
func (c *RedisCache) Delete(ctx context.Context, key string) error {
	return c.call(ctx, func(ctx context.Context) error { return c.r.Delete(ctx, key) })
}

// Close closes the cache's connections.
func (c *RedisCache) Close() error {
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
