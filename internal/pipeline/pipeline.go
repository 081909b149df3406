// Package pipeline compiles API Management policy documents into immutable
// pipelines and runs them for each request.
//
// A policy document has four sections (inbound, backend, outbound, on-error) and
// exists at up to four scopes (global, product, API, operation). Each document is
// compiled once, at load, into a Document; Compose splices the documents of one
// request's scopes together the way API Management resolves <base/>, and the result
// is a Pipeline that runs many requests concurrently.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// A Policy is one compiled policy element. Apply runs once per request and must be
// safe for concurrent use: all parsing and compiling happens in its Factory.
type Policy interface {
	Apply(ctx context.Context, x *exchange.Exchange) error
}

// PolicyFunc adapts a function to a Policy.
type PolicyFunc func(ctx context.Context, x *exchange.Exchange) error

// Apply calls f(ctx, x).
func (f PolicyFunc) Apply(ctx context.Context, x *exchange.Exchange) error { return f(ctx, x) }

// Section is one of the four sections of a policy document, or a set of them.
type Section uint8

// The sections, in the order a request passes through them.
const (
	Inbound Section = 1 << iota
	Backend
	Outbound
	OnError

	AllSections = Inbound | Backend | Outbound | OnError
)

var sectionNames = [...]string{"inbound", "backend", "outbound", "on-error"}

// String returns the section's element name, e.g. "on-error".
func (s Section) String() string {
	for i, n := range sectionNames {
		if s == 1<<i {
			return n
		}
	}
	var out string
	for i, n := range sectionNames {
		if s&(1<<i) != 0 {
			if out != "" {
				out += ", "
			}
			out += "<" + n + ">"
		}
	}
	return out
}

func sectionIndex(s Section) int {
	for i := range sectionNames {
		if s == 1<<i {
			return i
		}
	}
	panic(fmt.Sprintf("pipeline: not a single section: %d", s))
}

// Step is a compiled policy together with where it came from, which is what
// context.LastError reports when it fails.
type Step struct {
	Policy Policy
	Info   *StepInfo
}

// StepInfo describes a policy element's origin.
type StepInfo struct {
	Name    string // element name, e.g. "set-header"
	ID      string // the element's id attribute
	Scope   string // "global", "product", "api", "operation"
	Section Section
	Path    string // position within the section, e.g. `choose[1]\when[1]\set-header[1]`
	File    string
	Pos     policyxml.Pos
	// Source is the element as written in File (policyxml.Element.OuterXML):
	// named values appear as {{name}}, never their values.
	Source string
	// ResumePoint is set on a step that is, or contains, a policy whose
	// factory called Compiler.MarkResumePoint (cache-store): outbound resumes
	// after the first such step when an inbound policy returns
	// ErrSkipToOutbound.
	ResumePoint bool
}

// Pipeline is the effective policy of one operation in one product context: the
// documents of every scope composed into four flat step lists.
type Pipeline struct {
	sections [4][]Step
	// resume is where outbound starts after ErrSkipToOutbound: just after its
	// first resume point, or 0 when it has none.
	resume int
}

// Steps returns the steps of one section, for tests and for printing the effective
// policy.
func (p *Pipeline) Steps(s Section) []Step { return p.sections[sectionIndex(s)] }

// ErrReturn is returned by return-response and similar policies to stop the
// pipeline and send x.Response. Like fs.SkipAll, it is control flow, not failure.
var ErrReturn = errors.New("pipeline: return response")

// ErrSkipToOutbound is returned by an inbound policy that has set x.Response
// itself, as cache-lookup does on a hit: the rest of inbound and the backend
// section are skipped, and outbound runs from just after its first resume point
// (the step holding cache-store, whose work the response already had), or whole
// when it has none. API Management's trace says of a hit: "Processing will
// continue from the step in the response pipeline that is after the
// corresponding cache-store". Elsewhere it stops the pipeline as ErrReturn does.
var ErrSkipToOutbound = errors.New("pipeline: skip to outbound")

// Run runs the request through inbound, backend and outbound. When a policy fails,
// it records context.LastError, sets the default error response, and runs
// on-error. When Run returns, x.Response is what the client receives; Run returns
// an error only if the client must not get a response at all (the request's
// context was cancelled).
//
// What policies deferred with x.Defer runs once the response is decided: after
// outbound, where a deferred failure is handled as an outbound policy's, or
// after on-error, where it cannot change the response any more.
func (p *Pipeline) Run(ctx context.Context, x *exchange.Exchange) error {
	err := runSection(ctx, x, Inbound, p.sections[0])
	switch {
	case err == nil:
		if err = runSection(ctx, x, Backend, p.sections[1]); err == nil {
			if err = runHooks(ctx, x, x.TakeAfterBackend(), afterBackendStep); err == nil {
				err = runSection(ctx, x, Outbound, p.sections[2])
			}
		}
	case errors.Is(err, ErrSkipToOutbound):
		err = runSection(ctx, x, Outbound, p.sections[2][p.resume:])
	}
	if err == nil || isStop(err) {
		if x.Response == nil {
			// No forward-request and no return-response: API Management answers 200
			// with no body.
			x.Response = &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: make(map[string][]string)}
		}
		if err = runDeferred(ctx, x); err == nil {
			return nil
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Nobody gets a response, but what the call counted still counts.
		runDeferred(context.WithoutCancel(ctx), x)
		return ctxErr
	}
	p.HandleError(ctx, x, err)
	runDeferred(ctx, x)
	return nil
}

// Where failures of the exchange's hooks are reported: work AfterBackend left
// at the end of the backend section, work Defer left at the end of outbound.
var (
	afterBackendStep = &StepInfo{Section: Backend}
	deferredStep     = &StepInfo{Section: Outbound}
)

// runDeferred runs every function x.Defer registered, also after one fails,
// and returns the first failure.
func runDeferred(ctx context.Context, x *exchange.Exchange) error {
	return runHooks(ctx, x, x.TakeDeferred(), deferredStep)
}

// runHooks runs every function of fs, also after one fails, and returns the
// first failure, reported at step. Like runSteps, it turns a panic into an
// error.
func runHooks(ctx context.Context, x *exchange.Exchange, fs []func(context.Context) error, step *StepInfo) error {
	var first error
	for _, f := range fs {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &Error{Reason: "InternalError", Message: "policy panicked", Status: 500,
						Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
				}
			}()
			return f(ctx)
		}()
		if err != nil && first == nil {
			first = annotate(err, step)
		}
	}
	return first
}

// HandleError records err as context.LastError, sets the caller's default error
// response and runs on-error. The gateway also calls it for failures that happen
// before the pipeline starts, such as a missing subscription key.
func (p *Pipeline) HandleError(ctx context.Context, x *exchange.Exchange, err error) {
	pe := AsError(err)
	x.LastError = pe.lastError()
	// The response the error replaces is nobody's any more: a backend's body
	// left unread (fail-on-error-status-code, an outbound failure) would keep
	// its connection open and out of the pool.
	if x.Response != nil {
		x.Response.Body.Close()
	}
	x.Response = pe.Response(x.RequestID)
	oerr := runSection(ctx, x, OnError, p.sections[3])
	if oerr == nil || isStop(oerr) {
		return
	}
	// A failing on-error section leaves the caller with a plain 500: there is no
	// second on-error. context.LastError is on-error's failure (its Section is
	// on-error), as in API Management; the failure that ran on-error stays
	// with it for the logs.
	first := x.LastError
	x.LastError = AsError(oerr).lastError()
	x.LastError.Original = first
	x.Response = (&Error{Status: 500}).Response(x.RequestID)
}

// runSteps applies steps in order. It stops at the first error, which it annotates
// with the failing step's origin, and turns a panic into an error so that one bad
// policy cannot take the gateway down.
func runSteps(ctx context.Context, x *exchange.Exchange, steps []Step) (err error) {
	var cur *Step
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Reason: "InternalError", Message: "policy panicked", Status: 500,
				Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
			if cur != nil {
				err = annotate(err, cur.Info)
			}
		}
	}()
	for i := range steps {
		cur = &steps[i]
		var before *stepState
		if x.Recorder != nil {
			before = startStep(x, cur.Info)
		}
		err := cur.Policy.Apply(ctx, x)
		if before != nil {
			endStep(x, cur.Info, before, err)
		}
		if err != nil {
			if isStop(err) {
				return err
			}
			return annotate(err, cur.Info)
		}
	}
	return nil
}

// isStop reports whether err is control flow that ends a section with the
// response set, not a failure.
func isStop(err error) bool {
	return errors.Is(err, ErrReturn) || errors.Is(err, ErrSkipToOutbound)
}

// RunSteps runs a nested block of steps, as choose and retry do. Errors are
// annotated with the innermost failing step.
func RunSteps(ctx context.Context, x *exchange.Exchange, steps []Step) error {
	return runSteps(ctx, x, steps)
}
