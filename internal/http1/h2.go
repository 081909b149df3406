package http1

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// serveHTTP2Request is the HTTP/2 server's handler. The request head gets the
// rules and limits of an HTTP/1.1 one (checkHTTP2Head), the request body the
// same minimum data rate (408 below it), through the stream's read deadline,
// since the streams share a connection whose deadline cannot be any one
// stream's, and the response the same minimum rate (h2Response).
func (s *Server) serveHTTP2Request(w http.ResponseWriter, r *http.Request) {
	if hc, ok := r.Context().Value(h2ConnKey{}).(*h2Conn); ok {
		r.TLS = hc.tls // net/http serves TLS as h2c (h2Wire)
		hc.streams.Add(1)
		defer s.streamEnded(hc, r, time.Now())
	}
	if status, reason := s.checkHTTP2Head(r); status != 0 {
		ctype, body := s.errorBody(status, reason)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write(body)
		s.logger().Debug("refused a request", "remote", r.RemoteAddr, "status", status, "reason", reason)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if _, on := s.bodyDeadline(time.Time{}, 0); on {
			r.Body = &h2Body{body: r.Body, rc: http.NewResponseController(w), srv: s, start: time.Now()}
		}
	}
	if _, on := s.writeAllow(0); !on {
		s.Handler.ServeHTTP(w, r)
		return
	}
	rw := &h2Response{ResponseWriter: w, srv: s}
	defer rw.end()
	s.Handler.ServeHTTP(rw, r)
}

// h2Conn is what the gateway keeps of an HTTP/2 connection: how many streams
// its client opened, and how many of them it reset before their answer ended.
type h2Conn struct {
	rwc     net.Conn
	tls     *tls.ConnectionState
	streams atomic.Int64
	resets  atomic.Int64
	closed  atomic.Bool
}

type h2ConnKey struct{}

// Premature resets: a connection whose client reset at least resetFloor
// streams before their answers within prematureReset of their start, and at
// least half of its streams, is closed, as Envoy closes one (a gRPC client
// that cancels long streaming calls does not count). Rapid reset
// (CVE-2023-44487) costs a client one HEADERS and one RST_STREAM frame per
// request, while each request it cancels may have reached the backend and
// costs a backend connection, which cannot be reused with an answer still
// coming. net/http's HTTP/2 server bounds the handlers that run at once, not
// how fast a client resets them.
const (
	resetFloor     = 100
	prematureReset = time.Second
)

// streamEnded counts a stream whose client went away soon after it started,
// before its answer ended: its context is done while the handler still runs
// (a HEAD answer ends the stream with its head, which also ends the context).
func (s *Server) streamEnded(hc *h2Conn, r *http.Request, start time.Time) {
	if r.Method == http.MethodHead || r.Context().Err() == nil || time.Since(start) > prematureReset {
		return
	}
	n := hc.resets.Add(1)
	if n >= resetFloor && 2*n >= hc.streams.Load() && hc.closed.CompareAndSwap(false, true) {
		s.logger().Warn("closed an HTTP/2 connection whose client reset most of its streams before their answers (rapid reset)",
			"remote", r.RemoteAddr, "resets", n, "streams", hc.streams.Load())
		hc.rwc.Close()
	}
}

// h2Response is an HTTP/2 response under the minimum response rate: a write
// or flush that the client's flow control holds for longer than the rate
// allows has the stream reset, as deadlineWriter's deadline cuts an HTTP/1.1
// connection, so a client that stops reading holds neither the stream nor the
// backend connection behind it. The stream's own write deadline cannot do it:
// it is a timer that resets the stream between writes too, which would cut an
// event stream that is quiet for a while. What net/http sends after the
// handler returned (the last buffered bytes) is not watched: flushing it
// first cost 9 µs a request, and by then the backend connection is free.
type h2Response struct {
	http.ResponseWriter
	srv *Server

	mu    sync.Mutex
	busy  bool      // a write or flush is in progress
	due   time.Time // when it must be done
	timer *time.Timer
	armed bool // the timer is pending
	ended bool // the handler returned: the stream is not ours to reset
}

func (w *h2Response) Write(p []byte) (int, error) {
	w.begin(len(p))
	n, err := w.ResponseWriter.Write(p)
	w.done()
	return n, err
}

func (w *h2Response) Flush() {
	w.begin(0)
	w.ResponseWriter.(http.Flusher).Flush()
	w.done()
}

// Unwrap lets http.ResponseController reach the stream's own controls.
func (w *h2Response) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *h2Response) begin(n int) {
	allow, _ := w.srv.writeAllow(n)
	w.mu.Lock()
	w.busy, w.due = true, time.Now().Add(allow)
	switch {
	case w.timer == nil:
		w.timer, w.armed = time.AfterFunc(allow, w.check), true
	case !w.armed:
		w.timer.Reset(allow)
		w.armed = true
	}
	// A pending timer fires at an earlier due, and moves itself on (check).
	w.mu.Unlock()
}

func (w *h2Response) done() {
	w.mu.Lock()
	w.busy = false
	w.mu.Unlock()
}

// check runs when the timer fires: it resets the stream if a write is still
// held past its due, and otherwise waits for that due, or for the next write.
func (w *h2Response) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.ended || !w.busy {
		return
	}
	if d := time.Until(w.due); d > 0 {
		w.timer.Reset(d)
		w.armed = true
		return
	}
	// A deadline in the past resets the stream at once, which ends the write.
	http.NewResponseController(w.ResponseWriter).SetWriteDeadline(aLongTimeAgo)
}

// end stops the watch when the handler returned.
func (w *h2Response) end() {
	w.mu.Lock()
	w.ended = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// checkHTTP2Head applies the HTTP/1.1 head's rules to an HTTP/2 request, as
// the same request sent as HTTP/1.1 would have them, since a backend gets it
// as HTTP/1.1: a :method that is a token, no CONNECT (405), '*' only with
// OPTIONS, a Host (the :authority) that is there and well-formed, a :path of
// printable ASCII without spaces that starts with / (400; the query is
// forwarded as sent), one length for the body (lengthProblem), the
// request line's length (414), and the fields with their Host, their bytes or
// how many there are (431). The HTTP/2 server decodes up to twice the byte
// limit (http2Server), so that a head just over it gets this answer rather
// than net/http's own.
func (s *Server) checkHTTP2Head(r *http.Request) (status int, reason string) {
	switch {
	case !httpfield.ValidName(r.Method):
		return http.StatusBadRequest, "malformed request line"
	case r.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "CONNECT is not supported"
	case r.RequestURI == "*" && r.Method != http.MethodOptions:
		return http.StatusBadRequest, "asterisk-form is only allowed with OPTIONS"
	case r.Host == "":
		return http.StatusBadRequest, "missing Host header"
	case !validHost(r.Host):
		return http.StatusBadRequest, "malformed Host header"
	case !validTarget(r.RequestURI):
		return http.StatusBadRequest, "invalid character in the request target"
	case r.RequestURI != "*" && !strings.HasPrefix(r.RequestURI, "/"):
		// RFC 9113 §8.3.1: origin-form or '*'; the host is :authority's.
		return http.StatusBadRequest, "the :path must start with /"
	case hostDiffers(r):
		// RFC 9113 §8.3.1: one request, one host; over HTTP/1.1 a second
		// Host is a 400 too.
		return http.StatusBadRequest, "the host field differs from :authority"
	}
	if problem := lengthProblem(r); problem != "" {
		return http.StatusBadRequest, problem
	}
	line := len(r.Method) + 1 + len(r.RequestURI) + len(" HTTP/1.1")
	if line > s.maxRequestLine() {
		return http.StatusRequestURITooLong, "request line too long"
	}
	size, count := line+2+len("Host: ")+len(r.Host)+2, 1
	for k, vs := range r.Header {
		for _, v := range vs {
			size += len(k) + 2 + len(v) + 2
			count++
		}
	}
	switch {
	case count > s.maxHeaderCount():
		return http.StatusRequestHeaderFieldsTooLarge, "too many request header fields"
	case size+2 > s.maxHeaderBytes():
		return http.StatusRequestHeaderFieldsTooLarge, "request header fields too large"
	}
	return 0, ""
}

// hostDiffers reports whether an HTTP/2 request has a host field besides
// :authority that names another host, or several.
func hostDiffers(r *http.Request) bool {
	v := r.Header["Host"]
	return len(v) > 1 || len(v) == 1 && !strings.EqualFold(v[0], r.Host)
}

// lengthProblem says what is wrong with an HTTP/2 request's content-length
// fields, if anything: one that is not digits, several that disagree (equal
// duplicates count as one, as over HTTP/1.1), or a length the stream does not
// carry (END_STREAM on the head has a length of 0). net/http's HTTP/2 server
// reads a length it cannot parse as 0 and starts the handler, which would
// forward the request without its body: RFC 9113 §8.1.1 calls such a request
// malformed, and an intermediary must not forward it.
func lengthProblem(r *http.Request) string {
	v := r.Header["Content-Length"]
	if len(v) == 0 {
		return ""
	}
	n, ok := parseLength(v[0]) // the HTTP/1.1 head's rule
	switch {
	case slices.ContainsFunc(v[1:], func(l string) bool { return l != v[0] }):
		return "conflicting Content-Length"
	case !ok:
		return "malformed Content-Length"
	case n != r.ContentLength:
		return "Content-Length does not match the request's body"
	}
	return ""
}

// deadlineSlack is how far behind the rule a stream's deadline may lag before
// it is moved: moving it is a message to the connection's goroutine, so not
// on every read of a fast body.
const deadlineSlack = 50 * time.Millisecond

// h2Body is an HTTP/2 request body under the minimum data rate.
type h2Body struct {
	mu       sync.Mutex
	body     io.ReadCloser
	rc       *http.ResponseController
	srv      *Server
	start    time.Time
	read     int64
	deadline time.Time
	exempt   atomic.Bool // ExemptFromMinRate was called
}

// ExemptFromMinRate takes the body out of the minimum data rate, for a
// handler whose requests are streams that may pause (gRPC's client and
// bidirectional streams), as ASP.NET Core's gRPC does with Kestrel's rate.
func (b *h2Body) ExemptFromMinRate() {
	b.exempt.Store(true)
	b.rc.SetReadDeadline(time.Time{}) // a read in progress may have set one
}

func (b *h2Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, _ := b.srv.bodyDeadline(b.start, b.read); !b.exempt.Load() && d.After(b.deadline.Add(deadlineSlack)) { // also when none is set yet
		b.deadline = d
		b.rc.SetReadDeadline(d)
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	if isTimeout(err) {
		err = errSlowBody
	}
	return n, err
}

func (b *h2Body) Close() error { return b.body.Close() }

// h2Wire is a connection handed to the HTTP/2 server. It follows the frames
// the server reads, to give a header block (HEADERS or PUSH_PROMISE and the
// CONTINUATION frames up to END_HEADERS, payloads included) the header
// timeout of an HTTP/1.1 head: net/http's HTTP/2 server has none, so a
// client that sent one CONTINUATION frame every few seconds held the
// connection, and the decoding of its block, for the idle timeout. A late
// block makes the server's read time out, and the server closes the
// connection, without a GOAWAY (its writes are not ours to interleave).
//
// The read deadline is the wire's own: net/http sets one only around the
// preface, before any frame, and its HTTP/2 server only with ReadTimeout,
// which http2Server leaves unset. It is set when a block is open and not
// moved for the blocks after it: when it fires, a block open too long closes
// the connection, and otherwise the deadline moves to the open block's, or
// goes. A busy connection pays for one deadline a header timeout, instead of
// two a request.
//
// net/http serves a TLS connection as h2c, so that its HTTP/2 server reads
// through the wire: it gives that server only a *tls.Conn, and takes a
// connection with a ConnectionState method for HTTPS/1.1. The request's TLS
// is the wire's (serveHTTP2Request); serve checked the TLS version, as the
// HTTP/2 server did. Its check of the TLS 1.2 cipher suite, which RFC 9113
// §9.2.2 allows but does not ask for, is left out.
type h2Wire struct {
	net.Conn
	srv *Server
	pre []byte               // read before the handoff: returned first
	tls *tls.ConnectionState // nil for h2c

	left  int           // bytes left of the preface, then of the current frame's payload
	hdr   [9]byte       // the frame header being read
	nhdr  int           // bytes of hdr read
	ends  bool          // the current frame ends a header block
	since time.Duration // when the open header block began (since epoch, coarse); 0 when none
	armed bool          // the read deadline is set
}

func (s *Server) newH2Wire(rwc net.Conn, pre []byte, tls *tls.ConnectionState) *h2Wire {
	return &h2Wire{Conn: rwc, srv: s, pre: pre, tls: tls, left: len(http2Preface)}
}

// HTTP/2 frame types and flags (RFC 9113 §6).
const (
	frameHeaders      = 0x1
	framePushPromise  = 0x5
	frameContinuation = 0x9
	flagEndHeaders    = 0x4
)

func (w *h2Wire) Read(p []byte) (int, error) {
	if len(w.pre) > 0 {
		n := copy(p, w.pre)
		w.pre = w.pre[n:]
		w.follow(p[:n])
		return n, nil
	}
	timeout := w.srv.readHeaderTimeout()
	for {
		if w.since != 0 && !w.armed {
			w.Conn.SetReadDeadline(epoch.Add(w.since + timeout))
			w.armed = true
		}
		n, err := w.Conn.Read(p)
		w.follow(p[:n])
		if !w.armed || !isTimeout(err) {
			return n, err
		}
		w.armed = false
		if w.since != 0 && time.Since(epoch)-w.since >= timeout {
			w.srv.logger().Debug("closed an HTTP/2 connection whose header block took longer than the header timeout", "remote", w.RemoteAddr())
			return n, err
		}
		// The deadline of a block since complete: the open one's is later.
		w.Conn.SetReadDeadline(time.Time{})
		if n > 0 {
			return n, nil
		}
	}
}

// follow reads the frame headers in b, the next bytes the server reads.
func (w *h2Wire) follow(b []byte) {
	for len(b) > 0 {
		if w.left > 0 {
			k := min(w.left, len(b))
			w.left -= k
			b = b[k:]
		} else {
			k := copy(w.hdr[w.nhdr:], b)
			w.nhdr += k
			b = b[k:]
			if w.nhdr < len(w.hdr) {
				return
			}
			w.nhdr = 0
			w.left = int(w.hdr[0])<<16 | int(w.hdr[1])<<8 | int(w.hdr[2])
			switch w.hdr[3] {
			case frameHeaders, framePushPromise:
				if w.since == 0 {
					w.since = w.srv.now()
				}
				w.ends = w.hdr[4]&flagEndHeaders != 0
			case frameContinuation:
				w.ends = w.hdr[4]&flagEndHeaders != 0
			}
		}
		if w.left == 0 && w.ends {
			w.since, w.ends = 0, false
		}
	}
}
