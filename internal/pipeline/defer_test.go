package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// deferProbe is a test policy that defers work: it records the response it
// finds at the end (status and X-Out), and fails or panics there when told.
func deferProbe(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "then")
	then, _ := c.LiteralAttr(el, "then")
	return pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
		x.Defer(func(ctx context.Context) error {
			seen := "no response"
			if r := x.Response; r != nil {
				seen = fmt.Sprintf("%d out=%s", r.StatusCode, r.Headers.Get("X-Out"))
			}
			seen += fmt.Sprintf(" cancelled=%v", ctx.Err() != nil)
			x.SetVar("seen", append(varStrings(x, "seen"), seen))
			switch then {
			case "fail":
				return &pipeline.Error{Reason: "DeferredFailure", Message: "the deferred work failed", Status: 502}
			case "panic":
				panic("deferred panic")
			}
			return nil
		})
		return nil
	}), nil
}

func varStrings(x *exchange.Exchange, name string) []string {
	v, _ := x.Var(name)
	s, _ := v.([]string)
	return s
}

// TestDeferred: work a policy defers runs once the response is decided, after
// outbound or after on-error, also when the client went away; a failure there
// is handled like an outbound policy's, and a panic does not escape.
func TestDeferred(t *testing.T) {
	const onError = `<on-error>
		<set-header name="X-Error"><value>@(context.LastError.Reason + " in " + context.LastError.Section)</value></set-header>
	</on-error>`
	const failing = `<set-status code="@(int.Parse(&quot;oops&quot;))" reason="x" />`
	tests := []struct {
		name, inbound string
		cancel        bool
		wantSeen      []string
		wantStatus    int
		wantError     string
	}{
		{name: "after outbound", inbound: `<defer-probe /><defer-probe />`,
			wantSeen: []string{"200 out=o cancelled=false", "200 out=o cancelled=false"}, wantStatus: 200},
		{name: "after return-response", inbound: `<defer-probe /><return-response><set-status code="201" reason="Created" /></return-response>`,
			wantSeen: []string{"201 out= cancelled=false"}, wantStatus: 201},
		{name: "after on-error", inbound: `<defer-probe />` + failing,
			wantSeen: []string{"500 out= cancelled=false"}, wantStatus: 500, wantError: "ExpressionValueEvaluationFailure in inbound"},
		{name: "a deferred failure goes to on-error", inbound: `<defer-probe then="fail" /><defer-probe />`,
			wantSeen: []string{"200 out=o cancelled=false", "200 out=o cancelled=false"}, wantStatus: 502, wantError: "DeferredFailure in outbound"},
		{name: "a failure after on-error changes nothing", inbound: `<defer-probe then="fail" />` + failing,
			wantSeen: []string{"500 out= cancelled=false"}, wantStatus: 500, wantError: "ExpressionValueEvaluationFailure in inbound"},
		{name: "a panic is an error", inbound: `<defer-probe then="panic" />`,
			wantSeen: []string{"200 out=o cancelled=false"}, wantStatus: 500, wantError: "InternalError in outbound"},
		{name: "the client went away", inbound: `<defer-probe />` + failing, cancel: true,
			wantSeen: []string{"no response cancelled=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pipeline.NewRegistry()
			policies.Register(r, policies.Deps{})
			r.Register("defer-probe", pipeline.AllSections, deferProbe)
			c := pipeline.NewCompiler(r, policies.Expressions, nil)
			doc := compile(t, c, "policy.xml", "api", `<policies><inbound>`+tt.inbound+`</inbound><backend />
				<outbound><set-header name="X-Out"><value>o</value></set-header></outbound>`+onError+`</policies>`)
			x := newExchange()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			err := pipeline.Compose(doc).Run(ctx, x)
			if tt.cancel != errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v", err)
			}
			if diff := cmp.Diff(tt.wantSeen, varStrings(x, "seen")); diff != "" {
				t.Errorf("deferred work saw (-want +got):\n%s", diff)
			}
			if tt.cancel {
				return // nobody gets a response
			}
			if x.Response.StatusCode != tt.wantStatus || x.Response.Headers.Get("X-Error") != tt.wantError {
				t.Errorf("response %d, X-Error %q; want %d, %q", x.Response.StatusCode, x.Response.Headers.Get("X-Error"), tt.wantStatus, tt.wantError)
			}
			if len(x.TakeDeferred()) != 0 {
				t.Error("deferred work is left over")
			}
		})
	}
}

// TestErrorHeader: an error's headers go on the caller's default response.
func TestErrorHeader(t *testing.T) {
	e := &pipeline.Error{Reason: "R", Message: "m", Status: 429, Header: map[string][]string{"Retry-After": {"7"}}}
	r := e.Response("id")
	if got := r.Headers.Get("Retry-After"); got != "7" || !strings.Contains(r.Headers.Get("Content-Type"), "json") {
		t.Errorf("headers %v", r.Headers)
	}
	r.Headers["Retry-After"][0] = "changed"
	if e.Header.Get("Retry-After") != "7" {
		t.Error("the response shares the error's header values")
	}
}

// afterBackendProbe is a test policy that leaves work for the end of the
// backend section: it records the response it finds (status and X-Out) in
// the variable "after", and fails there when told.
func afterBackendProbe(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "then")
	then, _ := c.LiteralAttr(el, "then")
	return pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
		x.AfterBackend(func(ctx context.Context) error {
			seen := "no response"
			if r := x.Response; r != nil {
				seen = fmt.Sprintf("%d out=%s", r.StatusCode, r.Headers.Get("X-Out"))
			}
			x.SetVar("after", append(varStrings(x, "after"), seen))
			if then == "fail" {
				return &pipeline.Error{Reason: "AfterBackendFailure", Message: "the work failed", Status: 502}
			}
			return nil
		})
		return nil
	}), nil
}

// TestAfterBackend: work left for the end of the backend section runs once,
// after every retry of it and before outbound, which sees what it did; it
// does not run when inbound answered or the backend section failed; its
// failure goes to on-error as the backend section's.
func TestAfterBackend(t *testing.T) {
	tests := []struct {
		name, inbound, backend string
		wantAfter              []string
		wantStatus             int
		wantError, wantOut     string
	}{
		{name: "before outbound, once after retries", inbound: `<after-backend-probe />`,
			backend:   `<retry condition="@(context.Response == null || context.Response.StatusCode != 203)" count="3" interval="0"><set-status code="@(context.Response == null ? 500 : 203)" reason="x" /></retry>`,
			wantAfter: []string{"203 out="}, wantStatus: 203, wantOut: "o after=203 out="},
		{name: "not when inbound answered", inbound: `<after-backend-probe /><return-response><set-status code="201" reason="Created" /></return-response>`,
			wantStatus: 201},
		{name: "not when the backend section failed", inbound: `<after-backend-probe />`,
			backend: `<set-status code="@(int.Parse(&quot;oops&quot;))" reason="x" />`, wantStatus: 500, wantError: "ExpressionValueEvaluationFailure in backend"},
		{name: "a failure goes to on-error", inbound: `<after-backend-probe then="fail" /><after-backend-probe />`, backend: `<set-status code="200" reason="OK" />`,
			wantAfter: []string{"200 out=", "200 out="}, wantStatus: 502, wantError: "AfterBackendFailure in backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pipeline.NewRegistry()
			policies.Register(r, policies.Deps{})
			r.Register("after-backend-probe", pipeline.Inbound, afterBackendProbe)
			c := pipeline.NewCompiler(r, policies.Expressions, nil)
			doc := compile(t, c, "policy.xml", "api", `<policies><inbound>`+tt.inbound+`</inbound><backend>`+tt.backend+`</backend>
				<outbound><set-header name="X-Out"><value>@("o" + (context.Variables.ContainsKey("after") ? " after=" + string.Join(",", (string[])context.Variables["after"]) : ""))</value></set-header></outbound>
				<on-error><set-header name="X-Error"><value>@(context.LastError.Reason + " in " + context.LastError.Section)</value></set-header></on-error></policies>`)
			x := newExchange()
			if err := pipeline.Compose(doc).Run(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantAfter, varStrings(x, "after")); diff != "" {
				t.Errorf("the work saw (-want +got):\n%s", diff)
			}
			h := x.Response.Headers
			if x.Response.StatusCode != tt.wantStatus || h.Get("X-Error") != tt.wantError || h.Get("X-Out") != tt.wantOut {
				t.Errorf("response %d, X-Error %q, X-Out %q; want %d, %q, %q", x.Response.StatusCode, h.Get("X-Error"), h.Get("X-Out"), tt.wantStatus, tt.wantError, tt.wantOut)
			}
			if tt.wantAfter != nil && len(x.TakeAfterBackend()) != 0 {
				t.Error("work is left over")
			}
		})
	}
}
