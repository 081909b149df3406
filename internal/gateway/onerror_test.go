package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// syncBuffer is a log destination that handlers may write to while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOnErrorFailureLogsBoth: when on-error itself fails, the caller gets a
// plain 500 and context.LastError is on-error's failure, as before; the log
// line has the failure that ran on-error as well (it said only on-error's),
// and neither a secret named value the failing expressions hold nor the
// expressions' causes.
func TestOnErrorFailureLogsBoth(t *testing.T) {
	const secret = "s3cr3t-0nerr0r-value"
	files := map[string]string{
		"apis/api/apiInformation.json": `{"properties":{"path":"api","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/api/policy.xml": `<policies>
	<inbound>
		<set-header name="X-Key" exists-action="override">
			<value>@("{{key}}" + (string)context.Variables["missing"])</value>
		</set-header>
	</inbound>
	<backend><forward-request /></backend>
	<outbound />
	<on-error>
		<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
		<set-variable name="n" value="@(int.Parse("{{key}}"))" />
	</on-error>
</policies>`,
		"named values/key/namedValueInformation.json": `{"properties":{"displayName":"key","value":"` + secret + `","secret":true}}`,
	}
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := statedir.Open(t.TempDir())
	snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: fakeTokens{}, Expr: goldenExpr}).Build(context.Background())
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	var logs syncBuffer
	h := gateway.NewHandler(slog.New(slog.NewJSONHandler(&logs, nil)))
	h.Swap(snap)
	gw := httptest.NewServer(h)
	defer gw.Close()

	resp, err := http.Get(gw.URL + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"message":"Internal server error"`) || resp.Header.Get("X-Reason") != "" {
		t.Errorf("caller got %d %s %v, want the plain 500", resp.StatusCode, body, resp.Header)
	}

	type failure struct{ Source, Reason, Message, Section, Path string }
	var line struct {
		Msg     string `json:"msg"`
		Level   string `json:"level"`
		Status  int    `json:"status"`
		Source  string `json:"source"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
		Section string `json:"section"`
		Path    string `json:"path"`
		OnError *failure
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "request failed in a policy") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one failure line, got:\n%s", logs.String())
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[0]), &raw); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(lines[0]), &line)
	if oe, ok := raw["on_error"]; ok {
		line.OnError = &failure{}
		json.Unmarshal(oe, line.OnError)
	}
	if line.Msg != "request failed in a policy, and on-error failed too" || line.Level != "WARN" || line.Status != 500 {
		t.Errorf("line %s", lines[0])
	}
	if line.Source != "set-header" || line.Reason != "ExpressionValueEvaluationFailure" || line.Section != "inbound" || line.Path != `set-header[1]` ||
		!strings.Contains(line.Message, "missing") {
		t.Errorf("the failure that ran on-error: %s", lines[0])
	}
	if oe := line.OnError; oe == nil || oe.Source != "set-variable" || oe.Reason != "ExpressionValueEvaluationFailure" || oe.Section != "on-error" || oe.Path != `set-variable[1]` {
		t.Errorf("on-error's failure: %s", lines[0])
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the log shows the secret:\n%s", logs.String())
	}
}

// TestReplacedResponseFreesBackend: a backend's answer that the client does
// not get, unread, is closed, so that its connection goes back to the pool: when
// an error replaces it (fail-on-error-status-code, an outbound policy that
// fails) and when return-response does in outbound. Each such request kept a
// backend connection open, and out of the pool.
func TestReplacedResponseFreesBackend(t *testing.T) {
	for _, tt := range []struct{ name, backend, outbound string }{
		{"fail-on-error-status-code", `<forward-request fail-on-error-status-code="true" />`, ``},
		{"an outbound failure", `<forward-request />`, `<set-header name="X-A"><value>@((string)context.Variables["missing"])</value></set-header>`},
		{"return-response in outbound", `<forward-request />`, `<return-response><set-body>replaced</set-body></return-response>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var open atomic.Int32
			backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, strings.Repeat("not here ", 100))
			}))
			backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				switch s {
				case http.StateNew:
					open.Add(1)
				case http.StateClosed, http.StateHijacked:
					open.Add(-1)
				}
			}
			backend.Start()
			defer backend.Close()
			gw := serveFolder(t, map[string]string{
				"apis/api/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"api","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
				"apis/api/policy.xml":          `<policies><inbound /><backend>` + tt.backend + `</backend><outbound>` + tt.outbound + `</outbound><on-error /></policies>`,
			}, nil)
			for range 10 {
				resp, err := http.Get(gw.URL + "/api/x")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// One connection may wait in the pool for the next request.
			deadline := time.Now().Add(2 * time.Second)
			for open.Load() > 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := open.Load(); n > 1 {
				t.Errorf("%d backend connections open after 10 requests one after another", n)
			}
		})
	}
}
