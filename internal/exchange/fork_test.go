package exchange

import (
	"context"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// TestForkCopiesEveryField fails when Exchange gains a field that Fork does not
// handle.
func TestForkCopiesEveryField(t *testing.T) {
	x := &Exchange{
		RequestID: "id", Timestamp: time.Unix(1, 0),
		Request:   Request{Method: "GET", URL: &url.URL{Path: "/"}},
		Response:  &Response{StatusCode: 200},
		Variables: map[string]any{"a": "b"},
		API:       &API{}, Operation: &Operation{}, Product: &Product{}, Subscription: &Subscription{},
		User: &User{}, Deployment: &Deployment{}, LastError: &LastError{}, Tracing: true, WebSocket: true, GRPC: true,
		Trace:               func(string, string, string) {},
		Backend:             Backend{ID: "b", Failed: 1},
		ClientHeaders:       map[string][]string{"Vary": {"Origin"}},
		CacheLookup:         "lookup",
		Recorder:            reqtrace.New(reqtrace.Options{}),
		Report:              Report{BackendTries: 1, Token: "hit"},
		LLM:                 "llm",
		SemanticCacheLookup: "semantic",
	}
	v := x.Fork()
	rt := reflect.TypeFor[Exchange]()
	xv, vv := reflect.ValueOf(x).Elem(), reflect.ValueOf(v).Elem()
	for i := range rt.NumField() {
		f := rt.Field(i)
		switch f.Name {
		case "Buffers":
			if v.Buffers.parent != &x.Buffers {
				t.Error("the fork's Buffers do not charge the exchange's")
			}
			continue
		case "Trace":
			if v.Trace == nil {
				t.Error("Trace not copied")
			}
			continue
		case "Response":
			if v.Response == nil || v.Response.StatusCode != 200 {
				t.Error("Response not copied")
			}
			continue
		case "Recorder":
			if v.Recorder == nil || v.Recorder == x.Recorder {
				t.Error("the fork has no Recorder view of its own")
			}
			continue
		case "Report":
			// A view starts with an empty report; Join adds what it found.
			if v.Report != (Report{}) {
				t.Error("the fork's Report is not empty")
			}
			v.Report = Report{BackendTries: 2, Cache: "miss"}
			x.Join(v)
			if want := (Report{BackendTries: 3, Cache: "miss", Token: "hit"}); x.Report != want {
				t.Errorf("Report after Join = %+v, want %+v", x.Report, want)
			}
			continue
		case "finished":
			// Whether Done ran is the request's own record: a view starts
			// without it, and Join does not take it.
			if v.finished {
				t.Error("the fork starts finished")
			}
			continue
		case "own":
			// The room for the request's body and first response is the
			// exchange's own: a view starts with it empty.
			x.SetRequestStream(nil, 0)
			x.NewStreamResponse(200, "OK", nil, nil, 0)
			if w := x.Fork(); !reflect.ValueOf(w.own).IsZero() {
				t.Error("the fork shares the exchange's own bodies")
			}
			continue
		case "hooks":
			// A view starts without hooks; Join hands its own to x.
			v.AfterBackend(func(context.Context) error { return nil })
			v.Defer(func(context.Context) error { return nil })
			v.OnDone(func(context.Context, Usage) {})
			v.Mark("k")
			x.Join(v)
			if len(x.hooks.afterBackend) != 1 || len(x.hooks.deferred) != 1 || len(x.hooks.done) != 1 || x.Mark("k") {
				t.Error("Join does not take the view's hooks")
			}
			continue
		}
		if xv.Field(i).IsZero() {
			t.Errorf("test sets no %s: set it above", f.Name)
			continue
		}
		if !reflect.DeepEqual(xv.Field(i).Interface(), vv.Field(i).Interface()) {
			t.Errorf("Fork does not copy %s", f.Name)
		}
	}
}

func TestForkAndJoin(t *testing.T) {
	var budget = NewBudget(1 << 20)
	x := &Exchange{Variables: map[string]any{"keep": "k", "list": []string{"a"}}}
	x.Buffers.Init(budget, 0)
	x.Request.Body = NewRequestBody(io.NopCloser(strings.NewReader("hello")), 5, &x.Buffers)
	if _, err := x.Request.Body.Bytes(true); err != nil {
		t.Fatal(err)
	}
	side := &Response{StatusCode: 200, Body: NewBytesBody([]byte("side"))}
	x.SetVar("side", side)

	a, b := x.Fork(), x.Fork()
	a.SetVar("new", "from-a")
	b.SetVar("keep", "from-b")
	// a consumes the request body and the side response's; b's are untouched.
	if got, _ := a.Request.Body.Bytes(false); string(got) != "hello" {
		t.Fatalf("a read %q", got)
	}
	if got, _ := a.Variables["side"].(*Response).Body.Bytes(false); string(got) != "side" {
		t.Fatalf("a read side %q", got)
	}
	if b.Request.Body.Consumed() || b.Variables["side"].(*Response).Body.Consumed() {
		t.Fatal("b's forks were consumed by a's reads")
	}
	// A body a fork creates charges the exchange's budget.
	body := NewStreamBody(io.NopCloser(strings.NewReader(strings.Repeat("x", 1000))), 1000, &b.Buffers)
	if _, err := body.Bytes(true); err != nil {
		t.Fatal(err)
	}
	used := budget.Used()
	x.Join(a)
	x.Join(b)
	want := map[string]any{"keep": "from-b", "new": "from-a", "list": []string{"a"}, "side": side}
	if !reflect.DeepEqual(x.Variables, want) {
		t.Errorf("variables %v, want %v", x.Variables, want)
	}
	if x.Variables["side"] != side {
		t.Error("an untouched response variable was replaced by its fork")
	}
	if !x.Request.Body.Consumed() || !side.Body.Consumed() {
		t.Error("what a fork consumed is not consumed after Join")
	}
	if used < 1000 {
		t.Errorf("budget used %d, want the fork's 1000 bytes counted", used)
	}
	x.Buffers.Release()
	if budget.Used() != 0 {
		t.Errorf("budget used %d after Release, want 0", budget.Used())
	}
}

// TestJoinKeepsPolicyState: what a policy in a view (a wait branch) leaves for
// a later policy of the request survives Join, and never replaces the
// exchange's own.
func TestJoinKeepsPolicyState(t *testing.T) {
	x := &Exchange{CacheLookup: "mine"}
	v := x.Fork()
	v.CacheLookup, v.LLM, v.SemanticCacheLookup = "view's", "llm", "semantic"
	x.Join(v)
	got := []any{x.CacheLookup, x.LLM, x.SemanticCacheLookup}
	want := []any{"mine", "llm", "semantic"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after Join: %v, want %v", got, want)
	}
}
