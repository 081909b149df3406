package store

import (
	"context"
	"fmt"
	"time"
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
	return &RedisCache{r: &Redis{c: r.boundedClient(timeout), prefix: r.prefix, valueBytes: r.valueBytes}, timeout: timeout}
}

// Get returns the value under key and whether there is one.
func (c *RedisCache) Get(ctx context.Context, key string) (v []byte, ok bool, err error) {
	err = c.circuit.run(ctx, c.timeout, func(ctx context.Context) error {
		v, ok, err = c.r.Get(ctx, key)
		return err
	})
	return v, ok, err
}

// Set stores value under key for ttl; a ttl of zero or less removes the key.
func (c *RedisCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl > 0 && len(value) > c.r.valueBytes {
		return ErrTooLarge // the value's fault, not Redis's: the circuit is not told
	}
	return c.circuit.run(ctx, c.timeout, func(ctx context.Context) error { return c.r.Set(ctx, key, value, ttl) })
}

// Delete removes the value under key, if any.
func (c *RedisCache) Delete(ctx context.Context, key string) error {
	return c.circuit.run(ctx, c.timeout, func(ctx context.Context) error { return c.r.Delete(ctx, key) })
}

// Close closes the cache's connections.
func (c *RedisCache) Close() error {
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
