package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// limitStore is what the limit conformance tests exercise.
type limitStore interface {
	Rate(ctx context.Context, buckets []Bucket, n int64, mode RateMode) (RateResult, error)
	Quota(ctx context.Context, windows []Window, calls, bytes int64, mode QuotaMode) (QuotaResult, error)
	Acquire(ctx context.Context, key string, max int64) (release func(), ok bool, err error)
}

// limitConformance checks the traffic limit contract on any store. Each
// subtest gets the store from mk, and runs in a synctest bubble when bubble is
// set (Memory); Redis runs on the real clock, so the periods here are short.
func limitConformance(t *testing.T, mk func() limitStore, bubble bool) {
	ctx := context.Background()
	var s limitStore
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if !bubble {
				s = mk()
				f(t)
				return
			}
			synctest.Test(t, func(t *testing.T) {
				s = mk()
				f(t)
			})
		})
	}
	wait := time.Sleep
	rate := func(t *testing.T, n int64, mode RateMode, bs ...Bucket) RateResult {
		t.Helper()
		r, err := s.Rate(ctx, bs, n, mode)
		if err != nil {
			t.Fatalf("Rate: %v", err)
		}
		return r
	}
	quota := func(t *testing.T, calls, bytes int64, mode QuotaMode, ws ...Window) QuotaResult {
		t.Helper()
		r, err := s.Quota(ctx, ws, calls, bytes, mode)
		if err != nil {
			t.Fatalf("Quota: %v", err)
		}
		return r
	}

	run("rate: a full bucket, then one token each Period/Calls", func(t *testing.T) {
		b := Bucket{Key: "rl:a", Calls: 3, Period: 3 * time.Second}
		var got []RateResult
		for range 4 {
			r := rate(t, 1, RateTake, b)
			r.RetryAfter = r.RetryAfter.Round(100 * time.Millisecond)
			got = append(got, r)
		}
		want := []RateResult{
			{Allowed: true, Remaining: 2}, {Allowed: true, Remaining: 1}, {Allowed: true, Remaining: 0},
			{Allowed: false, RetryAfter: time.Second},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("takes (-want +got):\n%s", diff)
		}
		wait(1100 * time.Millisecond)
		if r := rate(t, 1, RateTake, b); !r.Allowed || r.Remaining != 0 {
			t.Errorf("after one token's time: %+v, want allowed with none left", r)
		}
		if r := rate(t, 1, RateTake, b); r.Allowed {
			t.Errorf("a second call in that time: %+v, want refused", r)
		}
	})

	run("rate: every bucket must have the tokens, and a refusal costs nothing", func(t *testing.T) {
		wide := Bucket{Key: "rl:wide", Calls: 5, Period: time.Minute}
		narrow := Bucket{Key: "rl:narrow", Calls: 2, Period: time.Minute}
		rate(t, 1, RateTake, wide, narrow)
		if r := rate(t, 1, RateTake, wide, narrow); !r.Allowed || r.Limiting != 1 || r.Remaining != 0 {
			t.Errorf("second call: %+v, want allowed, the narrow bucket (1) empty", r)
		}
		r := rate(t, 1, RateTake, wide, narrow)
		if r.Allowed || r.Limiting != 1 || r.RetryAfter < 29*time.Second || r.RetryAfter > 30*time.Second {
			t.Errorf("third call: %+v, want refused by the narrow bucket for 30s", r)
		}
		if r := rate(t, 3, RatePeek, wide); !r.Allowed || r.Remaining != 3 {
			t.Errorf("the wide bucket after a refused call: %+v, want 3 tokens left", r)
		}
		if r := rate(t, 3, RatePeek, wide); r.Remaining != 3 {
			t.Errorf("a peek took tokens: %+v", r)
		}
		if r := rate(t, 4, RatePeek, wide); r.Allowed {
			t.Errorf("peek for more tokens than there are: %+v", r)
		}
	})

	run("rate: n tokens at once, and more than Calls never", func(t *testing.T) {
		b := Bucket{Key: "rl:n", Calls: 10, Period: time.Minute}
		if r := rate(t, 7, RateTake, b); !r.Allowed || r.Remaining != 3 {
			t.Errorf("take 7 of 10: %+v", r)
		}
		if r := rate(t, 4, RateTake, b); r.Allowed {
			t.Errorf("take 4 of 3: %+v", r)
		}
		if r := rate(t, 11, RateTake, Bucket{Key: "rl:huge", Calls: 10, Period: time.Minute}); r.Allowed {
			t.Errorf("take 11 of a bucket of 10: %+v", r)
		}
	})

	run("rate: an increment after the fact goes into debt, at most Calls", func(t *testing.T) {
		b := Bucket{Key: "rl:debt", Calls: 2, Period: 2 * time.Second}
		if r := rate(t, 50, RateAdd, b); !r.Allowed || r.Remaining != 0 {
			t.Errorf("add 50: %+v", r)
		}
		// -2 tokens: three tokens' time (3s) until one is there.
		r := rate(t, 1, RateTake, b)
		if r.Allowed || r.RetryAfter.Round(100*time.Millisecond) != 3*time.Second {
			t.Errorf("after the debt: %+v, want refused for 3s", r)
		}
	})

	run("rate: a negative increment gives tokens back, up to a full bucket", func(t *testing.T) {
		b := Bucket{Key: "rl:refund", Calls: 100, Period: time.Hour}
		rate(t, 80, RateTake, b)
		if r := rate(t, -30, RateAdd, b); !r.Allowed || r.Remaining != 50 {
			t.Errorf("give 30 back at 20: %+v, want 50 left", r)
		}
		if r := rate(t, -500, RateAdd, b); r.Remaining != 100 {
			t.Errorf("give 500 back: %+v, want the bucket full at 100", r)
		}
		if r := rate(t, 101, RatePeek, b); r.Allowed {
			t.Errorf("a bucket over full: %+v", r)
		}
	})

	run("rate: keys are separate", func(t *testing.T) {
		for i := range 3 {
			b := Bucket{Key: fmt.Sprintf("rl:sep:%d", i), Calls: 1, Period: time.Minute}
			if r := rate(t, 1, RateTake, b); !r.Allowed {
				t.Errorf("key %d: %+v", i, r)
			}
		}
	})

	run("rate: concurrent calls take exactly Calls", func(t *testing.T) {
		b := Bucket{Key: "rl:race", Calls: 10, Period: time.Hour}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if r, err := s.Rate(ctx, []Bucket{b}, 1, RateTake); err == nil && r.Allowed {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 10 {
			t.Errorf("%d of 40 concurrent calls allowed, want 10", wins.Load())
		}
	})

	run("quota: calls in a fixed window", func(t *testing.T) {
		w := Window{Key: "q:calls", Calls: 3, Period: time.Hour, Start: time.Now().Add(-15 * time.Minute)}
		for i := range 3 {
			if r := quota(t, 1, 0, QuotaTake, w); !r.Allowed {
				t.Fatalf("call %d: %+v", i+1, r)
			}
		}
		r := quota(t, 1, 0, QuotaTake, w)
		if r.Allowed || r.Bandwidth || r.RenewsIn < 44*time.Minute || r.RenewsIn > 45*time.Minute {
			t.Errorf("fourth call: %+v, want refused for calls, renewing in 45m", r)
		}
		if r := quota(t, 1, 0, QuotaPeek, w); r.Allowed {
			t.Errorf("peek: %+v", r)
		}
		if r := quota(t, 5, 0, QuotaTake, Window{Key: "q:calls-n", Calls: 4, Period: time.Hour}); r.Allowed {
			t.Errorf("5 calls at once in a window of 4: %+v", r)
		}
	})

	run("quota: windows renew, aligned to Start", func(t *testing.T) {
		w := Window{Key: "q:renew", Calls: 1, Period: time.Second, Start: time.Now().Add(-500 * time.Millisecond)}
		quota(t, 1, 0, QuotaTake, w)
		r := quota(t, 1, 0, QuotaTake, w)
		if r.Allowed || r.RenewsIn <= 300*time.Millisecond || r.RenewsIn > 500*time.Millisecond {
			t.Errorf("second call: %+v, want refused, renewing in at most 500ms", r)
		}
		wait(r.RenewsIn + 50*time.Millisecond)
		if r := quota(t, 1, 0, QuotaTake, w); !r.Allowed {
			t.Errorf("in the next window: %+v", r)
		}
	})

	run("quota: bytes are counted after the call, and refuse the next", func(t *testing.T) {
		w := Window{Key: "q:bytes", Bytes: 1000, Period: time.Hour}
		quota(t, 1, 0, QuotaTake, w)
		quota(t, 0, 600, QuotaAdd, w)
		if r := quota(t, 1, 0, QuotaTake, w); !r.Allowed {
			t.Errorf("at 600 of 1000 bytes: %+v", r)
		}
		quota(t, 0, 600, QuotaAdd, w)
		if r := quota(t, 1, 0, QuotaTake, w); r.Allowed || !r.Bandwidth {
			t.Errorf("at 1200 of 1000 bytes: %+v, want refused for bandwidth", r)
		}
	})

	run("quota: a period of 0 never renews", func(t *testing.T) {
		w := Window{Key: "q:forever", Calls: 1}
		quota(t, 1, 0, QuotaTake, w)
		if r := quota(t, 1, 0, QuotaTake, w); r.Allowed || r.RenewsIn != 0 {
			t.Errorf("second call: %+v, want refused, never renewing", r)
		}
	})

	run("quota: every window must have room, and a refusal counts nothing", func(t *testing.T) {
		product := Window{Key: "q:product", Calls: 10, Period: time.Hour}
		op := Window{Key: "q:op", Calls: 1, Period: time.Hour}
		quota(t, 1, 0, QuotaTake, product, op)
		if r := quota(t, 1, 0, QuotaTake, product, op); r.Allowed || r.Limiting != 1 {
			t.Errorf("second call: %+v, want refused by the operation's window (1)", r)
		}
		if r := quota(t, 9, 0, QuotaPeek, product); !r.Allowed {
			t.Errorf("the product window counted a refused call: %+v", r)
		}
		quota(t, 1, 0, QuotaAdd, product, op) // counted whatever the room
		if r := quota(t, 9, 0, QuotaPeek, product); r.Allowed {
			t.Errorf("QuotaAdd did not count: %+v", r)
		}
	})

	run("quota: what is left, and giving back", func(t *testing.T) {
		wide := Window{Key: "q:left-wide", Calls: 1000, Period: time.Hour}
		narrow := Window{Key: "q:left-narrow", Calls: 300, Period: time.Hour}
		if r := quota(t, 100, 0, QuotaTake, wide, narrow); !r.Allowed || r.Remaining != 200 {
			t.Errorf("take 100: %+v, want 200 left in the narrow window", r)
		}
		if r := quota(t, 1, 0, QuotaPeek, wide); r.Remaining != 900 {
			t.Errorf("peek the wide window: %+v, want 900 left", r)
		}
		if r := quota(t, 250, 0, QuotaTake, wide, narrow); r.Allowed || r.Remaining != 200 {
			t.Errorf("take 250 of 200: %+v, want refused with 200 left", r)
		}
		if r := quota(t, -60, 0, QuotaAdd, wide, narrow); r.Remaining != 260 {
			t.Errorf("give 60 back: %+v, want 260 left", r)
		}
		if r := quota(t, -5000, 0, QuotaAdd, wide, narrow); r.Remaining != 300 {
			t.Errorf("give back more than was counted: %+v, want 300 left, not more", r)
		}
		if r := quota(t, 400, 0, QuotaAdd, narrow); !r.Allowed || r.Remaining != 0 {
			t.Errorf("add past the window: %+v, want 0 left", r)
		}
		if r := quota(t, 0, 10, QuotaAdd, Window{Key: "q:left-bytes", Bytes: 100, Period: time.Hour}); r.Remaining != -1 {
			t.Errorf("a bytes-only window: %+v, want Remaining -1", r)
		}
	})

	run("quota: concurrent calls count exactly Calls", func(t *testing.T) {
		w := Window{Key: "q:race", Calls: 10, Period: time.Hour}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if r, err := s.Quota(ctx, []Window{w}, 1, 0, QuotaTake); err == nil && r.Allowed {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 10 {
			t.Errorf("%d of 40 concurrent calls allowed, want 10", wins.Load())
		}
	})

	run("slots", func(t *testing.T) {
		acquire := func(key string) func() {
			t.Helper()
			rel, ok, err := s.Acquire(ctx, key, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return nil
			}
			return rel
		}
		a, b := acquire("c:k"), acquire("c:k")
		if a == nil || b == nil {
			t.Fatal("two slots of two were not given")
		}
		if acquire("c:k") != nil {
			t.Error("a third slot of two was given")
		}
		if acquire("c:other") == nil {
			t.Error("another key's slot was refused")
		}
		a()
		a() // once only
		c := acquire("c:k")
		if c == nil {
			t.Error("a released slot did not come back")
		}
		if acquire("c:k") != nil {
			t.Error("releasing twice gave back two slots")
		}
		b()
		c()
	})

	run("slots: concurrent acquires get exactly max", func(t *testing.T) {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if _, ok, err := s.Acquire(ctx, "c:race", 5); err == nil && ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 5 {
			t.Errorf("%d of 40 concurrent acquires won, want 5", wins.Load())
		}
	})
}

func TestMemoryLimits(t *testing.T) {
	limitConformance(t, func() limitStore { return NewMemoryLimits(0) }, true)
}

// TestMemoryLimitsBounded: keys made from request data cannot grow memory
// without bound; counters that expire are swept.
func TestMemoryLimitsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := NewMemoryLimits(100)
		for i := range 1000 {
			m.Rate(ctx, []Bucket{{Key: fmt.Sprint("rl:", i), Calls: 5, Period: time.Second}}, 1, RateTake)
			m.Quota(ctx, []Window{{Key: fmt.Sprint("q:", i), Calls: 5, Period: time.Second}}, 1, 0, QuotaTake)
		}
		if b, w, _ := m.Counters(); b+w > 100 {
			t.Errorf("%d buckets and %d windows held, more than 100", b, w)
		}
		time.Sleep(2 * time.Minute)
		m.Rate(ctx, []Bucket{{Key: "rl:new", Calls: 5, Period: time.Second}}, 1, RateTake)
		if b, w, _ := m.Counters(); b != 1 || w != 0 {
			t.Errorf("after everything refilled and renewed: %d buckets, %d windows; want the new one only", b, w)
		}
	})
}

func newRedisLimits(t testing.TB, addr string, o LimitOptions) *RedisLimits {
	t.Helper()
	r, err := NewRedis(context.Background(), RedisOptions{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	l := r.Limits(o)
	t.Cleanup(func() { l.Close() })
	return l
}

func TestRedisLimits(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	l := newRedisLimits(t, addr, LimitOptions{})
	limitConformance(t, func() limitStore { return l }, false)
}

// TestRedisLimitsShared: two instances count in the same buckets, windows
// and slots.
func TestRedisLimitsShared(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	a, b := newRedisLimits(t, addr, LimitOptions{}), newRedisLimits(t, addr, LimitOptions{})
	bucket := []Bucket{{Key: "rl:shared", Calls: 4, Period: time.Hour}}
	window := []Window{{Key: "q:shared", Calls: 4, Period: time.Hour}}
	var got []bool
	for i := range 6 {
		l := []*RedisLimits{a, b}[i%2]
		r, err := l.Rate(ctx, bucket, 1, RateTake)
		if err != nil {
			t.Fatal(err)
		}
		q, err := l.Quota(ctx, window, 1, 0, QuotaTake)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Allowed, q.Allowed)
	}
	want := []bool{true, true, true, true, true, true, true, true, false, false, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rate, quota allowed through a, b, a, ... (-want +got):\n%s", diff)
	}
	if _, ok, _ := a.Acquire(ctx, "c:shared", 1); !ok {
		t.Fatal("the first slot was refused")
	}
	if _, ok, _ := b.Acquire(ctx, "c:shared", 1); ok {
		t.Error("another instance took a slot that is held")
	}
}

// TestRedisLeases: a held slot is renewed for as long as its holder lives; the
// slots of an instance that stops (dies) come back after their lease.
func TestRedisLeases(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	const ttl = time.Second
	holder := newRedisLimits(t, addr, LimitOptions{LeaseTTL: ttl})
	other := newRedisLimits(t, addr, LimitOptions{LeaseTTL: ttl})
	if _, ok, err := holder.Acquire(ctx, "c:lease", 1); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	time.Sleep(3 * ttl)
	if _, ok, _ := other.Acquire(ctx, "c:lease", 1); ok {
		t.Fatal("a slot whose holder renews it expired")
	}
	holder.Close() // dies without releasing
	time.Sleep(ttl + 200*time.Millisecond)
	if _, ok, err := other.Acquire(ctx, "c:lease", 1); !ok || err != nil {
		t.Errorf("the slot of an instance that died: Acquire = %v, %v; want it back after the lease", ok, err)
	}
}

// TestRedisLimitsOutage: with Redis gone, a call fails within the timeout,
// and the calls after it fail at once with ErrUnavailable instead of waiting
// again; the store recovers by itself when Redis is back. A Redis that hangs
// (paused) costs at most the timeout too.
func TestRedisLimitsOutage(t *testing.T) {
	srv := storetest.NewServer(t, "")
	ctx := context.Background()
	var events []string
	var mu sync.Mutex
	l := newRedisLimits(t, srv.Addr, LimitOptions{Timeout: 200 * time.Millisecond, OnChange: func(up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprint(up))
	}})
	bucket := []Bucket{{Key: "rl:outage", Calls: 1000, Period: time.Minute}}
	take := func() error {
		_, err := l.Rate(ctx, bucket, 1, RateTake)
		return err
	}
	if err := take(); err != nil {
		t.Fatal(err)
	}
	for _, outage := range []struct {
		name        string
		stop, start func()
	}{
		{"stopped", srv.Stop, srv.Start},
		{"paused", srv.Pause, srv.Resume},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.stop()
			err := take()
			if err == nil || errors.Is(err, ErrUnavailable) {
				t.Fatalf("the first call with Redis %s: %v, want Redis's error", outage.name, err)
			}
			for range 100 {
				if err := take(); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("a call while the circuit is open: %v, want ErrUnavailable", err)
				}
			}
			outage.start()
			deadline := time.Now().Add(30 * time.Second)
			for take() != nil {
				if time.Now().After(deadline) {
					t.Fatal("the store did not recover after Redis came back")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"false", "true", "false", "true"}, events); diff != "" {
		t.Errorf("OnChange (-want +got):\n%s", diff)
	}
}

// TestRedisOneRoundTrip counts what reaches Redis for rate decisions: one
// EVALSHA per decision, nothing else (the script is loaded once).
func TestRedisOneRoundTrip(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	l := newRedisLimits(t, addr, LimitOptions{})
	bucket := []Bucket{{Key: "rl:rt", Calls: 1 << 40, Period: time.Minute}}
	l.Rate(ctx, bucket, 1, RateTake) // loads the script
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	admin.ConfigResetStat(ctx)
	const n = 50
	for range n {
		if _, err := l.Rate(ctx, bucket, 1, RateTake); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]string{}
	for _, line := range strings.Split(stats, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		c, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		calls[strings.TrimPrefix(name, "cmdstat_")] = c
	}
	// The script's own commands (TIME, HMGET, HSET, PEXPIRE) run inside
	// Redis and are counted too; only evalsha crosses the network, and
	// CONFIG RESETSTAT is this test's.
	want := map[string]string{"config|resetstat": "1", "evalsha": fmt.Sprint(n), "time": fmt.Sprint(n), "hmget": fmt.Sprint(n), "hset": fmt.Sprint(n), "pexpire": fmt.Sprint(n)}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("commands for %d decisions (-want +got):\n%s", n, diff)
	}
}

func BenchmarkLimitsRate(b *testing.B) {
	ctx := context.Background()
	bucket := []Bucket{{Key: "rl:bench", Calls: 1 << 40, Period: time.Minute}}
	run := func(b *testing.B, s limitStore) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := s.Rate(ctx, bucket, 1, RateTake); err != nil || !r.Allowed {
				b.Fatal(r, err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, NewMemoryLimits(0)) })
	b.Run("redis", func(b *testing.B) { run(b, newRedisLimits(b, storetest.StartRedis(b, ""), LimitOptions{})) })
}
