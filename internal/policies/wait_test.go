package policies_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// meeting is a side transport whose requests each wait until `want` of them
// have arrived, so that a test passes only when they are in flight at the same
// time; a request that waits in vain ends with its context. Paths in fail get
// an error; paths in hang wait for their context.
type meeting struct {
	want int
	fail map[string]bool
	hang map[string]bool

	mu      sync.Mutex
	arrived int
	all     chan struct{}
	got     []string // path and body
	ended   []string // paths whose context ended before an answer
}

func newMeeting(want int) *meeting { return &meeting{want: want, all: make(chan struct{})} }

func (m *meeting) RoundTrip(req *http.Request) (*http.Response, error) {
	body := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		body = string(b)
	}
	m.mu.Lock()
	m.got = append(m.got, req.URL.Path+" "+body)
	m.arrived++
	if m.arrived == m.want {
		close(m.all)
	}
	m.mu.Unlock()
	end := func() (*http.Response, error) {
		m.mu.Lock()
		m.ended = append(m.ended, req.URL.Path)
		m.mu.Unlock()
		return nil, req.Context().Err()
	}
	if m.hang[req.URL.Path] {
		<-req.Context().Done()
		return end()
	}
	select {
	case <-m.all:
	case <-req.Context().Done():
		// When the meeting is complete too, select would pick either at
		// random: a request whose others all arrived answers, whatever
		// happened to them since, so that what is cancelled is decided.
		select {
		case <-m.all:
		default:
			return end()
		}
	}
	if m.fail[req.URL.Path] {
		return nil, errors.New("connection refused")
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("answer " + req.URL.Path)), ContentLength: -1}, nil
}

func TestWaitAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMeeting(3)
		deps := policies.Deps{SideRequests: m, Cache: policies.Caches{Internal: store.NewMemory(1)}}
		doc := sideDoc(`<cache-store-value key="k" value="cached" duration="60" />
			<set-variable name="before" value="old" />
			<wait for="all">
				<send-request mode="new" response-variable-name="one" timeout="10"><set-url>https://side.example/one</set-url></send-request>
				<send-request mode="copy" response-variable-name="two" timeout="10"><set-url>https://side.example/two</set-url></send-request>
				<choose>
					<when condition="@(true)">
						<set-variable name="before" value="from-choose" />
						<cache-lookup-value key="k" variable-name="hit" />
						<send-request mode="new" response-variable-name="three" timeout="10">
							<set-url>https://side.example/three</set-url>
							<set-method>POST</set-method>
							<set-body>@(context.Request.Body.As<string>())</set-body>
						</send-request>
					</when>
				</choose>
			</wait>
			<return-response><set-body>@(((IResponse)context.Variables["one"]).Body.As<string>() + "|" + ((IResponse)context.Variables["two"]).Body.As<string>() + "|" + ((IResponse)context.Variables["three"]).Body.As<string>() + "|" + (string)context.Variables["hit"] + "|" + (string)context.Variables["before"])</set-body></return-response>`,
			"", "", "")
		x := sideRun(t, deps, doc, sideExchange("POST", nil, "payload"))
		body, _ := x.Response.Body.Bytes(true)
		// The choose read the request body without preserving it: it is
		// consumed afterwards, as it would be without wait.
		if want := "answer /one|answer /two|answer /three|cached|from-choose"; string(body) != want {
			t.Errorf("body %q, want %q (LastError %+v)", body, want, x.LastError)
		}
		if !x.Request.Body.Consumed() {
			t.Error("the request body that a child read without preserving it is not consumed")
		}
		got := append([]string(nil), m.got...)
		want := []string{"/one ", "/three payload", "/two payload"}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("side requests (-want +got):\n%s", diff)
		}
	})
}

// TestWaitAny: the first child to complete wins; the others are cancelled and
// their variables dropped.
func TestWaitAny(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMeeting(1)
		m.hang = map[string]bool{"/slow": true}
		doc := sideDoc(`<wait for="any">
				<send-request response-variable-name="slow" timeout="30"><set-url>https://side.example/slow</set-url></send-request>
				<send-request response-variable-name="fast" timeout="30"><set-url>https://side.example/fast</set-url></send-request>
			</wait>
			<return-response><set-body>@(context.Variables.ContainsKey("slow") + " " + ((IResponse)context.Variables["fast"]).Body.As<string>())</set-body></return-response>`, "", "", "")
		x := sideRun(t, policies.Deps{SideRequests: m}, doc, sideExchange("GET", nil, ""))
		body, _ := x.Response.Body.Bytes(true)
		if string(body) != "False answer /fast" {
			t.Errorf("body %q, want %q", body, "False answer /fast")
		}
		if diff := cmp.Diff([]string{"/slow"}, m.ended); diff != "" {
			t.Errorf("cancelled (-want +got):\n%s", diff)
		}
	})
}

// TestWaitFailure: a child that fails cancels the others and goes to
// on-error; ignore-error children do not fail.
func TestWaitFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMeeting(2)
		m.fail = map[string]bool{"/bad": true}
		m.hang = map[string]bool{"/slow": true}
		doc := sideDoc(`<wait>
				<send-request response-variable-name="ok" timeout="30" ignore-error="true"><set-url>https://side.example/ok</set-url></send-request>
				<send-request response-variable-name="bad" timeout="30"><set-url>https://side.example/bad</set-url></send-request>
				<send-request response-variable-name="slow" timeout="30"><set-url>https://side.example/slow</set-url></send-request>
			</wait>`, "", "",
			`<set-header name="x-error" exists-action="override"><value>@(context.LastError.Source + " " + context.LastError.Reason + " " + context.LastError.Path)</value></set-header>`)
		x := sideRun(t, policies.Deps{SideRequests: m}, doc, sideExchange("GET", nil, ""))
		if got, want := x.Response.Headers.Get("x-error"), `send-request BackendConnectionFailure wait[1]\send-request[2]`; got != want {
			t.Errorf("x-error %q, want %q", got, want)
		}
		if diff := cmp.Diff([]string{"/slow"}, m.ended); diff != "" {
			t.Errorf("cancelled (-want +got):\n%s", diff)
		}
		if _, ok := x.Variables["ok"]; ok {
			t.Error("variables of a failed wait were kept")
		}
	})
}

func TestWaitCompileErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<wait for="some"><send-request response-variable-name="r"><set-url>https://a.example</set-url></send-request></wait>`,
			`policy.xml:1:31: for of <wait> must be all or any, not "some"`},
		{`<wait />`, `policy.xml:1:20: <wait> needs policies to wait for: send-request, cache-lookup-value or choose`},
		{`<wait><set-header name="a"><value>b</value></set-header></wait>`,
			`policy.xml:1:26: <set-header> cannot run in <wait>, whose policies run at the same time; it takes send-request, cache-lookup-value, choose`},
		{`<wait><choose><when condition="true"><set-body>x</set-body></when></choose></wait>`,
			`policy.xml:1:57: <set-body> cannot run in a <choose> in <wait>, whose policies run at the same time; it takes send-request, cache-lookup-value, choose, set-variable`},
	} {
		_, err := sideCompile(t, policies.Deps{}, sideDoc(tc.doc, "", "", ""))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.doc, err, tc.want)
		}
	}
}

// oneWay is a side transport that holds each request until released and
// records what it got.
type oneWay struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
}

func (o *oneWay) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-o.release:
	case <-req.Context().Done():
		o.mu.Lock()
		o.got = append(o.got, "ended "+req.URL.Path)
		o.mu.Unlock()
		return nil, req.Context().Err()
	}
	b, _ := io.ReadAll(req.Body)
	o.mu.Lock()
	o.got = append(o.got, req.Method+" "+req.URL.Path+" "+req.Header.Get("Authorization")+" "+req.Header.Get("X-Caller")+" "+string(b))
	o.mu.Unlock()
	return &http.Response{StatusCode: 202, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// TestSendOneWayRequest: the request that sends it completes while the side
// request is still in flight; the side request is built from the exchange as
// it was (mode copy: method, headers, body) and gets its token in the
// background.
func TestSendOneWayRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &oneWay{release: make(chan struct{})}
		sender := &policies.OneWay{}
		deps := policies.Deps{SideRequests: tr, OneWay: sender, Tokens: &fakeTokens{}}
		doc := sideDoc(`<send-one-way-request mode="copy" timeout="20">
				<set-url>https://mirror.example/copy</set-url>
				<authentication-managed-identity resource="api://mirror" />
			</send-one-way-request>
			<return-response><set-status code="204" reason="No Content" /></return-response>`, "", "", "")
		x := sideRun(t, deps, doc, sideExchange("PUT", http.Header{"X-Caller": {"c1"}}, "mirrored"))
		if x.Response.StatusCode != 204 {
			t.Fatalf("status %d", x.Response.StatusCode)
		}
		synctest.Wait()
		if len(tr.got) != 0 {
			t.Fatal("the side request finished before it was released")
		}
		close(tr.release)
		if err := sender.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{"PUT /copy Bearer tok-for--api://mirror c1 mirrored"}
		if diff := cmp.Diff(want, tr.got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestSendOneWayRequestBounds: past MaxInFlight a request is dropped (and
// logged), never waited for; each request ends at its timeout.
func TestSendOneWayRequestBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &oneWay{release: make(chan struct{})}
		var logs bytes.Buffer
		sender := &policies.OneWay{MaxInFlight: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		deps := policies.Deps{SideRequests: tr, OneWay: sender}
		p, err := sideCompile(t, deps, sideDoc(`<send-one-way-request timeout="5"><set-url>@("https://mirror.example/" + context.Request.Headers.GetValueOrDefault("n", ""))</set-url></send-one-way-request>`, "", "", ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1", "2", "3"} {
			x := sideExchange("GET", http.Header{"N": {n}}, "")
			if err := p.Run(context.Background(), x); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if err := sender.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("in-flight requests ended after %v, want their 5 s timeout", waited)
		}
		got := append([]string(nil), tr.got...)
		slices.Sort(got)
		if diff := cmp.Diff([]string{"ended /1", "ended /2"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if !strings.Contains(logs.String(), "send-one-way-request dropped") || !strings.Contains(logs.String(), "https://mirror.example/3") {
			t.Errorf("the dropped request is not logged:\n%s", logs.String())
		}
	})
}

func TestSendOneWayRequestCompileErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<send-one-way-request response-variable-name="r"><set-url>https://a.example</set-url></send-one-way-request>`,
			`policy.xml:1:42: unknown attribute "response-variable-name" on <send-one-way-request>; expected mode, timeout`},
		{`<send-one-way-request><set-url>https://a.example</set-url><authentication-managed-identity resource="r" output-token-variable-name="t" /></send-one-way-request>`,
			`policy.xml:1:124: output-token-variable-name has no use in <send-one-way-request>: the request is sent after the policy is done, so no later policy could read the token; leave it out and the token goes in the Authorization header`},
		{`<send-one-way-request />`, `policy.xml:1:20: <send-one-way-request> needs a <set-url> unless mode is copy`},
	} {
		_, err := sideCompile(t, policies.Deps{Tokens: &fakeTokens{}}, sideDoc(tc.doc, "", "", ""))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.doc, err, tc.want)
		}
	}
}

// TestOneWayWaitWithNothingInFlight: a shutdown whose grace period the other
// requests used up does not report send-one-way-requests that were never sent.
func TestOneWayWaitWithNothingInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := new(policies.OneWay).Wait(ctx); err != nil {
		t.Errorf("Wait = %v, want nil: nothing is in flight", err)
	}
}
