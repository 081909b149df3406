package agent

import (
	"sync"
	"time"
)

// limiter is a token bucket and a concurrency limit per caller, as Azure's
// endpoints apply them (20 requests a second, 5 at once).
type limiter struct {
	rate       float64 // tokens per second; also the burst
	concurrent int

	mu      sync.Mutex
	callers map[string]*bucket
}

type bucket struct {
	tokens   float64
	last     time.Time
	inFlight int
}

// maxCallers bounds the limiter's memory: past it, idle callers are forgotten.
const maxCallers = 4096

func newLimiter(perSecond, concurrent int) *limiter {
	return &limiter{rate: float64(perSecond), concurrent: concurrent, callers: make(map[string]*bucket)}
}

// acquire takes a request slot for key. When the caller is over a limit it
// returns ok false and how long to wait; otherwise release must be called when
// the request ends.
func (l *limiter) acquire(key string) (release func(), retry time.Duration, ok bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.callers[key]
	if b == nil {
		if len(l.callers) >= maxCallers {
			l.forgetIdle(now)
		}
		b = &bucket{tokens: l.rate, last: now}
		l.callers[key] = b
	}
	b.tokens = min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.inFlight >= l.concurrent {
		return nil, time.Second, false
	}
	if b.tokens < 1 {
		return nil, time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens--
	b.inFlight++
	return func() {
		l.mu.Lock()
		b.inFlight--
		l.mu.Unlock()
	}, 0, true
}

// forgetIdle drops callers with no request in flight whose bucket has refilled.
// l.mu is held.
func (l *limiter) forgetIdle(now time.Time) {
	for k, b := range l.callers {
		if b.inFlight == 0 && b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.rate {
			delete(l.callers, k)
		}
	}
	if len(l.callers) >= maxCallers {
		// Every caller is busy: forget the idle ones that have not refilled too.
		for k, b := range l.callers {
			if b.inFlight == 0 {
				delete(l.callers, k)
			}
		}
	}
}
