package server_test

import (
	"context"
	"strings"
	"testing"

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
		{"redis", "store:\n  type: redis\n  redis:\n    address: " + addr + "\n", []string{
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
