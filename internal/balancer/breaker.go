// Package balancer holds the runtime state of API Management backend entities:
// each backend's circuit breaker, and the choice of a member of a load-balanced
// pool for each request.
//
// The state belongs to one gateway instance. As in API Management, instances do
// not share it: each counts failures, trips its breakers and balances its own
// requests.
package balancer

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rule is a circuit breaker rule: the circuit opens (trips) when Count failures,
// or Percentage percent of at least MinPercentageRequests requests, fall within
// Interval, and stays open for TripDuration, or for the Retry-After of the
// response that tripped it when AcceptRetryAfter is set. It then closes again
// with nothing counted.
type Rule struct {
	Count      int // 0: no count condition
	Percentage int // 0: no percentage condition
	Interval   time.Duration
	// A response whose status is in StatusRanges is a failure; so is a forward
	// that got no response for one of ErrorReasons (compared without case).
	StatusRanges     []StatusRange
	ErrorReasons     []string
	TripDuration     time.Duration
	AcceptRetryAfter bool
}

// StatusRange is an inclusive range of status codes.
type StatusRange struct{ Min, Max int }

// MinPercentageRequests is how many requests a percentage rule needs in its
// interval before it can trip, so that one failure of one request does not
// count as 100%.
const MinPercentageRequests = 10

// MaxRetryAfter bounds how long a backend's Retry-After keeps its circuit open.
const MaxRetryAfter = 24 * time.Hour

// Outcome is how one forwarded request ended.
type Outcome struct {
	// Status is the backend's status code, 0 when it did not answer.
	Status int
	// Reason is why the backend did not answer, such as
	// "BackendConnectionFailure" or "Timeout".
	Reason string
	// RetryAfter is the backend's Retry-After, when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (r *Rule) failed(o Outcome) bool {
	if o.Status == 0 {
		return o.Reason != "" && slices.ContainsFunc(r.ErrorReasons, func(s string) bool { return strings.EqualFold(s, o.Reason) })
	}
	return slices.ContainsFunc(r.StatusRanges, func(s StatusRange) bool { return o.Status >= s.Min && o.Status <= s.Max })
}

func (r *Rule) equal(o Rule) bool {
	return r.Count == o.Count && r.Percentage == o.Percentage && r.Interval == o.Interval &&
		slices.Equal(r.StatusRanges, o.StatusRanges) && slices.Equal(r.ErrorReasons, o.ErrorReasons) &&
		r.TripDuration == o.TripDuration && r.AcceptRetryAfter == o.AcceptRetryAfter
}

// percentBuckets is how many slices of its interval a percentage rule counts
// requests in: the interval slides by a twentieth of itself.
const percentBuckets = 20

// Breaker is one backend's circuit breaker. It is safe for concurrent use;
// checking whether it is open takes no lock.
type Breaker struct {
	rule Rule
	// openUntil is when the open circuit closes, in Unix nanoseconds; the
	// circuit is closed at and after it (0: never opened).
	openUntil atomic.Int64
	// trips counts the times the circuit opened, for metrics.
	trips atomic.Int64

	mu sync.Mutex
	// fails are the times of the last Count failures, a ring whose oldest entry
	// is at next once filled entries are Count.
	fails  []int64
	next   int
	filled int
	// buckets count requests and failures for a percentage rule.
	buckets [percentBuckets]bucket
}

type bucket struct {
	slot          int64 // which slice of time it counts; stale when too old
	total, failed int
}

// NewBreaker returns a closed breaker for r.
func NewBreaker(r Rule) *Breaker {
	b := &Breaker{rule: r}
	if r.Count > 0 {
		b.fails = make([]int64, r.Count)
	}
	return b
}

// Trips returns how many times the circuit opened.
func (b *Breaker) Trips() int64 { return b.trips.Load() }

// Rule returns the breaker's rule.
func (b *Breaker) Rule() Rule { return b.rule }

// Open reports whether the circuit is open at now, and when it closes.
func (b *Breaker) Open(now time.Time) (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	u := b.openUntil.Load()
	if u == 0 || now.UnixNano() >= u {
		return time.Time{}, false
	}
	return time.Unix(0, u), true
}

// Record counts the outcome of a request that was sent at a time the circuit
// was closed. It reports whether this outcome tripped the circuit, and until
// when it is open. Outcomes that arrive while the circuit is open (requests sent
// before it tripped) are not counted.
func (b *Breaker) Record(now time.Time, o Outcome) (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	failed := b.rule.failed(o)
	if !failed && b.rule.Percentage == 0 {
		return time.Time{}, false // a count rule counts only failures: no lock for a success
	}
	n := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.openUntil.Load(); u != 0 && n < u {
		return time.Time{}, false
	}
	trip := false
	if b.rule.Count > 0 && failed {
		b.fails[b.next] = n
		b.next = (b.next + 1) % len(b.fails)
		b.filled = min(b.filled+1, len(b.fails))
		// With Count failures recorded, the oldest of them is at next.
		trip = b.filled == len(b.fails) && n-b.fails[b.next] < int64(b.rule.Interval)
	}
	if b.rule.Percentage > 0 {
		width := max(int64(b.rule.Interval)/percentBuckets, 1)
		slot := n / width
		bk := &b.buckets[slot%percentBuckets]
		if bk.slot != slot {
			*bk = bucket{slot: slot}
		}
		bk.total++
		if failed {
			bk.failed++
		}
		total, fails := 0, 0
		for _, c := range b.buckets {
			if c.slot > slot-percentBuckets {
				total += c.total
				fails += c.failed
			}
		}
		trip = trip || failed && total >= MinPercentageRequests && fails*100 >= b.rule.Percentage*total
	}
	if !trip {
		return time.Time{}, false
	}
	d := b.rule.TripDuration
	if b.rule.AcceptRetryAfter && o.HasRetryAfter {
		d = min(o.RetryAfter, MaxRetryAfter)
	}
	if d <= 0 {
		return time.Time{}, false // "Retry-After: 0": the backend takes requests again at once
	}
	until := n + int64(d)
	b.openUntil.Store(until)
	b.trips.Add(1)
	// The circuit closes with nothing counted.
	clear(b.fails)
	b.next, b.filled = 0, 0
	b.buckets = [percentBuckets]bucket{}
	return time.Unix(0, until), true
}

// Breakers keeps circuit breakers across configuration reloads: a backend whose
// rule did not change keeps its breaker, with what it counted and whether it is
// open. It is safe for concurrent use.
type Breakers struct {
	mu sync.Mutex
	m  map[string]*Breaker
}

// Each calls fn for every backend's breaker, in no order, for metrics.
func (s *Breakers) Each(fn func(id string, b *Breaker)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, b := range s.m {
		fn(id, b)
	}
}

// Get returns the breaker of backend id for rule r: the one it had if its rule
// is the same, a new closed one otherwise.
func (s *Breakers) Get(id string, r Rule) *Breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[id]; ok && b.rule.equal(r) {
		return b
	}
	if s.m == nil {
		s.m = make(map[string]*Breaker)
	}
	b := NewBreaker(r)
	s.m[id] = b
	return b
}
