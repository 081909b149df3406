package store

import (
	"errors"
	"math"
	"time"
)

// Traffic limits: rate-limit, quota and limit-concurrency keep their counters
// here. MemoryLimits keeps them for one gateway instance; RedisLimits shares
// them with every instance on the same Redis, each decision one atomic script
// (one round trip). Both implement the same contract, which the conformance
// tests check on each.
//
//   - Rate limits are token buckets: a bucket holds at most Calls tokens and
//     refills continuously at Calls per Period; a call takes its tokens when
//     every bucket it is counted in has them.
//   - Quotas are fixed windows: a window counts calls and bytes from Start +
//     k*Period to Start + (k+1)*Period, or forever when Period is 0.
//   - Concurrency slots are counted per key; in Redis each slot is a lease that
//     expires unless its holder renews it, so that an instance that dies does
//     not hold slots for ever.

// ErrUnavailable is returned by RedisLimits while Redis is failing: after a
// failed call it refuses calls at once, without waiting for Redis, until a
// probe succeeds (see LimitOptions).
var ErrUnavailable = errors.New("store: the shared store is unavailable")

// Bucket is one rate limit's token bucket.
type Bucket struct {
	Key    string
	Calls  int64         // the bucket's size, and the tokens it gains each Period; at least 1
	Period time.Duration // at least a millisecond
}

// RateMode says what Rate does to the buckets.
type RateMode uint8

// The rate modes.
const (
	// RateTake takes n tokens from every bucket when each holds n, and none
	// otherwise: a refused call costs nothing.
	RateTake RateMode = iota
	// RatePeek takes nothing and reports whether every bucket holds n tokens.
	RatePeek
	// RateAdd takes n tokens from every bucket whether or not they hold them,
	// for a call that already happened (an increment decided at the end of the
	// pipeline, the tokens a model's response used). A bucket's debt is at
	// most Calls tokens, so that one large increment blocks the key for at
	// most about one Period. A negative n gives -n tokens back (an estimate
	// that was too high), up to a full bucket.
	RateAdd
)

// RateResult is a rate decision.
type RateResult struct {
	Allowed bool
	// Limiting is the index of the bucket that refused the call (the one that
	// would wait longest), or of the bucket with the fewest tokens left when
	// the call was allowed.
	Limiting int
	// Remaining is how many whole tokens the Limiting bucket holds after the
	// call, never less than 0.
	Remaining int64
	// RetryAfter is, for a refused call, how long until the Limiting bucket
	// holds n tokens again.
	RetryAfter time.Duration
}

// Window is one quota's fixed window of calls and bytes.
type Window struct {
	Key   string
	Calls int64 // the most calls a window allows; 0 means calls are not limited
	Bytes int64 // the most bytes a window allows; 0 means bytes are not limited
	// Period is the length of a window, at least a millisecond; 0 means one
	// window for ever (the quota never renews).
	Period time.Duration
	// Start is when the first window starts. Windows follow each other every
	// Period from there, also before it.
	Start time.Time
}

// QuotaMode says what Quota does to the windows.
type QuotaMode uint8

// The quota modes.
const (
	// QuotaTake counts calls and bytes in every window when each has room for
	// the calls and has not yet reached its bytes, and counts nothing
	// otherwise.
	QuotaTake QuotaMode = iota
	// QuotaPeek counts nothing and reports whether every window has room.
	QuotaPeek
	// QuotaAdd counts calls and bytes in every window whether or not they
	// have room: the bytes of a request that ended, or an increment decided
	// at the end of the pipeline. Negative calls or bytes take back what was
	// counted (an estimate that was too high), down to none.
	QuotaAdd
)

// QuotaResult is a quota decision.
type QuotaResult struct {
	Allowed bool
	// Limiting is the index of the window that refused the call.
	Limiting int
	// Bandwidth is true when the Limiting window refused for its bytes, not
	// its calls.
	Bandwidth bool
	// RenewsIn is how long until the Limiting window ends; 0 when it never
	// does (Period 0).
	RenewsIn time.Duration
	// Remaining is how many calls the window with the fewest left still
	// allows after the decision, never less than 0; -1 when no window limits
	// calls.
	Remaining int64
}

// tokensAfter refills a bucket that held tokens elapsed ago: Calls per Period,
// at most Calls.
func tokensAfter(b Bucket, tokens float64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return tokens
	}
	return math.Min(float64(b.Calls), tokens+float64(elapsed)*float64(b.Calls)/float64(b.Period))
}

// waitFor is how long a bucket holding tokens takes to hold n.
func waitFor(b Bucket, tokens float64, n int64) time.Duration {
	if tokens >= float64(n) {
		return 0
	}
	return time.Duration(math.Ceil((float64(n) - tokens) * float64(b.Period) / float64(b.Calls)))
}

// windowAt returns the index of the window that holds now (a time in Unix
// milliseconds) and when it ends; end is 0 for a window that never ends.
func windowAt(w Window, now int64) (index, end int64) {
	period := w.Period.Milliseconds()
	if period <= 0 {
		return 0, 0
	}
	start := w.Start.UnixMilli()
	index = floorDiv(now-start, period)
	return index, start + (index+1)*period
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
