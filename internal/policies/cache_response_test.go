package policies_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
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
)

// origin is a backend for forward-request that counts its calls and answers
// with a streamed body, a new one for every cacheCall ("v1", "v2", ...) unless
// body is set.
type origin struct {
	calls   atomic.Int32
	status  int
	headers http.Header
	body    string
	unsized bool // the body's length is not announced
	reads   atomic.Int32
}

func (o *origin) Forward(ctx context.Context, x *exchange.Exchange, _ proxy.Options) error {
	n := o.calls.Add(1)
	body := o.body
	if body == "" {
		body = "v" + strconv.Itoa(int(n))
	}
	size := int64(len(body))
	if o.unsized {
		size = -1
	}
	h := o.headers.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "text/plain")
	x.Response = &exchange.Response{StatusCode: cmpInt(o.status, 200), Headers: h,
		Body: exchange.NewStreamBody(&onceReader{r: strings.NewReader(body), reads: &o.reads}, size, &x.Buffers)}
	return nil
}

func cmpInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// onceReader fails when it is read again after it ended: a backend body is
// read once.
type onceReader struct {
	r     io.Reader
	ended bool
	reads *atomic.Int32
}

func (o *onceReader) Read(p []byte) (int, error) {
	if o.ended {
		return 0, errors.New("the backend body was read again after it ended")
	}
	o.reads.Add(1)
	n, err := o.r.Read(p)
	if err == io.EOF {
		o.ended = true
	}
	return n, err
}

func (o *onceReader) Close() error { return nil }

// responseCache compiles a document with forward-request in the backend
// section, in front of o.
func responseCache(t testing.TB, deps policies.Deps, o *origin, inbound, outbound string) *pipeline.Pipeline {
	t.Helper()
	deps.Forwarder = o
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	src := "<policies><inbound>" + inbound + "</inbound><backend><forward-request /></backend><outbound>" + outbound + "</outbound><on-error /></policies>"
	doc, err := policyxml.Parse("policy.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "api")
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Compose(d)
}

// cacheCall is one client request.
type cacheCall struct {
	method, target string
	header         http.Header
	sub            string // subscription id
}

// serve runs c through p and sends the response as the gateway does, reading
// the body to its end; it returns the status, headers and body.
func serve(t testing.TB, p *pipeline.Pipeline, c cacheCall) (int, http.Header, string) {
	t.Helper()
	if c.method == "" {
		c.method = "GET"
	}
	orig, _ := url.Parse("http://gateway.example/api" + c.target)
	u, _ := url.Parse("https://backend.example" + c.target)
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request:   exchange.Request{Method: c.method, URL: u, OriginalURL: orig, Headers: c.header.Clone()},
		API:       &exchange.API{ID: "api", Revision: "1"},
		Operation: &exchange.Operation{ID: "op"},
	}
	if x.Request.Headers == nil {
		x.Request.Headers = http.Header{}
	}
	if c.sub != "" {
		x.Subscription = &exchange.Subscription{ID: c.sub}
	}
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if x.LastError != nil {
		t.Fatalf("%s %s failed: %s", c.method, c.target, lastError(x))
	}
	r := x.Response.Body.Reader()
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	x.Buffers.Release()
	return x.Response.StatusCode, x.Response.Headers, string(body)
}

// TestResponseCacheHit: the first GET goes to the backend and is stored; the
// second is answered from the cache without calling the backend, with the same
// status, headers and body. Outbound runs on both, from the step after
// cache-store on the hit.
func TestResponseCacheHit(t *testing.T) {
	o := &origin{headers: http.Header{"X-Backend": {"yes"}}}
	p := responseCache(t, policies.Deps{}, o, `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`,
		`<set-header name="X-Before" exists-action="append"><value>before</value></set-header>
		<cache-store duration="60" />
		<set-header name="X-After" exists-action="append"><value>after</value></set-header>`)
	type result struct {
		Status               int
		Body, Backend        string
		Before, After, CType []string
	}
	var got []result
	for range 3 {
		status, h, body := serve(t, p, cacheCall{target: "/items"})
		got = append(got, result{status, body, h.Get("X-Backend"), h.Values("X-Before"), h.Values("X-After"), h.Values("Content-Type")})
	}
	want := []result{
		{200, "v1", "yes", []string{"before"}, []string{"after"}, []string{"text/plain"}},
		{200, "v1", "yes", []string{"before"}, []string{"after"}, []string{"text/plain"}},
		{200, "v1", "yes", []string{"before"}, []string{"after"}, []string{"text/plain"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("backend called %d times, want 1", n)
	}
}

// TestResponseCacheVary: which requests share a cached response.
func TestResponseCacheVary(t *testing.T) {
	lookup := `<cache-lookup vary-by-developer="@(context.Request.Headers.ContainsKey(&quot;X-Per-Dev&quot;))" vary-by-developer-groups="false">
		<vary-by-header>Accept</vary-by-header>
		<vary-by-query-parameter>version;locale</vary-by-query-parameter>
	</cache-lookup>`
	tests := []struct {
		name        string
		first, then cacheCall
		hit         bool
	}{
		{"same request", cacheCall{target: "/a"}, cacheCall{target: "/a"}, true},
		{"another path", cacheCall{target: "/a"}, cacheCall{target: "/b"}, false},
		{"listed query parameter differs", cacheCall{target: "/a?version=1"}, cacheCall{target: "/a?version=2"}, false},
		{"second listed parameter differs", cacheCall{target: "/a?version=1&locale=en"}, cacheCall{target: "/a?version=1&locale=fr"}, false},
		{"listed parameters in another order", cacheCall{target: "/a?version=1&locale=en"}, cacheCall{target: "/a?locale=en&version=1"}, true},
		{"unlisted query parameter differs", cacheCall{target: "/a?version=1&x=1"}, cacheCall{target: "/a?version=1&x=2"}, true},
		{"listed header differs", cacheCall{target: "/a", header: http.Header{"Accept": {"application/json"}}}, cacheCall{target: "/a", header: http.Header{"Accept": {"application/xml"}}}, false},
		{"unlisted header differs", cacheCall{target: "/a", header: http.Header{"X-Other": {"1"}}}, cacheCall{target: "/a", header: http.Header{"X-Other": {"2"}}}, true},
		{"another developer, not varied", cacheCall{target: "/a", sub: "s1"}, cacheCall{target: "/a", sub: "s2"}, true},
		{"another developer, varied", cacheCall{target: "/a", sub: "s1", header: http.Header{"X-Per-Dev": {"1"}}}, cacheCall{target: "/a", sub: "s2", header: http.Header{"X-Per-Dev": {"1"}}}, false},
		{"same developer, varied", cacheCall{target: "/a", sub: "s1", header: http.Header{"X-Per-Dev": {"1"}}}, cacheCall{target: "/a", sub: "s1", header: http.Header{"X-Per-Dev": {"1"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &origin{}
			p := responseCache(t, policies.Deps{}, o, lookup, `<cache-store duration="60" />`)
			serve(t, p, tt.first)
			_, _, body := serve(t, p, tt.then)
			if got := body == "v1"; got != tt.hit {
				t.Errorf("second request got %q (backend calls %d); want a hit: %v", body, o.calls.Load(), tt.hit)
			}
		})
	}
}

// TestResponseCacheNotStored: responses that must not be cached, or
// requests that must not use the cache, always reach the backend.
func TestResponseCacheNotStored(t *testing.T) {
	bearer := http.Header{"Authorization": {"Bearer secret"}}
	tests := []struct {
		name     string
		origin   *origin
		lookup   string // attributes of cache-lookup
		store    string // attributes of cache-store
		req      cacheCall
		wantHits bool
	}{
		{"a cacheable GET", &origin{}, ``, `duration="60"`, cacheCall{target: "/a"}, true},
		{"POST", &origin{}, ``, `duration="60"`, cacheCall{method: "POST", target: "/a"}, false},
		{"HEAD", &origin{}, ``, `duration="60"`, cacheCall{method: "HEAD", target: "/a"}, false},
		{"a range", &origin{}, ``, `duration="60"`, cacheCall{target: "/a", header: http.Header{"Range": {"bytes=0-1"}}}, false},
		{"Authorization", &origin{}, ``, `duration="60"`, cacheCall{target: "/a", header: bearer}, false},
		{"Authorization with allow-private-response-caching", &origin{}, `allow-private-response-caching="true"`, `duration="60"`, cacheCall{target: "/a", header: bearer}, true},
		{"no-store from the backend", &origin{headers: http.Header{"Cache-Control": {"max-age=60, no-store"}}}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"private from the backend", &origin{headers: http.Header{"Cache-Control": {"private"}}}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"private allowed", &origin{headers: http.Header{"Cache-Control": {"private"}}}, `allow-private-response-caching="true"`, `duration="60"`, cacheCall{target: "/a"}, true},
		{"a cookie being set", &origin{headers: http.Header{"Set-Cookie": {"session=1"}}}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"Vary: *", &origin{headers: http.Header{"Vary": {"*"}}}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"404", &origin{status: 404}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"404 with cache-response", &origin{status: 404}, ``, `duration="60" cache-response="true"`, cacheCall{target: "/a"}, true},
		{"duration 0 from an expression", &origin{}, ``, `duration="@(0)"`, cacheCall{target: "/a"}, false},
		{"a body over the limit", &origin{body: strings.Repeat("x", 2000)}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"a body of unknown length over the limit", &origin{body: strings.Repeat("x", 2000), unsized: true}, ``, `duration="60"`, cacheCall{target: "/a"}, false},
		{"a body of unknown length under the limit", &origin{body: strings.Repeat("x", 500), unsized: true}, ``, `duration="60"`, cacheCall{target: "/a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.origin
			deps := policies.Deps{Cache: policies.Caches{MaxValueBytes: 1024}}
			p := responseCache(t, deps, o, `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" `+tt.lookup+` />`, `<cache-store `+tt.store+` />`)
			for i := range 2 {
				_, _, body := serve(t, p, tt.req)
				if o.body != "" && body != o.body {
					t.Errorf("request %d: the client got %d bytes, want the whole body of %d", i+1, len(body), len(o.body))
				}
			}
			want := 2
			if tt.wantHits {
				want = 1
			}
			if n := int(o.calls.Load()); n != want {
				t.Errorf("backend called %d times, want %d", n, want)
			}
		})
	}
}

// TestResponseCacheExpiry: a response is served from the cache for duration
// seconds, with downstream caching headers counting down, and fetched again
// afterwards.
func TestResponseCacheExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{headers: http.Header{"Cache-Control": {"max-age=3600"}, "Date": {"Sat, 01 Jan 2000 00:00:00 GMT"}}}
		p := responseCache(t, policies.Deps{}, o,
			`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public" />`,
			`<cache-store duration="@{
				var header = context.Response.Headers.GetValueOrDefault(&quot;Cache-Control&quot;,&quot;&quot;);
				var maxAge = Regex.Match(header, @&quot;max-age=(?&lt;maxAge&gt;\d+)&quot;).Groups[&quot;maxAge&quot;]?.Value;
				return (!string.IsNullOrEmpty(maxAge))?int.Parse(maxAge):300;
			}" />`)
		// A hit keeps max-age as stored and says in Age how long the
		// response has been in the cache, so that a downstream cache counts
		// that time once; its Date is the stored one.
		type step struct {
			after             time.Duration
			body, cached, age string
		}
		steps := []step{
			{0, "v1", "public, max-age=3600, must-revalidate", ""},
			{time.Second, "v1", "public, max-age=3600, must-revalidate", "1"},
			{1500 * time.Millisecond, "v1", "public, max-age=3600, must-revalidate", "2"},
			{3596500 * time.Millisecond, "v1", "public, max-age=3600, must-revalidate", "3599"},
			{time.Second, "v2", "public, max-age=3600, must-revalidate", ""},
		}
		for i, s := range steps {
			time.Sleep(s.after)
			_, h, body := serve(t, p, cacheCall{target: "/a"})
			if body != s.body || h.Get("Cache-Control") != s.cached || h.Get("Age") != s.age || h.Get("Date") != "Sat, 01 Jan 2000 00:00:00 GMT" {
				t.Errorf("step %d: got %q with Cache-Control %q, Age %q, Date %q; want %q with %q, Age %q, the stored Date",
					i+1, body, h.Get("Cache-Control"), h.Get("Age"), h.Get("Date"), s.body, s.cached, s.age)
			}
		}
	})
}

// TestResponseCacheAge: a hit's Age adds the time in the cache to the age the
// response had when it was stored (RFC 9111 §4.2.3), also when the response's
// own Cache-Control goes to the client (downstream-caching-type none).
func TestResponseCacheAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{headers: http.Header{"Cache-Control": {"public, max-age=600"}, "Age": {"100"}}}
		p := responseCache(t, policies.Deps{}, o,
			`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="none" />`, `<cache-store duration="300" />`)
		for i, want := range []string{"100", "100", "142"} {
			if i == 2 {
				time.Sleep(42 * time.Second)
			}
			_, h, body := serve(t, p, cacheCall{target: "/a"})
			if body != "v1" || h.Get("Age") != want || h.Get("Cache-Control") != "public, max-age=600" {
				t.Errorf("request %d: %q with Age %q, Cache-Control %q; want v1 with Age %s and the backend's Cache-Control", i+1, body, h.Get("Age"), h.Get("Cache-Control"), want)
			}
		}
	})
}

// TestResponseCacheOlderEntry: a response an older gateway stored, without the
// time it was stored, cannot say its Age: it is a miss, and stored again.
func TestResponseCacheOlderEntry(t *testing.T) {
	mem := store.NewMemory(0)
	o := &origin{}
	p := responseCache(t, policies.Deps{Cache: policies.Caches{Internal: &keyRecorder{ValueCache: mem}}}, o,
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public" />`, `<cache-store duration="60" />`)
	serve(t, p, cacheCall{target: "/a"})
	// The same key, now holding what a gateway before Age stored.
	rec := &keyRecorder{ValueCache: mem}
	p = responseCache(t, policies.Deps{Cache: policies.Caches{Internal: rec}}, o,
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public" />`, `<cache-store duration="60" />`)
	serve(t, p, cacheCall{target: "/a"}) // a hit; rec learns the key
	head := `{"s":200,"h":{"Content-Type":["text/plain"]},"e":"` + time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano) + `"}`
	old := append(binary.BigEndian.AppendUint32([]byte("lmresp1\n"), uint32(len(head))), head+"old"...)
	mem.Set(context.Background(), rec.keys[0], old, time.Minute)
	_, h, body := serve(t, p, cacheCall{target: "/a"})
	if body != "v2" || h.Get("Age") != "" || o.calls.Load() != 2 {
		t.Errorf("got %q with Age %q after %d backend calls, want a miss: v2 from the backend", body, h.Get("Age"), o.calls.Load())
	}
	if _, h, body := serve(t, p, cacheCall{target: "/a"}); body != "v2" || h.Get("Age") != "0" {
		t.Errorf("got %q with Age %q, want v2 stored again", body, h.Get("Age"))
	}
}

// TestResponseCacheStreamsOnce: the backend's body is read once, as the client
// receives it, and the cache gets the same bytes; a hit serves them from the
// store.
func TestResponseCacheStreamsOnce(t *testing.T) {
	body := strings.Repeat("0123456789", 50)
	o := &origin{body: body}
	mem := store.NewMemory(0)
	p := responseCache(t, policies.Deps{Cache: policies.Caches{Internal: mem}}, o,
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`, `<cache-store duration="60" />`)
	for i := range 2 {
		if _, _, got := serve(t, p, cacheCall{target: "/a"}); got != body {
			t.Fatalf("request %d: got %d bytes, want %d", i+1, len(got), len(body))
		}
	}
	if n := mem.ValueStats().Entries; n != 1 {
		t.Errorf("%d cached entries, want 1", n)
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("backend called %d times, want 1", n)
	}
}

// TestResponseCacheEncoding: a compressed response is served from the cache
// only to clients that accept its encoding.
func TestResponseCacheEncoding(t *testing.T) {
	o := &origin{headers: http.Header{"Content-Encoding": {"gzip"}}}
	p := responseCache(t, policies.Deps{}, o, `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`, `<cache-store duration="60" />`)
	gzipOK := http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}}
	serve(t, p, cacheCall{target: "/a", header: gzipOK})
	if _, _, body := serve(t, p, cacheCall{target: "/a", header: gzipOK}); body != "v1" {
		t.Errorf("a client that accepts gzip got %q, want the cached v1", body)
	}
	if _, _, body := serve(t, p, cacheCall{target: "/a"}); body != "v2" {
		t.Errorf("a client without Accept-Encoding got %q, want a fresh v2", body)
	}
	if _, _, body := serve(t, p, cacheCall{target: "/a", header: http.Header{"Accept-Encoding": {"gzip;q=0"}}}); body != "v3" {
		t.Errorf("a client that refuses gzip got %q, want a fresh v3", body)
	}
}

// TestResponseCacheMissStripsConditionals: on a miss the backend gets no
// conditional or cache headers, so it answers with a whole response.
func TestResponseCacheMissStripsConditionals(t *testing.T) {
	var seen http.Header
	o := &origin{}
	fwd := forwardFunc(func(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error {
		seen = x.Request.Headers.Clone()
		return o.Forward(ctx, x, opts)
	})
	deps := policies.Deps{Forwarder: fwd}
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	doc, _ := policyxml.Parse("policy.xml", []byte(`<policies><inbound><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" /></inbound><backend><forward-request /></backend><outbound><cache-store duration="60" /></outbound></policies>`))
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "api")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, pipeline.Compose(d), cacheCall{target: "/a", header: http.Header{
		"If-None-Match": {`"x"`}, "If-Modified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"}, "Cache-Control": {"no-cache"}, "Pragma": {"no-cache"}, "Accept": {"text/plain"},
	}})
	if diff := cmp.Diff(http.Header{"Accept": {"text/plain"}}, seen); diff != "" {
		t.Errorf("backend headers (-want +got):\n%s", diff)
	}
}

type forwardFunc func(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error

func (f forwardFunc) Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error {
	return f(ctx, x, opts)
}

// failingCache is a cache that is down.
type failingCache struct{}

func (failingCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("connection refused")
}
func (failingCache) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("connection refused")
}
func (failingCache) Delete(context.Context, string) error { return errors.New("connection refused") }

// TestResponseCacheDown: a cache that fails is a miss, logged; the client is
// answered by the backend.
func TestResponseCacheDown(t *testing.T) {
	var logs bytes.Buffer
	o := &origin{}
	deps := policies.Deps{Cache: policies.Caches{Internal: failingCache{}}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	p := responseCache(t, deps, o, `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`, `<cache-store duration="60" />`)
	for i := range 2 {
		if status, _, body := serve(t, p, cacheCall{target: "/a"}); status != 200 || body != "v"+strconv.Itoa(i+1) {
			t.Errorf("request %d: %d %q", i+1, status, body)
		}
	}
	for _, want := range []string{"cache lookup failed; treating it as a miss", "cache store failed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestResponseCacheCompileErrors: mistakes in the policies are reported at load.
func TestResponseCacheCompileErrors(t *testing.T) {
	tests := []struct {
		name, inbound, outbound, want string
	}{
		{"downstream", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="shared" />`, ``, `downstream-caching-type must be none, private or public, not "shared"`},
		{"duration", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`, `<cache-store duration="soon" />`, `duration "soon" is not a whole number of seconds`},
		{"no duration", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" />`, `<cache-store />`, `<cache-store> needs a duration attribute`},
		{"vary expression", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>@("Accept")</vary-by-header></cache-lookup>`, ``, `<vary-by-header> does not accept policy expressions`},
		{"external without redis", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" caching-type="external" />`, ``, `caching-type="external" needs an external cache`},
		{"cache-store in inbound", `<cache-store duration="1" />`, ``, `policy <cache-store> is not allowed in <inbound>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileCacheDoc(t, policies.Deps{}, tt.inbound, tt.outbound)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// BenchmarkResponseCacheHit is a GET answered from the in-memory response
// cache: key, lookup, decode, and sending the body.
func BenchmarkResponseCacheHit(b *testing.B) {
	o := &origin{body: strings.Repeat("x", 4096)}
	p := responseCache(b, policies.Deps{}, o, `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept</vary-by-header></cache-lookup>`, `<cache-store duration="3600" />`)
	c := cacheCall{target: "/items?page=1", header: http.Header{"Accept": {"application/json"}}}
	serve(b, p, c)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, p, c)
	}
	if o.calls.Load() != 1 {
		b.Fatalf("backend called %d times", o.calls.Load())
	}
}

// keyRecorder is a cache that records the keys it is given.
type keyRecorder struct {
	policies.ValueCache
	keys []string
}

func (k *keyRecorder) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k.keys = append(k.keys, key)
	return k.ValueCache.Get(ctx, key)
}

func (k *keyRecorder) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	k.keys = append(k.keys, key)
	return k.ValueCache.Set(ctx, key, v, ttl)
}

// TestResponseCacheKeyHashed: the store sees a hashed key under the response
// namespace, never the values it is made of, such as a bearer token.
func TestResponseCacheKeyHashed(t *testing.T) {
	rec := &keyRecorder{ValueCache: store.NewMemory(0)}
	p := responseCache(t, policies.Deps{Cache: policies.Caches{Internal: rec, Namespace: "svc"}}, &origin{},
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" allow-private-response-caching="true"><vary-by-header>Authorization</vary-by-header></cache-lookup>`,
		`<cache-store duration="60" />`)
	serve(t, p, cacheCall{target: "/a?secret-param=1", header: http.Header{"Authorization": {"Bearer s3cr3t-token"}}})
	if len(rec.keys) != 2 {
		t.Fatalf("keys %q, want a lookup and a store", rec.keys)
	}
	for _, k := range rec.keys {
		if !strings.HasPrefix(k, "response:svc:") || len(k) != len("response:svc:")+43 || strings.Contains(k, "s3cr3t") {
			t.Errorf("store key %q: want response:svc: and a SHA-256 in base64", k)
		}
	}
}
