package policies

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// The llm-* and azure-openai-* policies share one llmCall per request
// (x.LLM): the prompt, parsed once from the request body (llmPromptOf), and,
// for the token policies, the model's usage, read once from its answer and
// handed to every policy that watches it.
//
// The usage is read when the backend section has produced the response
// (exchange.AfterBackend), so that outbound sees it:
//   - a response body of known length up to llmBufferLimit is buffered and
//     its usage read at once; the token limits then count it before the
//     response leaves, and can say so in headers;
//   - a stream (text/event-stream, or Vertex's streamGenerateContent) is
//     metered as it passes to the client (llm.StreamMeter), and counted when
//     it ends: from its usage chunks, and by estimation for what it did not
//     report;
//   - any other body is read as it passes too, keeping its last bytes, where
//     the APIs put their usage (llm.BodyMeter).
type llmCall struct {
	req      *llm.Request // the prompt; Shape Unknown when the body is not an LLM request
	body     []byte       // the request body req was parsed from
	est      *llm.Estimator
	estimate int64 // the prompt's estimated tokens; -1 until estimated
	metered  bool  // llmCallOf set the call up to read the usage

	watchers []usageWatch
	answered bool // the backend answered
}

// llmBufferLimit is the largest response body of known length whose usage is
// read before it is sent on.
const llmBufferLimit = 1 << 20

// usageWatch is a policy's interest in the model's answer.
type usageWatch struct {
	// answered, when set, runs when the backend has answered, with the
	// exchange as outbound will see it.
	answered func()
	// usage runs once the usage is known (before outbound, or when a
	// streamed body ends).
	usage func(ctx context.Context, r usageReport)
}

// usageReport is what the model's answer used.
type usageReport struct {
	llm.Usage
	// OK is false when the answer said nothing of its usage and could not
	// be estimated (an error, a body that is not an LLM response).
	OK bool
	// Estimated is true when some of the counts are estimates (a stream that
	// did not report them).
	Estimated bool
	// Streamed is true when the response left before the count: its
	// headers cannot change any more.
	Streamed bool
	// Status is the response's status code.
	Status int
}

// llmPromptOf returns the request's prompt: the body parsed once, and again
// only when a policy such as set-body replaced it since. The semantic cache,
// content safety and the token policies all read this one parse. A body that
// is not JSON, or empty, gives a Request of Shape Unknown and no messages.
func llmPromptOf(x *exchange.Exchange) (*llm.Request, error) {
	c, ok := x.LLM.(*llmCall)
	if !ok {
		c = &llmCall{estimate: -1}
		x.LLM = c
	}
	if empty, err := x.Request.Body.Empty(); err != nil {
		return nil, pipeline.BodyFailure("reading the LLM request", err)
	} else if empty {
		if c.req == nil || c.body != nil {
			c.req, c.body, c.estimate = &llm.Request{}, nil, -1
		}
		return c.req, nil
	}
	body, err := x.Request.Body.Bytes(true)
	if err != nil {
		return nil, pipeline.BodyFailure("reading the LLM request", err)
	}
	if c.req != nil && sameBytes(body, c.body) {
		return c.req, nil
	}
	path := ""
	if u := x.Request.URL; u != nil {
		path = u.Path
	}
	if llm.ShapeOf(path) == llm.Unknown && x.Request.OriginalURL != nil {
		path = x.Request.OriginalURL.Path
	}
	c.req, c.body, c.estimate = &llm.Request{}, body, -1
	if r, err := llm.ParseRequest(path, body); err == nil {
		c.req = r
	}
	return c.req, nil
}

// sameBytes reports whether a and b are the same slice, not merely equal.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// llmCallOf returns the request's llmCall, set up to read the model's usage
// the first time: it asks a stream for its usage chunk and the model for an
// uncompressed answer. A body that is not an LLM request fails nothing.
func llmCallOf(x *exchange.Exchange, est *llm.Estimator) (*llmCall, error) {
	req, err := llmPromptOf(x)
	if err != nil {
		return nil, err
	}
	c := x.LLM.(*llmCall)
	if c.metered {
		return c, nil
	}
	c.metered, c.est = true, est
	if out, changed := llm.IncludeUsage(req, c.body); changed {
		x.Request.Body.Set(out)
		c.body = out // the same prompt
	}
	// The usage is read from the response: ask the model for it uncompressed.
	x.Request.Headers.Del("Accept-Encoding")
	x.AfterBackend(func(ctx context.Context) error { return c.afterBackend(ctx, x) })
	x.Defer(func(ctx context.Context) error {
		if !c.answered {
			// No answer from the backend (inbound answered, the backend
			// section failed): nothing was used.
			c.report(ctx, usageReport{})
		}
		return nil
	})
	return c, nil
}

// promptEstimate is the prompt's estimated tokens, estimated once.
func (c *llmCall) promptEstimate() int64 {
	if c.estimate < 0 {
		c.estimate = c.est.Prompt(c.req)
	}
	return c.estimate
}

func (c *llmCall) watch(w usageWatch) { c.watchers = append(c.watchers, w) }

func (c *llmCall) report(ctx context.Context, r usageReport) {
	for _, w := range c.watchers {
		w.usage(ctx, r)
	}
}

// afterBackend reads the usage of the backend's answer, or arranges to read
// it as the body passes.
func (c *llmCall) afterBackend(ctx context.Context, x *exchange.Exchange) error {
	resp := x.Response
	if resp == nil {
		return nil
	}
	c.answered = true
	for _, w := range c.watchers {
		if w.answered != nil {
			w.answered()
		}
	}
	ct, status := resp.Headers.Get("Content-Type"), resp.StatusCode
	mediaType, _, _ := mime.ParseMediaType(ct)
	if enc := resp.Headers.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		c.report(ctx, usageReport{Status: status}) // unreadable
		return nil
	}
	// The request's context ends with the request; counting at the end of
	// a stream must not fail for that.
	bg := context.WithoutCancel(ctx)
	ok2xx := status >= 200 && status < 300
	if mediaType == "text/event-stream" || (ok2xx && c.req.Stream && c.req.Shape == llm.Vertex) {
		m := llm.NewStreamMeter(c.req.Shape, ct)
		done := func() { c.endStream(bg, m, status) }
		if c.meterBody(resp.Body, m, done) {
			return nil
		}
		data, err := resp.Body.Bytes(true) // a policy buffered it already
		if err != nil {
			return pipeline.BodyFailure("reading the LLM response", err)
		}
		m.Write(data)
		c.endStream(ctx, m, status)
		return nil
	}
	if n := resp.Body.Len(); resp.Body.Buffered() || n >= 0 && n <= llmBufferLimit {
		data, err := resp.Body.Bytes(true)
		if err != nil {
			return pipeline.BodyFailure("reading the LLM response", err)
		}
		u, ok := llm.ParseUsage(c.req.Shape, data)
		c.report(ctx, usageReport{Usage: u, OK: ok, Status: status})
		return nil
	}
	m := llm.NewBodyMeter(c.req.Shape)
	done := func() {
		u, ok := m.Usage()
		c.report(bg, usageReport{Usage: u, OK: ok, Streamed: true, Status: status})
	}
	if !c.meterBody(resp.Body, m, done) {
		c.report(ctx, usageReport{Status: status})
	}
	return nil
}

// endStream reports a stream's usage once it ended: what it reported, and
// estimates for the rest (a stream that reported nothing is estimated
// whole: the prompt, and the text it generated).
func (c *llmCall) endStream(ctx context.Context, m *llm.StreamMeter, status int) {
	m.Close()
	u, hasPrompt, hasCompletion := m.Usage()
	r := usageReport{Usage: u, OK: true, Streamed: true, Status: status}
	if !hasPrompt {
		u.Prompt, r.Estimated = c.promptEstimate(), true
	}
	if !hasCompletion {
		sample, total := m.Text()
		u.Completion, r.Estimated = c.est.CountSample(c.req.Model, sample, total), true
	}
	u.Total = u.Prompt + u.Completion
	r.Usage = u
	c.report(ctx, r)
}

// meterBody passes the body's stream through w, calling done once when the
// stream is closed (sent whole, given up on, or discarded). It reports false
// when the body has no stream to wrap.
func (c *llmCall) meterBody(b *exchange.Body, w io.Writer, done func()) bool {
	return b.WrapStream(func(rc io.ReadCloser) io.ReadCloser {
		return &meteredStream{ReadCloser: rc, w: w, done: done}
	})
}

// meteredStream copies what is read through it to w, and calls done once it
// is closed.
type meteredStream struct {
	io.ReadCloser
	w    io.Writer
	once sync.Once
	done func()
}

func (s *meteredStream) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if n > 0 {
		s.w.Write(p[:n])
	}
	return n, err
}

func (s *meteredStream) Close() error {
	err := s.ReadCloser.Close()
	s.once.Do(s.done)
	return err
}

// successful reports whether a status says the model did the work.
func successful(status int) bool {
	return status >= http.StatusOK && status < http.StatusMultipleChoices
}
