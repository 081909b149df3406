// Package gateway is the data plane: it routes each request to an API and
// operation, checks the subscription key, runs the operation's compiled pipeline
// and writes the response.
package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/httpfield"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
	"go.opentelemetry.io/otel/trace"
)

// StatusPath is the readiness endpoint on the data plane, as on API Management's
// self-hosted gateway.
const StatusPath = "/status-0123456789abcdef"

// Handler serves the data plane from the current Snapshot.
type Handler struct {
	snap atomic.Pointer[Snapshot]
	log  *slog.Logger
	// states holds the exchanges of finished requests, for the next ones:
	// see ServeHTTP for when one is given back.
	states sync.Pool
	// BodyLimit bounds how much of one request or response body a policy may
	// buffer (413 for a request body over it).
	BodyLimit int64
	// Budget, when not nil, bounds the memory of the bodies policies buffer,
	// all requests together (503 when it is exhausted).
	Budget *exchange.Budget
	// Metrics, when not nil, count requests and policy failures.
	Metrics *Metrics
	// Tracer, when not nil, gives every request an OpenTelemetry server span,
	// child of the client's W3C traceparent.
	Tracer trace.Tracer
	// AccessLog, when not nil, gets one line per request (docs/observability.md).
	AccessLog *slog.Logger
	// Traces, when not nil, keeps the request traces that callers with a
	// subscription allowing tracing ask for (Ocp-Apim-Trace); nil turns them
	// off.
	Traces *reqtrace.Store
	// Requests, when not nil, is told of every answered request (a console's
	// live traffic).
	Requests RequestObserver
	// TunnelIdleTimeout, when positive, closes a WebSocket tunnel that
	// carried nothing either way for that long.
	TunnelIdleTimeout time.Duration
}

// NewHandler returns a Handler with no configuration; it answers 503 until Swap
// installs a snapshot.
func NewHandler(log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{log: log, BodyLimit: exchange.DefaultBodyLimit}
}

// Swap installs a new snapshot atomically. Requests in flight finish on the old one.
func (h *Handler) Swap(s *Snapshot) { h.snap.Store(s) }

// Snapshot returns the snapshot being served, or nil.
func (h *Handler) Snapshot() *Snapshot { return h.snap.Load() }

var (
	msgNotFound   = "Resource not found"
	msgMissingKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	msgInvalidKey = "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
	errNoSnapshot = "The gateway has no configuration loaded yet."
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	snap := h.snap.Load()
	if r.URL.Path == StatusPath || r.URL.Path == "/internal-status-0123456789abcdef" {
		if snap == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(r.URL.Path, TracePath) {
		h.serveTrace(w, r)
		return
	}
	o := outcome{start: time.Now(), requestID: newGUID(), counted: true}
	h.serve(w, r, snap, &o)
	if o.cut != nil {
		// The body broke after the status went out. Ending the response
		// normally would hand the client a complete-looking message (a
		// chunked body's last chunk); aborting cuts the connection (HTTP/1.1)
		// or resets the stream (HTTP/2), as httputil.ReverseProxy does.
		panic(http.ErrAbortHandler)
	}
	// The request is done with: its http.Request, header map and URL go back
	// to the server (requestReleaser), its exchange to h.states and the
	// backend response's header map to its pool, for the next requests. Not
	// for a traced request, whose recorder holds header values, nor after a
	// panic, which skips this: whatever the request started may still run.
	if o.x != nil && o.x.Recorder != nil {
		return
	}
	if rel, ok := w.(requestReleaser); ok {
		rel.ReleaseRequest()
	}
	if st := o.state; st != nil {
		httpfield.Recycle(st.x.Response.PooledHeaders())
		st.reset()
		h.states.Put(st)
	}
}

// serve answers a request for an API, recording what happened in o.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, snap *Snapshot, o *outcome) {
	if h.Tracer != nil {
		r = h.startSpan(r)
	}
	if snap == nil {
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusServiceUnavailable, errNoSnapshot, o.requestID), nil, h.log)
		o.status = http.StatusServiceUnavailable
		h.finish(r, o)
		return
	}
	if h.refusePath(w, r, o) || h.serveCrossDomain(w, r, snap, o) {
		return
	}
	var q url.Values // nil reads as empty: most requests have no query
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	var segBuf [16]string
	segs := appendSegments(segBuf[:0], r.URL.EscapedPath())
	a, rest := snap.route(r, segs, q)
	if a == nil {
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusNotFound, msgNotFound, o.requestID), nil, h.log)
		o.status = http.StatusNotFound
		h.finish(r, o)
		return
	}
	o.api = a.info.ID
	// A WebSocket, gRPC or SOAP API takes only requests of its kind; a SOAP
	// API's operations are told apart by the request's action.
	var problem, action string
	switch {
	case a.webSocket:
		problem = handshakeProblem(r)
	case a.grpc:
		if problem = grpcProblem(r); problem == "" {
			exemptFromMinRate(r.Body)
		}
	case a.soap:
		action, problem = soapAction(r.Header)
	}
	if problem != "" {
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusBadRequest, problem, o.requestID), nil, h.log)
		o.status = http.StatusBadRequest
		h.finish(r, o)
		return
	}
	// GraphQL subscriptions come as WebSocket handshakes (graphql-ws); the
	// check reads the Upgrade header before the hop-by-hop headers go.
	subscription := a.graphQL && r.Header["Upgrade"] != nil && handshakeProblem(r) == ""
	if isPreflight(r) && h.preflight(w, r, snap, a, rest, q, o) {
		return
	}
	// The exchange's allocation comes first: it keeps the map the template's
	// parameters go in from one request to the next.
	st := h.getState()
	o.state = st
	params := st.params // made when the template has parameters
	var raw map[string]string
	op := a.operation(r.Method, action, rest, q, &params, &raw)
	if st.params = params; len(params) == 0 {
		params = nil
	}
	if op == nil {
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusNotFound, msgNotFound, o.requestID), nil, h.log)
		o.status = http.StatusNotFound
		h.finish(r, o)
		return
	}
	o.op = op.info.ID
	if h.Tracer != nil {
		o.route = "/" + a.info.Path + op.info.URLTemplate
	}

	if r.Body != nil && r.Body != http.NoBody {
		o.read = &countingReader{ReadCloser: r.Body}
		r.Body = o.read
	}
	h.newExchange(st, r, snap, a, op, rest, q, params, o.requestID, o.start)
	x := &st.x
	x.Request.RawParameters = raw
	x.WebSocket, x.GRPC = a.webSocket || subscription, a.grpc
	o.x = x
	ctx := r.Context()
	// However the request ends, what policies left for its end runs: a
	// concurrency slot goes back, a bandwidth quota counts the bytes.
	defer func() { x.Done(ctx, exchange.Usage{RequestBytes: o.read.count(), ResponseBytes: o.sent}) }()
	key, _ := subscriptionKey(r, q, a)
	prod, sub, authErr := snap.authorize(a, key)
	stripKey(x, a)
	traceMessages(ctx, x)
	if authErr != nil {
		refusalCORS(x, op.cors[""])
		a.base.HandleError(ctx, x, authErr)
		o.sent, o.cut = writeResponse(w, r, x.Response, x.ClientHeaders, h.log)
		o.status = x.Response.StatusCode
		h.finish(r, o)
		closeBodies(x)
		return
	}
	if sub != nil {
		x.Subscription = st.subscription(sub, key)
	}
	name := ""
	if prod != nil {
		x.Product, name = prod.info, prod.name
	}
	h.startRecorder(r, snap, sub, x, o)
	if x.Recorder != nil {
		traceMessages(ctx, x)
	}
	if err := op.pipelines[name].Run(ctx, x); err != nil {
		// The client went away; there is nobody to answer.
		o.status, o.counted = 499, false
		h.finish(r, o)
		closeBodies(x)
		return
	}
	h.logFailure(x)
	h.finishRecorder(r, x)
	if x.Response.StatusCode == http.StatusSwitchingProtocols {
		// A WebSocket backend accepted the handshake; anything else that
		// answers 101 has no tunnel to relay, and gets a 502.
		o.sent, o.status = h.tunnel(w, r, x)
		h.finish(r, o)
		closeBodies(x)
		return
	}
	o.sent, o.cut = writeResponse(w, r, x.Response, x.ClientHeaders, h.log)
	o.status = x.Response.StatusCode
	h.finish(r, o)
	closeBodies(x)
}

// requestReleaser is a ResponseWriter (http1's) whose server can parse the
// connection's next request into this one's http.Request, header map and
// URL once the handler returns. Nothing the gateway or a policy starts keeps
// them, or the exchange, past the request: what outlives it
// (send-one-way-request, the proxy's body writer) copies what it needs or
// holds only the body and the context, which are never reused.
// ARCHITECTURE.md ("What is reused after a request") has the audit.
type requestReleaser interface{ ReleaseRequest() }

// ErrorBody renders a response the HTTP server sends itself (a malformed
// request, a limit) in API Management's error shape.
func ErrorBody(status int, message string) (string, []byte) {
	r := pipeline.ErrorResponse(status, message, "")
	data, _ := r.Body.Bytes(false)
	return r.Headers.Get("Content-Type"), data
}

// logFailure reports a request that failed in a policy: server errors at Warn
// (an operator must look), client errors at Debug. When on-error failed too,
// the line has both: the failure that ran on-error, and on-error's own (which
// is context.LastError) under on_error. Only LastError's fields are logged,
// never an error's cause: its messages are written to be shown, so they carry
// no tokens or secrets.
func (h *Handler) logFailure(x *exchange.Exchange) {
	le := x.LastError
	if le == nil || x.Response == nil {
		return
	}
	level := slog.LevelDebug
	if x.Response.StatusCode >= 500 {
		level = slog.LevelWarn
	}
	msg := "request failed in a policy"
	args := []any{"request_id", x.RequestID, "api", x.API.ID, "operation", x.Operation.ID, "status", x.Response.StatusCode}
	if le.Original == nil {
		args = appendFailure(args, le)
	} else {
		msg = "request failed in a policy, and on-error failed too"
		args = append(appendFailure(args, le.Original), slog.Group("on_error", appendFailure(nil, le)...))
	}
	h.log.Log(context.Background(), level, msg, args...)
}

// appendFailure appends what the log says of a policy failure to args.
func appendFailure(args []any, le *exchange.LastError) []any {
	return append(args, "source", le.Source, "reason", le.Reason, "message", le.Message, "section", le.Section, "path", le.Path)
}

func closeBodies(x *exchange.Exchange) {
	x.Request.Body.Close()
	if x.Response != nil {
		x.Response.Body.Close()
	}
	x.Buffers.Release()
}

// exchangeState is the exchange of a request with what it points to (its
// URLs, the Host header's value, the subscription's copy; the exchange holds
// its request body and first response), in one allocation instead of seven.
type exchangeState struct {
	x       exchange.Exchange
	orig    url.URL
	backend url.URL // x's Request.URL as routing set it; policies may replace it
	host    [1]string
	sub     exchange.Subscription
	params  map[string]string // the template's parameters (x's MatchedParameters)
}

// getState returns an exchange's allocation, from the pool when it has one.
func (h *Handler) getState() *exchangeState {
	if st, ok := h.states.Get().(*exchangeState); ok {
		return st
	}
	return new(exchangeState)
}

// maxKeptParams is how many template parameters a map may hold and still be
// kept: a larger one goes back to the collector.
const maxKeptParams = 8

// reset empties st for another request, keeping its parameters' map.
func (st *exchangeState) reset() {
	params := st.params
	if len(params) > maxKeptParams {
		params = nil
	}
	clear(params)
	*st = exchangeState{params: params}
}

// subscription returns the exchange's copy of sub's information with the
// key the request used: the exchange must not change the snapshot.
func (st *exchangeState) subscription(sub *subscription, key string) *exchange.Subscription {
	st.sub = sub.info
	st.sub.Key = key
	return &st.sub
}

// newExchange builds the request's context. Request.URL starts as the API's
// service URL joined with the path below the API, and the query string.
func (h *Handler) newExchange(st *exchangeState, r *http.Request, snap *Snapshot, a *api, op *operation, rest []string, q url.Values, params map[string]string, requestID string, start time.Time) {
	st.orig = *r.URL
	orig := &st.orig
	orig.Host = r.Host
	orig.Scheme = "http"
	if r.TLS != nil {
		orig.Scheme = "https"
	}
	// The handler owns r.Header: the exchange takes it over instead of copying.
	// The client's hop-by-hop headers, and those its Connection header names,
	// go before any policy runs, so they can never remove what a policy adds.
	hdr := r.Header
	if hdr == nil {
		hdr = make(http.Header)
	}
	exchange.RemoveHopHeaders(hdr)
	st.host[0] = r.Host
	hdr["Host"] = st.host[:]
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	x := &st.x
	*x = exchange.Exchange{
		RequestID: requestID,
		Timestamp: start.UTC(),
		Request: exchange.Request{
			Method:            r.Method,
			OriginalURL:       orig,
			Headers:           hdr,
			IPAddress:         ip,
			MatchedParameters: params,
		},
		API:        a.info,
		Operation:  op.info,
		Deployment: snap.deployment,
	}
	x.Buffers.Init(h.Budget, h.BodyLimit)
	x.SetRequestStream(r.Body, r.ContentLength)
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		x.Request.Certificate = r.TLS.PeerCertificates[0]
		x.Request.CertificateChain = r.TLS.PeerCertificates[1:]
	}
	// The suffix is the escaped path below the API's path, trailing slash included.
	suffix := ""
	if len(rest) > 0 {
		suffix = "/" + strings.Join(rest, "/")
	}
	if p := r.URL.EscapedPath(); strings.HasSuffix(p, "/") && len(p) > 1 && !strings.HasSuffix(suffix, "/") {
		suffix += "/"
	}
	if base := a.info.ServiceURL; base != nil {
		x.Backend.BaseURL = base
		policies.SetJoinedURL(&st.backend, base, suffix, r.URL.RawQuery)
		x.Request.URL = &st.backend
	} else {
		x.Request.URL = &url.URL{Path: suffix, RawQuery: r.URL.RawQuery}
	}
}

// stripKey removes the subscription key from what the backend will receive.
// Policies can put it back from context.Subscription.Key.
func stripKey(x *exchange.Exchange, a *api) {
	x.Request.Headers.Del(a.info.SubscriptionKeyHeader)
	if u := x.Request.URL; u != nil && u.RawQuery != "" {
		u.RawQuery = urlquery.Del(u.RawQuery, a.info.SubscriptionKeyQuery)
	}
}

// subscriptionKey returns the key from the API's header, else its query parameter.
func subscriptionKey(r *http.Request, q url.Values, a *api) (string, bool) {
	if v := r.Header.Get(a.info.SubscriptionKeyHeader); v != "" {
		return v, true
	}
	if v := q.Get(a.info.SubscriptionKeyQuery); v != "" {
		return v, true
	}
	return "", false
}

// authorize applies API Management's subscription rules: a valid key for an active
// subscription scoped to the API, a product containing it, or all APIs; otherwise
// an open product containing the API; otherwise the API itself when it needs no
// subscription; otherwise 401. Only a product's subscription puts the request in
// a product's context: with an API's or all APIs' key, no product's policies run,
// an open product's neither.
func (s *Snapshot) authorize(a *api, key string) (*product, *subscription, error) {
	if a.keyRequired && key != "" {
		if sub := s.subs[key]; sub != nil && sub.active {
			switch sub.scope {
			case apiops.ScopeAllAPIs:
				return nil, sub, nil
			case apiops.ScopeAPI:
				if sub.target == a.info.ID { // the folder name, not the display name
					return nil, sub, nil
				}
			case apiops.ScopeProduct:
				if p := a.products[sub.target]; p != nil {
					return p, sub, nil
				}
			}
		}
		if a.openProduct != nil {
			return a.openProduct, nil, nil
		}
		return nil, nil, &pipeline.Error{Source: "authorization", Reason: "SubscriptionKeyInvalid", Message: msgInvalidKey, Status: 401}
	}
	if a.openProduct != nil {
		return a.openProduct, nil, nil
	}
	if !a.keyRequired {
		return nil, nil, nil
	}
	return nil, nil, &pipeline.Error{Source: "authorization", Reason: "SubscriptionKeyNotFound", Message: msgMissingKey, Status: 401}
}

// newGUID returns a random (version 4) GUID in canonical lower-case form.
// The bits come from math/rand/v2's generator (ChaCha8, seeded from the
// system at start, per thread): a request ID must be unique, not secret, and
// crypto/rand cost five times as much on the hot path.
func newGUID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(s[:])
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// countingReader counts the bytes of the request body the gateway reads.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) count() int64 {
	if c == nil {
		return 0
	}
	return c.n
}

// writeResponse writes resp to the client, with the exchange's ClientHeaders
// (extra) added, streaming a body nobody buffered, and returns how many bytes
// of the body it wrote, and the error that ended the body early, if any (not
// the client's going away).
func writeResponse(w http.ResponseWriter, r *http.Request, resp *exchange.Response, extra http.Header, log *slog.Logger) (written int64, cut error) {
	h := w.Header()
	for k, v := range resp.Headers {
		h[k] = v
	}
	addClientHeaders(h, extra)
	exchange.RemoveFixedHopHeaders(h) // the backend's own went when its response arrived
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // never guess a content type the response did not have
	}
	code := resp.StatusCode
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	n := resp.Body.Len()
	noBody := r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	switch {
	case r.Method == http.MethodHead:
		// The backend's Content-Length describes the body a GET would get.
	case noBody:
		h.Del("Content-Length")
	case n >= 0:
		// Usually the backend's own value, already there: keep it.
		var buf [20]byte
		v := strconv.AppendInt(buf[:0], n, 10)
		if cl := h["Content-Length"]; len(cl) != 1 || cl[0] != string(v) {
			h["Content-Length"] = []string{string(v)}
		}
	default:
		h.Del("Content-Length")
	}
	if resp.StatusReason != "" && resp.StatusReason != http.StatusText(code) {
		// HTTP/1.1's status line carries it (HTTP/2 has none).
		if rs, ok := w.(interface{ SetStatusReason(string) }); ok {
			rs.SetStatusReason(resp.StatusReason)
		}
	}
	w.WriteHeader(code)
	if noBody || resp.Body == nil || n == 0 {
		return 0, nil
	}
	body := resp.Body.Reader()
	defer body.Close()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var rc *http.ResponseController // a stream is flushed as it comes
	if strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") || n < 0 {
		rc = http.NewResponseController(w)
	}
	for {
		nr, err := body.Read(*bp)
		if nr > 0 {
			nw, werr := w.Write((*bp)[:nr])
			written += int64(nw)
			if werr != nil {
				return written, nil
			}
			if rc != nil {
				rc.Flush()
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				addTrailers(w, resp.Body.Source())
				return written, nil
			}
			if errors.Is(err, context.Canceled) {
				return written, nil
			}
			log.Debug("backend body ended early", "error", err)
			return written, err
		}
	}
}
