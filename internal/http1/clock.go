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
	mono atomic.Int64           // time.Since(epoch) at the last tick; 0 before the first
	date atomic.Pointer[string] // the Date header of the last tick's second
	sec  int64                  // that second; the watcher's only
}

// tick records the time; only the watcher calls it.
func (c *clock) tick(now time.Time) {
	c.mono.Store(max(int64(now.Sub(epoch)), 1))
	if sec := now.Unix(); sec != c.sec {
		c.sec = sec
		d := now.UTC().Format(http.TimeFormat)
		c.date.Store(&d)
	}
}

// now is the time since epoch as of the last tick, or the exact time when the
// watcher has not ticked yet.
func (s *Server) now() time.Duration {
	if v := s.clock.mono.Load(); v != 0 {
		return time.Duration(v)
	}
	return time.Since(epoch)
}

// date is the Date header's value, to within a tick.
func (s *Server) date() string {
	if d := s.clock.date.Load(); d != nil {
		return *d
	}
	return httpDate()
}
