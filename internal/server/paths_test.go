package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// naiveBackend records the exact request-target it receives and then serves files
// the way a careless file server does: it decodes the path (twice, %uXXXX too),
// reads '\' as '/', overlong UTF-8 as ASCII and drops ";params" as Tomcat does,
// resolves dot segments, and reads the file below its root. The root holds
// secret.txt beside public/, which the APIs use as their base path: any form of a
// path that gets through the gateway and climbs out of public/ shows "SECRET".
type naiveBackend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string
	root string
}

func newNaiveBackend(t *testing.T) *naiveBackend {
	b := &naiveBackend{root: t.TempDir()}
	writeFiles(t, b.root, map[string]string{
		"secret.txt":        "SECRET",
		"public/hello.txt":  "hello",
		"public/a b.txt":    "spaced",
		"public/café.txt":   "accented",
		"public/v2/one.txt": "one",
	})
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *naiveBackend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.got = append(b.got, r.RequestURI)
	b.mu.Unlock()
	p, _, _ := strings.Cut(r.RequestURI, "?")
	data, err := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(naivePath(p))))
	if err != nil {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	w.Write(data)
}

// naivePath decodes and resolves p as careless servers do.
func naivePath(p string) string {
	decode := strings.NewReplacer("%u002e", ".", "%u002f", "/", "%u005c", "/", "\xc0\xae", ".", "\xc0\xaf", "/", "\xe0\x80\xae", ".", "\\", "/")
	for range 2 {
		p = decode.Replace(p)
		if u, err := lenientUnescape(p); err == nil {
			p = u
		}
		p = decode.Replace(p)
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

func lenientUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// since returns the request-targets the backend got after the first n.
func (b *naiveBackend) since(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got[n:]...)
}

func (b *naiveBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

// rawGet writes a GET request line byte for byte, as curl --path-as-is does (Go's
// client would clean the path), and returns the status and body.
func rawGet(t *testing.T, addr, target string, header map[string]string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var h strings.Builder
	for k, v := range header {
		fmt.Fprintf(&h, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gateway\r\n%sConnection: close\r\n\r\n", target, h.String())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// startPathGateway runs the whole server with APIs in front of the naive backend.
func startPathGateway(t *testing.T, backend string) string {
	t.Helper()
	api := func(p, base string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, p, backend+base)
	}
	policy := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"apis/files/apiInformation.json": api("files", "/public"),
		"apis/echo/apiInformation.json":  api("echo", "/base"),
		"apis/other/apiInformation.json": api("other", "/other"),

		"apis/rw/apiInformation.json": api("rw", "/public"),
		"apis/rw/specification.yaml": `openapi: 3.0.1
info: {title: rw, version: "1"}
paths:
  /items/{id}:
    get: {operationId: item, responses: {"200": {description: ok}}}
  /tree/{*rest}:
    get: {operationId: tree, responses: {"200": {description: ok}}}
  /expr:
    get: {operationId: expr, responses: {"200": {description: ok}}}
x-ms-paths:
  /byname?name={name}:
    get: {operationId: byname, responses: {"200": {description: ok}}}
`,
		"apis/rw/operations/item/policy.xml":   policy(`<rewrite-uri template="/{id}" />`),
		"apis/rw/operations/tree/policy.xml":   policy(`<rewrite-uri template="/{*rest}" />`),
		"apis/rw/operations/byname/policy.xml": policy(`<rewrite-uri template="/v2/{name}" copy-unmatched-params="false" />`),
		"apis/rw/operations/expr/policy.xml":   policy(`<rewrite-uri template="@(context.Request.Headers.GetValueOrDefault("X-Path", "/"))" />`),

		"apis/tenant/apiInformation.json":         api("tenant", "/public"),
		"apis/tenant/policy.xml":                  policy(`<set-backend-service base-url="@("` + backend + `/" + context.Request.Headers.GetValueOrDefault("X-Tenant", "public"))" />`),
		"apis/byid/apiInformation.json":           api("byid", "/public"),
		"apis/byid/policy.xml":                    policy(`<set-backend-service backend-id="@(context.Request.Headers.GetValueOrDefault("X-Backend", "pub"))" />`),
		"backends/pub/backendInformation.json":    fmt.Sprintf(`{"properties":{"url":%q}}`, backend+"/public"),
		"backends/dotted/backendInformation.json": fmt.Sprintf(`{"properties":{"url":%q}}`, backend+"/x/../public"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{
		ConfigDir: dir, StateDir: t.TempDir(),
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
		Expr:   policies.Expressions,
	})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return strings.TrimPrefix(s.GatewayURL(), "http://")
}

// TestPathTraversal sends every form of a path we know of through the real server,
// byte for byte, and checks the status, the exact request-target the backend got
// ("" when nothing was forwarded), and that the naive backend never served the
// file outside its base path.
func TestPathTraversal(t *testing.T) {
	backend := newNaiveBackend(t)
	gw := startPathGateway(t, backend.srv.URL)

	tests := []struct {
		target     string
		header     map[string]string
		wantStatus int
		wantTarget string // what the backend received; "" for nothing
	}{
		// Legitimate paths keep their exact encoding.
		{"/files/hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/a%20b.txt", nil, 200, "/public/a%20b.txt"},
		{"/files/caf%C3%A9.txt", nil, 200, "/public/caf%C3%A9.txt"},
		{"/files/caf%c3%a9.txt", nil, 200, "/public/caf%c3%a9.txt"},
		{"/files/x%3Ay", nil, 404, "/public/x%3Ay"},
		{"/files/dir/", nil, 404, "/public/dir/"},
		{"/files/a//b", nil, 404, "/public/a//b"},
		{"/files/items;v=1/x", nil, 404, "/public/items;v=1/x"},
		{"/files/hello.txt?x=..%2f..%2f&y=%00&z=../", nil, 200, "/public/hello.txt?x=..%2f..%2f&y=%00&z=../"},
		{"/files/100%25", nil, 404, "/public/100%25"},
		{"/files/a%252Fb", nil, 404, "/public/a%252Fb"}, // double-encoded slash: data
		{"/files/...", nil, 404, "/public/..."},
		{"/files/.hidden", nil, 404, "/public/.hidden"},

		// Encoded separators stay data within their segment.
		{"/echo/a%2fb", nil, 404, "/base/a%2fb"},
		{"/echo/a%2Fb/c", nil, 404, "/base/a%2Fb/c"},
		{"/echo/a%5Cb", nil, 404, "/base/a%5Cb"},
		{"/echo/a%2fb{", nil, 404, "/base/a%2fb%7B"},
		{"/echo/a\\b", nil, 404, "/base/a%5Cb"},

		// Dot segments are resolved before routing.
		{"/files/./hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/sub/../hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/sub/%2e%2e/hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/sub/%2E%2e/hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/sub/.%2e/hello.txt", nil, 200, "/public/hello.txt"},
		{"/files/sub/%2e./hello.txt", nil, 200, "/public/hello.txt"},
		{"/other/../files/hello.txt", nil, 200, "/public/hello.txt"},
		{"/other/../echo/x", nil, 404, "/base/x"},
		{"/files/../secret.txt", nil, 404, ""}, // now /secret.txt: no API there
		{"/files/%2e%2e/secret.txt", nil, 404, ""},
		{"/files/sub/..", nil, 404, "/public/"},

		// Climbing above the root.
		{"/../files/hello.txt", nil, 400, ""},
		{"/files/../../secret.txt", nil, 400, ""},
		{"/files/%2e%2e/%2e%2e/secret.txt", nil, 400, ""},

		// Forms a decoding backend would resolve out of public/.
		{"/files/..%2fsecret.txt", nil, 400, ""},
		{"/files/..%2Fsecret.txt", nil, 400, ""},
		{"/files/%2e%2e%2fsecret.txt", nil, 400, ""},
		{"/files/%2E%2e%2Fsecret.txt", nil, 400, ""},
		{"/files/.%2e%2fsecret.txt", nil, 400, ""},
		{"/files/%2e%2e%5csecret.txt", nil, 400, ""},
		{"/files/..%5csecret.txt", nil, 400, ""},
		{"/files/..\\secret.txt", nil, 400, ""},
		{"/files/sub%2f..%2f..%2fsecret.txt", nil, 400, ""},
		{"/files/%252e%252e%252fsecret.txt", nil, 400, ""},
		{"/files/..%252fsecret.txt", nil, 400, ""},
		{"/files/%c0%ae%c0%ae/secret.txt", nil, 400, ""},
		{"/files/%c0%ae%c0%ae%c0%afsecret.txt", nil, 400, ""},
		{"/files/%e0%80%ae%e0%80%ae/secret.txt", nil, 400, ""},
		{"/files/%u002e%u002e/secret.txt", nil, 400, ""},
		{"/files/..;/secret.txt", nil, 400, ""},
		{"/files/..;jsessionid=x/secret.txt", nil, 400, ""},
		{"/files/.%2fhello.txt", nil, 400, ""},
		{"/files/hello.txt%00.png", nil, 400, ""},
		{"/files/a%0d%0aSet-Cookie:%20x=1", nil, 400, ""},
		{"/files/a%7f", nil, 400, ""},
		{"/files/a%zz", nil, 400, ""},

		// A request target has no fragment: backends disagree on what a '#' ends.
		{"/files/hello.txt#x", nil, 400, ""},
		{"/files/hello.txt?x=1#y", nil, 400, ""},
		{"/files/hello.txt?x=#&y=2", nil, 400, ""},
		{"/files/x#/../hello.txt", nil, 400, ""},
		{"/files/hello.txt?x=%23", nil, 200, "/public/hello.txt?x=%23"},
		{"/files/a%23b", nil, 404, "/public/a%23b"},

		// rewrite-uri: path parameters are forwarded as the client escaped them.
		{"/rw/items/hello.txt", nil, 200, "/public/hello.txt"},
		{"/rw/items/a%2fb", nil, 404, "/public/a%2fb"},
		{"/rw/items/a%3Ab", nil, 404, "/public/a%3Ab"},
		{"/rw/items/..%2fsecret.txt", nil, 400, ""},
		{"/rw/items/%252e%252e%252fsecret.txt", nil, 400, ""},
		{"/rw/tree/v2/one.txt", nil, 200, "/public/v2/one.txt"},
		{"/rw/tree/a%2Fb/c", nil, 404, "/public/a%2Fb/c"},
		{"/rw/tree/v2/../hello.txt", nil, 200, "/public/hello.txt"},
		{"/rw/tree/%2e%2e%5csecret.txt", nil, 400, ""},
		// A query value put into the path is data: '/' is escaped and dots refused.
		{"/rw/byname?name=one.txt", nil, 200, "/public/v2/one.txt"},
		{"/rw/byname?name=..%2f..%2fsecret.txt", nil, 400, ""},
		{"/rw/byname?name=..", nil, 400, ""},
		{"/rw/byname?name=a%2Fb", nil, 404, "/public/v2/a%2Fb"},
		// An expression's path may not have dot segments and stays below the base.
		{"/rw/expr", map[string]string{"X-Path": "/hello.txt"}, 200, "/public/hello.txt"},
		{"/rw/expr", map[string]string{"X-Path": "/a%2fb"}, 404, "/public/a%2fb"},
		{"/rw/expr", map[string]string{"X-Path": "/../secret.txt"}, 400, ""},
		{"/rw/expr", map[string]string{"X-Path": "/v2/../../secret.txt"}, 400, ""},
		{"/rw/expr", map[string]string{"X-Path": "/v2/../hello.txt"}, 400, ""},
		{"/rw/expr", map[string]string{"X-Path": "/..%2fsecret.txt"}, 400, ""},

		// set-backend-service: a base-url expression may not have dot segments.
		{"/tenant/hello.txt", nil, 200, "/public/hello.txt"},
		{"/tenant/secret.txt", map[string]string{"X-Tenant": "public/.."}, 400, ""},
		{"/tenant/secret.txt", map[string]string{"X-Tenant": ".."}, 400, ""},
		{"/tenant/secret.txt", map[string]string{"X-Tenant": "public/%2e%2e"}, 400, ""},
		{"/tenant/secret.txt", map[string]string{"X-Tenant": "public%2f..%2f"}, 400, ""},
		{"/tenant/secret.txt", map[string]string{"X-Tenant": "public\\.."}, 400, ""},
		{"/tenant/hello.txt", map[string]string{"X-Tenant": "a%2Fb"}, 404, "/a%2Fb/hello.txt"},
		{"/tenant/..%2fsecret.txt", nil, 400, ""},
		// backend-id: the entity's url is configuration, resolved at load.
		{"/byid/hello.txt", nil, 200, "/public/hello.txt"},
		{"/byid/hello.txt", map[string]string{"X-Backend": "dotted"}, 200, "/public/hello.txt"},
		{"/byid/..%2fsecret.txt", map[string]string{"X-Backend": "dotted"}, 400, ""},
	}
	for _, tt := range tests {
		name := tt.target
		for k, v := range tt.header {
			name += " " + k + ":" + v
		}
		t.Run(name, func(t *testing.T) {
			n := backend.count()
			status, body := rawGet(t, gw, tt.target, tt.header)
			got := backend.since(n)
			gotTarget := strings.Join(got, ", ")
			if status != tt.wantStatus || gotTarget != tt.wantTarget {
				t.Errorf("status %d, backend got %q; want %d, %q (body %q)", status, gotTarget, tt.wantStatus, tt.wantTarget, body)
			}
			if strings.Contains(body, "SECRET") {
				t.Errorf("the backend served the file outside its base path: %q", body)
			}
			// The HTTP server itself refuses malformed escapes, before the gateway.
			malformed := strings.Contains(tt.target, "%u") || strings.Contains(tt.target, "%zz")
			if status == 400 && !malformed && !strings.Contains(body, `{"statusCode":400,"message":"`) {
				t.Errorf("400 body %q is not API Management-shaped", body)
			}
		})
	}
}

// TestPathTraversalSweep sends every traversal form under every API and position
// we route by, and checks that the naive backend never serves the secret.
func TestPathTraversalSweep(t *testing.T) {
	backend := newNaiveBackend(t)
	gw := startPathGateway(t, backend.srv.URL)
	forms := []string{"..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "..%2f", "..%2F", "%2e%2e%2f", "..%5c", "%2e%2e%5c",
		"..\\", "%252e%252e%252f", "%252e%252e/", "..%252f", "%c0%ae%c0%ae", "%c0%ae%c0%ae%c0%af", "%e0%80%ae%e0%80%ae",
		"..;", "..;x=1", "%2e%2e;", "%u002e%u002e", "..%00", "..%2f..%2f"}
	prefixes := []string{"/files/", "/files/sub/", "/echo/", "/rw/items/", "/rw/tree/", "/rw/tree/v2/", "/tenant/", "/byid/"}
	for _, form := range forms {
		for _, prefix := range prefixes {
			for _, target := range []string{prefix + form + "/secret.txt", prefix + form + "secret.txt", prefix + form + "/" + form + "/secret.txt"} {
				status, body := rawGet(t, gw, target, nil)
				if strings.Contains(body, "SECRET") {
					t.Errorf("GET %s: %d, the backend served the file outside its base path", target, status)
				}
			}
		}
	}
	for _, tenant := range []string{"..", "public/..", "public/%2e%2e", "public%2f..", "public/..%2f", "public\\..", "%2e%2e", "public/./.."} {
		status, body := rawGet(t, gw, "/tenant/secret.txt", map[string]string{"X-Tenant": tenant})
		if strings.Contains(body, "SECRET") {
			t.Errorf("X-Tenant %s: %d, the backend served the file outside its base path", tenant, status)
		}
	}
	for _, p := range []string{"/../secret.txt", "/..%2fsecret.txt", "/a/../../secret.txt", "%2e%2e/secret.txt", "/..\\secret.txt", "/%252e%252e/secret.txt"} {
		status, body := rawGet(t, gw, "/rw/expr", map[string]string{"X-Path": p})
		if strings.Contains(body, "SECRET") {
			t.Errorf("X-Path %s: %d, the backend served the file outside its base path", p, status)
		}
	}
}

// TestServiceURLPathRules checks an API's serviceUrl at load: dot segments are
// resolved, and a path that climbs above the root or hides a ".." is refused with
// the file that holds it.
func TestServiceURLPathRules(t *testing.T) {
	for _, tt := range []struct{ serviceURL, wantErr string }{
		{"http://127.0.0.1:1/../x", `serviceUrl: backend URL path is not allowed: a ".." segment climbs above the root`},
		{"http://127.0.0.1:1/a/..%2f..%2fx", `serviceUrl: backend URL path is not allowed: a segment would read as "." or ".." once decoded`},
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"apis/a/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"a","serviceUrl":%q}}`, tt.serviceURL),
		})
		_, err := server.New(context.Background(), server.Options{ConfigDir: dir, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
		want := filepath.Join(dir, "apis", "a", "apiInformation.json") + ":1:1: " + tt.wantErr
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serviceUrl %s: err = %v, want %s", tt.serviceURL, err, want)
		}
	}

	backend := newNaiveBackend(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"apis/a/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"a","serviceUrl":%q,"subscriptionRequired":false}}`, backend.srv.URL+"/x/%2e%2e/public/"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{ConfigDir: dir, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	status, body := rawGet(t, strings.TrimPrefix(s.GatewayURL(), "http://"), "/a/hello.txt", nil)
	if got := backend.since(0); status != 200 || body != "hello" || len(got) != 1 || got[0] != "/public/hello.txt" {
		t.Errorf("GET /a/hello.txt: %d %q, backend got %q; want 200 \"hello\" from /public/hello.txt", status, body, got)
	}
}

// TestRequestTargetOverHTTP2 checks that the request-target rules hold for an
// h2c :path too, which net/http's HTTP/2 server, not http1, parses.
func TestRequestTargetOverHTTP2(t *testing.T) {
	backend := newNaiveBackend(t)
	gw := startPathGateway(t, backend.srv.URL)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}}
	defer client.CloseIdleConnections()
	tests := []struct {
		path       string // sent as :path, byte for byte
		wantStatus int
		wantTarget string
	}{
		{"/files/hello.txt", 200, "/public/hello.txt"},
		{"/files/hello.txt#x", 400, ""},
		{"/files/hello.txt?x=1#y", 400, ""},
		{"/files/caf%C3%A9.txt", 200, "/public/caf%C3%A9.txt"},
		{"/files/caf\xc3\xa9.txt", 400, ""}, // as over HTTP/1.1: clients escape it
		{"/files/..%2fsecret.txt", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+gw+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.path // RequestURI sends it as it is
			n := backend.count()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
			}
			got := strings.Join(backend.since(n), ", ")
			if resp.StatusCode != tt.wantStatus || got != tt.wantTarget {
				t.Errorf("status %d, backend got %q; want %d, %q (body %q)", resp.StatusCode, got, tt.wantStatus, tt.wantTarget, body)
			}
			if resp.StatusCode == 400 && !strings.HasPrefix(string(body), `{"statusCode":400,"message":`) {
				t.Errorf("400 body %q is not the gateway's", body)
			}
		})
	}
}

// TestOperationSpellings sends the spellings of a literal operation path that
// a backend reads as that path (escaped letters, ";parameters"): each must
// run that operation's policies, not those of a template next to it that
// would match it as a parameter.
func TestOperationSpellings(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend "+r.URL.EscapedPath())
	}))
	t.Cleanup(backend.Close)
	spec := `openapi: 3.0.1
info: {title: items, version: "1"}
paths:
  /items/{id}:
    get: {operationId: get-item, responses: {"200": {description: ok}}}
  /items/admin:
    get: {operationId: get-admin, responses: {"200": {description: ok}}}
`
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/shop/apiInformation.json":             fmt.Sprintf(`{"properties":{"path":"shop","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/shop/specification.yaml":              spec,
		"apis/shop/operations/get-admin/policy.xml": `<policies><inbound><return-response><set-status code="403" reason="Forbidden" /><set-body>admins only</set-body></return-response></inbound><backend /><outbound /><on-error /></policies>`,
		"apis/shop/operations/get-item/policy.xml":  `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")
	for _, target := range []string{"/shop/items/admin", "/shop/items/%61dmin", "/shop/items/adm%69n", "/shop/items/ADMIN", "/shop/items/admin;x=1", "/shop/items/%61dmin;jsessionid=2"} {
		if status, body := rawGet(t, addr, target, nil); status != 403 || body != "admins only" {
			t.Errorf("GET %s: %d %s, want admin's 403", target, status, body)
		}
	}
	for _, target := range []string{"/shop/items/42", "/shop/items/admins", "/shop/items/;admin"} {
		if status, body := rawGet(t, addr, target, nil); status != 200 || !strings.HasPrefix(body, "backend ") {
			t.Errorf("GET %s: %d %s, want the item's operation", target, status, body)
		}
	}
}
