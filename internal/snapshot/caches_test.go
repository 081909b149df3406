package snapshot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

func writeCacheConfig(t *testing.T, policy string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"apis/api/apiInformation.json": `{"properties":{"path":"api","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/api/policy.xml":          policy,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestValueCacheAcrossReloads: a reload builds a new snapshot with the same
// internal cache, so cached values survive it.
func TestValueCacheAcrossReloads(t *testing.T) {
	dir := writeCacheConfig(t, `<policies><inbound>
		<cache-lookup-value key="k" variable-name="v" default-value="miss" />
		<choose><when condition="@(context.Request.Url.Query.ContainsKey(&quot;store&quot;))">
			<cache-store-value key="k" value="stored" duration="60" />
		</when></choose>
		<return-response><set-header name="X-V" exists-action="override"><value>@((string)context.Variables["v"])</value></set-header></return-response>
	</inbound></policies>`)
	st, _ := statedir.Open(t.TempDir())
	b := &snapshot.Builder{ConfigDir: dir, State: st, Expr: policies.Expressions}
	h := gateway.NewHandler(nil)
	get := func(path string) string {
		snap, err := b.Build(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		h.Swap(snap) // a reload before every request
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Header().Get("X-V")
	}
	got := []string{get("/api/x?store"), get("/api/x"), get("/api/x")}
	want := []string{"miss", "stored", "stored"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestValidateExternalCache: caching-type="external" is valid when
// lastmile.yaml names Redis (validation contacts nothing), and a load error
// that names the setting otherwise.
func TestValidateExternalCache(t *testing.T) {
	dir := writeCacheConfig(t, `<policies><inbound>
		<cache-lookup-value key="k" variable-name="v" caching-type="external" />
	</inbound></policies>`)
	redis := config.Default()
	redis.Store.Type = config.StoreRedis
	if err := snapshot.Validate(context.Background(), dir, redis, policies.Expressions, nil); err != nil {
		t.Errorf("with store.type redis: %v", err)
	}
	err := snapshot.Validate(context.Background(), dir, config.Default(), policies.Expressions, nil)
	if err == nil || !strings.Contains(err.Error(), "policy.xml:2:63: caching-type=\"external\" needs an external cache, and none is configured: set store.type to redis") {
		t.Errorf("with store.type memory: %v", err)
	}
}
