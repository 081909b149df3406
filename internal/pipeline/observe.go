package pipeline

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// tracerName is the instrumentation scope of the section spans.
const tracerName = "github.com/lastmile-gw/lastmile/internal/pipeline"

// runSection runs one section's steps. When the request is traced (an
// OpenTelemetry span records it, or its developer asked for a trace), the
// section gets a span of its own and the trace learns which section runs;
// otherwise this is runSteps and nothing more.
func runSection(ctx context.Context, x *exchange.Exchange, s Section, steps []Step) error {
	parent := trace.SpanFromContext(ctx)
	if x.Recorder == nil && !parent.IsRecording() {
		return runSteps(ctx, x, steps)
	}
	x.Recorder.Section(s.String())
	if !parent.IsRecording() || len(steps) == 0 {
		return runSteps(ctx, x, steps)
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, s.String(),
		trace.WithAttributes(attribute.String("lastmile.section", s.String()), attribute.Int("lastmile.policies", len(steps))))
	defer span.End()
	err := runSteps(ctx, x, steps)
	if err != nil && !isStop(err) {
		pe := AsError(err)
		span.SetStatus(codes.Error, pe.Reason)
		span.SetAttributes(attribute.String("lastmile.error.source", pe.Source), attribute.String("lastmile.error.reason", pe.Reason))
		if pe.info != nil {
			span.SetAttributes(attribute.String("lastmile.error.path", pe.info.Path))
		}
	}
	return err
}

// stepState is what a step may change that its trace entry shows.
type stepState struct {
	method, url string
	reqHeaders  http.Header
	status      int
	respHeaders http.Header
	vars        map[string]any
	backend     string
}

func captureState(x *exchange.Exchange) *stepState {
	st := &stepState{method: x.Request.Method, reqHeaders: x.Request.Headers.Clone(), vars: maps.Clone(x.Variables), backend: x.Backend.ID}
	if x.Request.URL != nil {
		st.url = x.Request.URL.String()
	}
	if r := x.Response; r != nil {
		st.status, st.respHeaders = r.StatusCode, r.Headers.Clone()
	}
	return st
}

// startStep opens a step's entry in the request's trace and returns the
// state it starts from.
func startStep(x *exchange.Exchange, info *StepInfo) *stepState {
	p := reqtrace.Policy{Name: info.Name, ID: info.ID, Scope: info.Scope, Section: info.Section.String(), Path: info.Path, File: info.File}
	if info.Pos.Line > 0 {
		p.Line, p.Column = info.Pos.Line, info.Pos.Col
	}
	x.Recorder.StartPolicy(p)
	return captureState(x)
}

// endStep closes the step's entry with what it changed and how it failed.
func endStep(x *exchange.Exchange, info *StepInfo, before *stepState, err error) {
	rec := x.Recorder
	// The token a policy obtained never shows, wherever it was copied to.
	rec.Secret(x.Backend.Token.Value)
	after := captureState(x)
	var ch []reqtrace.Change
	add := func(target, name string, from, to any) {
		ch = append(ch, reqtrace.Change{Target: target, Name: name, From: from, To: to})
	}
	if before.method != after.method {
		add("request.method", "", before.method, after.method)
	}
	if before.url != after.url {
		add("request.url", "", before.url, after.url)
	}
	if before.backend != after.backend {
		add("backend", "", before.backend, after.backend)
	}
	headerChanges(rec, "request.headers", before.reqHeaders, after.reqHeaders, add)
	if before.status != after.status {
		add("response.status", "", statusValue(before.status), statusValue(after.status))
	}
	headerChanges(rec, "response.headers", before.respHeaders, after.respHeaders, add)
	for _, k := range slices.Sorted(maps.Keys(after.vars)) {
		old, had := before.vars[k]
		if v := after.vars[k]; !had || traceString(old) != traceString(v) {
			var from any
			if had {
				from = traceString(old)
			}
			add("variables", k, from, traceString(v))
		}
	}
	var te *reqtrace.Error
	if err != nil && !isStop(err) {
		pe := AsError(err)
		te = &reqtrace.Error{Source: pe.Source, Reason: pe.Reason, Message: pe.Message}
		if te.Source == "" {
			te.Source = info.Name
		}
	}
	rec.EndPolicy(ch, te)
}

func statusValue(s int) any {
	if s == 0 {
		return nil
	}
	return s
}

// headerChanges reports the headers that differ between a and b, sorted,
// with credential headers' values hidden.
func headerChanges(rec *reqtrace.Recorder, target string, a, b http.Header, add func(target, name string, from, to any)) {
	val := func(name string, v []string) any {
		if v == nil {
			return nil
		}
		return rec.HeaderValue(name, v)
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if old, ok := a[k]; !ok || !slices.Equal(old, b[k]) {
			add(target, k, val(k, a[k]), val(k, b[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			add(target, k, val(k, a[k]), nil)
		}
	}
}

// traceString shows a value in a request trace: scalars as they are,
// anything else by its type (a parsed JWT, a response, a JSON document),
// never by its content.
func traceString(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	name := strings.TrimLeft(fmt.Sprintf("%T", v), "*[]")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return "(" + name + ")"
}

// recordExpr records an expression's value in the request's trace.
func (v Value) recordExpr(x *exchange.Exchange, result any) {
	if x != nil && x.Recorder != nil {
		x.Recorder.Expression(v.src.String(), traceString(result))
	}
}
