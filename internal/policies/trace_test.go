package policies_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

type traced struct{ Source, Severity, Message string }

func TestTraceToTheRequestTrace(t *testing.T) {
	tests := []struct {
		name, policy string
		want         []traced
	}{
		{"literal message, default severity",
			`<trace source="PetStore API"><message>Request received</message></trace>`,
			[]traced{{"PetStore API", "verbose", "Request received"}}},
		{"expression and metadata",
			`<set-variable name="cid" value="conn-7" /><trace source="PetStore API" severity="information">
				<message>@((string)context.Variables["cid"])</message>
				<metadata name="Operation Name" value="New-Order" />
				<metadata name="@(&quot;method&quot;)" value="@(context.Request.Method)" />
			</trace>`,
			[]traced{{"PetStore API", "information", "conn-7 {Operation Name=New-Order, method=GET}"}}},
		{"the original schema's text message",
			`<trace source="OnError" severity="error">
				On Error
			</trace>`,
			[]traced{{"OnError", "error", "On Error"}}},
		{"a failing expression is traced, not fatal",
			`<trace source="s"><message>@((string)context.Variables["missing"])</message></trace><set-variable name="after" value="1" />`,
			[]traced{{"s", "verbose", `the trace message could not be evaluated: KeyNotFoundException: The given key 'missing' was not present in the dictionary: context.Variables has no variable "missing" at 1:11 (expression at policy.xml:1:47)`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []traced
			x := sideExchange("GET", nil, "")
			x.Trace = func(source, severity, message string) { got = append(got, traced{source, severity, message}) }
			sideRun(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""), x)
			if x.LastError != nil {
				t.Fatalf("LastError = %+v", x.LastError)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("traces (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTraceToTheLog(t *testing.T) {
	policy := `<trace source="orders" severity="error"><message>@("order " + context.Request.Method)</message><metadata name="tenant" value="t1" /></trace>`
	t.Run("debug level only", func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		sideRun(t, policies.Deps{Logger: log}, sideDoc(policy, "", "", ""), sideExchange("GET", nil, ""))
		want := `"level":"DEBUG","msg":"trace","request_id":"00000000-0000-4000-8000-00000000000a","source":"orders","severity":"error","metadata.tenant":"t1","message":"order GET"}`
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log = %s\nwant it to contain %s", buf.String(), want)
		}
		if strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("want exactly one log line: %s", buf.String())
		}
	})
	t.Run("nothing above debug, nothing evaluated", func(t *testing.T) {
		var buf bytes.Buffer
		h := &countingHandler{Handler: slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})}
		sideRun(t, policies.Deps{Logger: slog.New(h)}, sideDoc(policy, "", "", ""), sideExchange("GET", nil, ""))
		if buf.Len() != 0 || h.handled != 0 {
			t.Errorf("logged at info level: %s", buf.String())
		}
	})
}

// countingHandler counts the records that reach it.
type countingHandler struct {
	slog.Handler
	handled int
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.handled++
	return h.Handler.Handle(ctx, r)
}

func TestTraceSections(t *testing.T) {
	var got []string
	x := sideExchange("GET", nil, "")
	x.Trace = func(source, severity, message string) { got = append(got, message) }
	tr := func(m string) string { return `<trace source="s"><message>` + m + `</message></trace>` }
	sideRun(t, policies.Deps{Forwarder: &scripted{statuses: []int{200}}}, sideDoc(tr("in"), tr("back")+`<forward-request />`, tr("out"), tr("err")), x)
	if diff := cmp.Diff([]string{"in", "back", "out"}, got); diff != "" {
		t.Errorf("traces (-want +got):\n%s", diff)
	}
	// on-error: an original snippet traces there.
	got = nil
	x = sideExchange("GET", nil, "")
	x.Trace = func(source, severity, message string) { got = append(got, message) }
	sideRun(t, policies.Deps{}, sideDoc(`<set-status code="@(1)" />`, "", "", tr("err")), x)
	if diff := cmp.Diff([]string{"err"}, got); diff != "" {
		t.Errorf("on-error traces (-want +got):\n%s", diff)
	}
}

func TestTraceCompileErrors(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"source is required", `<trace><message>m</message></trace>`, "policy.xml:1:20: <trace> needs a source attribute"},
		{"source is a literal", `<trace source="@(&quot;s&quot;)"><message>m</message></trace>`, "policy.xml:1:35: attribute source of <trace> does not accept policy expressions"},
		{"severity", `<trace source="s" severity="debug"><message>m</message></trace>`, `policy.xml:1:48: severity of <trace> must be verbose, information or error, not "debug"`},
		{"a message is required", `<trace source="s" />`, "policy.xml:1:20: <trace> needs a <message>"},
		{"one message", `<trace source="s"><message>a</message><message>b</message></trace>`, "policy.xml:1:58: <trace> has more than one <message>"},
		{"message first", `<trace source="s"><metadata name="a" value="b" /><message>m</message></trace>`, "policy.xml:1:69: <message> must come before <metadata> in <trace>"},
		{"metadata needs a value", `<trace source="s"><message>m</message><metadata name="a" /></trace>`, "policy.xml:1:58: <metadata> needs a value attribute"},
		{"unknown child", `<trace source="s"><message>m</message><level>1</level></trace>`, "policy.xml:1:58: unexpected <level> in <trace>; expected <message> or <metadata>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, "<policies><inbound>"+tt.policy+"</inbound></policies>")
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
