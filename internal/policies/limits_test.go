package policies_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// compileLimitDoc compiles a whole policy document at scope, with
// expressions.
func compileLimitDoc(t testing.TB, deps policies.Deps, scope, doc string) (*pipeline.Pipeline, error) {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	d, err := policyxml.Parse("policy.xml", []byte(doc))
	if err != nil {
		return nil, err
	}
	c, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(d, scope)
	if err != nil {
		return nil, err
	}
	return pipeline.Compose(c), nil
}

func mustCompileLimit(t testing.TB, deps policies.Deps, scope, doc string) *pipeline.Pipeline {
	t.Helper()
	p, err := compileLimitDoc(t, deps, scope, doc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// inbound wraps inbound policies in a document whose on-error records the
// LastError in headers.
func inbound(policies string) string {
	return `<policies><inbound>` + policies + `</inbound><backend /><outbound /><on-error>
		<set-header name="X-Reason"><value>@(context.LastError.Reason)</value></set-header>
		<set-header name="X-Section"><value>@(context.LastError.Section)</value></set-header>
	</on-error></policies>`
}

// caller says who makes a request: subscription id ("" for none), API and
// operation ids, and request headers.
type caller struct {
	sub, api, op string
	header       http.Header
}

// call runs one request through p and ends it as the gateway does, with the
// usage given.
func call(t testing.TB, p *pipeline.Pipeline, c caller, u exchange.Usage) *exchange.Exchange {
	t.Helper()
	x := newExchange(c)
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if x.Response.Body != nil {
		x.Response.Body.Close()
	}
	x.Done(context.Background(), u)
	return x
}

func newExchange(c caller) *exchange.Exchange {
	u, _ := url.Parse("https://backend.example/orders/1")
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request:   exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: c.header},
		API:       &exchange.API{ID: cmpOr(c.api, "orders"), Name: strings.ToUpper(cmpOr(c.api, "orders"))},
		Operation: &exchange.Operation{ID: cmpOr(c.op, "get-order"), Name: "Get " + cmpOr(c.op, "get-order")},
	}
	if x.Request.Headers == nil {
		x.Request.Headers = http.Header{}
	}
	if c.sub != "" {
		x.Subscription = &exchange.Subscription{ID: c.sub, CreatedDate: time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC)}
		x.Product = &exchange.Product{ID: "gold"}
	}
	return x
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// outcome is what a test compares of a response.
type outcome struct {
	Status int
	Header map[string]string
	Body   string
	Reason string
}

func outcomeOf(x *exchange.Exchange, headers ...string) outcome {
	o := outcome{Status: x.Response.StatusCode}
	for _, h := range headers {
		if v := x.Response.Headers.Get(h); v != "" {
			if o.Header == nil {
				o.Header = map[string]string{}
			}
			o.Header[h] = v
		}
	}
	if x.Response.Body != nil {
		if b, err := x.Response.Body.Bytes(true); err == nil {
			o.Body = string(b)
		}
	}
	if x.LastError != nil {
		o.Reason = x.LastError.Reason + ": " + x.LastError.Message
	}
	return o
}

func rate429(secs int, total string) outcome {
	h := map[string]string{"Retry-After": fmt.Sprint(secs), "X-Reason": "RateLimitExceeded", "X-Section": "inbound"}
	if total != "" {
		h["X-Total"] = total
	}
	return outcome{Status: 429, Header: h,
		Body:   fmt.Sprintf(`{"statusCode":429,"message":"Rate limit is exceeded. Try again in %d seconds."}`, secs),
		Reason: "RateLimitExceeded: Rate limit is exceeded"}
}

var rateHeaders = []string{"Retry-After", "X-Remaining", "X-Total", "X-Reason", "X-Section"}

func TestRateLimitByKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<rate-limit-by-key calls="3" renewal-period="60"
			counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))"
			remaining-calls-header-name="X-Remaining" remaining-calls-variable-name="remaining"
			total-calls-header-name="X-Total" retry-after-variable-name="retry" />`))
		key := func(k string) caller { return caller{header: http.Header{"X-Key": {k}}} }
		var got []outcome
		for range 4 {
			got = append(got, outcomeOf(call(t, p, key("a"), exchange.Usage{}), rateHeaders...))
		}
		ok := func(remaining string) outcome {
			return outcome{Status: 200, Header: map[string]string{"X-Remaining": remaining, "X-Total": "3"}}
		}
		// A token comes back every 60/3 = 20 seconds.
		want := []outcome{ok("2"), ok("1"), ok("0"), rate429(20, "3")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("four calls with one key (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ok("2"), outcomeOf(call(t, p, key("b"), exchange.Usage{}), rateHeaders...)); diff != "" {
			t.Errorf("another key (-want +got):\n%s", diff)
		}
		x := call(t, p, key("a"), exchange.Usage{})
		if v, _ := x.Var("retry"); v != int32(20) {
			t.Errorf("retry-after-variable-name = %#v, want int32(20)", v)
		}
		time.Sleep(20 * time.Second)
		x = call(t, p, key("a"), exchange.Usage{})
		if diff := cmp.Diff(ok("0"), outcomeOf(x, rateHeaders...)); diff != "" {
			t.Errorf("after 20 seconds (-want +got):\n%s", diff)
		}
		if v, _ := x.Var("remaining"); v != int32(0) {
			t.Errorf("remaining-calls-variable-name = %#v, want int32(0)", v)
		}
	})
}

// TestRateLimitByKeyShared: one counter per key value, whichever policy or
// scope counts in it.
func TestRateLimitByKeyShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		deps := policies.Deps{Limits: policies.Limits{Store: store.NewMemoryLimits(0)}}
		api := mustCompileLimit(t, deps, "api", inbound(`<rate-limit-by-key calls="2" renewal-period="60" counter-key="shared" />`))
		op := mustCompileLimit(t, deps, "operation", inbound(`<rate-limit-by-key calls="2" renewal-period="60" counter-key="shared" />`))
		var got []int
		for _, p := range []*pipeline.Pipeline{api, op, api} {
			got = append(got, call(t, p, caller{}, exchange.Usage{}).Response.StatusCode)
		}
		if diff := cmp.Diff([]int{200, 200, 429}, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	})
}

// TestRateLimitByKeyDeferred: with an expression in increment-condition or
// increment-count, the call is counted at the end of outbound, from the
// response, and the limit refuses once the counter is full.
func TestRateLimitByKeyDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The response's status and a token count come from the request.
		p := mustCompileLimit(t, policies.Deps{}, "api", `<policies><inbound>
			<rate-limit-by-key calls="10" renewal-period="60" counter-key="tokens"
				increment-condition="@(context.Response.StatusCode == 200)"
				increment-count="@(int.Parse(context.Response.Headers.GetValueOrDefault(&quot;X-Tokens&quot;, &quot;1&quot;)))"
				remaining-calls-header-name="X-Remaining" />
			<return-response>
				<set-status code="@(int.Parse(context.Request.Headers.GetValueOrDefault(&quot;X-Status&quot;, &quot;200&quot;)))" reason="x" />
				<set-header name="X-Tokens"><value>@(context.Request.Headers.GetValueOrDefault(&quot;X-Tokens&quot;, &quot;1&quot;))</value></set-header>
			</return-response>
		</inbound><backend /><outbound /><on-error /></policies>`)
		req := func(status, tokens string) outcome {
			x := call(t, p, caller{header: http.Header{"X-Status": {status}, "X-Tokens": {tokens}}}, exchange.Usage{})
			return outcomeOf(x, "X-Remaining")
		}
		rem := func(status int, r string) outcome {
			return outcome{Status: status, Header: map[string]string{"X-Remaining": r}}
		}
		got := []outcome{req("500", "4"), req("500", "4"), req("200", "4"), req("200", "5"), req("200", "1"), req("200", "1")}
		want := []outcome{
			rem(500, "10"), rem(500, "10"), // not counted
			rem(200, "6"), rem(200, "1"),
			rem(200, "0"), // one token left when it came in: allowed, then counted
			{Status: 429, Body: `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 6 seconds."}`,
				Reason: "RateLimitExceeded: Rate limit is exceeded"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestRateLimitByKeyDeferredFailure: an increment expression that fails at the
// end of outbound fails the request like an outbound policy would.
func TestRateLimitByKeyDeferredFailure(t *testing.T) {
	p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<rate-limit-by-key calls="10" renewal-period="60" counter-key="k"
		increment-count="@(int.Parse(&quot;not a number&quot;))" />`))
	x := call(t, p, caller{}, exchange.Usage{})
	if got := outcomeOf(x, "X-Reason", "X-Section"); got.Status != 500 || got.Header["X-Reason"] != "ExpressionValueEvaluationFailure" || got.Header["X-Section"] != "outbound" {
		t.Errorf("got %+v, want a 500 from on-error with ExpressionValueEvaluationFailure in outbound", got)
	}
}

// TestRateLimit: counters per subscription and defining scope, with the
// narrower limits of <api> and <operation> applying as well.
func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		deps := policies.Deps{Limits: policies.Limits{Store: store.NewMemoryLimits(0)}}
		doc := inbound(`<rate-limit calls="4" renewal-period="60" total-calls-header-name="X-Total" remaining-calls-header-name="X-Remaining">
			<api name="ORDERS" calls="3" renewal-period="30">
				<operation id="delete-order" calls="1" />
			</api>
		</rate-limit>`)
		product := mustCompileLimit(t, deps, "product", doc)
		api := mustCompileLimit(t, deps, "api", doc)
		status := func(p *pipeline.Pipeline, c caller) outcome {
			return outcomeOf(call(t, p, c, exchange.Usage{}), rateHeaders...)
		}
		ok := func(remaining string) outcome {
			return outcome{Status: 200, Header: map[string]string{"X-Remaining": remaining, "X-Total": "4"}}
		}
		alice, bob := caller{sub: "alice", api: "orders"}, caller{sub: "bob", api: "orders"}
		aliceDelete := caller{sub: "alice", api: "orders", op: "delete-order"}
		aliceOther := caller{sub: "alice", api: "billing"}
		got := []outcome{
			status(product, aliceDelete), // product 3 left, orders 2, delete-order 0
			status(product, aliceDelete), // the operation's limit: one per 60s (it inherits the API's 30s? no: its own calls, the API's period)
			status(product, alice),       // orders: 1 left; product 2
			status(product, aliceOther),  // not orders: the product's limit only; product 1 left
			status(product, alice),       // product 0 left, orders 0
			status(product, aliceOther),  // the product's limit is spent
			status(product, bob),         // another subscription
			status(api, alice),           // another scope: counters of its own
		}
		want := []outcome{
			ok("0"),
			rate429(30, "4"),
			ok("1"),
			ok("1"),
			ok("0"),
			rate429(15, "4"),
			ok("2"),
			ok("2"),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestRateLimitKeyless: calls without a subscription key share one counter per
// scope.
func TestRateLimitKeyless(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<rate-limit calls="1" renewal-period="10" />`))
		var got []int
		for range 2 {
			got = append(got, call(t, p, caller{}, exchange.Usage{}).Response.StatusCode)
		}
		if diff := cmp.Diff([]int{200, 429}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func quota403(msg, retry string) outcome {
	o := outcome{Status: 403, Body: `{"statusCode":403,"message":"` + msg + `"}`, Reason: "QuotaExceeded: " + msg,
		Header: map[string]string{"X-Reason": "QuotaExceeded", "X-Section": "inbound"}}
	if retry != "" {
		o.Header["Retry-After"] = retry
	}
	return o
}

var quotaHeaders = []string{"Retry-After", "X-Reason", "X-Section"}

func TestQuotaByKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The fake clock starts at 2000-01-01T00:00:00Z; the windows start at
		// first-period-start and follow each other every 14 days.
		p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<quota-by-key calls="2" renewal-period="1209600"
			counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))"
			first-period-start="1999-12-20T16:46:04Z" />`))
		key := func(k string) caller { return caller{header: http.Header{"X-Key": {k}}} }
		var got []outcome
		for range 3 {
			got = append(got, outcomeOf(call(t, p, key("a"), exchange.Usage{}), quotaHeaders...))
		}
		got = append(got, outcomeOf(call(t, p, key("b"), exchange.Usage{}), quotaHeaders...))
		// 11d 07:13:56 into a window of 14 days.
		want := []outcome{{Status: 200}, {Status: 200},
			quota403("Out of call volume quota. Quota will be replenished in 2.16:46:04.", "233164"), {Status: 200}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		time.Sleep(233164 * time.Second)
		if got := call(t, p, key("a"), exchange.Usage{}).Response.StatusCode; got != 200 {
			t.Errorf("in the next window: %d", got)
		}
	})
}

// TestQuotaBandwidth: a request's bytes (request and response bodies) count
// when it is over; the request that crosses the limit completes, the next one
// is refused.
func TestQuotaBandwidth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<quota-by-key bandwidth="1" renewal-period="300" counter-key="k" />`))
		var got []outcome
		for _, u := range []exchange.Usage{{RequestBytes: 100, ResponseBytes: 500}, {RequestBytes: 0, ResponseBytes: 500}, {}} {
			got = append(got, outcomeOf(call(t, p, caller{}, u), quotaHeaders...))
		}
		want := []outcome{{Status: 200}, {Status: 200}, quota403("Out of bandwidth quota. Quota will be replenished in 00:05:00.", "300")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestQuotaByKeyOncePerRequest: several policies counting one key count a
// request once.
func TestQuotaByKeyOncePerRequest(t *testing.T) {
	p := mustCompileLimit(t, policies.Deps{}, "api", inbound(`<quota-by-key calls="2" renewal-period="0" counter-key="k" />
		<quota-by-key calls="2" renewal-period="0" counter-key="k" />`))
	var got []outcome
	for range 3 {
		got = append(got, outcomeOf(call(t, p, caller{}, exchange.Usage{}), quotaHeaders...))
	}
	// renewal-period 0: the quota never renews, so there is no time to wait.
	want := []outcome{{Status: 200}, {Status: 200}, quota403("Out of call volume quota.", "")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestQuotaByKeyDeferred: increment-condition from the response.
func TestQuotaByKeyDeferred(t *testing.T) {
	p := mustCompileLimit(t, policies.Deps{}, "api", `<policies><inbound>
		<quota-by-key calls="2" renewal-period="0" counter-key="k" increment-condition="@(context.Response.StatusCode &lt; 400)" />
		<return-response><set-status code="@(int.Parse(context.Request.Headers.GetValueOrDefault(&quot;X-Status&quot;, &quot;200&quot;)))" reason="x" /></return-response>
	</inbound><backend /><outbound /><on-error /></policies>`)
	var got []int
	for _, status := range []string{"404", "200", "404", "201", "200"} {
		got = append(got, call(t, p, caller{header: http.Header{"X-Status": {status}}}, exchange.Usage{}).Response.StatusCode)
	}
	if diff := cmp.Diff([]int{404, 200, 404, 201, 403}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestQuota: per subscription and scope, windows from the subscription's
// start, with the narrower limits of <api> and <operation>.
func TestQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The subscription was created at 1999-12-31T23:00:00Z, an hour before
		// the fake clock's start: its daily windows end at 23:00.
		p := mustCompileLimit(t, policies.Deps{}, "product", inbound(`<quota calls="3" renewal-period="86400">
			<api id="orders" calls="2" bandwidth="1">
				<operation name="Get get-order" calls="1" />
			</api>
		</quota>`))
		alice := caller{sub: "alice"}
		aliceOther := caller{sub: "alice", api: "billing"}
		aliceList := caller{sub: "alice", op: "list-orders"}
		got := []outcome{
			outcomeOf(call(t, p, alice, exchange.Usage{}), quotaHeaders...),
			outcomeOf(call(t, p, alice, exchange.Usage{}), quotaHeaders...),     // the operation's limit
			outcomeOf(call(t, p, aliceList, exchange.Usage{}), quotaHeaders...), // the API's second call
			outcomeOf(call(t, p, aliceList, exchange.Usage{}), quotaHeaders...), // the API's limit
			outcomeOf(call(t, p, aliceOther, exchange.Usage{}), quotaHeaders...),
			outcomeOf(call(t, p, aliceOther, exchange.Usage{}), quotaHeaders...), // the product's limit
			outcomeOf(call(t, p, caller{sub: "bob"}, exchange.Usage{}), quotaHeaders...),
		}
		full := quota403("Out of call volume quota. Quota will be replenished in 23:00:00.", "82800")
		want := []outcome{{Status: 200}, full, {Status: 200}, full, {Status: 200}, full, {Status: 200}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// blockingForwarder answers forward-request when release is closed, with a
// body that streams until the test closes it when stream is set.
type blockingForwarder struct {
	entered chan struct{}
	release chan struct{}
	stream  bool
}

func (f *blockingForwarder) Forward(ctx context.Context, x *exchange.Exchange, _ proxy.Options) error {
	f.entered <- struct{}{}
	select {
	case <-f.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	body := exchange.NewBytesBody([]byte("done"))
	if f.stream {
		r, w := io.Pipe()
		go func() { w.Write([]byte("streamed")); w.Close() }()
		body = exchange.NewStreamBody(r, -1, nil)
	}
	x.Response = &exchange.Response{StatusCode: 200, Headers: http.Header{}, Body: body}
	return nil
}

const concurrencyDoc = `<policies><inbound /><backend>
	<limit-concurrency key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;k&quot;))" max-count="1">
		<forward-request />
	</limit-concurrency>
</backend><outbound /><on-error /></policies>`

func TestLimitConcurrency(t *testing.T) {
	fw := &blockingForwarder{entered: make(chan struct{}, 10), release: make(chan struct{})}
	limits := store.NewMemoryLimits(0)
	p := mustCompileLimit(t, policies.Deps{Forwarder: fw, Limits: policies.Limits{Store: limits}}, "api", concurrencyDoc)
	var wg sync.WaitGroup
	var first *exchange.Exchange
	wg.Go(func() { first = call(t, p, caller{}, exchange.Usage{}) })
	<-fw.entered
	second := call(t, p, caller{}, exchange.Usage{})
	want := outcome{Status: 429, Body: `{"statusCode":429,"message":"Too many concurrent requests."}`,
		Reason: "ConcurrencyLimitExceeded: Too many concurrent requests."}
	if diff := cmp.Diff(want, outcomeOf(second)); diff != "" {
		t.Errorf("a second request while the first runs (-want +got):\n%s", diff)
	}
	// Another key has its own slots.
	wg.Go(func() { call(t, p, caller{header: http.Header{"X-Key": {"other"}}}, exchange.Usage{}) })
	<-fw.entered
	close(fw.release)
	wg.Wait()
	if first.Response.StatusCode != 200 {
		t.Errorf("the first request: %d", first.Response.StatusCode)
	}
	if _, _, slots := limits.Counters(); slots != 0 {
		t.Errorf("%d slots held after every request ended", slots)
	}
	if got := call(t, p, caller{}, exchange.Usage{}).Response.StatusCode; got != 200 {
		t.Errorf("a request after the first ended: %d", got)
	}
}

// TestLimitConcurrencyStreaming: the slot is held while the response body
// streams, and given back when it is closed, or at the latest when the
// request ends.
func TestLimitConcurrencyStreaming(t *testing.T) {
	fw := &blockingForwarder{entered: make(chan struct{}, 10), release: make(chan struct{}), stream: true}
	close(fw.release)
	limits := store.NewMemoryLimits(0)
	p := mustCompileLimit(t, policies.Deps{Forwarder: fw, Limits: policies.Limits{Store: limits}}, "api", concurrencyDoc)
	run := func() *exchange.Exchange {
		x := newExchange(caller{})
		if err := p.Run(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := run()
	<-fw.entered
	if _, _, slots := limits.Counters(); slots != 1 {
		t.Fatalf("%d slots held while the body streams, want 1", slots)
	}
	if y := run(); y.Response.StatusCode != 429 {
		t.Errorf("a request while the first body streams: %d, want 429", y.Response.StatusCode)
	}
	body := x.Response.Body.Reader()
	io.Copy(io.Discard, body)
	body.Close()
	if _, _, slots := limits.Counters(); slots != 0 {
		t.Errorf("%d slots held after the body was closed, want 0", slots)
	}

	// A body nobody closes: the slot goes back when the request ends.
	x = run()
	<-fw.entered
	x.Done(context.Background(), exchange.Usage{})
	if _, _, slots := limits.Counters(); slots != 0 {
		t.Errorf("%d slots held after the request ended, want 0", slots)
	}
	x.Response.Body.Close() // and not twice
	if _, _, slots := limits.Counters(); slots != 0 {
		t.Errorf("%d slots held after the body was closed too", slots)
	}
}

// TestLimitConcurrencyQueue: with timeout (and max-queue-length), a request
// over the limit waits for a slot instead of failing at once.
func TestLimitConcurrencyQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := store.NewMemoryLimits(0)
		p := mustCompileLimit(t, policies.Deps{Limits: policies.Limits{Store: limits}}, "api", inbound(`
			<limit-concurrency key="k" max-count="1" timeout="5" max-queue-length="1">
				<set-variable name="ran" value="yes" />
			</limit-concurrency>`))
		release := holdSlot(t, limits, "k")
		var results [2]int
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() { results[i] = call(t, p, caller{}, exchange.Usage{}).Response.StatusCode })
			synctest.Wait()
		}
		// One waits; the queue is full for the other, which fails at once.
		time.Sleep(time.Second)
		release()
		wg.Wait()
		if diff := cmp.Diff([2]int{200, 429}, results); diff != "" {
			t.Errorf("two requests over the limit, a queue of one (-want +got):\n%s", diff)
		}
		// Nobody releases in time: 429 after the timeout.
		release = holdSlot(t, limits, "k")
		start := time.Now()
		got := call(t, p, caller{}, exchange.Usage{}).Response.StatusCode
		if waited := time.Since(start); got != 429 || waited != 5*time.Second {
			t.Errorf("with the slot held throughout: %d after %v, want 429 after 5s", got, waited)
		}
		release()
	})
}

// holdSlot takes the slot of limit-concurrency key="..." max-count="1" as a
// request whose response streams would, until the returned function ends
// that request.
func holdSlot(t *testing.T, limits *store.MemoryLimits, key string) (release func()) {
	t.Helper()
	fw := &blockingForwarder{entered: make(chan struct{}, 1), release: make(chan struct{}), stream: true}
	close(fw.release)
	p := mustCompileLimit(t, policies.Deps{Forwarder: fw, Limits: policies.Limits{Store: limits}}, "api", `<policies><inbound /><backend>
		<limit-concurrency key="`+key+`" max-count="1"><forward-request /></limit-concurrency>
		</backend><outbound /><on-error /></policies>`)
	x := newExchange(caller{})
	if err := p.Run(context.Background(), x); err != nil || x.Response.StatusCode != 200 {
		t.Fatalf("holding the slot: %v, %d", err, x.Response.StatusCode)
	}
	<-fw.entered
	return func() { x.Response.Body.Close() }
}

// failingLimits is a limit store that is down.
type failingLimits struct{}

var errDown = errors.New("redis: connection refused")

func (failingLimits) Rate(context.Context, []store.Bucket, int64, store.RateMode) (store.RateResult, error) {
	return store.RateResult{}, errDown
}

func (failingLimits) Quota(context.Context, []store.Window, int64, int64, store.QuotaMode) (store.QuotaResult, error) {
	return store.QuotaResult{}, errDown
}

func (failingLimits) Acquire(context.Context, string, int64) (func(), bool, error) {
	return nil, false, errDown
}

// TestLimitStoreDown: each kind of limit fails open (the request goes
// through) or closed (503), as lastmile.yaml's store.failureMode says.
func TestLimitStoreDown(t *testing.T) {
	docs := map[string]string{
		"rate-limit":        `<rate-limit calls="5" renewal-period="60" />`,
		"rate-limit-by-key": `<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" />`,
		"quota":             `<quota calls="5" renewal-period="60" />`,
		"quota-by-key":      `<quota-by-key calls="5" renewal-period="300" counter-key="k" />`,
		"limit-concurrency": `<limit-concurrency key="k" max-count="1"><set-variable name="ran" value="yes" /></limit-concurrency>`,
	}
	closed503 := func(policy string) outcome {
		return outcome{Status: 503, Header: map[string]string{"Retry-After": "1", "X-Reason": "LimitStoreUnavailable", "X-Section": "inbound"},
			Body:   `{"statusCode":503,"message":"The gateway cannot check a usage limit right now; retry later.","activityId":"00000000-0000-4000-8000-000000000001"}`,
			Reason: "LimitStoreUnavailable: " + policy + ": the counter store is unavailable"}
	}
	for policy, doc := range docs {
		for _, closed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s closed=%v", policy, closed), func(t *testing.T) {
				fc := policies.FailClosed{RateLimit: closed, Quota: closed, Concurrency: closed}
				p := mustCompileLimit(t, policies.Deps{Limits: policies.Limits{Store: failingLimits{}, FailClosed: fc}}, "product", inbound(doc))
				x := call(t, p, caller{sub: "s"}, exchange.Usage{})
				want := outcome{Status: 200}
				if closed {
					want = closed503(policy)
				}
				if diff := cmp.Diff(want, outcomeOf(x, quotaHeaders...)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if _, ran := x.Var("ran"); policy == "limit-concurrency" && ran == closed {
					t.Errorf("the children ran: %v", ran)
				}
			})
		}
	}
}

func TestLimitCompileErrors(t *testing.T) {
	tests := []struct{ policy, want string }{
		{`<rate-limit-by-key calls="5" renewal-period="60" />`, "<rate-limit-by-key> needs a counter-key attribute"},
		{`<rate-limit-by-key calls="0" renewal-period="60" counter-key="k" />`, `1:46: calls of <rate-limit-by-key> must be a whole number from 1 to 2147483647, not "0"`},
		{`<rate-limit-by-key calls="5" renewal-period="301" counter-key="k" />`, `renewal-period of <rate-limit-by-key> must be a whole number from 1 to 300, not "301"`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" increment-count="-1" />`, `increment-count of <rate-limit-by-key> must be a whole number from 0`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" increment-condition="maybe" />`, `attribute increment-condition of <rate-limit-by-key> must be true, false or a policy expression, not "maybe"`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" retry-after-header-name="a b" />`, `1:110: retry-after-header-name of <rate-limit-by-key>: "a b" is not a header name`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" total-calls-header-name="Content-Length" />`, `header Content-Length is managed by the gateway`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" remaining-calls-variable-name="" />`, `remaining-calls-variable-name of <rate-limit-by-key> must not be empty`},
		{`<rate-limit-by-key calls="5" renewal-period="60" counter-key="k" window="x" />`, `unknown attribute "window" on <rate-limit-by-key>`},
		{`<rate-limit calls="@(5)" renewal-period="60" />`, "attribute calls of <rate-limit> does not accept policy expressions"},
		{`<rate-limit calls="5" />`, "<rate-limit> needs a renewal-period attribute"},
		{`<rate-limit calls="5" renewal-period="60"><api calls="1" /></rate-limit>`, "<api> needs a name or id attribute naming the API it limits"},
		{`<rate-limit calls="5" renewal-period="60"><api name="a" calls="1"><operation id="o" /></api></rate-limit>`, "<operation> needs a calls attribute"},
		{`<rate-limit calls="5" renewal-period="60"><product /></rate-limit>`, "unexpected <product> in <rate-limit>; expected <api>"},
		{`<quota renewal-period="60" />`, "<quota> needs a calls or a bandwidth attribute (or both)"},
		{`<quota calls="5" />`, "<quota> needs a renewal-period attribute"},
		{`<quota-by-key calls="5" renewal-period="60" counter-key="k" />`, "renewal-period of <quota-by-key> must be 0 (never renews) or at least 300 seconds, not 60"},
		{`<quota-by-key calls="5" renewal-period="300" counter-key="k" first-period-start="yesterday" />`, `first-period-start of <quota-by-key> must be a time such as 2024-01-01T00:00:00Z, not "yesterday"`},
		{`<quota-by-key bandwidth="0" renewal-period="300" counter-key="k" />`, `bandwidth of <quota-by-key> must be a whole number from 1`},
		{`<limit-concurrency key="k"><forward-request /></limit-concurrency>`, "<limit-concurrency> needs a max-count attribute"},
		{`<limit-concurrency key="k" max-count="@(3)" />`, "attribute max-count of <limit-concurrency> does not accept policy expressions"},
		{`<limit-concurrency key="k" max-count="2" max-queue-length="5" />`, "max-queue-length of <limit-concurrency> needs a timeout attribute"},
		{`<limit-concurrency key="k" max-count="2"><bogus /></limit-concurrency>`, "unknown policy <bogus>"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := compileLimitDoc(t, policies.Deps{}, "api", inbound(tt.policy))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	// rate-limit and quota count in inbound only.
	_, err := compileLimitDoc(t, policies.Deps{}, "api", `<policies><outbound><rate-limit-by-key calls="1" renewal-period="1" counter-key="k" /></outbound></policies>`)
	if err == nil || !strings.Contains(err.Error(), "policy <rate-limit-by-key> is not allowed in <outbound>") {
		t.Errorf("rate-limit-by-key in outbound: %v", err)
	}
}

// BenchmarkRateLimitByKey is one rate-limit-by-key decision: the key from an
// expression, hashed, and the bucket taken, in memory and in Redis (one
// EVALSHA round trip to a local redis-server).
func BenchmarkRateLimitByKey(b *testing.B) {
	run := func(b *testing.B, limits policies.LimitStore) {
		p := mustCompileLimit(b, policies.Deps{Limits: policies.Limits{Store: limits}}, "api", inbound(`<rate-limit-by-key calls="1000000000" renewal-period="60"
			counter-key="@(context.Request.IpAddress)" />`))
		step := p.Steps(pipeline.Inbound)[0].Policy
		ctx := context.Background()
		x := newExchange(caller{})
		x.Request.IPAddress = "192.0.2.1"
		b.ReportAllocs()
		for b.Loop() {
			if err := step.Apply(ctx, x); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, store.NewMemoryLimits(0)) })
	b.Run("redis", func(b *testing.B) {
		r, err := store.NewRedis(context.Background(), store.RedisOptions{Address: storetest.StartRedis(b, "")})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		l := r.Limits(store.LimitOptions{})
		defer l.Close()
		run(b, l)
	})
}

// TestRateLimitScopes: at API scope each API counts apart; in a fragment,
// every API that includes it shares the fragment's counter, as in API
// Management.
func TestRateLimitScopes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		frag, err := policyxml.Parse("fragments/limits/policy.xml", []byte(`<fragment><rate-limit calls="1" renewal-period="60" /></fragment>`))
		if err != nil {
			t.Fatal(err)
		}
		deps := policies.Deps{Limits: policies.Limits{Store: store.NewMemoryLimits(0)}}
		r := pipeline.NewRegistry()
		policies.Register(r, deps)
		compileAt := func(body string) *pipeline.Pipeline {
			d, _ := policyxml.Parse("policy.xml", []byte(inbound(body)))
			c, err := pipeline.NewCompiler(r, policies.Expressions, map[string]*policyxml.Document{"limits": frag}).Compile(d, "api")
			if err != nil {
				t.Fatal(err)
			}
			return pipeline.Compose(c)
		}
		inline := compileAt(`<rate-limit calls="1" renewal-period="60" />`)
		shared := compileAt(`<include-fragment fragment-id="limits" />`)
		status := func(p *pipeline.Pipeline, api string) int {
			return call(t, p, caller{sub: "s", api: api}, exchange.Usage{}).Response.StatusCode
		}
		got := []int{status(inline, "a"), status(inline, "b"), status(inline, "a"), status(shared, "a"), status(shared, "b")}
		if diff := cmp.Diff([]int{200, 200, 429, 200, 429}, got); diff != "" {
			t.Errorf("inline via a, b, a; fragment via a, b (-want +got):\n%s", diff)
		}
	})
}
