package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

type benchTokens struct{}

func (benchTokens) AccessToken(context.Context, string, string) (policies.AccessToken, error) {
	return policies.AccessToken{Value: "eyJ.bench.token", Outcome: "hit"}, nil
}

// benchHandler builds a gateway for an API with 50 operations whose pipeline sets
// headers and a managed-identity token, in front of backend.
func benchHandler(b *testing.B, backend string) *gateway.Handler {
	return benchHandlerWith(b, backend, "")
}

// benchHandlerWith is benchHandler with more inbound policies first.
func benchHandlerWith(b *testing.B, backend, inbound string) *gateway.Handler {
	b.Helper()
	dir := b.TempDir()
	files := map[string]string{
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":true}}`, backend),
		"apis/orders/policy.xml": `<policies><inbound>` + inbound + `<base />
			<set-header name="X-A" exists-action="override"><value>a</value></set-header>
			<authentication-managed-identity resource="api://orders" />
			</inbound><backend><base /></backend><outbound><base />
			<set-header name="X-Out" exists-action="override"><value>o</value></set-header></outbound><on-error><base /></on-error></policies>`,
		"subscriptions/s/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"k1","secondaryKey":"k2"}}`,
	}
	spec := "openapi: 3.0.1\ninfo: {title: o, version: '1'}\npaths:\n"
	for i := 0; i < 50; i++ {
		spec += fmt.Sprintf("  /r%d/{id}:\n    get:\n      operationId: op%d\n      responses: {'200': {description: ok}}\n", i, i)
	}
	files["apis/orders/specification.yaml"] = spec
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	st, _ := statedir.Open(b.TempDir())
	snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: benchTokens{}}).Build(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	h := gateway.NewHandler(nil)
	h.Swap(snap)
	return h
}

// BenchmarkServeHTTP sends requests through the whole data plane (routing,
// subscription check, inbound with a token-cache hit, forwarding over loopback,
// outbound) to a trivial backend.
func BenchmarkServeHTTP(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("0123456789abcdef"))
	}))
	defer backend.Close()
	gw := httptest.NewServer(benchHandler(b, backend.URL))
	defer gw.Close()
	client := gw.Client()
	req, _ := http.NewRequest("GET", gw.URL+"/orders/r25/17", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", "k1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkDirect is the baseline for BenchmarkServeHTTP: the same client and
// backend without the gateway.
func BenchmarkDirect(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("0123456789abcdef"))
	}))
	defer backend.Close()
	client := backend.Client()
	req, _ := http.NewRequest("GET", backend.URL+"/orders/r25/17", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkPreflight answers a CORS preflight in the handler itself (no
// network): routing, the operation's cors policy and the response.
func BenchmarkPreflight(b *testing.B) {
	h := benchHandlerWith(b, "http://127.0.0.1:1", `<cors allow-credentials="true">
		<allowed-origins><origin>https://a.example</origin><origin>https://app.example</origin></allowed-origins>
		<allowed-methods preflight-result-max-age="600"><method>GET</method><method>PUT</method></allowed-methods>
		<allowed-headers><header>content-type</header><header>x-requested-with</header></allowed-headers>
		</cors>`)
	req := httptest.NewRequest("OPTIONS", "/orders/r25/17", nil)
	b.ReportAllocs()
	for b.Loop() {
		req.Header = http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"PUT"},
			"Access-Control-Request-Headers": {"content-type,x-requested-with"}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") == "" {
			b.Fatalf("status %d, headers %v", w.Code, w.Header())
		}
	}
}
