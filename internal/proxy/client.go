package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// Client is an http.RoundTripper for HTTP/1.1 backends (http and https) that
// does a request's work on the caller's goroutine: it writes the request and
// reads the response head itself, where http.Transport hands each request to
// two goroutines per connection and back. That handoff, not the bytes, is most
// of what forwarding costs. Keep-alive connections are pooled per backend,
// most recently used first.
//
// A request body of unknown length, or longer than syncBodyLimit, is written
// from a goroutine while the response is read, so a backend that answers
// before reading it all (an early 413, say) is not deadlocked.
type Client struct {
	// Dialer opens connections; a net.Dialer with a 30 s timeout when nil.
	Dialer *net.Dialer
	// TLSConfig is used for https backends; ALPN offers only http/1.1.
	TLSConfig *tls.Config
	// MaxIdlePerHost bounds the idle connections kept for one backend; 256
	// when zero.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer; 90 s when zero.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds a response's header; 1 MiB when zero.
	MaxResponseHeaderBytes int
	// Proxy, when set, is an HTTP proxy (http://host:port, with a user and
	// password for Basic authentication) that every request goes through: a
	// CONNECT tunnel for https backends, absolute-form requests for http ones.
	// Its credentials go only to the proxy.
	Proxy *url.URL

	mu   sync.Mutex
	idle map[poolKey][]*bconn
}

// poolKey names a backend's connection pool: its scheme, host and port (the
// scheme's default when the URL has none). Its fields are parts of the URL or
// constants, so finding a pool allocates nothing.
type poolKey struct {
	scheme, host, port string
}

// addr is the address to dial.
func (k poolKey) addr() string { return net.JoinHostPort(k.host, k.port) }

func newPoolKey(scheme, host string) poolKey {
	if h, p, err := net.SplitHostPort(host); err == nil {
		return poolKey{scheme, h, p}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if scheme == "https" {
		return poolKey{scheme, host, "443"}
	}
	return poolKey{scheme, host, "80"}
}

var _ http.RoundTripper = (*Client)(nil)

// syncBodyLimit is the largest request body of known length written before
// the response is read, on the caller's goroutine.
const syncBodyLimit = 64 << 10

// maxDrainResponse is how much of an unread response body is read to keep its
// connection.
const maxDrainResponse = 64 << 10

var errClientClosedBody = errors.New("proxy: read on a closed response body")

// bconn is a pooled backend connection.
type bconn struct {
	net.Conn
	// proxied is set on a connection to an HTTP proxy that carries plain
	// requests: they are written in absolute form, with proxyAuth.
	proxied   bool
	proxyAuth string
	cr        capReader // under br: bounds what a response head may take
	key       poolKey
	br        *bufio.Reader
	bw        *bufio.Writer
	head      []byte // the response head being read, reused
	starts    []int
	// staleDeadline says the read deadline may be a past exchange's: clear it
	// before a read that may block (freshDeadline).
	staleDeadline bool
	idleSince     time.Time
	reused        bool
	// stop removes the current exchange's cancellation hook (see hook); nil
	// when none is set.
	stop func() bool
	// raw is the connection's socket (under TLS, if any), which await waits
	// on; nil when the dialer's connection has none.
	raw syscall.RawConn
	// await is bc.wait, made once; sending and sendErr are its state.
	await   func(uintptr) bool
	sending bool
	sendErr error
}

// sendWaiting sends the buffered request from inside a wait for the first
// bytes of its answer (see wait), and returns the wait's failure (its
// deadline passed) and the send's.
func (bc *bconn) sendWaiting() (waitErr, sendErr error) {
	bc.sending, bc.sendErr = true, nil
	waitErr = bc.raw.Read(bc.await)
	if bc.sending {
		// The read ended before its first call (its deadline had passed):
		// send now, and let the next read time out.
		bc.sending, waitErr = false, nil
		bc.sendErr = bc.bw.Flush()
	}
	return waitErr, bc.sendErr
}

// wait is the callback of a raw read that sends a request and then waits for
// the first bytes of its answer without reading. Go's poller forgets a
// readiness it saw before a read began, so a plain read must first try the
// socket, which at anything below full load fails (EAGAIN) and costs a system
// call per request. Sent from inside the read, every byte of the answer
// arrives after the read began and wakes it: the first call sends, lets the
// other requests run while the backend answers (as exchange does for a
// request sent outside), and asks to wait; the second, made once the socket
// is readable, ends the wait and the buffered reader reads what arrived. A
// deadline or a cancellation (hook) ends the wait with a timeout, as it ends
// a read.
func (bc *bconn) wait(uintptr) bool {
	if !bc.sending {
		return true
	}
	bc.sending = false
	bc.sendErr = bc.bw.Flush()
	runtime.Gosched()
	return bc.sendErr != nil
}

// RoundTrip sends req and returns the response, whose body streams from the
// connection; the connection goes back to the pool when the body is read to
// its end (or closed after a short drain).
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.roundTrip(req.Context(), req, 0, nil, nil)
	if err != nil {
		return nil, err
	}
	resp.Request = req
	return resp, nil
}

// roundTrip is RoundTrip with the request's context given apart (so that a
// request needs no copy to carry one), a bound on the wait for the response
// header (0: none), enforced with the connection's deadline rather than a
// timer, and forwarding's changes to req.Header, made as it is written (nil:
// none). Nothing it returns or starts keeps req (the response's Request is
// left nil), so that a caller may keep req on its stack. The response is
// written into into when it is not nil, so that a caller may keep that on its
// stack too; only the body's state is allocated.
func (c *Client) roundTrip(ctx context.Context, req *http.Request, headerTimeout time.Duration, fw *forwarded, into *http.Response) (*http.Response, error) {
	if req.URL == nil || req.URL.Host == "" || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		closeBody(req)
		return nil, fmt.Errorf("proxy: unsupported URL %q", req.URL.Redacted())
	}
	if !httpfield.ValidName(req.Method) { // it starts the request line
		closeBody(req)
		return nil, fmt.Errorf("proxy: invalid method %q", req.Method)
	}
	key := newPoolKey(req.URL.Scheme, req.URL.Host)
	for attempt := 0; ; attempt++ {
		bc, err := c.conn(ctx, key, attempt > 0)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := c.exchange(ctx, req, fw, bc, headerTimeout, into)
		if err == nil {
			return resp, nil
		}
		var re *retryable
		if attempt == 0 && errors.As(err, &re) && replayable(req) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		if errors.As(err, &re) {
			err = re.err
		}
		closeBody(req)
		return nil, err
	}
}

// retryable marks a failure on a reused connection before any of the response
// arrived: the backend most likely closed it while it was idle.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// replayable reports whether req may be sent again on a new connection: its
// body can be read again, and the method is idempotent (or the request says
// it may be repeated), as net/http decides.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok1 := req.Header["Idempotency-Key"]
	_, ok2 := req.Header["X-Idempotency-Key"]
	return ok1 || ok2
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// conn returns an idle connection to key, or a new one.
func (c *Client) conn(ctx context.Context, key poolKey, fresh bool) (*bconn, error) {
	for !fresh {
		bc, idle := c.getIdle(key)
		if bc == nil {
			break
		}
		// A connection idle for a while may have been closed, or been sent
		// what the backend says before it closes one (some send a 408),
		// which the next read would take for this request's answer.
		if idle < checkIdleAfter || !bc.stale() {
			return bc, nil
		}
		bc.Close()
	}
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	}
	addr, auth := key.addr(), ""
	if c.Proxy != nil {
		addr, auth = proxyAddr(c.Proxy), proxyAuthorization(c.Proxy)
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if c.Proxy != nil && key.scheme == "https" {
		if err := connect(ctx, nc, key.addr(), auth); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if key.scheme == "https" {
		cfg := c.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = key.host
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	bc := &bconn{Conn: nc, key: key, bw: bufio.NewWriterSize(nc, 4096)}
	if c.Proxy != nil && key.scheme == "http" {
		bc.proxied, bc.proxyAuth = true, auth
	}
	bc.cr = capReader{r: nc, n: unlimited}
	bc.br = bufio.NewReaderSize(&bc.cr, 4096)
	under := nc
	if tc, ok := nc.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if sc, ok := under.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			bc.raw, bc.await = rc, bc.wait
		}
	}
	return bc, nil
}

// checkIdleAfter is how long a connection must have been idle before conn
// asks the kernel whether the backend sent anything on it since: the check is
// a system call, and a connection reused sooner was seldom closed meanwhile.
const checkIdleAfter = time.Second

// getIdle takes the most recently used idle connection to key, and says how
// long it was idle.
func (c *Client) getIdle(key poolKey) (*bconn, time.Duration) {
	timeout := c.IdleTimeout
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[key]
	if list == nil {
		return nil, 0
	}
	for len(list) > 0 {
		bc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		idle := time.Since(bc.idleSince)
		if idle > timeout {
			bc.Close()
			continue
		}
		c.idle[key] = list
		bc.reused = true
		return bc, idle
	}
	c.idle[key] = list
	return nil, 0
}

func (c *Client) putIdle(bc *bconn) {
	max := c.MaxIdlePerHost
	if max <= 0 {
		max = 256
	}
	if bc.br.Buffered() > 0 {
		// The backend sent more than the message it framed (a body on a 204
		// or a HEAD answer, a Content-Length too small): the next read would
		// take the rest for another request's answer.
		bc.Close()
		return
	}
	bc.idleSince = time.Now()
	c.mu.Lock()
	if c.idle == nil {
		c.idle = map[poolKey][]*bconn{}
	}
	if list := c.idle[bc.key]; len(list) < max {
		c.idle[bc.key] = append(list, bc)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	bc.Close()
}

// CloseIdleConnections closes the pooled connections.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, list := range c.idle {
		for _, bc := range list {
			bc.Close()
		}
		delete(c.idle, k)
	}
}

// bodyWriter is a request body being written by its own goroutine while the
// answer is read.
type bodyWriter struct {
	body io.ReadCloser
	done chan error // the write's outcome, once it ended
}

// stop ends a writer that has not finished and waits for it: closing the
// connection fails its next write, and closing the body ends a read of it the
// writer is blocked in (a client that stopped sending), as http.Transport
// does. The writer is joined because the body is the caller's again once the
// exchange ends.
func (w *bodyWriter) stop(bc *bconn) {
	bc.Close()
	w.body.Close()
	<-w.done
}

// exchange writes req on bc and reads the response head.
func (c *Client) exchange(ctx context.Context, req *http.Request, fw *forwarded, bc *bconn, headerTimeout time.Duration, into *http.Response) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		c.putIdle(bc)
		return nil, err
	}
	// A canceled request unblocks the connection's reads and writes. The hook
	// costs more than the rest of a fast exchange, so it is set only when the
	// backend is slow to answer, or its answer streams (see below).

	length := req.ContentLength
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !hasBody {
		length = 0
	}
	chunked := hasBody && length < 0
	writeHead(bc, req, fw, length, chunked)
	var writer *bodyWriter
	if hasBody && !chunked && length <= syncBodyLimit {
		if err := copyBody(bc.bw, req.Body, length, false); err != nil {
			return bc.fail(ctx, err, false)
		}
		req.Body.Close()
		hasBody = false
	}
	// A request that is whole in the buffer is sent inside the wait for its
	// answer (await); any other is sent now.
	waitRaw := !hasBody && bc.raw != nil
	if !waitRaw {
		if err := bc.bw.Flush(); err != nil {
			return bc.fail(ctx, err, true)
		}
		// Let the other requests run while the backend answers: the read
		// below then more often finds the answer instead of failing (EAGAIN)
		// and parking (see http1's connection loop).
		runtime.Gosched()
	}

	if hasBody {
		bc.hook(ctx)
		writer = &bodyWriter{body: req.Body, done: make(chan error, 1)} // the goroutine must not keep req
		go func() {
			err := copyBody(bc.bw, writer.body, length, chunked)
			if err == nil {
				err = bc.bw.Flush()
			}
			writer.body.Close()
			if err != nil {
				// The message cannot be completed: drop the connection, so
				// that the backend sees it cut short and a read waiting
				// for its answer ends now.
				bc.Close()
			}
			writer.done <- err
		}()
	}

	var deadline time.Time
	if headerTimeout > 0 {
		deadline = time.Now().Add(headerTimeout)
	}
	before := bc.cr.total
	// Wait briefly for the answer's first byte; a backend slower than that
	// gets the cancellation hook and the full header timeout. A head that has
	// then arrived whole is read without touching the deadline again, and the
	// short deadline left behind is cleared before any later read that may
	// block (staleDeadline): one timer update for most exchanges, not three.
	first := time.Now().Add(slowAnswer)
	if !deadline.IsZero() && deadline.Before(first) {
		first = deadline
	}
	bc.SetReadDeadline(first)
	bc.staleDeadline = true
	var err error
	if waitRaw {
		var sendErr error
		if err, sendErr = bc.sendWaiting(); sendErr != nil {
			return bc.fail(ctx, sendErr, true)
		}
	}
	if err == nil {
		_, err = bc.br.Peek(1)
	}
	if err != nil && isTimeoutErr(err) && (deadline.IsZero() || time.Now().Before(deadline)) {
		bc.hook(ctx)
		if ctx.Err() != nil {
			return bc.fail(ctx, ctx.Err(), false)
		}
		bc.SetReadDeadline(deadline)
		bc.staleDeadline = !deadline.IsZero()
	} else if err == nil && !headComplete(bc.br) {
		bc.SetReadDeadline(deadline)
		bc.staleDeadline = !deadline.IsZero()
	}
	bc.cr.n = int64(c.maxHeader())
	resp, err := c.readResponse(ctx, bc, req.Method, deadline, into)
	bc.cr.n = unlimited
	if err != nil {
		if writer != nil {
			writer.stop(bc)
		}
		if isTimeoutErr(err) && ctx.Err() == nil {
			return bc.fail(ctx, errHeaderTimeout, false)
		}
		// Nothing of an answer came (EOF, or a reset for the request the
		// backend got after it closed the idle connection): safe to retry.
		return bc.fail(ctx, err, writer == nil && bc.cr.total == before)
	}
	rb := resp.Body.(*respBody)
	if rb.framing == framingChunked || rb.framing == framingClose {
		bc.hook(ctx) // a stream (server-sent events...) may wait long for its next bytes
	}
	rb.writer = writer
	if rb.framing == framingNone {
		rb.finish()
	}
	return resp, nil
}

// hook arranges for a cancellation of ctx to interrupt the connection's reads
// and writes, once per exchange; unhook removes it.
func (bc *bconn) hook(ctx context.Context) {
	if bc.stop == nil && ctx.Done() != nil {
		bc.stop = context.AfterFunc(ctx, bc.interrupt)
	}
}

func (bc *bconn) interrupt() { bc.SetDeadline(aLongTimeAgo) }

// unhook removes the exchange's cancellation hook. It reports false when the
// hook already ran: the connection's deadline is poisoned.
func (bc *bconn) unhook() bool {
	stop := bc.stop
	bc.stop = nil
	return stop == nil || stop()
}

// fail ends an exchange that failed with err: the connection is closed, and
// the failure is the context's if it ended, or retryable when retry says no
// part of an answer came on a reused connection.
func (bc *bconn) fail(ctx context.Context, err error, retry bool) (*http.Response, error) {
	bc.unhook()
	bc.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if retry && bc.reused {
		return nil, &retryable{err}
	}
	return nil, err
}

// slowAnswer is how long the Client waits for a response's first byte before
// it arranges for a cancellation of the request to interrupt the wait.
const slowAnswer = 20 * time.Millisecond

// errHeaderTimeout is the failure of a response header that did not arrive in
// time.
var errHeaderTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "proxy: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var aLongTimeAgo = time.Unix(1, 0)

// writeHead writes the request line and header, with forwarding's changes
// when fw is not nil. Names that are not tokens are dropped and CR or LF in
// values become spaces, so nothing a policy sets can split the request.
func writeHead(bc *bconn, req *http.Request, fw *forwarded, length int64, chunked bool) {
	w := bc.bw
	w.WriteString(req.Method)
	w.WriteByte(' ')
	if bc.proxied { // absolute form, for the proxy
		w.WriteString(req.URL.Scheme)
		w.WriteString("://")
		w.WriteString(req.URL.Host)
	}
	writeRequestURI(w, req.URL)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(httpfield.Sanitize(host))
	w.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue
		case "User-Agent":
			if len(vs) == 1 && vs[0] == "" {
				continue // the caller sent none: add none
			}
		}
		if fw != nil && fw.replaces(k) {
			continue
		}
		for _, v := range vs {
			httpfield.WriteField(w, k, v)
		}
	}
	if fw != nil {
		fw.each(func(k, v string) { httpfield.WriteField(w, k, v) })
	}
	if bc.proxyAuth != "" {
		httpfield.WriteField(w, "Proxy-Authorization", bc.proxyAuth)
	}
	switch {
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case length > 0 || methodWantsLength(req.Method):
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), length, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// writeRequestURI writes u.RequestURI() without building it: with a query,
// that is a concatenation.
func writeRequestURI(w *bufio.Writer, u *url.URL) {
	if u.RawQuery == "" && !u.ForceQuery {
		w.WriteString(u.RequestURI())
		return
	}
	path := *u
	path.RawQuery, path.ForceQuery = "", false
	w.WriteString(path.RequestURI())
	w.WriteByte('?')
	writeQuery(w, u.RawQuery)
}

// writeQuery writes a raw query, escaping the bytes a request line cannot
// carry (spaces, control characters, non-ASCII): url.Parse keeps a query as
// written, so a URL a policy built from a string (a base-url expression) may
// hold them. The client's own query never does: the server refuses it.
func writeQuery(w *bufio.Writer, q string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(q); i++ {
		if b := q[i]; b <= ' ' || b >= 0x7f {
			w.WriteString(q[:i])
			w.WriteByte('%')
			w.WriteByte(hex[b>>4])
			w.WriteByte(hex[b&15])
			q, i = q[i+1:], -1
		}
	}
	w.WriteString(q)
}

// methodWantsLength reports whether a body-less request still says
// Content-Length: 0, as net/http does for methods that usually have a body.
func methodWantsLength(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// copyBody writes a request body: length bytes exactly, or chunked.
func copyBody(w *bufio.Writer, r io.Reader, length int64, chunked bool) error {
	if !chunked {
		n, err := io.Copy(w, io.LimitReader(r, length))
		if err != nil {
			return err
		}
		if n != length {
			return fmt.Errorf("proxy: request body ended after %d of %d bytes", n, length)
		}
		return nil
	}
	cw := httputil.NewChunkedWriter(w)
	if _, err := io.Copy(cw, r); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	_, err := w.WriteString("\r\n") // no trailers
	return err
}

// Response body framings.
const (
	framingNone = iota // no body (HEAD, 204, 304)
	framingLength
	framingChunked
	framingClose // until the backend closes the connection
)

// readResponse reads a response head (skipping 1xx interim responses) to a
// request made with method into into (a new response when nil), and sets up
// its body's framing. deadline is the header timeout's (zero: none), for a
// final head that comes after an interim one.
func (c *Client) readResponse(ctx context.Context, bc *bconn, method string, deadline time.Time, into *http.Response) (*http.Response, error) {
	for {
		head, err := c.readHead(bc)
		if err != nil {
			return nil, err
		}
		line := head[:bc.starts[1]]
		proto, rest, ok1 := strings.Cut(line, " ")
		code, _, _ := strings.Cut(rest, " ")
		status, err := strconv.Atoi(code)
		if !ok1 || len(code) != 3 || err != nil || status < 100 {
			return nil, fmt.Errorf("proxy: malformed status line from the backend")
		}
		major, minor, ok := http.ParseHTTPVersion(proto)
		if !ok || major != 1 {
			return nil, fmt.Errorf("proxy: the backend answered %q, not HTTP/1.x", proto)
		}
		hdr, err := httpfield.ParsePooled(head, bc.starts, 1)
		if err != nil {
			return nil, fmt.Errorf("proxy: malformed response header from the backend: %w", err)
		}
		if status < 200 {
			if status == http.StatusSwitchingProtocols {
				return nil, errors.New("proxy: the backend switched protocols, which is not supported")
			}
			// 100 Continue, 103 Early Hints. It came whole, but the final
			// answer may not have: wait for that under the header timeout,
			// not the short first-byte deadline exchange may have left.
			if !headComplete(bc.br) {
				bc.hook(ctx)
				bc.SetReadDeadline(deadline)
				bc.staleDeadline = !deadline.IsZero()
			}
			continue
		}
		resp, rb := into, &respBody{}
		if resp == nil {
			resp = new(http.Response)
		}
		*resp = http.Response{
			Status: line[len(proto)+1:], StatusCode: status, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
			Header: hdr, ContentLength: -1,
		}
		rb.bc, rb.client = bc, c
		rb.reusable = !(minor == 0 && !httpfield.HasToken(hdr["Connection"], "keep-alive")) && !httpfield.HasToken(hdr["Connection"], "close")
		te, hasTE := hdr["Transfer-Encoding"]
		switch {
		case method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
			rb.framing, resp.ContentLength = framingNone, 0
		case hasTE:
			if !strings.EqualFold(strings.TrimSpace(te[len(te)-1]), "chunked") {
				// A coding other than chunked last: the body ends with the
				// connection (RFC 9112 §6.3).
				rb.framing, rb.reusable = framingClose, false
			} else {
				rb.framing = framingChunked
				rb.r = httputil.NewChunkedReader(bc.br)
				resp.TransferEncoding = []string{"chunked"}
				if _, ok := hdr["Content-Length"]; ok {
					rb.reusable = false // both: the framing is suspect; do not reuse
				}
			}
			delete(hdr, "Content-Length")
			delete(hdr, "Transfer-Encoding")
		default:
			if cl, ok := hdr["Content-Length"]; ok {
				n, err := strconv.ParseInt(cl[0], 10, 64)
				for _, v := range cl[1:] {
					if v != cl[0] {
						err = errors.New("differing values")
					}
				}
				if err != nil || n < 0 {
					return nil, fmt.Errorf("proxy: the backend sent an invalid Content-Length")
				}
				rb.framing, resp.ContentLength = framingLength, n
				rb.remain = n
				if n == 0 {
					rb.framing = framingNone
				}
			} else {
				rb.framing, rb.reusable = framingClose, false
			}
		}
		if rb.framing == framingClose {
			rb.r = bc.br
		}
		resp.Close = !rb.reusable
		resp.Body = rb
		return resp, nil
	}
}

// headComplete reports whether a whole response head is buffered.
func headComplete(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, crlfcrlf) || bytes.Contains(b, lflf)
}

var crlfcrlf, lflf = []byte("\r\n\r\n"), []byte("\n\n")

// freshDeadline clears a deadline left from the head's wait before a body
// read that could block on the network: any read of a chunked or unframed
// body (its reader may fill the buffer again), a read of a sized body only
// when nothing is buffered.
func (bc *bconn) freshDeadline(sized bool) {
	if bc.staleDeadline && (!sized || bc.br.Buffered() == 0) {
		bc.SetReadDeadline(time.Time{})
		bc.staleDeadline = false
	}
}

// readHead reads a response head into bc.head, line starts in bc.starts, and
// returns it as one string (every header value is a substring of it). The
// connection's capReader bounds how much it can read.
func (c *Client) readHead(bc *bconn) (string, error) {
	bc.head, bc.starts = bc.head[:0], bc.starts[:0]
	for {
		start := len(bc.head)
		var err error
		if bc.head, err = httpfield.ReadLine(bc.br, bc.head, c.maxHeader()); err != nil {
			if errors.Is(err, httpfield.ErrLineTooLong) {
				err = errHeaderTooLarge
			}
			return "", err
		}
		bc.starts = append(bc.starts, start)
		if len(bc.head) == start && len(bc.starts) > 1 {
			return string(bc.head), nil
		}
		if len(bc.starts) == 1 && len(bc.head) == start {
			return "", errors.New("proxy: an empty status line from the backend")
		}
	}
}

func (c *Client) maxHeader() int {
	if c.MaxResponseHeaderBytes > 0 {
		return c.MaxResponseHeaderBytes
	}
	return 1 << 20
}

const unlimited = 1<<63 - 1

// errHeaderTooLarge ends a response head over the limit.
var errHeaderTooLarge = errors.New("proxy: the backend's response header is too large")

// capReader reads at most n more bytes, then fails: it bounds a response head
// without a limit in the header parser itself.
type capReader struct {
	r     io.Reader
	n     int64
	total int64 // bytes read on the connection, to tell whether a response began
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.total += int64(n)
	if c.n != unlimited {
		c.n -= int64(n)
	}
	return n, err
}

// respBody streams a response body from its connection and gives the
// connection back once the body ended.
type respBody struct {
	bc       *bconn
	client   *Client
	r        io.Reader // chunked or close-delimited
	framing  int
	remain   int64
	reusable bool
	done     bool
	closed   bool
	err      error
	writer   *bodyWriter // the request body's, if it was still being written
	mu       sync.Mutex
}

func (b *respBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClientClosedBody
	}
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	var n int
	var err error
	b.bc.freshDeadline(b.framing == framingLength)
	switch b.framing {
	case framingLength:
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.bc.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			err = io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	default:
		n, err = b.r.Read(p)
		if err == io.EOF && b.framing == framingChunked {
			err = b.trailer()
			if err == nil {
				err = io.EOF
			}
		}
	}
	switch {
	case err == io.EOF:
		b.finish()
	case err != nil:
		b.err = err
		b.reusable = false
		b.finish()
	}
	return n, err
}

// trailer reads the (ignored) trailer section after the last chunk, bounded
// like a head.
func (b *respBody) trailer() error {
	b.bc.freshDeadline(false)
	total := 0
	for {
		buf, err := httpfield.ReadLine(b.bc.br, b.bc.head[:0], b.client.maxHeader()-total)
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		total += len(buf) + 2
	}
}

// finish ends the exchange: the connection goes back to the pool if the
// message ended cleanly and the request body was written whole.
func (b *respBody) finish() {
	if b.done {
		return
	}
	b.done = true
	// A canceled request poisoned the connection's deadline: do not reuse it.
	reuse := b.bc.unhook() && b.reusable && b.err == nil
	if b.writer != nil {
		select {
		case err := <-b.writer.done:
			if err != nil {
				reuse = false
			}
		default:
			// The backend answered before it read the whole request body
			// (a 413 or 401 to a large upload). Waiting for the rest would
			// hold the answer back for as long as the client keeps sending,
			// or for ever if the backend stopped reading: close instead,
			// as http.Transport does.
			reuse = false
			b.writer.stop(b.bc)
		}
	}
	if reuse {
		b.client.putIdle(b.bc)
	} else {
		b.bc.Close()
	}
}

// Close ends the body. An unfinished small remainder is read so the
// connection can be reused; otherwise the connection is closed.
func (b *respBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.done {
		return nil
	}
	if b.framing == framingLength && b.remain <= maxDrainResponse && b.reusable && b.bc.br.Buffered() >= int(b.remain) {
		b.bc.br.Discard(int(b.remain))
		b.remain = 0
	} else {
		b.reusable = false
	}
	if b.writer != nil && !b.reusable {
		b.bc.Close() // unblocks a request body still being written
	}
	b.finish()
	return nil
}
