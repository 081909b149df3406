package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// Connection states, for Shutdown: idle connections are closed at once, active
// ones finish their request first.
const (
	stateNew int32 = iota
	stateActive
	stateIdle
	stateCooling // idle, asked to give its buffers back
	stateParked  // idle without a goroutine, in the server's parker
)

// maxDrain is how much of a request body the handler left unread the server
// reads and discards to keep the connection; beyond it, it closes instead.
const maxDrain = 256 << 10

// aLongTimeAgo is a deadline that makes a blocked read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// http2Preface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

type conn struct {
	srv        *Server
	rwc        net.Conn
	remoteAddr string
	tlsState   *tls.ConnectionState
	state      atomic.Int32

	cr    connReader
	br    *bufio.Reader
	bw    *bufio.Writer
	head  []byte // the current request head, without line terminators
	lines []int  // where each line of head starts

	// The current request.
	body      *body
	bodyStart time.Time
	reqCtx    *reqContext        // the request's context, when its parent cannot be canceled
	cancel    context.CancelFunc // else: its cancel
	resp      response           // the current response
	respHdr   http.Header        // an empty header map for the next response
	released  bool               // the handler released the request (ReleaseRequest)
	spare     *reqState          // a released request's state, for the next request
	broken    atomic.Bool        // the request body's framing failed: close after the response

	idleSetAt time.Duration // when the idle deadline was set (since epoch, coarse); zero once replaced
	idleSince atomic.Int64  // when the connection last became idle (since epoch)
	coolMu    sync.Mutex    // orders the watcher's cool against the wait's end
	parkedFD  int           // the descriptor the parker knows the connection by
	writeDue  time.Duration // the write deadline set last (since epoch, coarse; deadlineWriter)

	wmu         sync.Mutex // orders a 100 Continue against the response's start
	expect100   bool
	sent100     bool
	respStarted bool

	// The watch for a client that goes away (watchFired), guarded by bgMu.
	bgMu         sync.Mutex
	reqStart     atomic.Int64 // when the running request began (since epoch); 0 between requests
	watchDue     bool         // the watch delay passed while the request ran
	bodyComplete bool         // the request body was read to its end (or there is none)
	handlerDone  bool
	bgRunning    bool
	bgAbort      atomic.Bool
	bgWG         sync.WaitGroup
	bgByte       [1]byte
	gone         atomic.Bool // the background read saw the client go away
	handedOff    bool        // served by HTTP/2 now
}

// connReader reads from the connection, first returning a byte the background
// read took from a pipelined request.
type connReader struct {
	c       *conn
	pending bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.pending && len(p) > 0 {
		r.pending = false
		p[0] = r.c.bgByte[0]
		return 1, nil
	}
	return r.c.rwc.Read(p)
}

// deadlineWriter gives each write to the client a deadline from the minimum
// response rate, so a client that stops reading cannot hold the connection.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	if allow, on := w.c.srv.writeAllow(len(p)); on {
		// The deadline moves only when it would move by more than a second,
		// so that a busy connection does not update a timer for every write:
		// each write still gets at least 4 s (less the coarse clock's lag, a
		// tick) plus its size at the rate.
		if due := w.c.srv.now() + allow; due-w.c.writeDue > time.Second {
			w.c.writeDue = due
			w.c.rwc.SetWriteDeadline(time.Now().Add(allow))
		}
	}
	return w.c.rwc.Write(p)
}

// writeAllow is how long a write of n bytes to a client may take: 5 s plus n
// at the minimum response rate; false when the rate is off.
func (s *Server) writeAllow(n int) (time.Duration, bool) {
	rate := s.MinResponseRate
	if rate < 0 {
		return 0, false
	}
	if rate == 0 {
		rate = DefaultMinResponseRate
	}
	return 5*time.Second + time.Duration(n)*time.Second/time.Duration(rate), true
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

func (c *conn) serve() {
	s := c.srv
	parked := false
	defer func() { c.end(recover(), parked) }()
	ctx := s.baseContext()
	if tc, ok := isTLS(c.rwc); ok {
		tc.SetDeadline(time.Now().Add(s.readHeaderTimeout()))
		if err := tc.HandshakeContext(ctx); err != nil {
			if !c.refusePlainHTTP(err) {
				s.logger().Debug("TLS handshake failed", "remote", c.remoteAddr, "error", err)
			}
			return
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tlsState = &st
		if st.NegotiatedProtocol == "h2" && s.HTTP2 {
			if st.Version < tls.VersionTLS12 {
				// RFC 9113 §9.2; net/http's HTTP/2 server checked it
				// when it served TLS itself (h2Wire).
				s.logger().Debug("closed an HTTP/2 connection over TLS older than 1.2", "remote", c.remoteAddr)
				return
			}
			c.handOff(nil)
			return
		}
	}
	c.cr.c = c
	c.acquireBuffers()
	parked = c.loop(ctx, true)
}

// resume serves a parked connection again: its next request arrived.
func (c *conn) resume() {
	parked := false
	defer func() { c.end(recover(), parked) }()
	c.acquireBuffers()
	parked = c.loop(c.srv.baseContext(), false)
}

// end closes the connection when its goroutine stops, unless it was parked
// (then it is no longer this goroutine's to touch).
func (c *conn) end(panicked any, parked bool) {
	if panicked != nil && panicked != http.ErrAbortHandler {
		c.srv.logger().Error("panic serving a connection", "remote", c.remoteAddr, "panic", panicked, "stack", string(debug.Stack()))
	}
	if !parked {
		c.close()
	}
}

// loop serves requests until the connection ends (false) or is parked
// (true). first says the connection is new: only then may it be HTTP/2.
func (c *conn) loop(ctx context.Context, first bool) bool {
	s := c.srv
	for n := 0; ; n++ {
		c.idleSince.Store(int64(s.now()))
		c.state.Store(stateIdle)
		if s.closing.Load() {
			return false
		}
		c.idleDeadline()
		if c.br.Buffered() == 0 {
			// Let the other connections' work run first: by the time this
			// one reads, its client has more often sent the next request,
			// and the read finds it instead of failing (EAGAIN) and parking.
			// Under load this saves most of those reads; idle, it costs
			// nothing.
			runtime.Gosched()
		}
		if err := c.waitRequest(); err != nil {
			return err == errParked // closed, idle too long, or shut down
		}
		if !c.headBuffered() {
			// From the first byte on, the head has the header timeout: an
			// HTTP/2 preface too, whose check waits for its bytes.
			c.setReadDeadline(time.Now().Add(s.readHeaderTimeout()))
		}
		if n == 0 && first && c.tlsState == nil {
			if c.isTLSHandshake() {
				s.logger().Debug("closed a connection that began a TLS handshake on a plain listener", "remote", c.remoteAddr)
				return false
			}
			if s.HTTP2 && c.isHTTP2Preface() {
				c.handOff(c.buffered())
				return false
			}
		}
		lines, err := c.readHead()
		var fr framing
		st := c.spare
		c.spare = nil
		if st == nil {
			st = new(reqState)
		}
		if err == nil {
			fr, err = c.parseHead(lines, &st.req, &st.url, st.hdr, st.fields[:])
			st.hdr = st.req.Header
		}
		if err != nil {
			var he *headError
			if errors.As(err, &he) {
				c.reject(he.status, he.reason)
			}
			return false
		}
		if !c.serveRequest(ctx, st, fr) {
			return false
		}
		if c.released {
			st.reset()
			c.spare = st
		}
	}
}

// errParked ends a connection's goroutine: the connection waits for its next
// request in the server's parker, without one.
var errParked = errors.New("parked")

// acquireBuffers takes the connection's read and write buffers from the
// pools. coolMu guards the pointers against the watcher's look (cold).
func (c *conn) acquireBuffers() {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(&c.cr)
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(deadlineWriter{c})
	c.coolMu.Lock()
	c.br, c.bw = br, bw
	c.coolMu.Unlock()
}

// coolAfter is how long a keep-alive connection waits for its next request
// with its buffers and goroutine before it gives them back: a busy connection
// keeps them, and thousands of idle ones cost little more than their sockets
// (see parker).
const coolAfter = time.Second

// waitRequest waits for the first byte of the next request. The server's
// watcher interrupts the wait of a connection idle for coolAfter (cool); the
// connection then gives its buffers back and is parked (errParked), or, where
// the parker cannot take it (not Linux, TLS), waits with a one-byte read,
// which the connection reader returns first once the buffers are taken again.
func (c *conn) waitRequest() error {
	for {
		if c.br == nil {
			n, err := c.rwc.Read(c.bgByte[:])
			if n == 1 {
				c.cr.pending = true
				c.acquireBuffers()
				c.coolMu.Lock()
				c.state.Store(stateActive)
				c.coolMu.Unlock()
				return nil
			}
			return err
		}
		_, err := c.br.Peek(1)
		c.coolMu.Lock()
		cooling := c.state.Load() == stateCooling
		c.state.Store(stateActive)
		if cooling {
			// The watcher set the deadline to the past: put the idle one
			// back, whatever woke this read.
			idle := time.Duration(c.idleSince.Load()) - time.Since(epoch)
			c.setReadDeadline(time.Now().Add(idle + c.srv.idleTimeout()))
		}
		c.coolMu.Unlock()
		if err == nil {
			return nil
		}
		if !cooling || !isTimeout(err) || c.br.Buffered() > 0 {
			return err
		}
		c.releaseBuffers(false)
		c.head, c.lines = nil, nil
		c.coolMu.Lock()
		c.state.Store(stateParked)
		c.coolMu.Unlock()
		if c.srv.parker.park(c) {
			return errParked // c belongs to the parker now
		}
		c.coolMu.Lock()
		c.state.Store(stateIdle)
		c.coolMu.Unlock()
	}
}

// cool interrupts the wait of an idle connection so that it gives its buffers
// back (see waitRequest); the server's watcher calls it.
func (c *conn) cool() {
	c.coolMu.Lock()
	defer c.coolMu.Unlock()
	if c.state.Load() != stateIdle || c.br == nil {
		return
	}
	c.state.Store(stateCooling)
	c.rwc.SetReadDeadline(aLongTimeAgo)
}

// idleDeadline gives the connection the idle timeout to wait for its next
// request. The deadline is moved at most once a second while nothing else
// replaced it: the timeout is then up to a second shorter, and a busy
// connection does not pay a timer update for every request.
func (c *conn) idleDeadline() {
	now := c.srv.now()
	if c.idleSetAt == 0 || now-c.idleSetAt > time.Second {
		c.setReadDeadline(time.Now().Add(c.srv.idleTimeout()))
		c.idleSetAt = now
	}
}

// setReadDeadline sets the connection's read deadline; the idle deadline is
// set afresh before the next request.
func (c *conn) setReadDeadline(t time.Time) {
	c.idleSetAt = 0
	c.rwc.SetReadDeadline(t)
}

// headBuffered reports whether the whole request head has already arrived,
// so that reading it cannot block and needs no header timeout of its own.
func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, crlfcrlf) || bytes.Contains(b, lflf)
}

var crlfcrlf, lflf = []byte("\r\n\r\n"), []byte("\n\n")

// isTLSHandshake reports whether the connection opens with a TLS handshake
// record (a ClientHello), which no HTTP/1.1 request line starts with: closed
// at once, rather than waiting for a request line that never ends.
func (c *conn) isTLSHandshake() bool {
	b, err := c.br.Peek(1)
	return err == nil && b[0] == 0x16
}

// isHTTP2Preface reports whether the connection opens with the HTTP/2 preface.
// It waits for more bytes only while what arrived could still be one.
func (c *conn) isHTTP2Preface() bool {
	for n := 1; n <= len(http2Preface); n++ {
		b, err := c.br.Peek(n)
		if err != nil || b[n-1] != http2Preface[n-1] {
			return false
		}
	}
	return true
}

// buffered returns a copy of what was read from the connection and not
// consumed, the preface included, for the HTTP/2 server to read again.
func (c *conn) buffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return append([]byte(nil), b...)
}

// handOff gives the connection to the HTTP/2 server, which owns it from then
// on: this server stops tracking it and does not close it. pre is what was
// read from it already.
func (c *conn) handOff(pre []byte) {
	c.rwc.SetDeadline(time.Time{})
	c.handedOff = true
	c.srv.serveHTTP2(c.srv.newH2Wire(c.rwc, pre, c.tlsState))
}

// prefixConn returns pre before reading from the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// serveRequest runs the handler for the request parsed into st, and reports
// whether the connection can carry another.
func (c *conn) serveRequest(parent context.Context, st *reqState, fr framing) bool {
	s := c.srv
	var ctx context.Context
	if parent.Done() == nil {
		rc := &reqContext{parent: parent}
		ctx, c.reqCtx, c.cancel = rc, rc, nil
	} else {
		ctx, c.cancel = context.WithCancel(parent)
		c.reqCtx = nil
	}
	defer c.cancelRequest()
	st.req = *st.req.WithContext(ctx) // inlined: the copy stays on the stack
	req := &st.req
	c.released = false
	c.body, c.expect100, c.sent100, c.respStarted = nil, false, false, false
	c.broken.Store(false)
	hasBody := fr.chunked || fr.length > 0
	if hasBody {
		c.bodyStart = time.Now()
		c.body = &body{c: c, remain: max(fr.length, 0), chunked: fr.chunked}
		c.expect100 = fr.expect
		req.Body = c.body
	} else {
		req.Body = http.NoBody
	}
	c.armWatch(!hasBody)
	// The response and its header map are the connection's, used again by
	// its next request: a handler must not use them after it returns, as
	// net/http documents.
	hdr := c.respHdr
	if hdr == nil {
		hdr = make(http.Header, 8)
	}
	w := &c.resp
	*w = response{c: c, req: req, hdr: hdr, cl: -1, closeAfter: fr.close || s.closing.Load()}
	c.handle(w, req)
	c.cancelRequest()
	if w.hijacked {
		// The handler had the connection and closed it; the server forgets
		// it without touching it.
		c.disarmWatch()
		c.handedOff = true
		w.req = nil
		return false
	}

	c.disarmWatch()
	complete, drainable := c.endBody()
	c.stopBackgroundRead()
	if !complete && !drainable || c.broken.Load() || c.gone.Load() {
		w.closeAfter = true
	}
	// The response goes out before the rest of the body is read, as net/http
	// does: the client may wait for it before sending more, or never send it.
	w.finish()
	if !complete && !w.closeAfter && w.werr == nil && !c.drainBody() {
		w.closeAfter = true
	}
	c.respHdr = httpfield.Emptied(w.hdr) // kept for the connection's next response
	w.req = nil
	return !w.closeAfter && w.werr == nil
}

// cancelRequest cancels the running request's context.
func (c *conn) cancelRequest() {
	if c.reqCtx != nil {
		c.reqCtx.cancel()
	} else if c.cancel != nil {
		c.cancel()
	}
}

// handle calls the handler, answering 500 if it panics before responding, and
// cutting the response short if it panics with http.ErrAbortHandler.
func (c *conn) handle(w *response, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				// What was written goes out, but not the message's end: the
				// close then tells the client the response was cut short.
				if w.wroteHeader {
					w.FlushError()
				}
				panic(v)
			}
			c.srv.logger().Error("panic serving a request", "method", req.Method, "remote", c.remoteAddr, "panic", v, "stack", string(debug.Stack()))
			w.closeAfter = true
			c.released = false // what the handler started may still hold the request
			if !w.wroteHeader && !w.hijacked {
				w.hdr = http.Header{}
				w.WriteHeader(http.StatusInternalServerError)
			}
		}
	}()
	c.srv.Handler.ServeHTTP(w, req)
}

// endBody closes the request body after the handler returned, ending a read
// that something the handler started (a request to a backend) is still
// blocked in. It reports whether the body was read to its end and, if not,
// whether the rest may be read after the response (drainBody) to keep the
// connection: not when a read failed or was cut short, when the client still
// waits for a 100 Continue, or when more than maxDrain is known to be left.
func (c *conn) endBody() (complete, drainable bool) {
	b := c.body
	if b == nil {
		return true, false
	}
	b.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	return c.bodyLeft(b)
}

// bodyLeft is endBody's answer for what is known of b now; b.mu is held.
func (c *conn) bodyLeft(b *body) (complete, drainable bool) {
	if b.cut || b.err != nil {
		return false, false
	}
	if b.eof {
		return true, false
	}
	return false, !(c.expect100 && !c.sent100) && (b.chunked || b.remain <= maxDrain)
}

// bodyForcesClose reports whether what is known of the request body when the
// response starts already means the connection closes after it (bodyLeft): a
// failed or cut read, a client still waiting for 100 Continue, or more left
// than maxDrain. The response then says so, as net/http's does. A body being
// read right now is not looked at; the answer may then close without saying
// so.
func (c *conn) bodyForcesClose() bool {
	b := c.body
	if b == nil || !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	complete, drainable := c.bodyLeft(b)
	return !complete && !drainable
}

// drainBody reads and discards what the handler left of the request body, up
// to maxDrain, and reports whether it reached the body's end.
func (c *conn) drainBody() bool {
	b := c.body
	b.mu.Lock()
	defer b.mu.Unlock()
	var buf [4096]byte
	for total := 0; total < maxDrain; {
		n, err := b.read1(buf[:])
		total += n
		if err == io.EOF {
			b.eof = true
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// continue100 sends "100 Continue" before the first read of a body whose
// client asked for it, unless the response already started.
func (c *conn) continue100() {
	if !c.expect100 || c.sent100 {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.respStarted {
		return
	}
	c.sent100 = true
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	c.bw.Flush()
}

// bodyFailed records that the request body's framing was lost.
func (c *conn) bodyFailed() { c.broken.Store(true) }

// watchDelay is how long a request runs before the server starts watching
// its connection for the client going away. Most requests are done sooner, and
// the watch (a goroutine blocked in a read) would cost them more than all the
// rest of the connection handling; a request that waits on a slow backend is
// canceled within about this delay of its client leaving.
const watchDelay = 50 * time.Millisecond

// epoch is the origin of conn.reqStart, read on the monotonic clock.
var epoch = time.Now()

// armWatch notes that a request began: the server's watcher (Server.watch)
// starts watching the connection if the request is still running after
// watchDelay. bodyComplete says the request has no body to read first.
func (c *conn) armWatch(bodyComplete bool) {
	c.bgMu.Lock()
	c.bodyComplete, c.watchDue, c.handlerDone = bodyComplete, false, false
	c.bgMu.Unlock()
	c.reqStart.Store(int64(c.srv.now()))
}

// watchFired is called by the server's watcher for a request that has run
// for watchDelay: watch the connection once its body has been read.
func (c *conn) watchFired() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.handlerDone || c.watchDue {
		return
	}
	c.watchDue = true
	if c.bodyComplete {
		c.startBackgroundRead()
	}
}

// disarmWatch notes that the handler returned; a watch that started is
// stopped by stopBackgroundRead.
func (c *conn) disarmWatch() {
	c.reqStart.Store(0)
	c.bgMu.Lock()
	c.handlerDone = true
	c.bgMu.Unlock()
}

// bodyDone is called when the request body reached its end: from then on, a
// read on the connection tells whether the client went away.
func (c *conn) bodyDone() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	c.bodyComplete = true
	if c.watchDue && !c.handlerDone {
		c.startBackgroundRead()
	}
}

// startBackgroundRead watches the idle connection while the handler runs, so
// that a client that goes away cancels the request's context (and with it the
// backend call), as net/http does. It runs with bgMu held, once the request's
// body is complete: nothing else reads the connection then.
func (c *conn) startBackgroundRead() {
	if c.bgRunning || c.br.Buffered() > 0 || c.cr.pending {
		return // a pipelined request is waiting: the client is there
	}
	c.bgRunning = true
	c.setReadDeadline(time.Time{})
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		n, err := c.rwc.Read(c.bgByte[:])
		if n == 1 {
			c.cr.pending = true
			return
		}
		if err != nil && !c.bgAbort.Load() {
			c.gone.Store(true)
			c.cancelRequest()
		}
	}()
}

func (c *conn) stopBackgroundRead() {
	c.bgMu.Lock()
	running := c.bgRunning
	c.bgMu.Unlock()
	if !running {
		return
	}
	c.bgAbort.Store(true)
	c.setReadDeadline(aLongTimeAgo)
	c.bgWG.Wait()
	c.bgAbort.Store(false)
	c.bgRunning = false
}

// reject answers a request the server refuses itself and ends the connection.
func (c *conn) reject(status int, reason string) {
	ctype, body := c.srv.errorBody(status, reason)
	c.writeDue = c.srv.now() + 5*time.Second
	c.rwc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	b := c.bw
	b.WriteString("HTTP/1.1 ")
	b.WriteString(statusLine(status))
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(ctype)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nConnection: close\r\nDate: ")
	b.WriteString(c.srv.date())
	b.WriteString("\r\n\r\n")
	b.Write(body)
	b.Flush()
	c.srv.logger().Debug("refused a request", "remote", c.remoteAddr, "status", status, "reason", reason)
}

// errorBody renders the body of a response the server sends itself.
func (s *Server) errorBody(status int, reason string) (contentType string, body []byte) {
	if s.ErrorBody != nil {
		return s.ErrorBody(status, reason)
	}
	return "text/plain; charset=utf-8", []byte(http.StatusText(status) + ": " + reason + "\n")
}

// refusePlainHTTP answers a client that sent plain HTTP to a TLS listener
// with a 400 on the raw connection, as net/http does, so that it learns why
// instead of seeing the connection drop. It reports whether it did.
func (c *conn) refusePlainHTTP(err error) bool {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil || !looksLikeHTTP(re.RecordHeader) {
		return false
	}
	const status, reason = http.StatusBadRequest, "this listener serves HTTPS; the client sent plain HTTP"
	ctype, body := "text/plain; charset=utf-8", []byte(http.StatusText(status)+": "+reason+"\n")
	if f := c.srv.ErrorBody; f != nil {
		ctype, body = f(status, reason)
	}
	c.rwc = re.Conn // close lingers on the TCP connection so that the answer arrives
	re.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(re.Conn, "HTTP/1.1 "+statusLine(status)+"\r\nContent-Type: "+ctype+"\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+string(body))
	c.srv.logger().Debug("refused a request", "remote", c.remoteAddr, "status", status, "reason", reason)
	return true
}

// looksLikeHTTP reports whether what a TLS listener read as a record header
// is the start of an HTTP request: a method, whose first three characters
// are upper-case letters. A TLS record starts with a content type byte from
// 20 to 24.
func looksLikeHTTP(hdr [5]byte) bool {
	for _, b := range hdr[:3] {
		if b < 'A' || b > 'Z' {
			return false
		}
	}
	return true
}

func (c *conn) close() {
	c.state.Store(stateIdle)
	c.srv.trackConn(c, false)
	if c.handedOff {
		c.releaseBuffers(true)
		return
	}
	// Let the client read the response before the close: closing with unread
	// input would reset the connection and could destroy it (RFC 9112 §9.6).
	if tc, ok := c.rwc.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, tc, 64<<10)
	}
	c.rwc.Close()
	c.releaseBuffers(true)
}

// releaseBuffers gives the connection's buffers back: to the pools for the
// next connections, or, when pool is false (an idle connection going to
// sleep), to the garbage collector, so that many idle connections free their
// memory instead of filling the pools with it.
func (c *conn) releaseBuffers(pool bool) {
	c.coolMu.Lock()
	br, bw := c.br, c.bw
	c.br, c.bw = nil, nil
	c.coolMu.Unlock()
	c.respHdr, c.spare = nil, nil
	if br != nil && pool {
		br.Reset(nil)
		readerPool.Put(br)
	}
	if bw != nil && pool {
		bw.Reset(nil)
		writerPool.Put(bw)
	}
}

// cold reports whether the connection has given its buffers back. Only the
// watcher asks, holding the server's lock; a stale answer costs one more cool.
func (c *conn) cold() bool {
	c.coolMu.Lock()
	defer c.coolMu.Unlock()
	return c.br == nil
}
