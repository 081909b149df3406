package policies_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// hosts is a set of fake backends, by host: each answers with its handler and
// records what it got. It runs inside a synctest bubble: no network.
type hosts struct {
	answer map[string]func(n int) (int, http.Header)
	got    []sent
}

type sent struct {
	Host, Path, Key, Auth, Body string
}

func (h *hosts) Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error {
	body := ""
	if x.Request.Body != nil && !x.Request.Body.Consumed() {
		b, _ := io.ReadAll(x.Request.Body.Reader())
		body = string(b)
	}
	host := x.Request.URL.Host
	h.got = append(h.got, sent{host, x.Request.URL.Path, x.Request.Headers.Get("X-Key"), x.Request.Headers.Get("Authorization"), body})
	n := 0
	for _, g := range h.got {
		if g.Host == host {
			n++
		}
	}
	status, hdr := h.answer[host](n)
	if hdr == nil {
		hdr = http.Header{}
	}
	x.Response = &exchange.Response{StatusCode: status, StatusReason: http.StatusText(status), Headers: hdr, Body: exchange.NewBytesBody([]byte(host))}
	return nil
}

func (h *hosts) hosts() []string {
	var out []string
	for _, g := range h.got {
		out = append(out, g.Host)
	}
	return out
}

func always(status int, hdr http.Header) func(int) (int, http.Header) {
	return func(int) (int, http.Header) { return status, hdr }
}

// rule429 is the AI-Gateway samples' breaker: one 429 trips it, for a minute
// or the backend's Retry-After.
var rule429 = balancer.Rule{Count: 1, Interval: 5 * time.Minute, StatusRanges: []balancer.StatusRange{{Min: 429, Max: 429}}, TripDuration: time.Minute, AcceptRetryAfter: true}

// poolDeps is a pool "pool" of members a, b (and c...), at https://<id>.example,
// each with its own X-Key credential and the breaker rule, and the members
// configured by edit.
func poolDeps(fwd policies.Forwarder, rule *balancer.Rule, members ...balancer.Member) policies.Deps {
	backends := map[string]policies.Backend{}
	for i, m := range members {
		b := policies.Backend{URL: "https://" + m.ID + ".example/v1", Header: map[string][]string{"x-key": {"key-" + m.ID}}}
		if rule != nil {
			b.Breaker = balancer.NewBreaker(*rule)
			members[i].Breaker = b.Breaker
		}
		backends[m.ID] = b
	}
	backends["pool"] = policies.Backend{Pool: balancer.NewPool("pool", members)}
	return policies.Deps{Forwarder: fwd, Backends: backends}
}

// aiGateway is the AI-Gateway samples' policy: inbound chooses the pool;
// backend retries 429 and 503 on it, each attempt choosing again.
const aiGateway = `<policies>
	<inbound><set-backend-service backend-id="pool" /></inbound>
	<backend>
		<retry count="2" interval="0" first-fast-retry="true" condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode == 503)">
			<set-backend-service backend-id="pool" />
			<forward-request buffer-request-body="true" />
		</retry>
	</backend>
	<outbound>
		<set-header name="x-member" exists-action="override"><value>@(context.Request.Url.Host)</value></set-header>
		<set-header name="x-seen-key" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("x-key", "none"))</value></set-header>
	</outbound>
	<on-error>
		<set-header name="x-reason" exists-action="override"><value>@(context.Response.StatusReason)</value></set-header>
		<set-header name="x-error" exists-action="override"><value>@(context.LastError.Source + " " + context.LastError.Reason)</value></set-header>
	</on-error>
</policies>`

// runDoc runs doc on a POST with a body to https://backend.example/api/chat.
func runDoc(t *testing.T, p *pipeline.Pipeline, h http.Header) *exchange.Exchange {
	t.Helper()
	x := sideExchange("POST", h, `{"prompt":"hi"}`)
	x.Request.URL.Path = "/api/chat"
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

// TestAIGatewayPattern: a member that answers 429 with Retry-After trips its
// breaker for exactly that long; the retry's new choice skips it, so the
// client never sees the 429, and later requests do not go to it until its
// circuit closes.
func TestAIGatewayPattern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){
			"a.example": func(n int) (int, http.Header) {
				if n == 1 {
					return 429, http.Header{"Retry-After": {"30"}}
				}
				return 200, nil
			},
			"b.example": always(200, nil),
		}}
		p, err := sideCompile(t, poolDeps(h, &rule429, balancer.Member{ID: "a"}, balancer.Member{ID: "b"}), aiGateway)
		if err != nil {
			t.Fatal(err)
		}
		x := runDoc(t, p, nil)
		if x.Response.StatusCode != 200 || x.Response.Headers.Get("x-member") != "b.example" {
			t.Fatalf("first request: %d from %s, want 200 from b", x.Response.StatusCode, x.Response.Headers.Get("x-member"))
		}
		want := []sent{
			{"a.example", "/v1/chat", "key-a", "", `{"prompt":"hi"}`},
			{"b.example", "/v1/chat", "key-b", "", `{"prompt":"hi"}`},
		}
		if diff := cmp.Diff(want, h.got); diff != "" {
			t.Errorf("backends got (-want +got):\n%s", diff)
		}
		if got := x.Response.Headers.Get("x-seen-key"); got != "none" {
			t.Errorf("outbound sees X-Key %q: the member's credential stayed on the request", got)
		}
		h.got = nil
		for range 3 {
			runDoc(t, p, nil)
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		runDoc(t, p, nil)
		if diff := cmp.Diff([]string{"b.example", "b.example", "b.example", "b.example"}, h.hosts()); diff != "" {
			t.Errorf("while a is tripped (-want +got):\n%s", diff)
		}
		h.got = nil
		time.Sleep(time.Nanosecond)
		runDoc(t, p, nil)
		runDoc(t, p, nil)
		if got := h.hosts(); !strings.Contains(strings.Join(got, " "), "a.example") {
			t.Errorf("after exactly 30 s, a gets no requests: %v", got)
		}
	})
}

// TestPoolUnavailable: when every member is tripped the request fails with
// 503 and the reason phrase the AI-Gateway samples test ("Backend pool" ...
// "is temporarily unavailable"), on-error runs, and the caller learns when to
// come back.
func TestPoolUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){"a.example": always(429, nil), "b.example": always(429, nil)}}
		p, err := sideCompile(t, poolDeps(h, &rule429, balancer.Member{ID: "a"}, balancer.Member{ID: "b"}), aiGateway)
		if err != nil {
			t.Fatal(err)
		}
		x := runDoc(t, p, nil)
		if diff := cmp.Diff([]string{"a.example", "b.example"}, h.hosts()); diff != "" {
			t.Errorf("tried (-want +got):\n%s", diff)
		}
		r := x.Response
		body, _ := r.Body.Bytes(true)
		got := []string{http.StatusText(r.StatusCode), r.Headers.Get("x-reason"), r.Headers.Get("x-error"), r.Headers.Get("Retry-After"), string(body)}
		want := []string{"Service Unavailable", "Backend pool pool is temporarily unavailable", "forward-request BackendUnavailable", "60",
			`{"statusCode":503,"message":"Backend pool pool is temporarily unavailable","activityId":"00000000-0000-4000-8000-00000000000a"}`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// Nothing is sent while both are tripped; Retry-After counts down.
		h.got = nil
		time.Sleep(45 * time.Second)
		x = runDoc(t, p, nil)
		if len(h.got) != 0 || x.Response.StatusCode != 503 || x.Response.Headers.Get("Retry-After") != "15" {
			t.Errorf("45 s later: sent %v, status %d, Retry-After %q; want nothing sent, 503, 15", h.hosts(), x.Response.StatusCode, x.Response.Headers.Get("Retry-After"))
		}
	})
}

// TestPriorityFailover: the second priority group gets requests only while
// every member of the first is tripped, and loses them when one closes.
func TestPriorityFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){
			"a.example": func(n int) (int, http.Header) {
				if n == 1 {
					return 429, nil
				}
				return 200, nil
			},
			"b.example": always(200, nil),
		}}
		p, err := sideCompile(t, poolDeps(h, &rule429, balancer.Member{ID: "a", Priority: 1}, balancer.Member{ID: "b", Priority: 2}), aiGateway)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			runDoc(t, p, nil)
		}
		time.Sleep(time.Minute)
		for range 2 {
			runDoc(t, p, nil)
		}
		want := []string{"a.example", "b.example", "b.example", "b.example", "a.example", "a.example"}
		if diff := cmp.Diff(want, h.hosts()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestSingleBackendBreaker: a backend entity's own breaker, without a pool.
func TestSingleBackendBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){"a.example": always(503, nil)}}
		rule := balancer.Rule{Count: 2, Interval: time.Minute, StatusRanges: []balancer.StatusRange{{Min: 500, Max: 599}}, TripDuration: 10 * time.Second}
		deps := poolDeps(h, &rule, balancer.Member{ID: "a"})
		p, err := sideCompile(t, deps, sideDoc(`<set-backend-service backend-id="a" />`, `<forward-request />`, "",
			`<set-header name="x-reason" exists-action="override"><value>@(context.Response.StatusReason)</value></set-header>`))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 3 {
			x := runDoc(t, p, nil)
			got = append(got, x.Response.StatusReason+"|"+x.Response.Headers.Get("x-reason"))
		}
		want := []string{"Service Unavailable|", "Service Unavailable|", "Backend a is temporarily unavailable|Backend a is temporarily unavailable"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if len(h.got) != 2 {
			t.Errorf("the backend got %d requests, want 2 (none once tripped)", len(h.got))
		}
	})
}

// TestSessionAffinity: the pool's cookie keeps a client on its member while
// that member is available; the gateway sets it when it chose another.
func TestSessionAffinity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){
			"a.example": always(200, nil),
			"b.example": func(n int) (int, http.Header) {
				if n == 2 {
					return 429, nil
				}
				return 200, nil
			},
		}}
		deps := poolDeps(h, &rule429, balancer.Member{ID: "a"}, balancer.Member{ID: "b"})
		pool := deps.Backends["pool"]
		pool.SessionCookie = "lm-session"
		deps.Backends["pool"] = pool
		p, err := sideCompile(t, deps, aiGateway)
		if err != nil {
			t.Fatal(err)
		}
		tokenB := pool.Pool.Token(1)
		x := runDoc(t, p, http.Header{"Cookie": {"other=1; lm-session=" + tokenB}})
		if got := x.Response.Headers.Get("x-member") + " " + x.Response.Headers.Get("Set-Cookie"); got != "b.example " {
			t.Errorf("with b's cookie: %q, want b and no new cookie", got)
		}
		// b answers 429 and trips: the session moves to a, with a new cookie.
		x = runDoc(t, p, http.Header{"Cookie": {"lm-session=" + tokenB}})
		want := "a.example lm-session=" + pool.Pool.Token(0) + "; Path=/; HttpOnly"
		if got := x.Response.Headers.Get("x-member") + " " + x.Response.Headers.Get("Set-Cookie"); got != want {
			t.Errorf("b tripped: %q, want %q", got, want)
		}
		for _, cookie := range []string{"", "lm-session=../../etc", "lm-session=" + strings.Repeat("f", 4096), `lm-session="unterminated`} {
			x = runDoc(t, p, http.Header{"Cookie": {cookie}})
			if got := x.Response.Headers.Get("Set-Cookie"); x.Response.StatusCode != 200 || !strings.HasPrefix(got, "lm-session=") {
				t.Errorf("cookie %.40q: status %d, Set-Cookie %q; want 200 and the chosen member's cookie", cookie, x.Response.StatusCode, got)
			}
		}
	})
}

// TestPoolByExpression: backend-id may be an expression that names a pool.
func TestPoolByExpression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hosts{answer: map[string]func(int) (int, http.Header){"a.example": always(200, nil)}}
		p, err := sideCompile(t, poolDeps(h, nil, balancer.Member{ID: "a"}), sideDoc(`<set-backend-service backend-id="@("po" + "ol")" />`, `<forward-request />`, "", ""))
		if err != nil {
			t.Fatal(err)
		}
		if x := runDoc(t, p, nil); x.Response.StatusCode != 200 || len(h.got) != 1 || h.got[0].Path != "/v1/chat" {
			t.Errorf("status %d, sent %v", x.Response.StatusCode, h.got)
		}
	})
}

// TestConnectFailover runs through the real transport: a member that refuses
// connections never got the request, so it goes to the next member at once,
// with that member's credentials only. A body that streamed to the refused
// member cannot be sent again: that request fails.
func TestConnectFailover(t *testing.T) {
	var got []string
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.URL.Path+" key="+r.Header.Get("X-Key")+" body="+string(b))
	}))
	defer live.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	rule := balancer.Rule{Count: 1, Interval: time.Minute, ErrorReasons: []string{"BackendConnectionFailure"}, TripDuration: time.Hour}
	breakerA := balancer.NewBreaker(rule)
	deps := policies.Deps{
		Forwarder: &proxy.Forwarder{Transport: http.DefaultTransport},
		Backends: map[string]policies.Backend{
			"a":    {URL: down + "/a", Header: map[string][]string{"x-key": {"key-a"}}, Breaker: breakerA},
			"b":    {URL: live.URL + "/b", Header: map[string][]string{"x-key": {"key-b"}}},
			"pool": {Pool: balancer.NewPool("pool", []balancer.Member{{ID: "a", Breaker: breakerA}, {ID: "b"}})},
		},
	}
	p, err := sideCompile(t, deps, sideDoc(`<set-backend-service backend-id="pool" />`, `<forward-request />`, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	x := runDoc(t, p, nil)
	if x.Response.StatusCode != 200 {
		t.Fatalf("status %d, want 200 from b", x.Response.StatusCode)
	}
	if diff := cmp.Diff([]string{`/b/chat key=key-b body={"prompt":"hi"}`}, got); diff != "" {
		t.Errorf("b got (-want +got):\n%s", diff)
	}
	if _, open := breakerA.Open(time.Now()); !open {
		t.Error("a's breaker, which counts BackendConnectionFailure, is not open")
	}

	// Without a breaker on a, a request whose body streams fails on a.
	deps.Backends["a"] = policies.Backend{URL: down + "/a"}
	deps.Backends["pool"] = policies.Backend{Pool: balancer.NewPool("pool", []balancer.Member{{ID: "a"}, {ID: "b"}})}
	p, err = sideCompile(t, deps, sideDoc(`<set-backend-service backend-id="pool" />`, `<forward-request />`, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	x = sideExchange("POST", nil, "")
	x.Request.Body = exchange.NewRequestBody(io.NopCloser(strings.NewReader("streamed")), -1, nil)
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if x.Response.StatusCode != 500 || x.LastError == nil || x.LastError.Reason != "BackendConnectionFailure" || len(got) != 0 {
		t.Errorf("streamed body: status %d, LastError %+v, b got %v; want 500 BackendConnectionFailure and nothing sent to b", x.Response.StatusCode, x.LastError, got)
	}
}

func TestPoolCompileErrors(t *testing.T) {
	deps := policies.Deps{Forwarder: nopForwarder{}, Backends: map[string]policies.Backend{
		"bad":  {URL: "ftp://x"},
		"pool": {Pool: balancer.NewPool("pool", []balancer.Member{{ID: "bad"}})},
	}}
	_, err := sideCompile(t, deps, sideDoc(`<set-backend-service backend-id="pool" />`, "", "", ""))
	var got string
	if err != nil {
		got = err.Error()
	}
	if want := `policy.xml:1:53: backend "bad": backend URL must be an absolute http or https URL, not "ftp://x"; fix url in backends/bad/backendInformation.json`; got != want {
		t.Errorf("error %q\nwant %q", got, want)
	}
}

// okForwarder answers 200 without a network.
type okForwarder struct{}

func (okForwarder) Forward(_ context.Context, x *exchange.Exchange, _ proxy.Options) error {
	x.Response = &exchange.Response{StatusCode: 200, Headers: http.Header{}}
	return nil
}

// BenchmarkForwardToPool is forward-request to a pool of three members with
// breakers and credentials, without the network: choosing the member,
// retargeting the URL, adding and removing the credentials, counting the
// outcome.
func BenchmarkForwardToPool(b *testing.B) {
	deps := poolDeps(okForwarder{}, &rule429, balancer.Member{ID: "a"}, balancer.Member{ID: "b"}, balancer.Member{ID: "c"})
	p, err := sideCompile(&testing.T{}, deps, sideDoc(`<set-backend-service backend-id="pool" />`, `<forward-request />`, "", ""))
	if err != nil {
		b.Fatal(err)
	}
	x := sideExchange("GET", nil, "")
	base, orig := x.Request.URL, x.Backend
	b.ReportAllocs()
	for b.Loop() {
		x.Request.URL, x.Backend, x.Response = base, orig, nil
		if err := p.Run(context.Background(), x); err != nil {
			b.Fatal(err)
		}
	}
}
