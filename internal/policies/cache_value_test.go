package policies_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/lastmile-gw/lastmile/internal/store"
)

// compileCacheDoc compiles a whole policy document with expressions, for the
// cache tests, which run several requests through one pipeline.
func compileCacheDoc(t testing.TB, deps policies.Deps, inbound, outbound string) (*pipeline.Pipeline, error) {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	src := "<policies>\n<inbound>" + inbound + "</inbound><backend /><outbound>" + outbound + "</outbound><on-error /></policies>"
	doc, err := policyxml.Parse("policy.xml", []byte(src))
	if err != nil {
		return nil, err
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "api")
	if err != nil {
		return nil, err
	}
	return pipeline.Compose(d), nil
}

func mustCompileCache(t testing.TB, deps policies.Deps, inbound string) *pipeline.Pipeline {
	t.Helper()
	p, err := compileCacheDoc(t, deps, inbound, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// request runs one request through p and returns its exchange.
func request(t testing.TB, p *pipeline.Pipeline, header http.Header) *exchange.Exchange {
	t.Helper()
	u, _ := url.Parse("https://backend.example/api/items/42")
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request:   exchange.Request{Method: "GET", URL: u, OriginalURL: u, Headers: header},
	}
	if x.Request.Headers == nil {
		x.Request.Headers = http.Header{}
	}
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

func lastError(x *exchange.Exchange) string {
	if x.LastError == nil {
		return ""
	}
	return x.LastError.Reason + ": " + x.LastError.Message
}

// TestCacheValueTypes stores a value in one request and looks it up in the
// next, where a C# check proves that it kept its type for the expression
// language: a cast to the wrong type would throw.
func TestCacheValueTypes(t *testing.T) {
	tests := []struct {
		name, value, check string
	}{
		{"string", `@("héllo wörld")`, `(string)v == "héllo wörld"`},
		{"literal value is a string", `plain`, `(string)v == "plain"`},
		{"empty string", `@("")`, `(string)v == ""`},
		{"bool", `@(true)`, `(bool)v`},
		{"int", `@(41)`, `(int)v + 1 == 42`},
		{"long", `@(DateTimeOffset.FromUnixTimeSeconds(1700000000).ToUnixTimeSeconds())`, `(long)v == 1700000000L`},
		{"double", `@(0.1 + 0.2)`, `(double)v == 0.1 + 0.2`},
		{"NaN", `@(double.NaN)`, `double.IsNaN((double)v)`},
		{"decimal", `@(1.10m + 0.01m)`, `(decimal)v == 1.11m && ((decimal)v).ToString() == "1.11" && ((decimal)v * 10).ToString() == "11.10"`},
		{"char", `@("xyz"[1])`, `(char)v == 'y'`},
		{"DateTime Utc", `@(new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567))`, `((DateTime)v).Kind == DateTimeKind.Utc && ((DateTime)v).Ticks == new DateTime(2024, 2, 29, 23, 59, 58).AddTicks(1234567).Ticks`},
		{"DateTime Local", `@(DateTime.Now)`, `((DateTime)v).Kind == DateTimeKind.Local`},
		{"DateTime Unspecified", `@(new DateTime(2001, 2, 3, 4, 5, 6))`, `((DateTime)v).Kind == DateTimeKind.Unspecified && ((DateTime)v).ToString("o") == "2001-02-03T04:05:06.0000000"`},
		{"DateTimeOffset", `@(DateTimeOffset.Parse("2024-01-02T03:04:05.5+05:30"))`, `((DateTimeOffset)v).Offset == TimeSpan.FromMinutes(330) && ((DateTimeOffset)v).Millisecond == 500`},
		{"TimeSpan", `@(TimeSpan.FromMilliseconds(90500))`, `((TimeSpan)v).TotalSeconds == 90.5`},
		{"Guid", `@(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"))`, `((Guid)v).ToString() == "0f8fad5b-d9cb-469f-a165-70867728950e"`},
		{"byte[]", `@(Encoding.UTF8.GetBytes("hi"))`, `Convert.ToBase64String((byte[])v) == "aGk="`},
		{"string[]", `@("a,b,c".Split(','))`, `((string[])v).Length == 3 && ((string[])v)[2] == "c"`},
		{"JObject", `@(JObject.Parse("{\"access_token\":\"t\",\"expires_in\":3599,\"nested\":{\"ok\":true}}"))`, `(string)((JObject)v)["access_token"] == "t" && (int)((JObject)v)["expires_in"] == 3599 && (bool)((JObject)v)["nested"]["ok"]`},
		{"JArray", `@(JArray.Parse("[1, \"two\", 3.5]"))`, `((JArray)v).Count == 3 && (double)((JArray)v)[2] == 3.5`},
		{"JValue", `@(new JValue(7))`, `(int)(JValue)v == 7`},
		{"null", `@((string)null)`, `v == null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps := policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1)}}
			store := mustCompileCache(t, deps, `<cache-store-value key="k" value="`+xmlAttr(tt.value)+`" duration="60" />`)
			if x := request(t, store, nil); x.LastError != nil {
				t.Fatalf("store: %s", lastError(x))
			}
			lookup := mustCompileCache(t, deps, `<cache-lookup-value key="k" variable-name="v" />
				<set-variable name="ok" value="`+xmlAttr(`@{ var v = context.Variables["v"]; return `+tt.check+`; }`)+`" />`)
			x := request(t, lookup, nil)
			if x.LastError != nil {
				t.Fatalf("lookup: %s", lastError(x))
			}
			if _, ok := x.Var("v"); !ok {
				t.Fatal("the lookup missed")
			}
			if ok, _ := x.Var("ok"); ok != true {
				t.Errorf("after the round trip, %s is %v", tt.check, ok)
			}
		})
	}
}

func xmlAttr(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("&quot;")
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestCacheValueBackendAuthentication is the shape of the corpus's "Backend
// OAuth2 Authentication With Cache": a miss, a store, hits on later requests,
// a remove after the backend refused the token, and a miss again.
func TestCacheValueBackendAuthentication(t *testing.T) {
	deps := policies.Deps{}
	p, err := compileCacheDoc(t, deps, `
		<cache-lookup-value key="@(&quot;bearerToken&quot;)" variable-name="bearerToken" />
		<choose>
			<when condition="@(!context.Variables.ContainsKey(&quot;bearerToken&quot;))">
				<set-variable name="fetched" value="@(true)" />
				<set-variable name="bearerToken" value="@(&quot;token-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-Round&quot;, &quot;&quot;))" />
				<cache-store-value key="bearerToken" value="@((string)context.Variables[&quot;bearerToken&quot;])" duration="@(3600)" />
			</when>
		</choose>
		<set-header name="Authorization" exists-action="override">
			<value>@("Bearer " + (string)context.Variables["bearerToken"])</value>
		</set-header>`, `
		<choose>
			<when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Backend-Says&quot;, &quot;&quot;) == &quot;401&quot;)">
				<cache-remove-value key="bearerToken" />
			</when>
		</choose>`)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		Fetched bool
		Auth    string
	}
	do := func(round string, backendSays string) result {
		x := request(t, p, http.Header{"X-Round": {round}, "X-Backend-Says": {backendSays}})
		if x.LastError != nil {
			t.Fatalf("round %s: %s", round, lastError(x))
		}
		_, fetched := x.Var("fetched")
		return result{fetched, x.Request.Headers.Get("Authorization")}
	}
	got := []result{do("1", ""), do("2", ""), do("3", "401"), do("4", ""), do("5", "")}
	want := []result{
		{true, "Bearer token-1"},  // miss: fetched and stored
		{false, "Bearer token-1"}, // hit
		{false, "Bearer token-1"}, // hit; the backend refuses it, so it is removed
		{true, "Bearer token-4"},  // miss again: fetched afresh
		{false, "Bearer token-4"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCacheLookupMiss(t *testing.T) {
	tests := []struct {
		name, policy string
		want         any
		set          bool
	}{
		{"no default leaves the variable unset", `<cache-lookup-value key="nothing" variable-name="v" />`, nil, false},
		{"a literal default is a string", `<cache-lookup-value key="nothing" variable-name="v" default-value="-noToken-" />`, "-noToken-", true},
		{"an empty default", `<cache-lookup-value key="nothing" variable-name="v" default-value="" />`, "", true},
		{"an expression default keeps its type", `<cache-lookup-value key="nothing" variable-name="v" default-value="@(7)" />`, int32(7), true},
		{"an existing variable is left alone on a miss", `<set-variable name="v" value="before" /><cache-lookup-value key="nothing" variable-name="v" />`, "before", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := request(t, mustCompileCache(t, policies.Deps{}, tt.policy), nil)
			got, ok := x.Var("v")
			if ok != tt.set || got != tt.want {
				t.Errorf("v = %#v, %v; want %#v, %v", got, ok, tt.want, tt.set)
			}
		})
	}
}

func TestCacheValueExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		deps := policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1)}}
		set := mustCompileCache(t, deps, `<cache-store-value key="k" value="v" duration="@(2)" />`)
		get := mustCompileCache(t, deps, `<cache-lookup-value key="k" variable-name="v" default-value="miss" />`)
		request(t, set, nil)
		var got []any
		for range 3 {
			v, _ := request(t, get, nil).Var("v")
			got = append(got, v)
			time.Sleep(time.Second)
		}
		if diff := cmp.Diff([]any{"v", "v", "miss"}, got); diff != "" {
			t.Errorf("at 0s, 1s, 2s (-want +got):\n%s", diff)
		}
	})
}

func TestCacheStoreDuration(t *testing.T) {
	tests := []struct {
		duration string
		want     any // the lookup afterwards
		reason   string
	}{
		{`@(60)`, "new", ""},
		{`@("120")`, "new", ""},
		{`@(60L)`, "new", ""},
		{`@(0)`, "miss", ""},  // expires at once: removes the old value
		{`@(-5)`, "miss", ""}, // as does a negative duration
		{`@("soon")`, "old", "InvalidCacheDuration: cache-store-value duration \"soon\" is not a whole number of seconds"},
		{`@(1.5)`, "old", "InvalidCacheDuration: cache-store-value duration \"1.5\" is not a whole number of seconds"},
		{`@(3000000000L)`, "old", "InvalidCacheDuration: cache-store-value duration 3000000000 is out of range: at most 2147483647 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.duration, func(t *testing.T) {
			deps := policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1)}}
			request(t, mustCompileCache(t, deps, `<cache-store-value key="k" value="old" duration="60" />`), nil)
			x := request(t, mustCompileCache(t, deps, `<cache-store-value key="k" value="new" duration="`+xmlAttr(tt.duration)+`" />`), nil)
			if got := lastError(x); got != tt.reason {
				t.Errorf("error %q, want %q", got, tt.reason)
			}
			v, _ := request(t, mustCompileCache(t, deps, `<cache-lookup-value key="k" variable-name="v" default-value="miss" />`), nil).Var("v")
			if v != tt.want {
				t.Errorf("afterwards the cache holds %v, want %v", v, tt.want)
			}
		})
	}
}

func TestCacheValueErrors(t *testing.T) {
	tests := []struct {
		name, value string
		deps        policies.Deps
		want        string
	}{
		{"IRequest", `@(context.Request)`, policies.Deps{},
			"CacheValueTypeNotSupported: cache-store-value: a value of type IRequest cannot be cached; cache what you need from it, such as a header or its body as a string"},
		{"Dictionary", `@(new Dictionary<string, int>())`, policies.Deps{},
			"CacheValueTypeNotSupported: cache-store-value: a value of type Dictionary cannot be cached; cache it as a JObject or a string"},
		{"inside an array", `@(new object[] { 1, context.Request })`, policies.Deps{},
			"CacheValueTypeNotSupported: cache-store-value: item 1: a value of type IRequest cannot be cached; cache what you need from it, such as a header or its body as a string"},
		{"too large", `@(new string('x', 100))`, policies.Deps{Cache: policies.Caches{MaxValueBytes: 100}},
			"CacheValueTooLarge: cache-store-value: the value takes 121 bytes cached, more than the limit of 100; cache a smaller value, such as only the fields you need"},
		{"too large for the store", `@(new string('x', 100))`, policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1, store.WithValueLimits(store.ValueLimits{ValueBytes: 50}))}},
			"CacheValueTooLarge: cache-store-value: the value takes 121 bytes cached, more than the cache accepts; cache a smaller value, such as only the fields you need"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := request(t, mustCompileCache(t, tt.deps, `<cache-store-value key="k" value="`+xmlAttr(tt.value)+`" duration="60" />`), nil)
			if got := lastError(x); got != tt.want {
				t.Errorf("LastError\n got %q\nwant %q", got, tt.want)
			}
			if tt.want != "" && (x.Response == nil || x.Response.StatusCode != 500) {
				t.Errorf("response %+v, want a 500", x.Response)
			}
		})
	}
	// An expression that fails is the usual expression failure.
	x := request(t, mustCompileCache(t, policies.Deps{}, `<cache-lookup-value key="@(((string)null).Length.ToString())" variable-name="v" />`), nil)
	if x.LastError == nil || x.LastError.Reason != "ExpressionValueEvaluationFailure" || x.LastError.Source != "cache-lookup-value" {
		t.Errorf("LastError %+v", x.LastError)
	}
}

func TestCacheValueCompileErrors(t *testing.T) {
	tests := []struct {
		name, policy string
		deps         policies.Deps
		want         string
	}{
		{"external without an external cache", `<cache-lookup-value key="k" variable-name="v" caching-type="external" />`, policies.Deps{},
			`policy.xml:3:79: caching-type="external" needs an external cache, and none is configured: set store.type to redis (with store.redis.address) in lastmile.yaml so that every gateway instance shares one, or use caching-type="prefer-external", which falls back to the gateway's own cache`},
		{"unknown caching-type", `<cache-remove-value key="k" caching-type="redis" />`, policies.Deps{},
			`policy.xml:3:61: caching-type must be prefer-external, external or internal, not "redis"`},
		{"caching-type expression", `<cache-remove-value key="k" caching-type="@(&quot;internal&quot;)" />`, policies.Deps{},
			`policy.xml:3:61: attribute caching-type of <cache-remove-value> does not accept policy expressions`},
		{"no key", `<cache-remove-value />`, policies.Deps{},
			`policy.xml:3:19: <cache-remove-value> needs a key attribute`},
		{"no variable-name", `<cache-lookup-value key="k" />`, policies.Deps{},
			`policy.xml:3:19: <cache-lookup-value> needs a variable-name attribute`},
		{"empty variable-name", `<cache-lookup-value key="k" variable-name="" />`, policies.Deps{},
			`policy.xml:3:62: variable-name must not be empty`},
		{"variable-name expression", `<cache-lookup-value key="k" variable-name="@(&quot;v&quot;)" />`, policies.Deps{},
			`policy.xml:3:62: attribute variable-name of <cache-lookup-value> does not accept policy expressions`},
		{"no value", `<cache-store-value key="k" duration="1" />`, policies.Deps{},
			`policy.xml:3:19: <cache-store-value> needs a value attribute`},
		{"no duration", `<cache-store-value key="k" value="v" />`, policies.Deps{},
			`policy.xml:3:19: <cache-store-value> needs a duration attribute`},
		{"duration not a number", `<cache-store-value key="k" value="v" duration="{{cachetime}]" />`, policies.Deps{},
			`policy.xml:3:66: duration "{{cachetime}]" is not a whole number of seconds; write a whole number of seconds such as 3600, or a policy expression`},
		{"duration zero", `<cache-store-value key="k" value="v" duration="0" />`, policies.Deps{},
			`policy.xml:3:66: duration must be at least 1 second; write a whole number of seconds such as 3600, or a policy expression`},
		{"duration too long", `<cache-store-value key="k" value="v" duration="9999999999" />`, policies.Deps{},
			`policy.xml:3:66: duration 9999999999 is out of range: at most 2147483647 seconds; write a whole number of seconds such as 3600, or a policy expression`},
		{"unknown attribute", `<cache-store-value key="k" value="v" duration="1" vary-by="x" />`, policies.Deps{},
			`policy.xml:3:69: unknown attribute "vary-by" on <cache-store-value>; expected key, value, duration, caching-type`},
		{"children", `<cache-remove-value key="k"><value>x</value></cache-remove-value>`, policies.Deps{},
			`policy.xml:3:47: <cache-remove-value> takes no child elements, found <value>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileCacheDoc(t, tt.deps, "\n                  "+tt.policy, "")
			if err == nil {
				t.Fatal("compiled")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// recordingCache records which keys reach it, and fails when told to.
type recordingCache struct {
	mu   sync.Mutex
	mem  *store.Memory
	keys []string
	err  error
}

func newRecordingCache() *recordingCache { return &recordingCache{mem: store.NewMemory(1)} }

func (r *recordingCache) record(op, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, op+" "+key)
	return r.err
}

func (r *recordingCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := r.record("get", key); err != nil {
		return nil, false, err
	}
	return r.mem.Get(ctx, key)
}

func (r *recordingCache) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := r.record("set", key); err != nil {
		return err
	}
	return r.mem.Set(ctx, key, v, ttl)
}

func (r *recordingCache) Delete(ctx context.Context, key string) error {
	if err := r.record("delete", key); err != nil {
		return err
	}
	return r.mem.Delete(ctx, key)
}

func TestCachingType(t *testing.T) {
	tests := []struct {
		cachingType string
		external    bool
		want        string // the cache that is used
	}{
		{"", false, "internal"},
		{"", true, "external"},
		{"prefer-external", false, "internal"},
		{"prefer-external", true, "external"},
		{"external", true, "external"},
		{"internal", true, "internal"},
		{"internal", false, "internal"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s external=%v", tt.cachingType, tt.external), func(t *testing.T) {
			internal, external := newRecordingCache(), newRecordingCache()
			deps := policies.Deps{Cache: policies.Caches{Internal: internal}}
			if tt.external {
				deps.Cache.External = external
			}
			ct := ""
			if tt.cachingType != "" {
				ct = ` caching-type="` + tt.cachingType + `"`
			}
			request(t, mustCompileCache(t, deps, `<cache-store-value key="k" value="v" duration="5"`+ct+` />
				<cache-lookup-value key="k" variable-name="v"`+ct+` />
				<cache-remove-value key="k"`+ct+` />`), nil)
			got := map[string]int{"internal": len(internal.keys), "external": len(external.keys)}
			want := map[string]int{"internal": 0, "external": 0}
			want[tt.want] = 3
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("operations per cache (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCacheKeys: keys are namespaced and hashed, so that request data used as a
// key (an Authorization header, in the corpus) never appears in the store.
func TestCacheKeys(t *testing.T) {
	const secret = "Bearer eyJhbGciOiJub25lIn0.c2VjcmV0.sig"
	c := newRecordingCache()
	deps := policies.Deps{Cache: policies.Caches{Internal: c, Namespace: "contoso"}}
	p := mustCompileCache(t, deps, `<cache-store-value key="@(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;))" value="ok" duration="5" />
		<cache-lookup-value key="@(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;))" variable-name="v" />`)
	x := request(t, p, http.Header{"Authorization": {secret}})
	if v, _ := x.Var("v"); v != "ok" {
		t.Fatalf("v = %v", v)
	}
	request(t, mustCompileCache(t, deps, `<cache-store-value key="Bearer" value="ok" duration="5" />`), nil)
	if len(c.keys) != 3 {
		t.Fatalf("keys %q", c.keys)
	}
	k := strings.TrimPrefix(c.keys[0], "set ")
	if !strings.HasPrefix(k, "cache:contoso:") || len(k) != len("cache:contoso:")+43 {
		t.Errorf("store key %q, want cache:contoso: and 43 characters of hash", k)
	}
	if strings.Contains(k, "Bearer") || strings.Contains(k, "eyJ") {
		t.Errorf("the key shows the header: %q", k)
	}
	if c.keys[1] != "get "+k || c.keys[2] == "set "+k {
		t.Errorf("same key, same store key; another key, another one: %q", c.keys)
	}
}

// TestCacheUnavailable: a cache that fails is a miss for lookups and a logged
// warning for stores and removes; the request goes on, and the log never shows
// the key.
func TestCacheUnavailable(t *testing.T) {
	const secretKey = "user-password-as-key"
	c := newRecordingCache()
	c.err = errors.New("redis: connection refused")
	var logs bytes.Buffer
	deps := policies.Deps{
		Cache:  policies.Caches{Internal: store.NewMemory(1), External: c},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	x := request(t, mustCompileCache(t, deps, `<cache-lookup-value key="`+secretKey+`" variable-name="a" default-value="fallback" caching-type="external" />
		<cache-lookup-value key="`+secretKey+`" variable-name="b" />
		<cache-store-value key="`+secretKey+`" value="v" duration="5" />
		<cache-remove-value key="`+secretKey+`" />`), nil)
	if x.LastError != nil {
		t.Fatalf("the request failed: %s", lastError(x))
	}
	a, _ := x.Var("a")
	_, hasB := x.Var("b")
	if a != "fallback" || hasB {
		t.Errorf("a = %v, b set = %v; want the default and unset", a, hasB)
	}
	out := logs.String()
	for _, want := range []string{"cache lookup failed; treating it as a miss", "cache store failed", "cache remove failed", "redis: connection refused", "cache=external"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secretKey) {
		t.Errorf("the log shows the key:\n%s", out)
	}

	// A value that is not one of ours (another program wrote the key) is a miss.
	c.err = nil
	c.mem.Set(context.Background(), strings.TrimPrefix(c.keys[0], "get "), []byte("not json"), time.Minute)
	logs.Reset()
	x = request(t, mustCompileCache(t, deps, `<cache-lookup-value key="`+secretKey+`" variable-name="a" />`), nil)
	if _, ok := x.Var("a"); ok || !strings.Contains(logs.String(), "cached value unreadable") {
		t.Errorf("a foreign value: set=%v, log %s", ok, logs.String())
	}
}

// TestCacheValueNotShared: each lookup gets its own copy, so a request that
// changes a cached JObject changes neither the cache nor other requests.
func TestCacheValueNotShared(t *testing.T) {
	deps := policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1)}}
	request(t, mustCompileCache(t, deps, `<cache-store-value key="k" value="@(JObject.Parse(&quot;{\&quot;n\&quot;:0}&quot;))" duration="60" />`), nil)
	p := mustCompileCache(t, deps, `<cache-lookup-value key="k" variable-name="o" />
		<set-variable name="n" value="@{ var o = (JObject)context.Variables[&quot;o&quot;]; o[&quot;n&quot;] = (int)o[&quot;n&quot;] + 1; return (int)o[&quot;n&quot;]; }" />`)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := request(t, p, nil)
			if n, _ := x.Var("n"); n != int32(1) {
				t.Errorf("n = %#v (%s), want 1: the cached object was shared", n, lastError(x))
			}
		}()
	}
	wg.Wait()
}

func BenchmarkCacheLookupHit(b *testing.B) {
	deps := policies.Deps{Cache: policies.Caches{Internal: store.NewMemory(1)}}
	request(b, mustCompileCache(b, deps, `<cache-store-value key="bearerToken" value="@(new string('t', 1200))" duration="600" />`), nil)
	p := mustCompileCache(b, deps, `<cache-lookup-value key="@(&quot;bearerToken&quot;)" variable-name="bearerToken" />`)
	steps := p.Steps(pipeline.Inbound)
	x := request(b, p, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := steps[0].Policy.Apply(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheStore(b *testing.B) {
	p := mustCompileCache(b, policies.Deps{}, `<cache-store-value key="bearerToken" value="@(new string('t', 1200))" duration="600" />`)
	steps := p.Steps(pipeline.Inbound)
	x := request(b, p, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := steps[0].Policy.Apply(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
}
