package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/tools/txtar"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

var update = flag.Bool("update", false, "rewrite the golden files' want sections with what the gateway does")

// goldenExpr is the expression compiler the golden tests use.
var goldenExpr pipeline.ExprCompiler = policies.Expressions

// fakeTokens gives deterministic tokens, so that golden files can show them.
type fakeTokens struct{}

func (fakeTokens) AccessToken(_ context.Context, clientID, resource string) (policies.AccessToken, error) {
	if strings.Contains(resource, "unregistered") {
		return policies.AccessToken{}, fmt.Errorf("AADSTS500011: the resource principal named %q was not found", resource)
	}
	if clientID == "" {
		clientID = "system"
	}
	return policies.AccessToken{Value: "token(" + clientID + "," + resource + ")", Outcome: "hit"}, nil
}

// TestGolden runs each testdata/golden/*.txtar through a real gateway and a real
// backend. An archive holds:
//
//	config/...     files of the configuration folder; by default there is one API
//	               "api" at path /api in front of the test backend, with no
//	               subscription required and no specification. $BACKEND is
//	               the test backend's URL, $DOWN a URL where nothing listens
//	               (connections are refused)
//	request.http   the client's request, as raw HTTP/1.1; request-2.http,
//	               request-3.http ... are sent after it, in order
//	response.http  the backend's answer (optional; default 200 with body "backend");
//	               $BACKEND in it is the backend's URL, and so is it in the dumps
//	response/<segment>.http
//	               the backend's answer to requests whose path starts with
//	               /<segment>/, instead of response.http
//	backend.http   what the backend must receive ("none" if nothing)
//	unordered      (empty) the backend's requests are compared in sorted order,
//	               for policies that send them concurrently
//	want.http      what the client must receive (want-2.http ... for the others)
//	metrics.prom   the token metrics the policies emitted (lastmile_llm_*
//	               lines of the Prometheus exposition, sorted)
//
// Header lines that depend on the run (Date, ports, Go's User-Agent) are left out
// of both dumps. The expected values are written by hand from API Management's
// documented behaviour; -update rewrites them and must be reviewed.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.txtar"))
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) { runGolden(t, file) })
	}
}

func runGolden(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	section := func(name string) (string, bool) {
		for _, f := range ar.Files {
			if f.Name == name {
				return string(f.Data), true
			}
		}
		return "", false
	}

	var mu sync.Mutex
	var got []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, dumpRequest(r))
		mu.Unlock()
		segment, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		respText, hasResp := section("response/" + segment + ".http")
		if !hasResp {
			respText, hasResp = section("response.http")
		}
		if !hasResp {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "backend")
			return
		}
		text := strings.ReplaceAll(respText, "$BACKEND", "http://"+r.Host)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(normalizeHTTP(text))), r)
		if err != nil {
			t.Errorf("response.http: %v", err)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer backend.Close()

	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + down.Addr().String()
	down.Close()

	dir := t.TempDir()
	cfg := map[string]string{
		"apis/api/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"api","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
	}
	for _, f := range ar.Files {
		if name, ok := strings.CutPrefix(f.Name, "config/"); ok {
			cfg[name] = strings.NewReplacer("$BACKEND", backend.URL, "$DOWN", downURL).Replace(string(f.Data))
		}
	}
	for name, content := range cfg {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	st, _ := statedir.Open(t.TempDir())
	reg := prometheus.NewRegistry()
	snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: fakeTokens{}, Expr: goldenExpr,
		TokenMetrics: gateway.NewTokenMetrics(reg, 0, nil)}).Build(context.Background())
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	h := gateway.NewHandler(nil)
	h.Swap(snap)
	gw := httptest.NewServer(h)
	defer gw.Close()

	// request.http, then request-2.http, request-3.http ... in order, each
	// answered as want.http, want-2.http ... say.
	wantResps := map[string]string{}
	gotResps := map[string]string{}
	for i := 1; ; i++ {
		suffix := ""
		if i > 1 {
			suffix = "-" + strconv.Itoa(i)
		}
		reqText, ok := section("request" + suffix + ".http")
		if !ok {
			if i == 1 {
				t.Fatal("no request.http")
			}
			break
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(normalizeHTTP(reqText))))
		if err != nil {
			t.Fatalf("request%s.http: %v", suffix, err)
		}
		req.RequestURI = ""
		req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(gw.URL, "http://")
		resp, err := gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		name := "want" + suffix + ".http"
		// The backend's address changes from run to run.
		gotResps[name] = strings.ReplaceAll(dumpResponse(resp), backend.URL, "$BACKEND")
		wantResps[name], _ = section(name)
	}

	gotBackend := "none\n"
	if len(got) > 0 {
		if _, unordered := section("unordered"); unordered {
			slices.Sort(got)
		}
		gotBackend = strings.ReplaceAll(strings.Join(got, "---\n"), backend.URL, "$BACKEND")
	}
	wantBackend, _ := section("backend.http")
	gw.Close() // the handlers are done: a stream's tokens are counted when it is sent
	gotMetrics := tokenMetrics(t, reg)
	wantMetrics, hasMetrics := section("metrics.prom")
	if *update {
		for i := range ar.Files {
			name := ar.Files[i].Name
			if name == "backend.http" {
				ar.Files[i].Data = []byte(gotBackend)
			} else if name == "metrics.prom" {
				ar.Files[i].Data = []byte(gotMetrics)
			} else if got, ok := gotResps[name]; ok {
				ar.Files[i].Data = []byte(got)
			}
		}
		os.WriteFile(file, txtar.Format(ar), 0o644)
		return
	}
	if gotBackend != wantBackend {
		t.Errorf("backend received:\n%s\nwant:\n%s", gotBackend, wantBackend)
	}
	if (hasMetrics || gotMetrics != "") && gotMetrics != wantMetrics {
		t.Errorf("token metrics:\n%s\nwant (metrics.prom):\n%s", gotMetrics, wantMetrics)
	}
	for _, name := range slices.Sorted(maps.Keys(gotResps)) {
		if gotResps[name] != wantResps[name] {
			t.Errorf("client received (%s):\n%s\nwant:\n%s", name, gotResps[name], wantResps[name])
		}
	}
}

// tokenMetrics are the token metrics' lines of reg's exposition, sorted.
func tokenMetrics(t *testing.T, reg *prometheus.Registry) string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var lines []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, "lastmile_llm_") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// normalizeHTTP turns the archive's \n line ends into HTTP's \r\n in the head.
func normalizeHTTP(s string) string {
	head, body, found := strings.Cut(s, "\n\n")
	head = strings.ReplaceAll(head, "\n", "\r\n")
	if !found {
		return head + "\r\n\r\n"
	}
	return head + "\r\n\r\n" + body
}

// volatile headers change from run to run.
var volatile = []string{"Date", "User-Agent", "Accept-Encoding", "X-Forwarded-Host"}

func dumpHeaders(b *strings.Builder, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !slices.Contains(volatile, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
}

func dumpRequest(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
	dumpHeaders(&b, r.Header)
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		fmt.Fprintf(&b, "\n%s\n", bytes.TrimRight(body, "\n"))
	}
	return b.String()
}

// guidRE finds request ids (activityId) in error bodies, which differ per run.
var guidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func dumpResponse(resp *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", resp.StatusCode)
	dumpHeaders(&b, resp.Header)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body = guidRE.ReplaceAll(body, []byte("<guid>"))
	if len(body) > 0 {
		fmt.Fprintf(&b, "\n%s\n", bytes.TrimRight(body, "\n"))
	}
	return b.String()
}
