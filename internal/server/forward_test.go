package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
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
