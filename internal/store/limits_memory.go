package store

import (
	"context"
	"math"
	"sync"
	"time"
)

// DefaultMemoryCounters is how many rate buckets and quota windows together
// MemoryLimits holds unless told otherwise.
const DefaultMemoryCounters = 1 << 18

// MemoryLimits keeps traffic limits for one gateway instance. It is safe for
// concurrent use; every decision holds one lock for a few map operations.
//
// It holds at most its maximum of buckets and windows: expired ones are swept,
// and when that is not enough, random ones are dropped (a dropped counter
// starts afresh), so that keys made from request data cannot exhaust memory.
// Concurrency slots are not bounded this way: each is a request in flight.
type MemoryLimits struct {
	mu        sync.Mutex
	buckets   map[string]*memBucket
	windows   map[string]*memWindow
	slots     map[string]int64
	max       int
	nextSweep time.Time
}

type memBucket struct {
	tokens float64
	at     time.Time
	full   time.Time // when it is full again and can be forgotten
}

type memWindow struct {
	index, calls, bytes int64
	end                 int64 // Unix ms; 0: never
}

// NewMemoryLimits returns empty in-memory limits holding at most max buckets
// and windows together (DefaultMemoryCounters when max <= 0).
func NewMemoryLimits(max int) *MemoryLimits {
	if max <= 0 {
		max = DefaultMemoryCounters
	}
	return &MemoryLimits{buckets: map[string]*memBucket{}, windows: map[string]*memWindow{}, slots: map[string]int64{}, max: max}
}

// Rate applies mode to the buckets for a call of n tokens.
func (m *MemoryLimits) Rate(_ context.Context, buckets []Bucket, n int64, mode RateMode) (RateResult, error) {
	now := time.Now()
	var tokensBuf [4]float64
	tokens := tokensBuf[:0]
	m.mu.Lock()
	defer m.mu.Unlock()
	res := RateResult{Allowed: true}
	for i, b := range buckets {
		t := float64(b.Calls)
		if s := m.buckets[b.Key]; s != nil {
			t = tokensAfter(b, s.tokens, now.Sub(s.at))
		}
		tokens = append(tokens, t)
		if mode == RateAdd {
			continue
		}
		if w := waitFor(b, t, n); w > 0 && (res.Allowed || w > res.RetryAfter) {
			res = RateResult{Limiting: i, RetryAfter: w}
		}
	}
	if res.Allowed && mode != RatePeek {
		m.room(now, len(buckets))
		for i, b := range buckets {
			t := min(max(tokens[i]-float64(n), -float64(b.Calls)), float64(b.Calls))
			tokens[i] = t
			s := m.buckets[b.Key]
			if s == nil {
				s = &memBucket{}
				m.buckets[b.Key] = s
			}
			*s = memBucket{tokens: t, at: now, full: now.Add(waitFor(b, t, b.Calls))}
		}
	}
	if res.Allowed {
		least := 0
		for i := range tokens {
			if tokens[i] < tokens[least] {
				least = i
			}
		}
		if len(tokens) > 0 {
			res.Limiting, res.Remaining = least, remaining(tokens[least])
		}
	}
	return res, nil
}

// remaining is the whole tokens in a bucket, at least 0.
func remaining(tokens float64) int64 {
	if tokens <= 0 {
		return 0
	}
	return int64(math.Floor(tokens))
}

// Quota applies mode to the windows for calls and bytes.
func (m *MemoryLimits) Quota(_ context.Context, windows []Window, calls, bytes int64, mode QuotaMode) (QuotaResult, error) {
	nowTime := time.Now()
	now := nowTime.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	res := QuotaResult{Allowed: true}
	for i, w := range windows {
		index, end := windowAt(w, now)
		var used memWindow
		if s := m.windows[w.Key]; s != nil && s.index == index {
			used = *s
		}
		if mode == QuotaAdd || !res.Allowed {
			continue
		}
		if refused, bw := quotaRefuses(w, used.calls, used.bytes, calls); refused {
			res = QuotaResult{Limiting: i, Bandwidth: bw, RenewsIn: renewsIn(end, now)}
		}
	}
	count := res.Allowed && mode != QuotaPeek
	if count {
		m.room(nowTime, len(windows))
	}
	res.Remaining = -1
	for _, w := range windows {
		index, end := windowAt(w, now)
		s := m.windows[w.Key]
		if s == nil || s.index != index {
			if !count {
				s = &memWindow{}
			} else {
				s = &memWindow{index: index, end: end}
				m.windows[w.Key] = s
			}
		}
		if count {
			s.calls = max(s.calls+calls, 0)
			s.bytes = max(s.bytes+bytes, 0)
		}
		if w.Calls > 0 && (res.Remaining < 0 || w.Calls-s.calls < res.Remaining) {
			res.Remaining = max(w.Calls-s.calls, 0)
		}
	}
	return res, nil
}

// quotaRefuses reports whether a window that counted used calls and bytes
// refuses n more calls, and whether for its bytes.
func quotaRefuses(w Window, usedCalls, usedBytes, n int64) (refused, bandwidth bool) {
	if w.Calls > 0 && usedCalls+n > w.Calls {
		return true, false
	}
	if w.Bytes > 0 && usedBytes >= w.Bytes {
		return true, true
	}
	return false, false
}

func renewsIn(end, now int64) time.Duration {
	if end == 0 {
		return 0
	}
	return time.Duration(end-now) * time.Millisecond
}

// room makes room for n more counters: it sweeps what expired, at most once a
// minute unless full, and drops random counters if that was not enough.
func (m *MemoryLimits) room(now time.Time, n int) {
	full := len(m.buckets)+len(m.windows)+n > m.max
	if !full && now.Before(m.nextSweep) {
		return
	}
	ms := now.UnixMilli()
	for k, b := range m.buckets {
		if !now.Before(b.full) {
			delete(m.buckets, k)
		}
	}
	for k, w := range m.windows {
		if w.end != 0 && w.end <= ms {
			delete(m.windows, k)
		}
	}
	m.nextSweep = now.Add(time.Minute)
	// Map iteration starts at a random place: what goes is random.
	for k := range m.buckets {
		if len(m.buckets)+len(m.windows)+n <= m.max {
			break
		}
		delete(m.buckets, k)
	}
	for k := range m.windows {
		if len(m.buckets)+len(m.windows)+n <= m.max {
			break
		}
		delete(m.windows, k)
	}
}

// Acquire takes one of max slots under key. When it did, release gives it
// back; calling release more than once gives it back once.
func (m *MemoryLimits) Acquire(_ context.Context, key string, max int64) (release func(), ok bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slots[key] >= max {
		return nil, false, nil
	}
	m.slots[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.slots[key]--; m.slots[key] <= 0 {
				delete(m.slots, key)
			}
		})
	}, true, nil
}

// Counters returns how many buckets, windows and held slots m holds, for tests
// and metrics.
func (m *MemoryLimits) Counters() (buckets, windows, slots int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.slots {
		slots += int(n)
	}
	return len(m.buckets), len(m.windows), slots
}

// Close does nothing; it lets MemoryLimits stand where RedisLimits could.
func (m *MemoryLimits) Close() error { return nil }
