package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// newIDBackend is a recording backend that answers a request for /ID with
// headers of that id's own (X-Back-Id, X-Back-Secret-ID), and 40 more to an
// id ending in 5: a map too large to be pooled.
func newIDBackend(t *testing.T) *recordingBackend {
	b := newRecordingBackend(t)
	record := b.srv.Config.Handler
	b.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		w.Header().Set("X-Back-Id", id)
		w.Header().Set("X-Back-Secret-"+id, "b"+id)
		if strings.HasSuffix(id, "5") {
			for i := range 40 {
				w.Header().Set(fmt.Sprintf("X-Many-%d", i), id)
			}
		}
		record.ServeHTTP(w, r)
	})
	return b
}

// TestRequestStateReuse pipelines requests with headers, subscriptions and
// bodies (Content-Length, chunked) of their own down one connection, through
// a policy that copies a header in an expression, sets a variable for some
// requests only, names the subscription and sends a one-way copy of each
// request; some requests are traced, some go to no API, and the backend
// answers each with headers of its own. The server parses a request into the
// state of the one before it once the gateway has released that, and the
// gateway reuses exchanges and the backend responses' header maps: no
// backend, no one-way copy, no trace and no response may show a header,
// body, variable or subscription of another request.
func TestRequestStateReuse(t *testing.T) {
	backend, oneWay := newIDBackend(t), newRecordingBackend(t)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                 "identity: {}\n",
		"apis/echo/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"echo","serviceUrl":%q,"subscriptionRequired":true}}`, backend.srv.URL),
		"apis/echo/policy.xml": `<policies><inbound><base />
			<set-header name="X-Copied" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Id", ""))</value></set-header>
			<set-header name="X-Id" exists-action="append"><value>again</value></set-header>
			<choose><when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Copied&quot;, &quot;&quot;).EndsWith(&quot;0&quot;))">
				<set-variable name="v" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Copied&quot;, &quot;&quot;))" />
			</when></choose>
			<set-header name="X-Var" exists-action="override"><value>@((string)context.Variables.GetValueOrDefault("v", "none"))</value></set-header>
			<set-header name="X-Sub" exists-action="override"><value>@(context.Subscription.Id)</value></set-header>
			<send-one-way-request mode="copy"><set-url>` + oneWay.srv.URL + `/one-way</set-url></send-one-way-request>
		</inbound><backend><base /></backend><outbound><base />
			<set-header name="X-Out" exists-action="override"><value>@(context.Response.Headers.GetValueOrDefault("X-Back-Id", ""))</value></set-header>
		</outbound><on-error><base /></on-error></policies>`,
		"subscriptions/dev/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"dev-primary-key","secondaryKey":"dev-secondary-key","allowTracing":true}}`,
		"subscriptions/ops/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"ops-primary-key","secondaryKey":"ops-secondary-key","allowTracing":true}}`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://none"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")

	const n = 40
	traced := func(i int) bool { return i%5 == 2 }
	sub := func(i int) string { return [...]string{"dev", "ops"}[i/2%2] }
	var raw strings.Builder
	for i := range n {
		id := fmt.Sprintf("id-%03d", i)
		if i%7 == 3 { // a request no API answers, between the others
			raw.WriteString("GET /nowhere HTTP/1.1\r\nHost: gw\r\nX-Id: lost\r\nX-Secret-lost: slost\r\n\r\n")
		}
		method := "GET"
		if i%4 == 1 {
			method = "POST"
		}
		fmt.Fprintf(&raw, "%s /echo/%s HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: %s-primary-key\r\nX-Id: %s\r\nX-Secret-%s: s%s\r\n", method, id, sub(i), id, id, id)
		if traced(i) {
			raw.WriteString("Ocp-Apim-Trace: true\r\n")
		}
		if i%3 == 0 {
			raw.WriteString("Accept: a/b\r\nX-Extra: 1\r\n") // a map that grew
		}
		switch {
		case method == "POST" && i%8 == 1:
			fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\nbody-%s", len("body-"+id), id)
		case method == "POST":
			fmt.Fprintf(&raw, "Transfer-Encoding: chunked\r\n\r\n%x\r\nbody-%s\r\n0\r\n\r\n", len("body-"+id), id)
		default:
			raw.WriteString("\r\n")
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var traces []string
	for i := range n {
		if i%7 == 3 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 404 {
				t.Fatalf("the request to no API: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("response %d: status %d: %s", i, resp.StatusCode, body)
		}
		id := fmt.Sprintf("id-%03d", i)
		for k, v := range resp.Header {
			if strings.HasPrefix(k, "X-Back-") && k != "X-Back-Id" && !strings.EqualFold(k, "X-Back-Secret-"+id) || k == "X-Back-Id" && v[0] != id ||
				strings.HasPrefix(k, "X-Many-") && v[0] != id {
				t.Errorf("response %d: %s: %s", i, k, v[0])
			}
		}
		if got := resp.Header.Get("X-Out"); got != id {
			t.Errorf("response %d: X-Out %q, want %q", i, got, id)
		}
		if loc := resp.Header.Get(gateway.TraceLocationHeader); traced(i) != (loc != "") {
			t.Errorf("response %d: trace location %q", i, loc)
		} else if loc != "" {
			traces = append(traces, loc)
		}
	}

	// own reports what in h is not request id's own.
	own := func(id string, h http.Header) string {
		var bad []string
		for k, v := range h {
			if s, ok := strings.CutPrefix(k, "X-Secret-"); ok && (!strings.EqualFold(s, id) || v[0] != "s"+id) || k == "X-Id" && v[0] != id {
				bad = append(bad, k+": "+v[0])
			}
		}
		if h.Get("X-Secret-"+id) != "s"+id && h.Get("x-secret-"+id) != "s"+id {
			bad = append(bad, "no X-Secret-"+id)
		}
		return strings.Join(bad, ", ")
	}
	for _, r := range backend.requests() {
		id := strings.TrimPrefix(r.Target, "/")
		if bad := own(id, r.Header); bad != "" || r.Header.Get("X-Copied") != id {
			t.Errorf("the backend's request %s: %s; X-Copied %q", id, bad, r.Header.Get("X-Copied"))
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "id-"))
		if wantBody := map[bool]string{true: "body-" + id}[i%4 == 1]; r.Body != wantBody || r.BodyErr != nil {
			t.Errorf("the backend's request %s: body %q (%v), want %q", id, r.Body, r.BodyErr, wantBody)
		}
		wantVar := "none"
		if strings.HasSuffix(id, "0") {
			wantVar = id
		}
		if got := r.Header.Get("X-Var"); got != wantVar {
			t.Errorf("the backend's request %s: variable %q, want %q", id, got, wantVar)
		}
		if got := r.Header.Get("X-Sub"); got != sub(i) {
			t.Errorf("the backend's request %s: subscription %q, want %q", id, got, sub(i))
		}
	}
	if got := len(backend.requests()); got != n {
		t.Errorf("the backend got %d requests, want %d", got, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(oneWay.requests()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ids := map[string]bool{}
	for _, r := range oneWay.requests() {
		id := r.Header.Get("X-Copied")
		ids[id] = true
		if bad := own(id, r.Header); bad != "" {
			t.Errorf("the one-way copy of request %s: %s", id, bad)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "id-"))
		if wantBody := map[bool]string{true: "body-" + id}[i%4 == 1]; r.Body != wantBody {
			t.Errorf("the one-way copy of request %s: body %q, want %q", id, r.Body, wantBody)
		}
	}
	if len(ids) != n {
		t.Errorf("one-way copies of %d distinct requests, want %d", len(ids), n)
	}
	// A trace shows the request's headers, and what set-header changed in
	// them (X-Id's value before): neither may be another request's.
	idRE := regexp.MustCompile(`id-\d\d\d`)
	for _, loc := range traces {
		tresp, body := get(t, strings.Replace(loc, "http://gw", e.srv.GatewayURL(), 1), nil)
		if tresp.StatusCode != 200 {
			t.Fatalf("GET trace: %d %s", tresp.StatusCode, body)
		}
		var tr reqtrace.Trace
		if err := json.Unmarshal([]byte(body), &tr); err != nil {
			t.Fatal(err)
		}
		h := http.Header(tr.Request.Headers)
		id := h.Get("X-Id")
		if bad := own(id, h); bad != "" || id == "" {
			t.Errorf("the trace of request %s: %s", id, bad)
		}
		for _, got := range idRE.FindAllString(body, -1) {
			if got != id {
				t.Errorf("the trace of request %s shows %s", id, got)
				break
			}
		}
	}
}

// TestTemplateParametersReuse pipelines requests that alternate between an
// operation with a template parameter and one without, down one connection:
// the exchange's parameters map is reused from one request to the next, and
// a request must see its own parameters and none of the one before.
func TestTemplateParametersReuse(t *testing.T) {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                  "identity: {}\n",
		"apis/param/apiInformation.json": `{"properties":{"path":"param","serviceUrl":"http://127.0.0.1:9","subscriptionRequired":false}}`,
		"apis/param/specification.yaml": `openapi: 3.0.1
info: {title: param, version: "1"}
paths:
  /fixed:
    get: {operationId: fixed, responses: {"200": {description: ok}}}
  /{id}:
    get: {operationId: by-id, responses: {"200": {description: ok}}}
`,
		"apis/param/policy.xml": `<policies><inbound><base /><return-response>
			<set-header name="X-Param" exists-action="override"><value>@(context.Request.MatchedParameters.GetValueOrDefault("id", "none") + "/" + context.Request.MatchedParameters.Count)</value></set-header>
		</return-response></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://none"))
	var raw strings.Builder
	var want []string
	for i := range 20 {
		if i%2 == 0 {
			fmt.Fprintf(&raw, "GET /param/id-%d HTTP/1.1\r\nHost: gw\r\n\r\n", i)
			want = append(want, fmt.Sprintf("id-%d/1", i))
		} else {
			raw.WriteString("GET /param/fixed HTTP/1.1\r\nHost: gw\r\n\r\n")
			want = append(want, "none/0")
		}
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.GatewayURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw.String())
	br := bufio.NewReader(c)
	for i, w := range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		if got := resp.Header.Get("X-Param"); resp.StatusCode != 200 || got != w {
			t.Errorf("response %d: status %d, parameters %q, want %q", i, resp.StatusCode, got, w)
		}
	}
}

// TestRequestStateReuseHTTP2 sends concurrent requests with headers of their
// own as streams of one h2c connection: each has its own handler goroutine,
// and the exchanges and backend header maps they reuse go back and forth
// between them. Every backend request and client response must carry its
// own request's values only.
func TestRequestStateReuseHTTP2(t *testing.T) {
	backend := newIDBackend(t)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                 "identity: {}\n",
		"apis/echo/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"echo","serviceUrl":%q,"subscriptionRequired":false}}`, backend.srv.URL),
		"apis/echo/policy.xml": `<policies><inbound><base />
			<set-header name="X-Copied" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Id", ""))</value></set-header>
		</inbound><backend><base /></backend><outbound><base />
			<set-header name="X-Out" exists-action="override"><value>@(context.Response.Headers.GetValueOrDefault("X-Back-Id", "") + "/" + context.Request.Headers.GetValueOrDefault("X-Id", ""))</value></set-header>
		</outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://none"))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()

	const workers, each = 16, 12
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("id-%02d-%02d", w, i)
				req, _ := http.NewRequest("GET", e.srv.GatewayURL()+"/echo/"+id, nil)
				req.Header.Set("X-Id", id)
				req.Header.Set("X-Secret-"+id, "s"+id)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
					t.Errorf("%s: %s %d", id, resp.Proto, resp.StatusCode)
				}
				if got := resp.Header.Get("X-Out"); got != id+"/"+id {
					t.Errorf("%s: X-Out %q", id, got)
				}
				for k := range resp.Header {
					if strings.HasPrefix(k, "X-Back-Secret-") && !strings.EqualFold(k, "X-Back-Secret-"+id) {
						t.Errorf("%s: the response has %s", id, k)
					}
				}
			}
		})
	}
	wg.Wait()
	got := backend.requests()
	if len(got) != workers*each {
		t.Errorf("the backend got %d requests, want %d", len(got), workers*each)
	}
	for _, r := range got {
		id := strings.TrimPrefix(r.Target, "/")
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Secret-") && !strings.EqualFold(k, "X-Secret-"+id) {
				t.Errorf("the backend's request %s has %s", id, k)
			}
		}
		if r.Header.Get("X-Copied") != id || r.Header.Get("X-Id") != id {
			t.Errorf("the backend's request %s: X-Id %q, X-Copied %q", id, r.Header.Get("X-Id"), r.Header.Get("X-Copied"))
		}
	}
}
