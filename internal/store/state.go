package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durable state: the records statedir.Shared keeps for a fleet (signing keys,
// identities, generated subscription keys, each already encrypted), and the
// leases that serialize changes to them. Records have no expiry; a lease
// expires, so that an instance that dies while it holds one does not block the
// others for ever.
const (
	statePrefix = "state:"
	leasePrefix = "lease:"
)

// putIfLeased stores a record only while the lease is held with the caller's
// token, so that an instance whose lease expired while it was paused cannot
// overwrite a change made since by the instance that took the lease next.
var putIfLeased = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0`)

// releaseLease deletes the lease only if it is still the caller's.
var releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// GetState returns the record name (GET) and whether there is one.
func (r *Redis) GetState(ctx context.Context, name string) ([]byte, bool, error) {
	v, err := r.c.Get(ctx, r.prefix+statePrefix+name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: %w", err)
	}
	return v, true, nil
}

// PutState stores record under name, without expiry, if the lease named lease
// is held with token, in one atomic script; it reports whether it stored it.
func (r *Redis) PutState(ctx context.Context, lease, token, name string, record []byte) (bool, error) {
	n, err := putIfLeased.Run(ctx, r.c, []string{r.prefix + leasePrefix + lease, r.prefix + statePrefix + name}, token, record).Int()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

// AcquireLease takes the lease named lease with token for ttl unless it is
// held (SET NX PX), and reports whether it took it.
func (r *Redis) AcquireLease(ctx context.Context, lease, token string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, r.prefix+leasePrefix+lease, token, max(ttl, time.Millisecond)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return ok, nil
}

// ReleaseLease deletes the lease named lease if it is still held with token.
func (r *Redis) ReleaseLease(ctx context.Context, lease, token string) error {
	if err := releaseLease.Run(ctx, r.c, []string{r.prefix + leasePrefix + lease}, token).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// StateNames lists the names of the records (SCAN), sorted as Redis returns
// them.
func (r *Redis) StateNames(ctx context.Context) ([]string, error) {
	pattern := globEscape(r.prefix+statePrefix) + "*"
	var names []string
	iter := r.c.Scan(ctx, 0, pattern, 100).Iterator()
	for iter.Next(ctx) {
		names = append(names, strings.TrimPrefix(iter.Val(), r.prefix+statePrefix))
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return names, nil
}

// DescribeState names where the record name is kept, for messages: the Redis
// key and the server's address.
func (r *Redis) DescribeState(name string) string {
	return fmt.Sprintf("Redis key %s%s%s at %s", r.prefix, statePrefix, name, r.c.Options().Addr)
}

// globEscape escapes the characters SCAN MATCH patterns give a meaning to.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
