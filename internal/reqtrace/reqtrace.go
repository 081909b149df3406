// Package reqtrace records the step-by-step trace of one request for its
// developer, as API Management's request trace (Ocp-Apim-Trace) does: every
// policy the request passed through (where it is written, its section and
// scope), what it changed (headers, URL, variables), the expressions it
// evaluated and their values, its timing, the managed identity token's
// outcome, the backend calls, and on failure context.LastError.
//
// The pipeline feeds a Recorder; the gateway finishes it into a Trace, a JSON
// document (docs/observability.md describes its shape), and keeps it in a
// Store for a short time under an unguessable id. A web console can do the
// same for its own requests: attach a Recorder to the request's context with
// NewContext and read the Trace when the handler returns.
//
// Secrets never reach a Trace: the values of headers that carry credentials
// (Authorization, the subscription key header, cookies) are replaced, and
// every secret the Recorder was told about (named values marked secret,
// subscription keys, tokens obtained for the request) and everything shaped
// like a JWT is cut out of every string. Bodies are never recorded.
package reqtrace

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Limits of one trace, so that a request that loops (retry) cannot make it
// grow without bound.
const (
	MaxEntries     = 500
	MaxStringBytes = 1024
)

// Redacted replaces what a trace must not show.
const Redacted = "[redacted]"

// Trace is the finished trace of one request, in the JSON shape
// docs/observability.md documents.
type Trace struct {
	RequestID string    `json:"requestId"`
	TraceID   string    `json:"traceId,omitempty"` // the OpenTelemetry trace, when there is one
	Started   time.Time `json:"started"`
	Duration  Millis    `json:"durationMs"`
	Request   Message   `json:"request"`
	API       *API      `json:"api,omitempty"`
	// Entries are by section, each in the order things happened.
	Entries  Sections `json:"traceEntries"`
	Response *Message `json:"response,omitempty"`
	Error    *Error   `json:"lastError,omitempty"`
	Dropped  int      `json:"droppedEntries,omitempty"` // entries over MaxEntries
}

// Sections are a trace's entries by policy section.
type Sections struct {
	Inbound  []*Entry `json:"inbound"`
	Backend  []*Entry `json:"backend"`
	Outbound []*Entry `json:"outbound"`
	OnError  []*Entry `json:"on-error"`
}

// Message is the request as the gateway received it, or the response as
// the client got it: no body.
type Message struct {
	Method  string              `json:"method,omitempty"`
	URL     string              `json:"url,omitempty"`
	Status  int                 `json:"status,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
}

// API names what the request was routed to.
type API struct {
	ID           string `json:"id"`
	Operation    string `json:"operation,omitempty"`
	Product      string `json:"product,omitempty"`
	Subscription string `json:"subscription,omitempty"`
}

// Entry is one step of the trace: a policy, something the gateway did, or a
// message from the trace policy or context.Trace.
type Entry struct {
	Source    string    `json:"source"`
	Timestamp time.Time `json:"timestamp"`
	// Elapsed is the time from the start of the request, as in API
	// Management's trace; Duration the step's own time.
	Elapsed     Millis         `json:"elapsedMs"`
	Duration    *Millis        `json:"durationMs,omitempty"`
	Policy      *Policy        `json:"policy,omitempty"`
	Message     string         `json:"message,omitempty"`
	Data        map[string]any `json:"data,omitempty"`
	Changes     []Change       `json:"changes,omitempty"`
	Expressions []Expression   `json:"expressions,omitempty"`
	Error       *Error         `json:"error,omitempty"`

	section string
}

// Policy is where a policy element is written.
type Policy struct {
	Name    string `json:"name"`
	ID      string `json:"id,omitempty"`
	Scope   string `json:"scope,omitempty"`
	Section string `json:"section"`
	Path    string `json:"path,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// Change is one thing a policy changed: a request or response header, the
// URL, the method, the status, a variable.
type Change struct {
	Target string `json:"target"` // "request.headers", "request.url", "variables", ...
	Name   string `json:"name,omitempty"`
	From   any    `json:"from"` // nil when it was not set
	To     any    `json:"to"`   // nil when it was removed
}

// Expression is a policy expression a step evaluated and its value.
type Expression struct {
	Source string `json:"expression"`
	Value  string `json:"value"`
}

// Error is context.LastError.
type Error struct {
	Source   string `json:"source"`
	Reason   string `json:"reason"`
	Message  string `json:"message"`
	Scope    string `json:"scope,omitempty"`
	Section  string `json:"section,omitempty"`
	Path     string `json:"path,omitempty"`
	PolicyID string `json:"policyId,omitempty"`
}

// Millis is a duration in milliseconds, with microsecond precision.
type Millis float64

func millis(d time.Duration) Millis { return Millis(d.Microseconds()) / 1000 }

// Options start a Recorder.
type Options struct {
	RequestID string
	Start     time.Time
	// Secrets are cut out of every string of the trace (named values marked
	// secret, the subscription's keys).
	Secrets []string
	// Headers are headers whose values are never shown, beside
	// Authorization, Proxy-Authorization, Cookie and Set-Cookie.
	Headers []string
	// Dir is the configuration folder: policy files are shown relative to
	// it, so that a trace does not tell its reader where the server keeps
	// them.
	Dir string
}

// Recorder records one request's trace. It is safe for concurrent use (wait
// runs policies side by side); Fork gives each concurrent branch its own view.
// The methods of a nil *Recorder do nothing.
type Recorder struct {
	d *doc
	// open are the entries of this view's policies that have started and not
	// ended, innermost last.
	open []*Entry
}

type doc struct {
	mu      sync.Mutex
	t       Trace
	start   time.Time
	section string
	n       int
	secrets []string
	hide    map[string]bool
	dir     string
}

// New returns a Recorder for a request that started at o.Start.
func New(o Options) *Recorder {
	d := &doc{start: o.Start, section: "inbound", dir: o.Dir, hide: map[string]bool{
		"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	}}
	d.t.RequestID, d.t.Started = o.RequestID, o.Start.UTC()
	for _, h := range o.Headers {
		d.hide[strings.ToLower(h)] = true
	}
	for _, s := range o.Secrets {
		d.addSecret(s)
	}
	return &Recorder{d: d}
}

// Fork returns a view of r for a branch that runs beside others, with no
// policy open.
func (r *Recorder) Fork() *Recorder {
	if r == nil {
		return nil
	}
	return &Recorder{d: r.d}
}

// Secret adds s to what is cut out of the trace, such as a token the request
// obtained.
func (r *Recorder) Secret(s string) {
	if r == nil || s == "" {
		return
	}
	r.d.mu.Lock()
	r.d.addSecret(s)
	r.d.mu.Unlock()
}

func (d *doc) addSecret(s string) {
	for _, old := range d.secrets {
		if old == s {
			return
		}
	}
	d.secrets = append(d.secrets, s)
}

// SetRequestID records the request's id (context.RequestId), for a Recorder
// started before the gateway gave the request one.
func (r *Recorder) SetRequestID(id string) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	r.d.t.RequestID = id
	r.d.mu.Unlock()
}

// Hide adds a header whose values the trace never shows, such as the API's
// subscription key header.
func (r *Recorder) Hide(header string) {
	if r == nil || header == "" {
		return
	}
	r.d.mu.Lock()
	r.d.hide[strings.ToLower(header)] = true
	r.d.mu.Unlock()
}

// Redact returns s with what the trace cuts out cut out too: its secrets
// (those of Options, and every one added with Secret, such as the tokens
// the request obtained) and anything shaped like a JWT. A console uses it on
// the response body it shows beside the trace; it may be called after
// Finish.
func (r *Recorder) Redact(s string) string {
	if r == nil {
		return Redact(s, nil)
	}
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return Redact(s, r.d.secrets)
}

// Hidden reports whether the trace hides the values of header name.
func (r *Recorder) Hidden(name string) bool {
	if r == nil {
		return false
	}
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.hide[strings.ToLower(name)]
}

// SetRequest records the request as the gateway received it.
func (r *Recorder) SetRequest(method, url string, h map[string][]string) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	r.d.t.Request = Message{Method: method, URL: url, Headers: r.d.headers(h)}
	r.d.mu.Unlock()
}

// SetAPI records what the request was routed to.
func (r *Recorder) SetAPI(a API) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	r.d.t.API = &a
	r.d.mu.Unlock()
}

// SetTraceID records the request's OpenTelemetry trace id.
func (r *Recorder) SetTraceID(id string) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	r.d.t.TraceID = id
	r.d.mu.Unlock()
}

// Section records that the pipeline entered a section ("inbound", "backend",
// "outbound", "on-error"): entries not made by a policy go there.
func (r *Recorder) Section(name string) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	r.d.section = name
	r.d.mu.Unlock()
}

// StartPolicy opens the entry of a policy that starts now. Every StartPolicy
// is followed by one EndPolicy on the same view.
func (r *Recorder) StartPolicy(p Policy) {
	if r == nil {
		return
	}
	if rel, err := filepath.Rel(r.d.dir, p.File); r.d.dir != "" && err == nil && filepath.IsLocal(rel) {
		p.File = filepath.ToSlash(rel)
	}
	now := time.Now()
	e := &Entry{Source: p.Name, Timestamp: now.UTC(), Elapsed: millis(now.Sub(r.d.start)), Policy: &p, section: p.Section}
	r.d.mu.Lock()
	r.d.add(e)
	r.d.mu.Unlock()
	r.open = append(r.open, e)
}

// EndPolicy closes the innermost open policy entry with what it changed and
// how it failed (nil when it did not).
func (r *Recorder) EndPolicy(changes []Change, err *Error) {
	if r == nil || len(r.open) == 0 {
		return
	}
	e := r.open[len(r.open)-1]
	r.open = r.open[:len(r.open)-1]
	d := millis(time.Since(e.Timestamp))
	r.d.mu.Lock()
	e.Duration, e.Error = &d, err
	e.Changes = append(e.Changes, changes...)
	r.d.mu.Unlock()
}

// Expression records an expression the current policy evaluated and its
// value.
func (r *Recorder) Expression(src, value string) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	if e := r.current(); e != nil {
		e.Expressions = append(e.Expressions, Expression{Source: src, Value: value})
	}
}

// Data sets a key of the current policy's data: what it decided or
// obtained, such as a token's outcome or a cache lookup's result. value is
// a string, number, bool, []string, []any or map[string]any.
func (r *Recorder) Data(key string, value any) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	if e := r.current(); e != nil {
		if e.Data == nil {
			e.Data = make(map[string]any, 2)
		}
		e.Data[key] = value
	}
}

// Append adds value to the list under key in the current policy's data, as
// forward-request does for each backend attempt.
func (r *Recorder) Append(key string, value any) {
	if r == nil {
		return
	}
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	if e := r.current(); e != nil {
		if e.Data == nil {
			e.Data = make(map[string]any, 2)
		}
		l, _ := e.Data[key].([]any)
		e.Data[key] = append(l, value)
	}
}

// current is this view's innermost open entry. d.mu is held.
func (r *Recorder) current() *Entry {
	if len(r.open) == 0 {
		return nil
	}
	return r.open[len(r.open)-1]
}

// Note adds an entry that is not a policy, such as the gateway's routing and
// subscription check, in the current section.
func (r *Recorder) Note(source, message string, data map[string]any) {
	if r == nil {
		return
	}
	now := time.Now()
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	sec := r.d.section
	if e := r.current(); e != nil {
		sec = e.section
	}
	r.d.add(&Entry{Source: source, Timestamp: now.UTC(), Elapsed: millis(now.Sub(r.d.start)), Message: message, Data: data, section: sec})
}

// Trace records a message of the trace policy or of context.Trace: source
// is the trace's source, severity verbose, information or error.
func (r *Recorder) Trace(source, severity, message string) {
	r.Note(source, message, map[string]any{"severity": severity})
}

// add appends e to its section. d.mu is held.
func (d *doc) add(e *Entry) {
	if d.n >= MaxEntries {
		d.t.Dropped++
		return
	}
	d.n++
	s := &d.t.Entries
	switch e.section {
	case "backend":
		s.Backend = append(s.Backend, e)
	case "outbound":
		s.Outbound = append(s.Outbound, e)
	case "on-error":
		s.OnError = append(s.OnError, e)
	default:
		s.Inbound = append(s.Inbound, e)
	}
}

// Headers returns h for a trace: the values of credential headers replaced.
// Changes made by policies use it too.
func (r *Recorder) Headers(h map[string][]string) map[string][]string {
	if r == nil {
		return nil
	}
	return r.d.headers(h)
}

// HeaderValue returns the value of header name as a trace shows it.
func (r *Recorder) HeaderValue(name string, v []string) []string {
	if r == nil || v == nil {
		return v
	}
	if r.d.hide[strings.ToLower(name)] {
		return []string{Redacted}
	}
	return v
}

func (d *doc) headers(h map[string][]string) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		if d.hide[strings.ToLower(k)] {
			out[k] = []string{Redacted}
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Finish ends the trace with the response the client got and
// context.LastError (nil when nothing failed), and returns it with every
// secret cut out. The Recorder must not be used afterwards.
func (r *Recorder) Finish(status int, headers map[string][]string, lastError *Error) *Trace {
	if r == nil {
		return nil
	}
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.t
	t.Duration = millis(time.Since(d.start))
	if status != 0 {
		t.Response = &Message{Status: status, Headers: d.headers(headers)}
	}
	t.Error = lastError
	d.scrubTrace(&t)
	return &t
}

// jwtShape matches a JWT (JWS compact form, or the start of a JWE): a
// trace never shows one, whatever it is called.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// Redact returns s with every one of secrets, and anything shaped like a JWT,
// replaced by Redacted: the one rule for what a trace, and a console, never
// shows.
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	if strings.Contains(s, "eyJ") {
		s = jwtShape.ReplaceAllString(s, Redacted)
	}
	return s
}

func (d *doc) scrub(s string) string {
	s = Redact(s, d.secrets)
	if len(s) > MaxStringBytes {
		s = s[:MaxStringBytes] + "...(truncated)"
	}
	return s
}

func (d *doc) scrubAny(v any) any {
	switch v := v.(type) {
	case string:
		return d.scrub(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = d.scrub(s)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = d.scrubAny(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = d.scrubAny(e)
		}
		return out
	case map[string][]string:
		return d.scrubHeaders(v)
	case nil, bool, int, int32, int64, float64, Millis:
		return v
	}
	return "(" + typeName(v) + ")"
}

func (d *doc) scrubHeaders(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = d.scrubAny(v).([]string)
	}
	return out
}

func (d *doc) scrubTrace(t *Trace) {
	t.Request.URL = d.scrub(t.Request.URL)
	t.Request.Headers = d.scrubHeaders(t.Request.Headers)
	if t.Response != nil {
		t.Response.Headers = d.scrubHeaders(t.Response.Headers)
	}
	if t.Error != nil {
		e := *t.Error
		e.Message = d.scrub(e.Message)
		t.Error = &e
	}
	for _, list := range []*[]*Entry{&t.Entries.Inbound, &t.Entries.Backend, &t.Entries.Outbound, &t.Entries.OnError} {
		out := make([]*Entry, len(*list))
		for i, e := range *list {
			c := *e
			c.Message = d.scrub(c.Message)
			if c.Data != nil {
				c.Data = d.scrubAny(c.Data).(map[string]any)
			}
			c.Changes = make([]Change, len(e.Changes))
			for j, ch := range e.Changes {
				ch.From, ch.To = d.scrubAny(ch.From), d.scrubAny(ch.To)
				c.Changes[j] = ch
			}
			if len(c.Changes) == 0 {
				c.Changes = nil
			}
			c.Expressions = make([]Expression, len(e.Expressions))
			for j, x := range e.Expressions {
				c.Expressions[j] = Expression{Source: d.scrub(x.Source), Value: d.scrub(x.Value)}
			}
			if len(c.Expressions) == 0 {
				c.Expressions = nil
			}
			if c.Error != nil {
				ee := *c.Error
				ee.Message = d.scrub(ee.Message)
				c.Error = &ee
			}
			out[i] = &c
		}
		if len(out) == 0 {
			out = []*Entry{}
		}
		*list = out
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying r: the gateway records the trace of a
// request whose context carries a Recorder, whoever sent it.
func NewContext(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the Recorder ctx carries, or nil.
func FromContext(ctx context.Context) *Recorder {
	r, _ := ctx.Value(ctxKey{}).(*Recorder)
	return r
}

// typeName names a value a trace does not show, such as a parsed JWT or a
// response stored in a variable: Jwt, not *expr.Jwt.
func typeName(v any) string {
	name := strings.TrimLeft(fmt.Sprintf("%T", v), "*[]")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
