package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// cacheConfig is an API whose policy stores, looks up and removes cached
// values as its query says, and answers with what it found.
func cacheConfig(store string) map[string]string {
	return map[string]string{
		"lastmile.yaml":                  "gateway:\n  serviceName: cache-test\n" + store,
		"apis/cache/apiInformation.json": `{"properties":{"path":"cache","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/cache/policy.xml": `<policies><inbound>
	<cache-lookup-value key="shared" variable-name="v" default-value="miss" />
	<cache-lookup-value key="mine" variable-name="i" default-value="miss" caching-type="internal" />
	<choose>
		<when condition="@(context.Request.Url.Query.ContainsKey(&quot;store&quot;))">
			<cache-store-value key="shared" value="@(context.Request.Url.Query.GetValueOrDefault(&quot;store&quot;))" duration="60" />
			<cache-store-value key="mine" value="@(context.Request.Url.Query.GetValueOrDefault(&quot;store&quot;))" duration="60" caching-type="internal" />
		</when>
		<when condition="@(context.Request.Url.Query.ContainsKey(&quot;remove&quot;))">
			<cache-remove-value key="shared" />
		</when>
	</choose>
	<return-response>
		<set-header name="X-Shared" exists-action="override"><value>@((string)context.Variables["v"])</value></set-header>
		<set-header name="X-Internal" exists-action="override"><value>@((string)context.Variables["i"])</value></set-header>
	</return-response>
</inbound></policies>`,
	}
}

// TestCacheValuesShared runs two gateway instances on one Redis: a value one
// stores, the other reads, and a remove on one reaches both. Values stored with
// caching-type="internal" stay with their instance. With the in-memory store,
// instances share nothing.
func TestCacheValuesShared(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	tests := []struct {
		name, store string
		want        []string // X-Shared X-Internal for each step below
	}{
		{"redis", redisStore(t, addr), []string{
			"miss miss",     // a stores
			"from-a miss",   // b reads a's shared value, not a's internal one
			"from-a from-a", // a reads both
			"from-a miss",   // b removes
			"miss from-a",   // a: the shared value is gone, its internal one is not
		}},
		{"memory", "", []string{
			"miss miss",
			"miss miss",
			"from-a from-a",
			"miss miss",
			"from-a from-a",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := newVerifyingBackend(t, "unused")
			cfgDir := t.TempDir()
			writeFiles(t, cfgDir, cacheConfig(tt.store))
			a := start(t, cfgDir, t.TempDir(), backend)
			b := start(t, cfgDir, t.TempDir(), backend)
			step := func(e *env, query string) string {
				status, h, body := e.get(t, "/cache/x"+query, nil)
				if status != 200 {
					t.Fatalf("%s: status %d: %s", query, status, body)
				}
				return h.Get("X-Shared") + " " + h.Get("X-Internal")
			}
			got := []string{
				step(a, "?store=from-a"),
				step(b, ""),
				step(a, ""),
				step(b, "?remove"),
				step(a, ""),
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("step %d: got %q, want %q", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestCacheExternalNeedsRedis: caching-type="external" with the in-memory
// store stops the gateway at start with an error that names the setting.
func TestCacheExternalNeedsRedis(t *testing.T) {
	cfgDir := t.TempDir()
	files := cacheConfig("")
	files["apis/cache/policy.xml"] = `<policies><inbound><cache-remove-value key="k" caching-type="external" /></inbound></policies>`
	writeFiles(t, cfgDir, files)
	_, err := server.New(context.Background(), server.Options{ConfigDir: cfgDir, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), `policy.xml:1:62: caching-type="external" needs an external cache, and none is configured: set store.type to redis (with store.redis.address) in lastmile.yaml`) {
		t.Errorf("err = %v", err)
	}
}

// corpusFile returns a file of ../shared/corpus (from the repository root), or
// skips the test.
func corpusFile(t *testing.T, rel string) []byte {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "corpus", filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("skipping: the shared corpus file %s is not here: %v", p, err)
	}
	return data
}

// TestCorpusBackendOAuth2WithCache runs the corpus's "Backend OAuth2
// Authentication With Cache" unchanged on two gateway instances that share a
// Redis: the first request fetches a client-credentials token with
// send-request and caches it, later requests on either instance reuse it, and
// a 401 from the backend removes it so that the next request fetches a new one.
func TestCorpusBackendOAuth2WithCache(t *testing.T) {
	policy := corpusFile(t, "policies/api-management-policy-snippets/examples/Backend OAuth2 Authentication With Cache.policy.xml")
	addr := storetest.StartRedis(t, "")

	var mu sync.Mutex
	var tokenForms []url.Values
	tokenServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		tokenForms = append(tokenForms, r.PostForm)
		n := len(tokenForms)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"token-%d"}`, n)
	}))
	defer tokenServer.Close()

	type seen struct{ Auth, SubscriptionKey string }
	var backendSaw []seen
	refuse := false
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		backendSaw = append(backendSaw, seen{r.Header.Get("Authorization"), r.Header.Get("Ocp-Apim-Subscription-Key")})
		if refuse {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()

	namedValue := func(name, value string, secret bool) string {
		return fmt.Sprintf(`{"properties":{"displayName":%q,"value":%q,"secret":%t}}`, name, value, secret)
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                   redisStore(t, addr),
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/orders/policy.xml":          string(policy),
		"named values/authorizationServer/namedValueInformation.json": namedValue("authorizationServer", tokenServer.URL+"/tenant/oauth2/token", false),
		"named values/clientId/namedValueInformation.json":            namedValue("clientId", "orders-client", false),
		"named values/scope/namedValueInformation.json":               namedValue("scope", "api%3A%2F%2Forders%2F.default", false),
		"named values/clientSecret/namedValueInformation.json":        namedValue("clientSecret", "s3cret%2Bvalue", true),
	})
	unused := newVerifyingBackend(t, "unused")
	a := start(t, cfgDir, t.TempDir(), unused)
	b := start(t, cfgDir, t.TempDir(), unused)

	get := func(e *env) int {
		status, _, body := e.get(t, "/orders/1", key("client-subscription-key"))
		if status != 200 && status != 401 {
			t.Fatalf("status %d: %s", status, body)
		}
		return status
	}
	statuses := []int{get(a), get(b), get(a)}
	mu.Lock()
	refuse = true
	mu.Unlock()
	statuses = append(statuses, get(b)) // the backend refuses token-1: removed
	mu.Lock()
	refuse = false
	mu.Unlock()
	statuses = append(statuses, get(a), get(b))

	if diff := cmp.Diff([]int{200, 200, 200, 401, 200, 200}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	want := []seen{
		{"Bearer token-1", ""}, // a: miss, fetched and cached in Redis
		{"Bearer token-1", ""}, // b: hit on a's token
		{"Bearer token-1", ""},
		{"Bearer token-1", ""}, // refused: cache-remove-value
		{"Bearer token-2", ""}, // a: miss, fetched again
		{"Bearer token-2", ""}, // b: hit
	}
	if diff := cmp.Diff(want, backendSaw); diff != "" {
		t.Errorf("the backend saw (-want +got):\n%s", diff)
	}
	if len(tokenForms) != 2 {
		t.Fatalf("%d token requests, want 2", len(tokenForms))
	}
	wantForm := url.Values{"client_id": {"orders-client"}, "scope": {"api://orders/.default"}, "client_secret": {"s3cret+value"}, "grant_type": {"client_credentials"}}
	if diff := cmp.Diff(wantForm, tokenForms[0]); diff != "" {
		t.Errorf("token request form (-want +got):\n%s", diff)
	}
}

// countingBackend answers every request with its number, n=1, n=2 ..., or
// with a body of size bytes when the query asks for one.
func countingBackend(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		if size, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil {
			io.WriteString(w, strings.Repeat("x", size))
			return
		}
		fmt.Fprintf(w, "n=%d", i)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// responseCacheConfig is an API whose GETs are cached for a minute, varied by
// the v query parameter.
func responseCacheConfig(backendURL, store string) map[string]string {
	return map[string]string{
		"lastmile.yaml":                  "gateway:\n  serviceName: response-cache-test\n" + store,
		"apis/cache/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"cache","serviceUrl":%q,"subscriptionRequired":false}}`, backendURL),
		"apis/cache/policy.xml": `<policies>
	<inbound><base />
		<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public">
			<vary-by-query-parameter>v</vary-by-query-parameter>
		</cache-lookup>
	</inbound>
	<backend><base /></backend>
	<outbound><base /><cache-store duration="60" /></outbound>
	<on-error><base /></on-error>
</policies>`,
	}
}

// TestResponseCacheThroughServer: a response cached through one gateway is
// served again without calling the backend; the parameter it varies by makes
// another entry; a body over the cache's limit reaches the client whole and is
// not cached. With Redis, a second gateway instance serves the first's cached
// response; with the in-memory store, each instance has its own.
func TestResponseCacheThroughServer(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	tests := []struct {
		name, store string
		sharedHit   bool
	}{
		{"redis", redisStore(t, addr), true},
		{"memory", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend, calls := countingBackend(t)
			cfgDir := t.TempDir()
			writeFiles(t, cfgDir, responseCacheConfig(backend.URL, tt.store))
			a := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
			b := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
			get := func(e *env, path string) string {
				t.Helper()
				status, h, body := e.get(t, path, nil)
				if status != 200 {
					t.Fatalf("%s: status %d: %s", path, status, body)
				}
				if cc := h.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
					t.Errorf("%s: Cache-Control %q, want public with a max-age", path, cc)
				}
				return body
			}
			want := "n=1"
			if !tt.sharedHit {
				want = "n=2"
			}
			steps := []struct {
				e          *env
				path, want string
				calls      int32
			}{
				{a, "/cache/items?v=1", "n=1", 1},
				{a, "/cache/items?v=1", "n=1", 1},
				{b, "/cache/items?v=1", want, map[bool]int32{true: 1, false: 2}[tt.sharedHit]},
				{a, "/cache/items?v=2", "", 0},
			}
			for i, s := range steps {
				before := calls.Load()
				got := get(s.e, s.path)
				if s.want != "" && got != s.want {
					t.Errorf("step %d: %s answered %q, want %q", i+1, s.path, got, s.want)
				}
				if s.calls != 0 && calls.Load() != s.calls {
					t.Errorf("step %d: the backend has had %d calls, want %d", i+1, calls.Load(), s.calls)
				}
				if s.want == "" && calls.Load() != before+1 {
					t.Errorf("step %d: %s did not reach the backend", i+1, s.path)
				}
			}
			const big = 2 << 20 // over the 1 MiB a cached value may take
			for i := range 2 {
				before := calls.Load()
				if body := get(a, fmt.Sprintf("/cache/big?v=%d&size=%d", 9, big)); len(body) != big {
					t.Errorf("big body %d: got %d bytes, want %d", i+1, len(body), big)
				}
				if calls.Load() != before+1 {
					t.Errorf("big body %d was served from the cache", i+1)
				}
			}
		})
	}
}
