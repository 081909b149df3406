package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// limitConfig is a configuration folder with one API per traffic limit, each
// answering from the gateway (return-response) unless it says otherwise. The
// counter keys come from the X-Key header.
func limitConfig(storeYAML, backendURL string) map[string]string {
	api := func(path, serviceURL string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, serviceURL)
	}
	key := `@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;none&quot;))`
	answer := `<return-response><set-body>` + strings.Repeat("x", 600) + `</set-body></return-response>`
	return map[string]string{
		"lastmile.yaml":                 "gateway:\n  serviceName: limits-test\n" + storeYAML,
		"apis/rate/apiInformation.json": api("rate", "http://127.0.0.1:1"),
		"apis/rate/policy.xml": `<policies><inbound>
			<rate-limit-by-key calls="2" renewal-period="300" counter-key="` + key + `" remaining-calls-header-name="X-Remaining" />
			<return-response />
		</inbound></policies>`,
		"apis/quota/apiInformation.json": api("quota", backendURL),
		"apis/quota/policy.xml": `<policies><inbound>
			<quota-by-key bandwidth="1" renewal-period="3600" counter-key="` + key + `" />
			<choose><when condition="@(context.Request.Method == &quot;GET&quot;)">` + answer + `</when></choose>
		</inbound><backend><forward-request /></backend></policies>`,
		"apis/calls/apiInformation.json": api("calls", "http://127.0.0.1:1"),
		"apis/calls/policy.xml": `<policies><inbound>
			<quota-by-key calls="1000000" renewal-period="3600" counter-key="` + key + `" />
			<return-response />
		</inbound></policies>`,
		"apis/stream/apiInformation.json": api("stream", backendURL),
		"apis/stream/policy.xml": `<policies><inbound /><backend>
			<limit-concurrency key="` + key + `" max-count="1"><forward-request /></limit-concurrency>
		</backend></policies>`,
	}
}

// do sends one request and returns the status, a header and the body.
func do(t *testing.T, e *env, method, path, key string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.GatewayURL()+path, body)
	req.Header.Set("X-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRateLimitServer: rate-limit-by-key through the real server, and the
// counters survive a reload.
func TestRateLimitServer(t *testing.T) {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, limitConfig("", "http://127.0.0.1:1"))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
	type result struct {
		Status           int
		Remaining, Retry string
		Body             string
	}
	call := func(key string) result {
		status, h, body := do(t, e, "GET", "/rate/x", key, nil)
		return result{status, h.Get("X-Remaining"), h.Get("Retry-After"), body}
	}
	got := []result{call("a"), call("a")}
	if _, err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = append(got, call("a"), call("b"))
	want := []result{{200, "1", "", ""}, {200, "0", "", ""},
		{429, "", "150", `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 150 seconds."}`},
		{200, "1", "", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestQuotaBandwidthServer: the bytes a request's body and its response's
// body take count against bandwidth, once the request is over.
func TestQuotaBandwidthServer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(204)
	}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, limitConfig("", backend.URL))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
	status := func(method, key string, body io.Reader) string {
		s, _, b := do(t, e, method, "/quota/x", key, body)
		if s == 200 || s == 204 {
			return fmt.Sprint(s)
		}
		return fmt.Sprint(s, " ", b)
	}
	const out = `403 {"statusCode":403,"message":"Out of bandwidth quota. Quota will be replenished in `
	// 600-byte responses: the second takes the count past 1 KB (1024 bytes).
	got := []string{status("GET", "a", nil), status("GET", "a", nil), status("GET", "a", nil)}
	// A request body counts too (the backend answers with none).
	got = append(got, status("POST", "b", strings.NewReader(strings.Repeat("y", 1100))), status("GET", "b", nil))
	for i, want := range []string{"200", "200", out, "204", out} {
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("request %d: %s, want %s...", i+1, got[i], want)
		}
	}
}

// TestLimitConcurrencyServer: a slot is held while the response streams and
// given back when it ends, also when the client goes away in the middle.
func TestLimitConcurrencyServer(t *testing.T) {
	// proceed ends the streams; the second phase replaces it while streams of
	// the first may still be running, so it is read and replaced atomically.
	var proceed atomic.Pointer[chan struct{}]
	phase1 := make(chan struct{})
	proceed.Store(&phase1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stop := *proceed.Load()
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if rc.Flush() != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, limitConfig("", backend.URL))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))

	open := func() *http.Response {
		req, _ := http.NewRequest("GET", e.srv.GatewayURL()+"/stream/x", nil)
		req.Header.Set("X-Key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := open()
	line, _ := bufio.NewReader(first.Body).ReadString('\n')
	if first.StatusCode != 200 || line != "data: 0\n" {
		t.Fatalf("the first stream: %d %q", first.StatusCode, line)
	}
	if s, _, body := do(t, e, "GET", "/stream/x", "k", nil); s != 429 || body != `{"statusCode":429,"message":"Too many concurrent requests."}` {
		t.Errorf("a second request while the first streams: %d %s", s, body)
	}
	// The first stream ends: its slot comes back.
	close(phase1)
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp := open()
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus(200)

	// A client that goes away in the middle of a stream gives its slot back.
	phase2 := make(chan struct{})
	proceed.Store(&phase2)
	defer close(phase2)
	// (waitStatus's own streams were abandoned too: their slots come back as
	// soon as the gateway notices, which takes a moment.)
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if c, err = net.Dial("tcp", strings.TrimPrefix(e.srv.GatewayURL(), "http://")); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /stream/x HTTP/1.1\r\nHost: gw\r\nX-Key: k\r\n\r\n")
		head, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(head, "HTTP/1.1 200") {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the stream that will be abandoned: %q", head)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, _, _ := do(t, e, "GET", "/stream/x", "k", nil); s != 429 {
		t.Errorf("while the abandoned stream runs: %d, want 429", s)
	}
	c.Close()
	waitStatus(200)
}

// TestRedisFaults stops and pauses a real Redis under load. Each limit does
// what store.failureMode says: rate limits fail open (200), quotas closed
// (503), limit-concurrency open; no request takes longer than the client's
// patience (3s, against a store timeout of 200ms); the gateway keeps serving;
// and it counts in Redis again by itself once Redis is back.
func TestRedisFaults(t *testing.T) {
	srv := storetest.NewServer(t, "")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, limitConfig(`store:
  type: redis
  encryptionKeyFile: `+stateKeyFile(t, testStateKey)+`
  redis:
    address: `+srv.Addr+`
    timeout: 200ms
  failureMode:
    rateLimit: open
    quota: closed
    concurrency: open
`, backend.URL))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
	client := &http.Client{Timeout: 3 * time.Second}

	// Load: keys that are never limited, on every API, from 6 clients.
	var mu sync.Mutex
	phase := "up"
	seen := map[string]map[string]int{} // phase -> "path status" -> count
	slowest := map[string]time.Duration{}
	var failures atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int64
	for i := range 6 {
		path := []string{"/rate/x", "/calls/x", "/stream/x"}[i%3]
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				began := phase
				mu.Unlock()
				req, _ := http.NewRequest("GET", e.srv.GatewayURL()+path, nil)
				req.Header.Set("X-Key", fmt.Sprint("load-", n.Add(1)))
				sent := time.Now()
				resp, err := client.Do(req)
				took := time.Since(sent)
				if err != nil {
					failures.Add(1)
					t.Errorf("%s: %v", path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if began == phase { // requests that span a change of phase say nothing
					if seen[phase] == nil {
						seen[phase] = map[string]int{}
					}
					seen[phase][fmt.Sprint(path, " ", resp.StatusCode)]++
					slowest[phase] = max(slowest[phase], took)
				}
				mu.Unlock()
			}
		})
	}
	setPhase := func(p string) {
		mu.Lock()
		phase = p
		mu.Unlock()
	}
	// limited proves that rate limits count in Redis: a fresh key's third
	// call is refused.
	limited := func() bool {
		key := fmt.Sprint("probe-", n.Add(1))
		var last int
		for range 3 {
			last, _, _ = do(t, e, "GET", "/rate/x", key, nil)
		}
		return last == 429
	}
	recovered := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !limited() {
			if time.Now().After(deadline) {
				t.Fatal("the rate limit did not count again after Redis came back")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	time.Sleep(300 * time.Millisecond)
	if !limited() {
		t.Fatal("the rate limit does not count with Redis up")
	}
	for _, outage := range []struct {
		name        string
		stop, start func()
	}{{"stopped", srv.Stop, srv.Start}, {"paused", srv.Pause, srv.Resume}} {
		setPhase("transition")
		outage.stop()
		time.Sleep(100 * time.Millisecond)
		setPhase(outage.name)
		time.Sleep(1500 * time.Millisecond)
		if limited() {
			t.Errorf("Redis %s: a rate limit refused a call; it should fail open", outage.name)
		}
		setPhase("transition")
		outage.start()
		recovered()
		setPhase("up")
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("requests per phase: %v; the slowest: %v", seen, slowest)
	if failures.Load() > 0 {
		t.Fatalf("%d requests failed or took longer than 3s", failures.Load())
	}
	for _, p := range []string{"up", "stopped", "paused"} {
		want := map[string]int{"/rate/x 200": 0, "/calls/x 200": 0, "/stream/x 200": 0}
		if p != "up" {
			want = map[string]int{"/rate/x 200": 0, "/calls/x 503": 0, "/stream/x 200": 0}
		}
		got := seen[p]
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("Redis %s: %d× %s, which the failure modes do not allow", p, got[k], k)
			}
		}
		for k := range want {
			if got[k] == 0 {
				t.Errorf("Redis %s: no %s; saw %v", p, k, got)
			}
		}
	}
	if status, _, _ := e.get(t, "/status-0123456789abcdef", nil); status != 200 {
		t.Errorf("the gateway's status after the outages: %d", status)
	}
}
