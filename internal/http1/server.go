// Package http1 is the data plane's HTTP server: HTTP/1.1 on its own connection
// loop, with framing rules strict enough that no request can be read two ways
// (request smuggling), limits answered with clear statuses, and HTTP/2 handed
// to net/http's HTTP/2 server (h2c with prior knowledge, and h2 over TLS).
//
// It exists instead of net/http's server because net/http accepts a request
// with both Content-Length and Transfer-Encoding without telling the handler,
// has no limit on how slowly a request body may arrive, and its per-request
// costs are what the gateway spends most of its time on. Handlers are plain
// http.Handlers.
//
// The rules, and their defaults, follow Kestrel, the server under API
// Management's self-hosted gateway: request line 8 KiB (414), header section
// 32 KiB and 100 fields (431), 30 s to send the header (408), a minimum body
// rate of 240 bytes/s after a 5 s grace (408), 120 s idle keep-alive.
package http1

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of the Server's limits.
const (
	DefaultMaxRequestLine    = 8 << 10
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMaxHeaderCount    = 100
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMinBodyRate       = 240 // bytes per second
	DefaultBodyGrace         = 5 * time.Second
	DefaultMinResponseRate   = 240 // bytes per second
)

// Server serves HTTP/1.1 and HTTP/2 to a Handler. Its zero limits mean the
// defaults; set fields before Serve and do not change them afterwards.
type Server struct {
	Handler http.Handler

	// MaxRequestLine bounds the request line (414 beyond it).
	MaxRequestLine int
	// MaxHeaderBytes bounds the request line and header fields together, and
	// a chunked body's trailer section (431 beyond it).
	MaxHeaderBytes int
	// MaxHeaderCount bounds the number of header fields (431 beyond it).
	MaxHeaderCount int
	// ReadHeaderTimeout is how long a client has to send a request's header
	// once its first byte arrived (408), and over HTTP/2 each header block
	// (HEADERS and CONTINUATION frames; the connection is closed).
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second, after BodyGrace (408 below it); negative disables the check.
	MinBodyRate int
	// BodyGrace is the time a body may take before MinBodyRate applies;
	// negative means none.
	BodyGrace time.Duration
	// MinResponseRate is the slowest a client may read a response, in bytes
	// per second after a 5 s grace for each write; the connection is closed
	// below it. Negative disables the check.
	MinResponseRate int

	// HTTP2 serves HTTP/2 connections, with net/http's HTTP/2 server: TLS
	// connections that negotiate h2, and cleartext ones that open with the
	// HTTP/2 preface (h2c with prior knowledge).
	HTTP2 bool
	// ErrorBody renders the body of a response the server sends itself (a bad
	// request head, a limit): a content type and the bytes. Nil sends text.
	ErrorBody func(status int, message string) (contentType string, body []byte)
	// Logger receives connection-level failures at Debug; nil discards them.
	Logger *slog.Logger
	// BaseContext is the parent of every request's context; nil means
	// context.Background.
	BaseContext context.Context

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	parker    parker
	watchOnce sync.Once
	done      chan struct{} // closed when the server shuts down: stops the watcher
	doneOnce  sync.Once
	h2        atomic.Pointer[http.Server] // serves the connections handed to h2ln, once started
	h2ln      *connListener
	h2once    sync.Once
	clock     clock
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) maxRequestLine() int { return positive(s.MaxRequestLine, DefaultMaxRequestLine) }
func (s *Server) maxHeaderBytes() int { return positive(s.MaxHeaderBytes, DefaultMaxHeaderBytes) }
func (s *Server) maxHeaderCount() int { return positive(s.MaxHeaderCount, DefaultMaxHeaderCount) }
func (s *Server) readHeaderTimeout() time.Duration {
	return positive(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}
func (s *Server) idleTimeout() time.Duration { return positive(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Server) bodyGrace() time.Duration {
	if s.BodyGrace < 0 {
		return 0
	}
	return positive(s.BodyGrace, DefaultBodyGrace)
}

func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on ln until Shutdown or Close. A listener that
// yields *tls.Conn serves HTTPS, negotiating h2 when HTTP2 is set.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln, true) {
		return ErrServerClosed
	}
	defer s.track(ln, false)
	s.watchOnce.Do(func() { go s.watch(s.stopped()) })
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or a transient failure: back off
				// as net/http does instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger().Debug("accept failed; retrying", "error", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(rwc)
		if !s.trackConn(c, true) {
			rwc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		if s.listeners == nil {
			s.listeners = map[net.Listener]struct{}{}
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		if s.conns == nil {
			s.conns = map[*conn]struct{}{}
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// stopped returns the channel closed when the server shuts down.
func (s *Server) stopped() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

func (s *Server) stop() {
	done := s.stopped()
	s.doneOnce.Do(func() { close(done) })
}

// watch starts watching the connections whose request has run for
// watchDelay, so that a client that goes away cancels it. One goroutine for
// the server, twice per delay, instead of a timer per request. It also ticks
// the server's coarse clock.
func (s *Server) watch(done chan struct{}) {
	s.clock.tick(time.Now())
	t := time.NewTicker(watchDelay / 2)
	defer t.Stop()
	lastShrink := -time.Hour
	var lastParked, prevParked int64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		wall := time.Now()
		s.clock.tick(wall)
		now := wall.Sub(epoch)
		late, cold, expired := int64(now-watchDelay), int64(now-coolAfter), int64(now-s.idleTimeout())
		var stale []*conn
		s.mu.Lock()
		for c := range s.conns {
			if start := c.reqStart.Load(); start != 0 && start <= late {
				c.watchFired()
			}
			switch st := c.state.Load(); {
			case st == stateIdle && c.idleSince.Load() <= cold && !c.cold():
				c.cool()
			case st == stateParked && c.idleSince.Load() <= expired:
				stale = append(stale, c)
			}
		}
		s.mu.Unlock()
		for _, c := range stale {
			if s.parker.take(c) {
				go c.close() // parked past the idle timeout
			}
		}
		parked := s.parker.parked()
		if parked-lastParked >= coolBatch && parked == prevParked && now-lastShrink > time.Second {
			// Many connections went to sleep, and the wave is over: give
			// their stacks and buffers back to the system now, instead of
			// at the next collection, which an idle process may not run
			// for minutes.
			lastShrink, lastParked = now, parked
			debug.FreeOSMemory()
		}
		prevParked = parked
	}
}

// coolBatch is how many connections going to sleep make the server give
// memory back at once.
const coolBatch = 256

// Shutdown stops accepting, closes idle connections, lets requests in flight
// finish (their connections close after the response; HTTP/2 ones get a
// GOAWAY) and returns when all are done or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	defer s.stop()
	h2done := make(chan error, 1)
	go func() {
		var err error
		if h2 := s.h2.Load(); h2 != nil {
			err = h2.Shutdown(ctx) // GOAWAY, then wait
		}
		h2done <- err
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return <-h2done
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeListeners()
	s.stop()
	if h2 := s.h2.Load(); h2 != nil {
		h2.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.Close()
		if s.parker.take(c) {
			delete(s.conns, c) // nobody else will end it
		}
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
}

// closeIdle closes connections waiting for a request and returns how many
// connections remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch c.state.Load() {
		case stateIdle, stateCooling:
			c.rwc.Close()
		case stateParked:
			if s.parker.take(c) {
				go c.close()
			}
		}
	}
	return len(s.conns)
}

// http2Server returns the net/http server that serves HTTP/2 connections,
// started on first use; it accepts only the connections serveHTTP2 hands it.
func (s *Server) http2Server() *http.Server {
	s.h2once.Do(func() {
		var p http.Protocols
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		h2 := &http.Server{
			Handler:           http.HandlerFunc(s.serveHTTP2Request),
			Protocols:         &p,
			IdleTimeout:       s.idleTimeout(),
			ReadHeaderTimeout: s.readHeaderTimeout(),
			MaxHeaderBytes:    2 * s.maxHeaderBytes(), // checkHTTP2Head has the limit itself
			// OPTIONS * goes to the handler, as over HTTP/1.1.
			DisableGeneralOptionsHandler: true,
			ErrorLog:                     slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
			BaseContext:                  func(net.Listener) context.Context { return s.baseContext() },
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				hc := &h2Conn{rwc: c}
				if w, ok := c.(*h2Wire); ok {
					hc.tls = w.tls
				}
				return context.WithValue(ctx, h2ConnKey{}, hc)
			},
		}
		s.h2ln = &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
		s.h2.Store(h2)
		go h2.Serve(s.h2ln)
	})
	return s.h2.Load()
}

func (s *Server) baseContext() context.Context {
	if s.BaseContext != nil {
		return s.BaseContext
	}
	return context.Background()
}

// serveHTTP2 hands a connection to the HTTP/2 server; it owns it from then on.
func (s *Server) serveHTTP2(rwc net.Conn) {
	s.http2Server()
	s.h2ln.deliver(rwc)
}

// connListener is a net.Listener that yields the connections given to it.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *connListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remoteAddr: rwc.RemoteAddr().String()}
	c.state.Store(stateNew)
	return c
}

var errTooManyFiles = syscall.EMFILE

func isTLS(rwc net.Conn) (*tls.Conn, bool) {
	tc, ok := rwc.(*tls.Conn)
	return tc, ok
}
