package policies_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// scripted is a backend that answers forward-request with the next status of
// its script (the last one again when the script runs out), reading the request
// body the way package proxy does: it takes the stream.
type scripted struct {
	statuses []int
	fail     error // returned instead of a response, when set
	at       []time.Time
	bodies   []string
	resps    []*trackedBody
}

type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func (s *scripted) Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error {
	s.at = append(s.at, time.Now())
	body := ""
	if x.Request.Body != nil && !x.Request.Body.Consumed() {
		b, _ := io.ReadAll(x.Request.Body.Reader())
		body = string(b)
	}
	s.bodies = append(s.bodies, body)
	if s.fail != nil {
		return s.fail
	}
	status := s.statuses[min(len(s.at), len(s.statuses))-1]
	tb := &trackedBody{Reader: strings.NewReader("answer")}
	s.resps = append(s.resps, tb)
	x.Response = &exchange.Response{StatusCode: status, Headers: http.Header{}, Body: exchange.NewStreamBody(tb, 6, nil)}
	return nil
}

// waits returns the time between consecutive attempts.
func (s *scripted) waits() []time.Duration {
	var w []time.Duration
	for i := 1; i < len(s.at); i++ {
		w = append(w, s.at[i].Sub(s.at[i-1]))
	}
	return w
}

func TestRetryWaits(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name      string
		attrs     string
		statuses  []int
		wantWaits []time.Duration
		status    int
	}{
		{"no retry when the condition is false", `count="3" interval="1"`, []int{200}, nil, 200},
		{"fixed interval until the condition is false", `count="5" interval="2"`, []int{429, 429, 200}, []time.Duration{2 * sec, 2 * sec}, 200},
		{"count bounds the retries", `count="2" interval="1"`, []int{429}, []time.Duration{sec, sec}, 429},
		{"first-fast-retry", `count="3" interval="3" first-fast-retry="true"`, []int{429}, []time.Duration{0, 3 * sec, 3 * sec}, 429},
		{"linear", `count="4" interval="1" delta="2"`, []int{429}, []time.Duration{sec, 3 * sec, 5 * sec, 7 * sec}, 429},
		{"max-interval without delta is fixed", `count="2" interval="4" max-interval="10"`, []int{429}, []time.Duration{4 * sec, 4 * sec}, 429},
		{"interval 0", `count="50" interval="0"`, []int{429, 429, 429, 200}, []time.Duration{0, 0, 0}, 200},
		{"expressions", `count="@(2)" interval="@(1 + 1)" first-fast-retry="@(false)"`, []int{429}, []time.Duration{2 * sec, 2 * sec}, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				be := &scripted{statuses: tt.statuses}
				x := sideRun(t, policies.Deps{Forwarder: be}, sideDoc("",
					`<retry condition="@(context.Response.StatusCode == 429)" `+tt.attrs+`><forward-request /></retry>`, "", ""),
					sideExchange("GET", nil, ""))
				if x.LastError != nil {
					t.Fatalf("LastError = %+v", x.LastError)
				}
				if diff := cmp.Diff(tt.wantWaits, be.waits()); diff != "" {
					t.Errorf("waits between attempts (-want +got):\n%s", diff)
				}
				if x.Response.StatusCode != tt.status {
					t.Errorf("final status %d, want %d", x.Response.StatusCode, tt.status)
				}
			})
		})
	}
}

func TestRetryExponentialWaits(t *testing.T) {
	// API Management's example: interval = delta = 10 s, max-interval 100 s gives
	// about 10, 20, 40, 80 and then 100 s; the delta term is scaled by a random
	// factor from 0.8 to 1.2.
	synctest.Test(t, func(t *testing.T) {
		be := &scripted{statuses: []int{500}}
		sideRun(t, policies.Deps{Forwarder: be}, sideDoc("",
			`<retry condition="@(context.Response.StatusCode == 500)" count="6" interval="10" max-interval="100" delta="10"><forward-request /></retry>`, "", ""),
			sideExchange("GET", nil, ""))
		got := be.waits()
		lo := []float64{10, 18, 34, 66, 100, 100}
		hi := []float64{10, 22, 46, 94, 100, 100}
		if len(got) != len(lo) {
			t.Fatalf("%d waits, want %d", len(got), len(lo))
		}
		for i, w := range got {
			if s := w.Seconds(); s < lo[i] || s > hi[i] {
				t.Errorf("wait %d = %s, want %gs to %gs", i+1, w, lo[i], hi[i])
			}
		}
	})
}

func TestRetryReplaysTheRequestBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &scripted{statuses: []int{503, 503, 200}}
		x := sideExchange("POST", http.Header{"Content-Type": {"application/json"}}, "")
		x.Request.Body = exchange.NewStreamBody(io.NopCloser(strings.NewReader(`{"n":1}`)), 7, nil)
		sideRun(t, policies.Deps{Forwarder: be}, sideDoc("",
			`<retry condition="@(context.Response.StatusCode == 503)" count="3" interval="1"><choose><when condition="true"><forward-request /></when></choose></retry>`, "", ""), x)
		if diff := cmp.Diff([]string{`{"n":1}`, `{"n":1}`, `{"n":1}`}, be.bodies); diff != "" {
			t.Errorf("bodies the backend got (-want +got):\n%s", diff)
		}
		// Earlier attempts' responses are closed; the last one goes to the caller.
		for i, r := range be.resps {
			if want := i < len(be.resps)-1; r.closed != want {
				t.Errorf("response %d closed = %v, want %v", i+1, r.closed, want)
			}
		}
	})
}

func TestRetryWithoutForwardRequestKeepsStreaming(t *testing.T) {
	x := sideExchange("POST", nil, "")
	x.Request.Body = exchange.NewStreamBody(io.NopCloser(strings.NewReader("stream")), 6, nil)
	sideRun(t, policies.Deps{Forwarder: &scripted{statuses: []int{200}}}, sideDoc(
		`<retry condition="false" count="1" interval="0"><set-variable name="v" value="1" /></retry>`, "", "", ""), x)
	if x.Request.Body.Buffered() {
		t.Error("a retry without forward-request buffered the request body")
	}
}

func TestRetryStops(t *testing.T) {
	t.Run("a failing child goes to on-error without more attempts", func(t *testing.T) {
		be := &scripted{fail: &pipeline.Error{Reason: "BackendConnectionFailure", Message: "refused", Status: 500}}
		x := sideRun(t, policies.Deps{Forwarder: be}, sideDoc("",
			`<retry condition="true" count="3" interval="0"><forward-request /></retry>`, "", `<set-header name="X-Err" exists-action="override"><value>@(context.LastError.Path)</value></set-header>`),
			sideExchange("GET", nil, ""))
		if len(be.at) != 1 {
			t.Errorf("%d attempts, want 1", len(be.at))
		}
		if got := x.Response.Headers.Get("X-Err"); got != `retry[1]\forward-request[1]` {
			t.Errorf("LastError.Path = %q", got)
		}
	})
	t.Run("return-response inside retry returns", func(t *testing.T) {
		x := sideRun(t, policies.Deps{}, sideDoc(
			`<retry condition="true" count="3" interval="0"><set-variable name="n" value="@(context.Variables.GetValueOrDefault&lt;int&gt;(&quot;n&quot;, 0) + 1)" /><return-response><set-status code="202" /></return-response></retry><set-variable name="after" value="1" />`, "", "", ""),
			sideExchange("GET", nil, ""))
		if x.Response.StatusCode != 202 || x.Variables["n"] != int32(1) || x.Variables["after"] != nil {
			t.Errorf("status %d, n = %v, after = %v", x.Response.StatusCode, x.Variables["n"], x.Variables["after"])
		}
	})
	t.Run("the client going away ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			be := &scripted{statuses: []int{429}}
			p, err := sideCompile(t, policies.Deps{Forwarder: be}, sideDoc("",
				`<retry condition="true" count="5" interval="3600"><forward-request /></retry>`, "", ""))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(10*time.Second, cancel)
			start := time.Now()
			err = p.Run(ctx, sideExchange("GET", nil, ""))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d != 10*time.Second {
				t.Errorf("returned after %s, want when the client left (10s)", d)
			}
			if len(be.at) != 1 {
				t.Errorf("%d attempts, want 1", len(be.at))
			}
		})
	})
	t.Run("variables drive the condition", func(t *testing.T) {
		x := sideRun(t, policies.Deps{}, sideDoc(
			`<set-variable name="i" value="@(5)" /><retry condition="@((int)context.Variables[&quot;i&quot;] &gt; 0)" count="50" interval="0">`+
				`<set-variable name="i" value="@((int)context.Variables[&quot;i&quot;] - 1)" /></retry>`, "", "", ""),
			sideExchange("GET", nil, ""))
		if x.Variables["i"] != int32(0) {
			t.Errorf("i = %v, want 0", x.Variables["i"])
		}
	})
}

func TestRetryErrors(t *testing.T) {
	compile := []struct{ name, policy, want string }{
		{"condition is required", `<retry count="1" interval="1" />`, "policy.xml:1:20: <retry> needs a condition attribute"},
		{"count is required", `<retry condition="true" interval="1" />`, "policy.xml:1:20: <retry> needs a count attribute"},
		{"interval is required", `<retry condition="true" count="1" />`, "policy.xml:1:20: <retry> needs an interval attribute"},
		{"count at least 1", `<retry condition="true" count="0" interval="1" />`, `policy.xml:1:51: retry count must be a whole number from 1 to 50, not "0"`},
		{"count at most 50", `<retry condition="true" count="51" interval="1" />`, `policy.xml:1:51: retry count must be a whole number from 1 to 50, not "51"`},
		{"interval is seconds", `<retry condition="true" count="1" interval="1.5" />`, `policy.xml:1:64: retry interval must be a whole number of seconds, at least 0, not "1.5"`},
		{"max-interval at least 1", `<retry condition="true" count="1" interval="1" max-interval="0" />`, `policy.xml:1:81: retry max-interval must be a whole number of seconds, at least 1 (interval="0" retries without waiting), not "0"`},
		{"delta is seconds", `<retry condition="true" count="1" interval="1" delta="-1" />`, `policy.xml:1:74: retry delta must be a whole number of seconds, at least 0, not "-1"`},
		{"first-fast-retry", `<retry condition="true" count="1" interval="1" first-fast-retry="soon" />`, `policy.xml:1:85: attribute first-fast-retry of <retry> must be true, false or a policy expression, not "soon"`},
		{"condition literal", `<retry condition="yes" count="1" interval="1" />`, `policy.xml:1:38: condition must be a policy expression or true or false, not "yes"`},
		{"children are compiled", `<retry condition="true" count="1" interval="1"><set-status /></retry>`, "policy.xml:1:67: <set-status> needs a code attribute"},
	}
	for _, tt := range compile {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, "<policies><inbound>"+tt.policy+"</inbound></policies>")
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	t.Run("a count expression out of range", func(t *testing.T) {
		x := sideRun(t, policies.Deps{}, sideDoc(`<retry condition="true" count="@(99)" interval="0"><set-variable name="v" value="1" /></retry>`, "", "", ""), sideExchange("GET", nil, ""))
		if x.LastError == nil || x.LastError.Reason != "InvalidRetrySetting" || x.LastError.Message != `retry count must be a whole number from 1 to 50, not "99"` || x.Variables["v"] != nil {
			t.Errorf("LastError = %+v, v = %v", x.LastError, x.Variables["v"])
		}
	})
}
