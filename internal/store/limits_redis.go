package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LimitOptions configure RedisLimits.
type LimitOptions struct {
	// Timeout bounds each call to Redis: a limit decision waits at most this
	// long, and then fails with the policy's failure mode. 250ms when zero.
	Timeout time.Duration
	// LeaseTTL is how long a concurrency slot outlives the instance holding
	// it: holders renew their leases every LeaseTTL/3, and a lease that is not
	// renewed (its instance died, or lost Redis) expires. 30s when zero.
	LeaseTTL time.Duration
	// OnChange, when set, is told when Redis stops answering (up false, with
	// the error) and when it answers again (up true).
	OnChange func(up bool, err error)
}

// Defaults of LimitOptions.
const (
	DefaultLimitTimeout = 250 * time.Millisecond
	DefaultLeaseTTL     = 30 * time.Second
)

// RedisLimits keeps traffic limits in Redis, shared by every gateway instance
// that uses it. Each decision is one Lua script run with EVALSHA: one round
// trip, atomic on the server, timed by the server's clock so that the
// instances' clocks do not matter.
//
// Calls are bounded by LimitOptions.Timeout and go through a circuit: after a
// failure, calls fail at once with ErrUnavailable for a cool-down of 0.5s,
// doubling up to 5s while probes keep failing; the first call after the
// cool-down is a probe, and once one succeeds everything goes to Redis again.
//
// It uses its own connections, without go-redis's retries: a script that is
// retried after its reply was lost would count a call twice.
type RedisLimits struct {
	c        *redis.Client
	prefix   string
	timeout  time.Duration
	leaseTTL time.Duration
	circuit  circuit

	instance string // the start of this instance's lease ids
	leaseSeq atomic.Uint64

	mu     sync.Mutex
	leases map[string]string // lease id -> key, for renewal
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// Limits returns traffic limits on the same Redis as r, under the same
// prefix. They have their own connections; close them with their Close.
func (r *Redis) Limits(o LimitOptions) *RedisLimits {
	if o.Timeout <= 0 {
		o.Timeout = DefaultLimitTimeout
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	var id [8]byte
	rand.Read(id[:])
	l := &RedisLimits{
		c:        r.boundedClient(o.Timeout),
		prefix:   r.prefix,
		timeout:  o.Timeout,
		leaseTTL: o.LeaseTTL,
		instance: hex.EncodeToString(id[:]) + ":",
		leases:   map[string]string{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	l.circuit.onChange = o.OnChange
	go l.renew()
	return l
}

// call runs f with the timeout, through the circuit.
func (l *RedisLimits) call(ctx context.Context, f func(ctx context.Context) error) error {
	err := l.circuit.run(ctx, l.timeout, f)
	if err != nil && !errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
		return fmt.Errorf("redis: %w", err)
	}
	return err
}

// boundedClient is a client of r's Redis for calls bounded by timeout,
// without go-redis's retries: the circuit decides when to try again (and a
// retried script could count a call twice).
func (r *Redis) boundedClient(timeout time.Duration) *redis.Client {
	opts := *r.c.Options()
	opts.MaxRetries = -1
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.PoolTimeout = timeout
	opts.DialerRetries = 1
	return redis.NewClient(&opts)
}

// rateScript applies a RateMode to token buckets; see Rate. Tokens are kept
// as a float with the time they were counted, in microseconds of the server's
// clock. It returns allowed (0/1), the limiting bucket's index (from 0), its
// whole tokens left, and the wait in microseconds.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, mode = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, allowed, limiting, wait = {}, 1, 1, 0
for i, key in ipairs(KEYS) do
  local calls, period = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local s = redis.call('HMGET', key, 't', 'at')
  local tok = calls
  if s[1] then
    local elapsed = now - tonumber(s[2])
    tok = tonumber(s[1])
    if elapsed > 0 then tok = math.min(calls, tok + elapsed * calls / period) end
  end
  tokens[i] = tok
  if mode ~= 2 and tok < n then
    local w = math.ceil((n - tok) * period / calls)
    if allowed == 1 or w > wait then allowed, limiting, wait = 0, i, w end
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    if mode ~= 1 then
      local calls, period = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
      local tok = math.min(math.max(tokens[i] - n, -calls), calls)
      tokens[i] = tok
      redis.call('HSET', key, 't', string.format('%.17g', tok), 'at', string.format('%.0f', now))
      redis.call('PEXPIRE', key, math.ceil((calls - tok) * period / calls / 1000) + 1000)
    end
    if tokens[i] < tokens[limiting] then limiting = i end
  end
end
local left = 0
if allowed == 1 and tokens[limiting] > 0 then left = math.floor(tokens[limiting]) end
return {allowed, limiting - 1, left, wait}
`)

// Rate applies mode to the buckets for a call of n tokens, in one round trip.
func (l *RedisLimits) Rate(ctx context.Context, buckets []Bucket, n int64, mode RateMode) (RateResult, error) {
	keys := make([]string, len(buckets))
	args := make([]any, 0, 2+2*len(buckets))
	args = append(args, n, int(mode))
	for i, b := range buckets {
		keys[i] = l.prefix + b.Key
		args = append(args, b.Calls, b.Period.Microseconds())
	}
	var out []int64
	err := l.call(ctx, func(ctx context.Context) error {
		var err error
		out, err = rateScript.Run(ctx, l.c, keys, args...).Int64Slice()
		return err
	})
	if err != nil {
		return RateResult{}, err
	}
	if len(out) != 4 {
		return RateResult{}, fmt.Errorf("redis: rate script returned %d values", len(out))
	}
	return RateResult{Allowed: out[0] == 1, Limiting: int(out[1]), Remaining: out[2],
		RetryAfter: time.Duration(out[3]) * time.Microsecond}, nil
}

// quotaScript applies a QuotaMode to fixed windows; see Quota. A window's
// hash holds its index (w), calls (c) and bytes (b), and expires a minute
// after the window ends. It returns allowed (0/1), the limiting window's index
// (from 0), whether it refused for bytes (0/1), and when it renews in
// milliseconds (-1: never), and the calls left in the window with the fewest
// (-1: no window limits calls).
var quotaScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n, bytes, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local idx, ends, used = {}, {}, {}
local allowed, limiting, bw, renews = 1, 0, 0, -1
for i, key in ipairs(KEYS) do
  local maxc, maxb = tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1])
  local period, start = tonumber(ARGV[4 * i + 2]), tonumber(ARGV[4 * i + 3])
  local w, e = 0, -1
  if period > 0 then
    w = math.floor((now - start) / period)
    e = start + (w + 1) * period
  end
  idx[i], ends[i] = w, e
  local s = redis.call('HMGET', key, 'w', 'c', 'b')
  local c, b = 0, 0
  if s[1] and tonumber(s[1]) == w then c, b = tonumber(s[2]), tonumber(s[3]) end
  used[i] = {c, b}
  if mode ~= 2 and allowed == 1 then
    local refused = 0
    if maxc > 0 and c + n > maxc then refused = 1
    elseif maxb > 0 and b >= maxb then refused, bw = 1, 1 end
    if refused == 1 then
      allowed, limiting = 0, i - 1
      if e >= 0 then renews = e - now end
    end
  end
end
local count = allowed == 1 and mode ~= 1
local left = -1
for i, key in ipairs(KEYS) do
  if count then
    used[i] = {math.max(used[i][1] + n, 0), math.max(used[i][2] + bytes, 0)}
    redis.call('HSET', key, 'w', string.format('%.0f', idx[i]), 'c', string.format('%.0f', used[i][1]),
      'b', string.format('%.0f', used[i][2]))
    if ends[i] >= 0 then
      redis.call('PEXPIREAT', key, string.format('%.0f', ends[i] + 60000))
    else
      redis.call('PERSIST', key)
    end
  end
  local maxc = tonumber(ARGV[4 * i])
  if maxc > 0 then
    local l = math.max(maxc - used[i][1], 0)
    if left < 0 or l < left then left = l end
  end
end
return {allowed, limiting, bw, renews, left}
`)

// Quota applies mode to the windows for calls and bytes, in one round trip.
func (l *RedisLimits) Quota(ctx context.Context, windows []Window, calls, bytes int64, mode QuotaMode) (QuotaResult, error) {
	keys := make([]string, len(windows))
	args := make([]any, 0, 3+4*len(windows))
	args = append(args, calls, bytes, int(mode))
	for i, w := range windows {
		keys[i] = l.prefix + w.Key
		args = append(args, w.Calls, w.Bytes, w.Period.Milliseconds(), w.Start.UnixMilli())
	}
	var out []int64
	err := l.call(ctx, func(ctx context.Context) error {
		var err error
		out, err = quotaScript.Run(ctx, l.c, keys, args...).Int64Slice()
		return err
	})
	if err != nil {
		return QuotaResult{}, err
	}
	if len(out) != 5 {
		return QuotaResult{}, fmt.Errorf("redis: quota script returned %d values", len(out))
	}
	res := QuotaResult{Allowed: out[0] == 1, Limiting: int(out[1]), Bandwidth: out[2] == 1, Remaining: out[4]}
	if out[3] > 0 {
		res.RenewsIn = time.Duration(out[3]) * time.Millisecond
	}
	return res, nil
}

// acquireScript takes a slot: the key is a sorted set of lease ids scored by
// when they expire. Expired leases are dropped first, so that the slots of an
// instance that died come back after at most a lease's lifetime.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// renewScript extends the leases ARGV[2:] under KEYS that still exist; a lease
// that expired meanwhile may have been given to someone else and is not
// taken back.
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', now + ttl, ARGV[i + 1]) == 1 then
    redis.call('PEXPIRE', key, ttl)
  end
end
return 0
`)

// Acquire takes one of max slots under key, in one round trip. release gives
// it back (ZREM); calling it again does nothing. While held, the slot's lease
// is renewed; if release cannot reach Redis, the lease expires after
// LimitOptions.LeaseTTL.
func (l *RedisLimits) Acquire(ctx context.Context, key string, max int64) (release func(), ok bool, err error) {
	full := l.prefix + key
	id := l.instance + strconv.FormatUint(l.leaseSeq.Add(1), 36)
	var got int64
	err = l.call(ctx, func(ctx context.Context) error {
		var err error
		got, err = acquireScript.Run(ctx, l.c, []string{full}, max, id, l.leaseTTL.Milliseconds()).Int64()
		return err
	})
	if err != nil || got != 1 {
		return nil, false, err
	}
	l.mu.Lock()
	l.leases[id] = full
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.leases, id)
			l.mu.Unlock()
			// Without a deadline of its own: the request it belonged to may
			// be over, and the slot must go back all the same.
			l.call(context.Background(), func(ctx context.Context) error {
				return l.c.ZRem(ctx, full, id).Err()
			})
		})
	}, true, nil
}

// renew extends every held lease every LeaseTTL/3, in one round trip, until
// Close.
func (l *RedisLimits) renew() {
	defer close(l.done)
	tick := time.NewTicker(l.leaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		l.mu.Lock()
		keys := make([]string, 0, len(l.leases))
		args := make([]any, 0, len(l.leases)+1)
		args = append(args, l.leaseTTL.Milliseconds())
		for id, key := range l.leases {
			keys = append(keys, key)
			args = append(args, id)
		}
		l.mu.Unlock()
		if len(keys) == 0 {
			continue
		}
		l.call(context.Background(), func(ctx context.Context) error {
			return renewScript.Run(ctx, l.c, keys, args...).Err()
		})
	}
}

// Close stops renewing leases and closes the connections. Slots still held
// expire in Redis after their lease.
func (l *RedisLimits) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	err := l.c.Close()
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}
