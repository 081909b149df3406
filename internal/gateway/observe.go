package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// TracePath is where the data plane serves request traces: a request that
// asked for one (Ocp-Apim-Trace: true, with the key of a subscription that
// allows tracing) gets Ocp-Apim-Trace-Location pointing below it.
const TracePath = "/trace-0123456789abcdef/"

// Headers of the request trace, as API Management names them.
const (
	TraceHeader         = "Ocp-Apim-Trace"
	TraceLocationHeader = "Ocp-Apim-Trace-Location"
)

// outcome is what the access log, the metrics and the request's span say
// about a request once it is answered. It lives on ServeHTTP's stack.
type outcome struct {
	start     time.Time
	requestID string
	api, op   string // ids; "" before routing found them
	route     string // the operation's URL template below the API's path
	status    int    // 499 when the client went away before the answer
	counted   bool   // the request counts in the request metrics
	x         *exchange.Exchange
	state     *exchangeState // x's allocation, reused once the request is done
	sent      int64
	cut       error // what ended the response body early, after the status went out
	read      *countingReader
}

// startSpan starts the request's server span, child of the client's W3C
// traceparent when it sent one, and returns the request with it in its
// context. Only called when tracing is on.
func (h *Handler) startSpan(r *http.Request) *http.Request {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ctx, _ = h.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.EscapedPath()),
		attribute.String("url.scheme", scheme),
		attribute.String("server.address", r.Host),
		attribute.String("client.address", clientIP(r)),
		attribute.String("network.protocol.version", strings.TrimPrefix(r.Proto, "HTTP/")),
	))
	return r.WithContext(ctx)
}

// traceMessages makes x's context.Trace and trace policy messages go to its
// span as events and to its request trace, when either records.
func traceMessages(ctx context.Context, x *exchange.Exchange) {
	span := trace.SpanFromContext(ctx)
	rec := x.Recorder
	if rec == nil && !span.IsRecording() {
		return
	}
	x.Tracing = true
	x.Trace = func(source, severity, message string) {
		rec.Trace(source, severity, message)
		span.AddEvent("trace", trace.WithAttributes(attribute.String("lastmile.trace.source", source),
			attribute.String("lastmile.trace.severity", severity), attribute.String("lastmile.trace.message", message)))
	}
}

// finish reports an answered request: the metrics, the access log line, and
// the end of its span.
func (h *Handler) finish(r *http.Request, o *outcome) {
	x := o.x
	var le *exchange.LastError
	if x != nil {
		le = x.LastError
	}
	if o.counted {
		h.Metrics.observe(o.api, o.op, o.status, o.start, le)
	}
	if h.AccessLog != nil {
		h.accessLog(r, o, le)
	}
	if h.Requests != nil {
		h.requestDone(r, o)
	}
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		endSpan(span, r, o, le)
	}
}

// accessLog writes the request's access log line. It names the subscription
// by its id, never by its key, and the path without the query string (where
// a subscription key may travel).
func (h *Handler) accessLog(r *http.Request, o *outcome, le *exchange.LastError) {
	var a [20]slog.Attr
	n := 0
	add := func(attr slog.Attr) { a[n] = attr; n++ }
	add(slog.String("request_id", o.requestID))
	add(slog.String("method", r.Method))
	add(slog.String("path", r.URL.EscapedPath()))
	add(slog.String("client_ip", clientIP(r)))
	add(slog.String("api", o.api))
	add(slog.String("operation", o.op))
	x := o.x
	product, subscription := "", ""
	var rep exchange.Report
	if x != nil {
		if x.Product != nil {
			product = x.Product.ID
		}
		if x.Subscription != nil {
			subscription = x.Subscription.ID
		}
		rep = x.Report
	}
	add(slog.String("product", product))
	add(slog.String("subscription", subscription))
	add(slog.Int("status", o.status))
	add(slog.Int64("bytes_in", o.read.count()))
	add(slog.Int64("bytes_out", o.sent))
	add(slog.Float64("duration_ms", ms(time.Since(o.start))))
	add(slog.Float64("backend_ms", ms(rep.BackendTime)))
	add(slog.Int("backend_tries", rep.BackendTries))
	add(slog.String("cache", rep.Cache))
	add(slog.String("token", rep.Token))
	if le != nil {
		add(slog.String("error_source", le.Source))
		add(slog.String("error_reason", le.Reason))
	}
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		add(slog.String("trace_id", sc.TraceID().String()))
	}
	h.AccessLog.LogAttrs(context.Background(), slog.LevelInfo, "request", a[:n]...)
}

// requestDone tells h.Requests of an answered request.
func (h *Handler) requestDone(r *http.Request, o *outcome) {
	d := RequestDone{Start: o.start, Duration: time.Since(o.start), RequestID: o.requestID,
		Method: r.Method, Path: r.URL.EscapedPath(), API: o.api, Operation: o.op, Status: o.status}
	if x := o.x; x != nil {
		if x.Product != nil {
			d.Product = x.Product.ID
		}
		if x.Subscription != nil {
			d.Subscription = x.Subscription.ID
		}
	}
	h.Requests.RequestDone(d)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// endSpan ends the request's server span with what routing and the pipeline
// found. Its attributes never hold a header, a key or a token.
func endSpan(span trace.Span, r *http.Request, o *outcome, le *exchange.LastError) {
	if o.route != "" {
		span.SetName(r.Method + " " + o.route)
		span.SetAttributes(attribute.String("http.route", o.route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", o.status),
		attribute.String("lastmile.request_id", o.requestID),
		attribute.String("lastmile.api", o.api), attribute.String("lastmile.operation", o.op))
	if x := o.x; x != nil {
		if x.Product != nil {
			span.SetAttributes(attribute.String("lastmile.product", x.Product.ID))
		}
		if x.Subscription != nil {
			span.SetAttributes(attribute.String("lastmile.subscription", x.Subscription.ID))
		}
		if x.Report.Cache != "" {
			span.SetAttributes(attribute.String("lastmile.cache", x.Report.Cache))
		}
	}
	if le != nil {
		span.SetAttributes(attribute.String("lastmile.error.source", le.Source), attribute.String("lastmile.error.reason", le.Reason))
	}
	if o.status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// clientIP is the caller's address without its port.
func clientIP(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 && !strings.HasSuffix(r.RemoteAddr, "]") {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

// startRecorder attaches a request trace to x when the caller asked for one
// with a subscription that allows tracing (Ocp-Apim-Trace: true), or when
// an in-process caller put a Recorder in the request's context
// (reqtrace.NewContext). It reports whether x is traced.
func (h *Handler) startRecorder(r *http.Request, snap *Snapshot, sub *subscription, x *exchange.Exchange, o *outcome) {
	rec := reqtrace.FromContext(r.Context())
	if rec == nil {
		if h.Traces == nil || sub == nil || !sub.allowTracing || !strings.EqualFold(strings.TrimSpace(r.Header.Get(TraceHeader)), "true") {
			return
		}
		secrets := append(snap.secrets[:len(snap.secrets):len(snap.secrets)], sub.info.PrimaryKey, sub.info.SecondaryKey)
		rec = reqtrace.New(reqtrace.Options{RequestID: x.RequestID, Start: o.start, Secrets: secrets,
			Headers: []string{x.API.SubscriptionKeyHeader}, Dir: snap.dir})
	}
	if reqtrace.FromContext(r.Context()) == rec {
		// An in-process caller's recorder (a console's "Try it") learns what
		// one the handler starts is told at once.
		rec.SetRequestID(x.RequestID)
		rec.Hide(x.API.SubscriptionKeyHeader)
		for _, s := range snap.secrets {
			rec.Secret(s)
		}
	}
	x.Recorder = rec
	if x.Subscription != nil {
		rec.Secret(x.Subscription.Key)
	}
	rec.SetRequest(x.Request.Method, x.Request.OriginalURL.String(), x.Request.Headers)
	a := reqtrace.API{ID: x.API.ID, Operation: x.Operation.ID}
	if x.Product != nil {
		a.Product = x.Product.ID
	}
	if x.Subscription != nil {
		a.Subscription = x.Subscription.ID
	}
	rec.SetAPI(a)
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		rec.SetTraceID(sc.TraceID().String())
	}
	rec.Note("api-inspector", "request routed", map[string]any{
		"api": x.API.ID, "apiPath": x.API.Path, "operation": x.Operation.ID, "method": x.Operation.Method,
		"urlTemplate": x.Operation.URLTemplate, "backendUrl": redactQuery(x.Request.URL.String()),
	})
}

// finishRecorder ends x's request trace, stores it and points the client at
// it with Ocp-Apim-Trace-Location, before the response is written. A trace
// an in-process caller attached is only finished: it reads it itself.
func (h *Handler) finishRecorder(r *http.Request, x *exchange.Exchange) {
	rec := x.Recorder
	if rec == nil || x.Response == nil {
		return
	}
	hdr := x.Response.Headers.Clone()
	if hdr == nil {
		hdr = make(http.Header)
	}
	addClientHeaders(hdr, x.ClientHeaders)
	var le *reqtrace.Error
	if l := x.LastError; l != nil {
		le = &reqtrace.Error{Source: l.Source, Reason: l.Reason, Message: l.Message, Scope: l.Scope, Section: l.Section, Path: l.Path, PolicyID: l.PolicyID}
	}
	t := rec.Finish(x.Response.StatusCode, hdr, le)
	if reqtrace.FromContext(r.Context()) == rec {
		if f, ok := r.Context().Value(finishedKey{}).(func(*reqtrace.Trace)); ok {
			f(t)
		}
		return
	}
	id, err := h.Traces.Put(t)
	if err != nil {
		h.log.Warn("request trace could not be stored", "request_id", x.RequestID, "error", err)
		return
	}
	if x.ClientHeaders == nil {
		x.ClientHeaders = make(http.Header, 1)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	x.ClientHeaders.Set(TraceLocationHeader, scheme+"://"+r.Host+TracePath+id)
}

type finishedKey struct{}

// WithTraceRecorder returns ctx asking the Handler to record the trace of the
// request it is the context of, whatever its subscription, and to call done
// with the finished trace before the response is written: what a console's
// "Try it" does.
func WithTraceRecorder(ctx context.Context, rec *reqtrace.Recorder, done func(*reqtrace.Trace)) context.Context {
	return context.WithValue(reqtrace.NewContext(ctx, rec), finishedKey{}, done)
}

// serveTrace answers GET TracePath<id> with the stored trace.
func (h *Handler) serveTrace(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, TracePath)
	var data []byte
	ok := false
	if h.Traces != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		data, ok = h.Traces.Get(id)
	}
	if !ok {
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusNotFound, "The request trace does not exist or has expired.", ""), nil, h.log)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}

// redactQuery is a URL without its query string, which may carry a key.
func redactQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}
