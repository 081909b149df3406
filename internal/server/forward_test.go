package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRedirectCredentials checks, through the server, that a backend entity's
// credentials go only to that backend when forward-request follows its
// redirects: a redirect to another origin carries neither its credential
// header nor its query credential (not even when the backend echoes the
// query into the Location), while a redirect within the backend's origin
// carries both, as does the next request to the backend.
func TestRedirectCredentials(t *testing.T) {
	var mu sync.Mutex
	var elsewhereSaw []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := fmt.Sprintf("key=%q query=%q", r.Header.Get("X-Functions-Key"), r.URL.RawQuery)
		mu.Lock()
		elsewhereSaw = append(elsewhereSaw, seen)
		mu.Unlock()
		io.WriteString(w, "elsewhere "+seen)
	}))
	t.Cleanup(elsewhere.Close)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cb/away":
			w.Header().Set("Location", elsewhere.URL+"/evil")
			w.WriteHeader(http.StatusFound)
		case "/cb/away-with-query": // a "moved" rule that keeps the request's query
			w.Header().Set("Location", elsewhere.URL+"/evil?"+r.URL.RawQuery)
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/cb/same":
			w.Header().Set("Location", "/cb/final?"+r.URL.RawQuery)
			w.WriteHeader(http.StatusFound)
		default:
			fmt.Fprintf(w, "backend %s key=%q query=%q", r.URL.Path, r.Header.Get("X-Functions-Key"), r.URL.RawQuery)
		}
	}))
	t.Cleanup(backend.Close)

	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"backends/credbe/backendInformation.json": fmt.Sprintf(`{"properties":{"url":%q,"credentials":{"header":{"x-functions-key":["SECRETFUNCKEY"]},"query":{"code":["SECRETCODE"]}}}}`, backend.URL+"/cb"),
		"apis/fn/apiInformation.json":             fmt.Sprintf(`{"properties":{"path":"fn","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL+"/unused"),
		"apis/fn/policy.xml": `<policies><inbound><base /><set-backend-service backend-id="credbe" /></inbound>` +
			`<backend><forward-request follow-redirects="true" /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	for _, tt := range []struct{ path, want string }{
		{"/fn/away?x=1", `elsewhere key="" query=""`},
		{"/fn/away-with-query?x=1", `elsewhere key="" query="x=1"`},
		{"/fn/same?x=1", `backend /cb/final key="SECRETFUNCKEY" query="x=1&code=SECRETCODE"`},
		{"/fn/direct?x=1", `backend /cb/direct key="SECRETFUNCKEY" query="x=1&code=SECRETCODE"`},
	} {
		status, _, body := e.get(t, tt.path, nil)
		if status != 200 || body != tt.want {
			t.Errorf("GET %s: %d %q, want 200 %q", tt.path, status, body, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, seen := range elsewhereSaw {
		if strings.Contains(seen, "SECRET") {
			t.Errorf("another origin received a credential: %s", seen)
		}
	}
}

// TestForwardTimeoutDuringUpload checks, through the server, that
// forward-request's timeout while the client is still sending a body fast
// enough is the timeout (reason Timeout, 500), not the client's body: a
// Content-Length upload at about 46 KB/s and a chunked one at about 600 B/s,
// both well above limits.minBodyRate, to a backend that answers only once it
// has read the whole body. A body really sent too slowly, before the timeout,
// is still the client's 408.
func TestForwardTimeoutDuringUpload(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "read it all")
	}))
	t.Cleanup(backend.Close)
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL)
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": "limits:\n  minBodyRate: 240\n  bodyGracePeriod: 300ms\n",
		"policy.xml": `<policies><inbound /><backend><forward-request timeout="1" /></backend><outbound />` +
			`<on-error><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header></on-error></policies>`,
		"apis/upload/apiInformation.json": api("upload"),
		"apis/slow/apiInformation.json":   api("slow"),
		"apis/slow/policy.xml":            `<policies><inbound><base /></inbound><backend><forward-request timeout="5" /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")

	for _, tt := range []struct {
		name, path, framing string
		piece               int // bytes sent every 100 ms
		wantStatus          int
		wantReason          string
	}{
		{"Content-Length at 46 KB/s", "/upload/x", "Content-Length: 700000", 4600, 500, "Timeout"},
		{"chunked at 600 B/s", "/upload/x", "Transfer-Encoding: chunked", 60, 500, "Timeout"},
		{"Content-Length at 10 B/s", "/slow/x", "Content-Length: 700000", 1, 408, "BodyReadFailure"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialGateway(t, addr)
			chunked := strings.HasPrefix(tt.framing, "Transfer-Encoding")
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: gw\r\n%s\r\n\r\n", tt.path, tt.framing); err != nil {
					return
				}
				piece := strings.Repeat("x", tt.piece)
				if chunked {
					piece = fmt.Sprintf("%x\r\n%s\r\n", tt.piece, piece)
				}
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for range 20 { // 2 s: the body never ends within the test
					if _, err := io.WriteString(c, piece); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			began := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			took := time.Since(began)
			close(stop)
			<-sent
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Reason") != tt.wantReason {
				t.Errorf("%d, reason %q, %s; want %d, reason %s", resp.StatusCode, resp.Header.Get("X-Reason"), body, tt.wantStatus, tt.wantReason)
			}
			if !resp.Close {
				t.Error("the connection stays open, with the rest of the body unread")
			}
			if tt.wantReason == "Timeout" && (took < 900*time.Millisecond || took > 1900*time.Millisecond) {
				t.Errorf("answered after %v, want about the 1 s timeout", took)
			}
		})
	}
}
