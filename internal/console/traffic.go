package console

import (
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/gateway"
)

// Traffic keeps what the live traffic view shows, in bounded memory: the last
// RecentRequests requests, and per API the requests, errors and latencies of
// the last Window in buckets of BucketWidth. The data plane tells it of every
// request (gateway.RequestObserver); that costs one uncontended lock and a
// few increments, no allocation.
type Traffic struct {
	mu     sync.Mutex
	recent [RecentRequests]gateway.RequestDone
	n      int                  // requests recorded since start
	apis   map[string]*apiStats // by API id; "" for requests no API matched
}

// The live traffic's bounds.
const (
	RecentRequests = 200
	BucketWidth    = 10 * time.Second
	Window         = 10 * time.Minute
	numBuckets     = int(Window / BucketWidth)
	// MaxTrackedAPIs bounds the per-API statistics; the requests of further
	// APIs count under "(other)".
	MaxTrackedAPIs = 256
	otherAPIs      = "(other)"
)

// latency histogram: one bucket per microsecond below 8µs, then 4 per
// doubling, up to over an hour.
const latBuckets = 128

type bucket struct {
	epoch            int64 // the bucket's start, in BucketWidth since 1970
	count            uint32
	errors4, errors5 uint32
	lat              [latBuckets]uint32
}

type apiStats struct {
	buckets [numBuckets]bucket
}

// NewTraffic returns an empty Traffic.
func NewTraffic() *Traffic { return &Traffic{apis: map[string]*apiStats{}} }

// RequestDone implements gateway.RequestObserver.
func (t *Traffic) RequestDone(d gateway.RequestDone) {
	end := d.Start.Add(d.Duration)
	epoch := end.UnixNano() / int64(BucketWidth)
	li := latIndex(d.Duration)
	t.mu.Lock()
	t.recent[t.n%RecentRequests] = d
	t.n++
	s := t.apis[d.API]
	if s == nil {
		key := d.API
		if len(t.apis) >= MaxTrackedAPIs {
			key = otherAPIs
		}
		if s = t.apis[key]; s == nil {
			s = &apiStats{}
			t.apis[key] = s
		}
	}
	b := &s.buckets[epoch%int64(numBuckets)]
	if b.epoch != epoch {
		*b = bucket{epoch: epoch}
	}
	b.count++
	switch {
	case d.Status >= 500:
		b.errors5++
	case d.Status >= 400:
		b.errors4++
	}
	b.lat[li]++
	t.mu.Unlock()
}

// latIndex is the histogram bucket of d.
func latIndex(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < 8 {
		return int(us)
	}
	p := bits.Len64(us) - 1 // 2^p <= us < 2^(p+1), p >= 3
	frac := int(us>>(p-2)) & 3
	return min(8+(p-3)*4+frac, latBuckets-1)
}

// latUpper is the upper bound of histogram bucket i: the durations in it
// are below it.
func latUpper(i int) time.Duration {
	if i < 8 {
		return time.Duration(i+1) * time.Microsecond
	}
	p, frac := (i-8)/4+3, (i-8)%4
	return time.Duration(uint64(5+frac)<<(p-2)) * time.Microsecond
}

// Recent returns the last requests, newest first.
func (t *Traffic) Recent() []gateway.RequestDone {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := min(t.n, RecentRequests)
	out := make([]gateway.RequestDone, 0, k)
	for i := range k {
		out = append(out, t.recent[(t.n-1-i)%RecentRequests])
	}
	return out
}

// Point is one bucket of an API's series.
type Point struct {
	Start    time.Time `json:"start"`
	Requests int       `json:"requests"`
	// PerSecond is Requests over the bucket's width.
	PerSecond float64 `json:"perSecond"`
	// Errors4xx and Errors5xx count client and server error statuses
	// (499, a client that went away, is a 4xx).
	Errors4xx int `json:"errors4xx"`
	Errors5xx int `json:"errors5xx"`
	// P50Ms and P99Ms are latency percentiles in milliseconds, as the upper
	// bound of their histogram bucket (within 19%); 0 without requests.
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// Series is an API's traffic over the window, oldest bucket first, with the
// whole window's totals.
type Series struct {
	API    string  `json:"api"`
	Points []Point `json:"points"`
	Total  Point   `json:"total"`
}

// Series returns every API's series over the Window ending now, by API id.
func (t *Traffic) Series(now time.Time) []Series {
	cur := now.UnixNano() / int64(BucketWidth)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Series, 0, len(t.apis))
	for id, s := range t.apis {
		se := Series{API: id, Points: make([]Point, 0, numBuckets)}
		var all [latBuckets]uint32
		for e := cur - int64(numBuckets) + 1; e <= cur; e++ {
			b := &s.buckets[e%int64(numBuckets)]
			p := Point{Start: time.Unix(0, e*int64(BucketWidth)).UTC()}
			if b.epoch == e {
				p = b.point(p.Start)
				for i, c := range b.lat {
					all[i] += c
				}
				se.Total.Requests += p.Requests
				se.Total.Errors4xx += p.Errors4xx
				se.Total.Errors5xx += p.Errors5xx
			}
			se.Points = append(se.Points, p)
		}
		se.Total.Start = se.Points[0].Start
		se.Total.PerSecond = float64(se.Total.Requests) / Window.Seconds()
		se.Total.P50Ms, se.Total.P99Ms = percentile(&all, se.Total.Requests, 0.50), percentile(&all, se.Total.Requests, 0.99)
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b Series) int {
		if a.API < b.API {
			return -1
		}
		if a.API > b.API {
			return 1
		}
		return 0
	})
	return out
}

func (b *bucket) point(start time.Time) Point {
	n := int(b.count)
	return Point{Start: start, Requests: n, PerSecond: float64(n) / BucketWidth.Seconds(),
		Errors4xx: int(b.errors4), Errors5xx: int(b.errors5),
		P50Ms: percentile(&b.lat, n, 0.50), P99Ms: percentile(&b.lat, n, 0.99)}
}

// percentile is the upper bound, in milliseconds, of the histogram bucket
// holding the q-th quantile of n observations.
func percentile(h *[latBuckets]uint32, n int, q float64) float64 {
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999) // the ceil(q*n)-th observation
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return float64(latUpper(i).Microseconds()) / 1000
		}
	}
	return float64(latUpper(latBuckets-1).Microseconds()) / 1000
}
