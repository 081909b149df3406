// Package proxy sends a request to its backend for forward-request.
//
// It is a layer over a transport (its own Client, or any http.RoundTripper)
// rather than httputil.ReverseProxy because API Management runs the outbound
// section after the backend answers and before anything reaches the client: the
// response is handed back as an Exchange value and the gateway writes it later.
// Hop-by-hop header handling and X-Forwarded-* follow net/http/httputil.
package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Forwarder implements forward-request.
type Forwarder struct {
	// Transport sends requests; NewTransport builds a suitable one. A request
	// with a client certificate (x.Backend.Certificate()) or an HTTP proxy
	// (x.Backend.Proxy()) goes through a clone of it that presents the
	// certificate and dials the proxy (a proxy needs a *Client).
	Transport http.RoundTripper
	// MaxRedirects bounds follow-redirects="true"; 10 when zero.
	MaxRedirects int

	routes clientTransports
	h2     h2Transport // gRPC calls' HTTP/2 transport (grpc.go)
}

// Options are forward-request's attributes, and the credentials that the
// request carries for its backend only.
type Options struct {
	Timeout               time.Duration // to wait for the response headers
	FollowRedirects       bool
	BufferRequestBody     bool
	FailOnErrorStatusCode bool
	// Credentials are what a backend entity's credentials added to the
	// request: a redirect followed to another origin carries none of them.
	Credentials Credentials
}

// Credentials name the header fields and query parameters that a backend
// entity's credentials (credentials.header and .query) added to a request.
// They are meant for that backend alone: on a redirect to another scheme,
// host or port the header fields are dropped, as Authorization, Cookie and
// Proxy-Authorization always are, and the query parameters are taken out of
// the Location's URL should the backend have copied them there.
type Credentials struct {
	Headers []string // any case
	Query   []string // decoded names
}

// Via returns the transport that presents cert and goes through the HTTP
// proxy u (either may be nil), for send-request's <authentication-certificate>
// and <proxy>: the same forward-request uses.
func (f *Forwarder) Via(cert *tls.Certificate, u *url.URL) (http.RoundTripper, error) {
	if cert == nil && u == nil {
		return f.Transport, nil
	}
	return f.routes.get(f.Transport, cert, u)
}

// Error is a failed forward: API Management's LastError reason, a message that
// names no secret, and the status the caller gets.
type Error struct {
	Reason  string
	Message string
	Status  int
	Err     error // the cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Reason + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// NewTransport returns the backend transport: a Client speaking HTTP/1.1 with
// keep-alive, no implicit proxy from the environment, no transparent
// decompression (bodies pass through as the backend sent them), and the system
// roots plus the PEM bundle in caFile, if given, for private backends.
func NewTransport(caFile string) (*Client, error) {
	c := &Client{TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("backend CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backend CA bundle %s: no PEM certificates found", caFile)
		}
		c.TLSConfig.RootCAs = pool
	}
	return c, nil
}

// Forward sends x.Request to x.Request.URL and sets x.Response with a streaming
// body. It returns an *Error.
func (f *Forwarder) Forward(ctx context.Context, x *exchange.Exchange, opts Options) error {
	u := x.Request.URL
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{Reason: "BackendUrlNotSet", Message: "the request has no backend URL: set serviceUrl on the API or use set-backend-service", Status: 500}
	}
	switch {
	case x.WebSocket:
		return f.upgrade(ctx, x, opts)
	case x.GRPC:
		return f.forwardGRPC(ctx, x, opts)
	}
	var out outRequest // on the stack: nothing keeps the request once the response head is read
	watch, err := f.outgoing(ctx, x, opts, &out)
	if err != nil {
		return err
	}

	tr := f.Transport
	if c, via := x.Backend.Certificate(), x.Backend.Proxy(); c != nil || via != nil {
		if tr, err = f.routes.get(f.Transport, c, via); err != nil {
			return &Error{Reason: "BackendConnectionFailure", Message: err.Error(), Status: 500, Err: err}
		}
	}

	// The timeout covers waiting for the response headers, as API Management's
	// does; the body may stream for longer.
	resp, timedOut, cancel, err := f.send(ctx, &out, tr, x.Backend.Proxy(), opts)
	if err != nil {
		return sendError(ctx, watch, err, timedOut, opts)
	}
	if resp.StatusCode == http.StatusProxyAuthRequired && x.Backend.Proxy() != nil {
		// The proxy's answer, not the backend's: the gateway's credentials
		// for it are wrong, which the client can do nothing about.
		resp.Body.Close()
		if cancel != nil {
			cancel()
		}
		watch.Close()
		return &Error{Reason: "BackendConnectionFailure", Message: "could not reach the backend: " + ErrProxyAuth.Error(), Status: 500, Err: ErrProxyAuth}
	}
	h := resp.Header
	exchange.RemoveHopHeaders(h) // the backend's hop; outbound policies may add their own
	rb := resp.Body
	if cancel != nil {
		// Another transport may still be writing the request body when its
		// answer ended: stop it then, as Client does, so that nothing reads
		// the body after the exchange.
		rb = &endFunc{ReadCloser: rb, fn: func() { cancel(); watch.Close() }}
	}
	x.Response = x.NewStreamResponse(resp.StatusCode, reasonPhrase(resp), h, rb, resp.ContentLength)
	if _, ok := resp.Body.(*respBody); ok {
		x.Response.MarkPooled() // Client's header maps are httpfield.ParsePooled's
	}
	if opts.FailOnErrorStatusCode && resp.StatusCode >= 400 {
		return &Error{Reason: "BackendErrorStatusCode", Message: fmt.Sprintf("the backend answered %d", resp.StatusCode), Status: resp.StatusCode}
	}
	return nil
}

// sendError is the forward's error for a request that got no answer.
func sendError(ctx context.Context, watch *bodyWatch, err error, timedOut bool, opts Options) error {
	watch.Close() // Client has stopped its writer; another transport may not have
	switch {
	case watch != nil && watch.err != nil:
		// The client's body failed (bad framing, too slow, cut short):
		// the client's error, and the backend got no complete message.
		return bodyError(watch.err)
	case timedOut:
		return &Error{Reason: "Timeout", Message: fmt.Sprintf("the backend did not answer within %s", opts.Timeout), Status: 500, Err: err}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return &Error{Reason: "ClientConnectionFailure", Message: "the client went away", Status: 499, Err: err}
	}
	return &Error{Reason: "BackendConnectionFailure", Message: "could not reach the backend: " + sanitize(err), Status: 500, Err: err}
}

// reasonPhrase is resp.Status without its leading status code.
func reasonPhrase(resp *http.Response) string {
	var buf [20]byte // the code's digits, formatted without allocating
	code := strconv.AppendInt(buf[:0], int64(resp.StatusCode), 10)
	return strings.TrimSpace(strings.TrimPrefix(resp.Status, string(code)))
}

// send sends out, waiting at most opts.Timeout for the response header, as API
// Management's timeout does (the body may stream for longer). The Client does
// that with its connection's deadline; any other transport gets a context
// canceled by a timer, and cancel must be called when the response body is
// done with. via is the HTTP proxy tr goes through, if any: a redirect to
// another origin goes through it too.
func (f *Forwarder) send(ctx context.Context, o *outRequest, tr http.RoundTripper, via *url.URL, opts Options) (resp *http.Response, timedOut bool, cancel func(), err error) {
	out := &o.Request
	if c, ok := tr.(*Client); ok && !opts.FollowRedirects {
		resp, err = c.roundTrip(ctx, out, opts.Timeout, &o.fw, &o.resp)
		return resp, errors.Is(err, errHeaderTimeout), nil, err
	}
	// Other transports (and redirects) take the header as an http.Header.
	out.Header = o.fw.header(out.Header)
	ctx, cancel = context.WithCancel(ctx)
	timer := time.AfterFunc(opts.Timeout, cancel)
	resp, err = f.roundTrip(out.WithContext(ctx), tr, via, opts.FollowRedirects, &opts.Credentials)
	timedOut = !timer.Stop()
	if err != nil {
		cancel()
	}
	return resp, timedOut, cancel, err
}

var noUserAgent = []string{""}

// bodyWatch is the request body a transport reads. It records the first
// failure reading it, which http.Transport reports only as a failed round
// trip. Closing it ends a read in progress and waits for it: nothing reads
// the body afterwards. It closes the body's source for that, not the
// policies' wrappers around it, whose state the read may be using (see
// exchange.Body.Source).
//
// A read that Close interrupts fails (the client's connection reports a
// timeout, which reads as a body sent too slowly), but that failure is the
// gateway's doing, not the client's: the forward had already ended for
// another reason (the timeout, an early answer, a failed write, the client
// gone), and that reason is the forward's error. So it is not recorded.
type bodyWatch struct {
	mu      sync.Mutex // held by a read
	r       io.Reader
	source  io.Closer
	err     error
	closed  bool
	closing atomic.Bool // Close began: a failing read is its doing
}

var errWatchClosed = errors.New("proxy: read on a closed request body")

func (w *bodyWatch) Read(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errWatchClosed
	}
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil && !w.closing.Load() {
		w.err = err
	}
	return n, err
}

func (w *bodyWatch) Close() error {
	if w == nil {
		return nil
	}
	w.closing.Store(true)
	if !w.mu.TryLock() {
		w.closeSource() // ends the read in progress
		w.mu.Lock()
	}
	w.closed = true
	w.mu.Unlock()
	return w.closeSource()
}

func (w *bodyWatch) closeSource() error {
	if w.source == nil {
		return nil
	}
	return w.source.Close()
}

// endFunc is a response body that calls fn once when it ends: at its end, on
// a failed read, or when it is closed.
type endFunc struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (e *endFunc) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if err != nil {
		e.once.Do(e.fn)
	}
	return n, err
}

func (e *endFunc) Close() error {
	err := e.ReadCloser.Close()
	e.once.Do(e.fn)
	return err
}

// sanitize keeps a transport error's message free of URL credentials and query
// strings, which may carry secrets.
func sanitize(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.User, u.RawQuery = nil, ""
			return fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err)
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// outRequest is a request for the backend with what forwarding changes in its
// header, in one value (Forward keeps it on its stack).
type outRequest struct {
	http.Request
	fw forwarded
	// resp is the Client's response (its body is allocated apart): Forward
	// keeps what it needs of it in the exchange before it returns.
	resp http.Response
}

// forwarded is what forwarding changes in the exchange's request header,
// which it never changes itself (outbound policies read it, and a retry
// forwards it again): the names it removes or replaces, and its own fields.
// The Client writes the exchange's header through it, without a copy; other
// transports get a copy with the changes made (header).
type forwarded struct {
	// xff, xfHost and xfProto are X-Forwarded-For, -Host and -Proto, set when
	// hasXFF and hasOrigin say.
	xff, xfHost, xfProto string
	hasXFF, hasOrigin    bool
	// trace is the W3C trace context (InjectTraceContext): nil when the
	// request has no span, and the client's passes through.
	trace http.Header
	// te sends TE: trailers, which gRPC requires of a call.
	te bool
}

// replaces reports whether the header field named k is not forwarded as it
// is: a hop-by-hop header (the client's own went when the request arrived;
// what a policy set goes, whatever the client's Connection header named),
// Host (the request's), or one that forwarding sets itself.
func (fw *forwarded) replaces(k string) bool {
	switch k {
	case "Host":
		return true
	case "X-Forwarded-For":
		return fw.hasXFF
	case "X-Forwarded-Host", "X-Forwarded-Proto":
		return fw.hasOrigin
	case "Traceparent", "Tracestate":
		return fw.trace != nil
	}
	return exchange.IsHopHeader(k)
}

// set fills in forwarding's fields for x's request.
func (fw *forwarded) set(ctx context.Context, x *exchange.Exchange) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		fw.trace = make(http.Header, 2)
		InjectTraceContext(ctx, fw.trace)
	}
	// X-Forwarded-*: append the caller to any chain it brought, as
	// httputil.ProxyRequest.SetXForwarded does.
	if ip := x.Request.IPAddress; ip != "" {
		if prior := x.Request.Headers["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		fw.xff, fw.hasXFF = ip, true
	}
	if orig := x.Request.OriginalURL; orig != nil {
		fw.xfHost, fw.xfProto, fw.hasOrigin = orig.Host, orig.Scheme, true
	}
	fw.te = x.GRPC
}

// each calls fn with each of forwarding's own fields.
func (fw *forwarded) each(fn func(k, v string)) {
	if fw.hasXFF {
		fn("X-Forwarded-For", fw.xff)
	}
	if fw.hasOrigin {
		fn("X-Forwarded-Host", fw.xfHost)
		fn("X-Forwarded-Proto", fw.xfProto)
	}
	if fw.te {
		fn("Te", "trailers")
	}
	for k, vs := range fw.trace {
		for _, v := range vs {
			fn(k, v)
		}
	}
}

// header returns a copy of base with forwarding's changes made.
func (fw *forwarded) header(base http.Header) http.Header {
	h := base.Clone()
	if h == nil {
		h = make(http.Header)
	}
	for k := range h {
		if fw.replaces(k) {
			delete(h, k)
		}
	}
	fw.each(func(k, v string) { h[k] = append(h[k], v) })
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // do not add Go's default
	}
	return h
}

// backendHost is the Host header the backend gets: the backend URL's host,
// unless a policy set another. The client's Host, which names the gateway,
// is the one that arrived with the request and is never forwarded.
func backendHost(x *exchange.Exchange) string {
	if host, orig := x.Request.Headers.Get("Host"), x.Request.OriginalURL; host != "" && orig != nil && !strings.EqualFold(host, orig.Host) {
		return host // a policy chose the Host header
	}
	return x.Request.URL.Host
}

// outgoing builds the request for the backend from the exchange. Its Header
// is the exchange's, which must not be changed: send applies forwarding's
// changes (out.fw) as it writes the request, or to a copy.
func (f *Forwarder) outgoing(ctx context.Context, x *exchange.Exchange, opts Options, o *outRequest) (*bodyWatch, error) {
	h := x.Request.Headers
	o.fw.set(ctx, x)

	var watch *bodyWatch
	var body io.ReadCloser
	length := int64(0)
	if b := x.Request.Body; b != nil && !b.Consumed() && b.Len() != 0 {
		if opts.BufferRequestBody || opts.FollowRedirects {
			if _, err := b.Bytes(true); err != nil {
				return watch, bodyError(err)
			}
		}
		length = b.Len()
		body = b.Reader()
		if length < 0 && !x.GRPC { // a gRPC stream goes on as it comes, both ways at once
			var err error
			if body, length, err = prime(body); err != nil {
				return watch, bodyError(err)
			}
		}
	}
	// The request is made directly, not through a URL string parsed again;
	// the exchange's URL is read, never changed, by the transport. Its
	// context is set by send.
	o.Request = http.Request{
		Method: x.Request.Method, URL: x.Request.URL, Header: h, ContentLength: length,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	out := &o.Request
	if length != 0 && body != nil {
		watch = &bodyWatch{r: body, source: x.Request.Body.Source()}
		out.Body = watch
	} else if body != nil {
		body.Close()
	}
	out.Host = backendHost(x)
	if buffered := x.Request.Body; buffered != nil && buffered.Buffered() && length > 0 {
		data, _ := buffered.Bytes(true)
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	return watch, nil
}

// InjectTraceContext puts the span of ctx into h as W3C traceparent (and
// tracestate), replacing what the client sent, so that the backend's spans
// are children of the gateway's. When ctx has no span (OpenTelemetry is
// off), h is left as it is: the client's trace context passes through.
func InjectTraceContext(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h.Del("Tracestate")
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}

// primeSize is how much of a request body of unknown length (chunked) is read
// before the backend is called.
const primeSize = 8 << 10

// prime reads the start of a request body of unknown length before anything
// goes to the backend: a body that arrived whole (most do) is sent with a
// Content-Length, and one whose framing is already broken is refused without
// calling the backend at all. A longer body streams on; if its framing breaks
// later, the backend's connection is dropped before the message is complete.
func prime(r io.ReadCloser) (io.ReadCloser, int64, error) {
	buf := make([]byte, primeSize)
	n, err := 0, error(nil)
	for n == 0 && err == nil {
		n, err = r.Read(buf)
	}
	switch {
	case err == io.EOF || err == nil && atEOF(r):
		r.Close()
		return io.NopCloser(bytes.NewReader(buf[:n])), int64(n), nil
	case err != nil:
		r.Close()
		return nil, 0, err
	}
	return readCloser{io.MultiReader(bytes.NewReader(buf[:n]), r), r}, -1, nil
}

// atEOF reports whether r has nothing more to give, without blocking: a
// reader that knows its end (the gateway's request bodies) says so with a
// zero-length read.
func atEOF(r io.Reader) bool {
	n, err := r.Read(nil)
	return n == 0 && err == io.EOF
}

type readCloser struct {
	io.Reader
	io.Closer
}

// bodyError is the error for a request body that could not be read or
// buffered: the client's (bad framing, too slow, too large), or the gateway's
// when its buffers are full.
func bodyError(err error) *Error {
	return &Error{Reason: "BodyReadFailure", Message: "could not read the request body: " + err.Error(), Status: exchange.BodyStatus(err), Err: err}
}

// roundTrip sends req through tr, following redirects only when asked.
// Credentials go only to the origin they were meant for: on a redirect to
// another scheme, host or port, Authorization, Cookie, Proxy-Authorization
// and the backend entity's credential headers (creds) are dropped, its
// credential query parameters are taken out of the new URL, and the request
// goes through f.Transport, which presents no client certificate, or through
// its clone for the HTTP proxy via when the policies chose one: the proxy is
// the way out, whichever origin the request is for. Once dropped, credentials
// stay dropped, also on a later redirect back.
func (f *Forwarder) roundTrip(req *http.Request, tr http.RoundTripper, via *url.URL, follow bool, creds *Credentials) (*http.Response, error) {
	resp, err := tr.RoundTrip(req)
	if !follow || err != nil {
		return resp, err
	}
	max := f.MaxRedirects
	if max == 0 {
		max = 10
	}
	origin := req.URL
	for i := 0; ; i++ {
		loc := resp.Header.Get("Location")
		code := resp.StatusCode
		if loc == "" || (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
			return resp, nil
		}
		if i >= max {
			return resp, nil // hand the redirect itself to the caller
		}
		next, err := req.URL.Parse(loc)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") {
			return resp, nil
		}
		nreq := req.Clone(req.Context())
		nreq.URL, nreq.Host = next, ""
		if code == 303 || ((code == 301 || code == 302) && req.Method == http.MethodPost) {
			nreq.Method, nreq.Body, nreq.GetBody, nreq.ContentLength = http.MethodGet, nil, nil, 0
			nreq.Header.Del("Content-Type")
		} else if req.Body != nil && req.GetBody == nil {
			return resp, nil // cannot replay a streamed body
		} else if req.GetBody != nil {
			if nreq.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		hop := tr
		if !sameOrigin(origin, next) {
			for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
				nreq.Header.Del(k)
			}
			for _, k := range creds.Headers {
				nreq.Header.Del(k)
			}
			for _, k := range creds.Query {
				next.RawQuery = urlquery.Del(next.RawQuery, k)
			}
			if hop = f.Transport; via != nil {
				if hop, err = f.routes.get(f.Transport, nil, via); err != nil {
					resp.Body.Close()
					return nil, err
				}
			}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp, err = hop.RoundTrip(nreq); err != nil {
			return nil, err
		}
		req = nreq
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
