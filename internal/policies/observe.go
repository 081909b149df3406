package policies

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// Metrics counts what policies decide, for the gateway's metrics. Its
// methods must be safe for concurrent use and cheap. Labels come from the
// configuration (policy names, backend entity ids) or from small fixed sets,
// never from request data.
type Metrics interface {
	// LimitDecision counts a traffic limit policy's decision: "allowed",
	// "refused", or "unavailable" (the store could not decide and the policy
	// failed closed; one that fails open counts as allowed).
	LimitDecision(policy, decision string)
	// BackendCall counts one attempt of forward-request: the backend entity
	// ("" for a URL), the outcome (the status class, such as "2xx", or the
	// failure, such as "Timeout") and the time to the response head.
	BackendCall(backend, outcome string, d time.Duration)
}

// tracerName is the instrumentation scope of the backend spans.
const tracerName = "github.com/lastmile-gw/lastmile/internal/policies"

// backendCall is one request a policy sends, observed: its span, when the
// request is traced, and its start.
type backendCall struct {
	ctx     context.Context // carries span, for the trace context the request sends
	span    trace.Span      // nil when the request is not traced
	start   time.Time
	policy  string
	backend string
}

// startCall starts observing a request that policy sends for x to backend
// entity id ("" for a URL): a client span, child of the request's, when the
// request is traced. It allocates nothing when it is not.
func startCall(ctx context.Context, x *exchange.Exchange, policy, id string) backendCall {
	c := backendCall{ctx: ctx, start: time.Now(), policy: policy, backend: id}
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return c
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, attribute.String("http.request.method", x.Request.Method))
	if u := x.Request.URL; u != nil {
		attrs = append(attrs, urlAttributes(u)...)
	}
	if id != "" {
		attrs = append(attrs, attribute.String("lastmile.backend.id", id))
		if x.Backend.ID != id {
			attrs = append(attrs, attribute.String("lastmile.backend.pool", x.Backend.ID))
		}
	}
	attrs = append(attrs, attribute.Int("lastmile.backend.attempt", x.Report.BackendTries+1))
	c.ctx, c.span = parent.TracerProvider().Tracer(tracerName).Start(ctx, policy,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return c
}

// urlAttributes are the span attributes of a URL: without its query, user
// information or fragment, which may carry secrets.
func urlAttributes(u *url.URL) []attribute.KeyValue {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	n, _ := strconv.Atoi(port)
	return []attribute.KeyValue{
		attribute.String("url.full", redactURL(u.String())),
		attribute.String("server.address", host),
		attribute.Int("server.port", n),
	}
}

// end records how a forward-request attempt went: in x's report (backend
// time and attempts) and trace, in the span, and in the metrics.
func (c *backendCall) end(x *exchange.Exchange, err error, m Metrics) {
	d := time.Since(c.start)
	x.Report.BackendTime += d
	x.Report.BackendTries++
	status := 0
	if x.Response != nil {
		status = x.Response.StatusCode
	}
	if m == nil && x.Recorder == nil {
		c.finish(status, err)
		return
	}
	outcome := callOutcome(x, err)
	if m != nil {
		m.BackendCall(c.backend, outcome, d)
	}
	if x.Recorder != nil {
		a := map[string]any{"backend": c.backend, "outcome": outcome, "durationMs": float64(d.Microseconds()) / 1000}
		if u := x.Request.URL; u != nil {
			a["url"] = redactURL(u.String())
		}
		if err == nil && x.Response != nil {
			a["status"] = x.Response.StatusCode
		}
		x.Recorder.Append("attempts", a)
	}
	c.finish(status, err)
}

// finish ends the span, if any, with the response's status (0: none) or
// the failure.
func (c *backendCall) finish(status int, err error) {
	if c.span == nil {
		return
	}
	if status != 0 {
		c.span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			c.span.SetStatus(codes.Error, "")
		}
	}
	if err != nil {
		reason := pipeline.AsError(err).Reason
		c.span.SetAttributes(attribute.String("error.type", reason))
		c.span.SetStatus(codes.Error, reason)
	}
	c.span.End()
}

// callOutcome names how a backend attempt ended, from a small fixed set: the
// status class, or the failure's reason.
func callOutcome(x *exchange.Exchange, err error) string {
	reason := ""
	if err != nil {
		reason = pipeline.AsError(err).Reason
	}
	switch reason {
	case "", "BackendErrorStatusCode":
		if x.Response == nil {
			return "none"
		}
		return statusClass(x.Response.StatusCode)
	case "BackendConnectionFailure", "Timeout", "ClientConnectionFailure", "BodyReadFailure", "BackendUrlNotSet":
		return reason
	}
	return "error"
}

var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return statusClasses[0]
	}
	return statusClasses[code/100]
}
