package http1

import (
	"net/http"
	"sync/atomic"
	"time"
)

// clock is the server's coarse clock. The watcher (Server.watch) reads the
// time at every tick; the per-request bookkeeping that needs it only to
// within a tick (when a connection became idle, when a request began, whether
// a deadline is worth moving, the Date header) reads the tick instead of the
// system clock, which costs about a tenth of a microsecond a call on a
// virtual machine, and a request made about ten such calls.
type clock struct {
	mono atomic.Int64 // time.Since(epoch) at the last tick; 0 before the first
}

// tick records the time, and the Date header of its second; only the
// watcher calls it.
func (c *clock) tick(now time.Time) {
	c.mono.Store(max(int64(now.Sub(epoch)), 1))
	dateAt(now)
}

// now is the time since epoch as of the last tick, or the exact time when the
// watcher has not ticked yet.
func (s *Server) now() time.Duration {
	if v := s.clock.mono.Load(); v != 0 {
		return time.Duration(v)
	}
	return time.Since(epoch)
}

// date is the Date header's value: as of the last tick, or of now when the
// watcher has not ticked yet.
func (s *Server) date() string {
	if s.clock.mono.Load() != 0 {
		return dateCache.Load().s
	}
	return dateAt(time.Now())
}

// dateCache is the Date header of one second, formatted once.
var dateCache atomic.Pointer[dateEntry]

type dateEntry struct {
	sec int64
	s   string
}

// dateAt returns the Date header for now, formatting it once a second.
func dateAt(now time.Time) string {
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dateEntry{now.Unix(), now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}
