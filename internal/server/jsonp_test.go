package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestJSONP runs the jsonp policy through the real server: JSON answers become
// a call of the callback the client names, anything else passes unchanged, and
// a callback that is not a JavaScript identifier is the client's 400, seen by
// on-error, with nothing of the backend's body.
func TestJSONP(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/json", "/expr/json", "/rewritten/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, `{"id":42,"note":"line`+"\u2028"+`sep"}`)
		case "/api/problem":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			io.WriteString(w, `{"title":"not found"}`)
		case "/api/html":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `<p>{"id":42}</p>`)
		case "/api/gzip":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, `{"id":42}`)
			zw.Close()
		}
	}))
	t.Cleanup(backend.Close)
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL+"/"+path)
	}
	doc := func(inbound, outbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base />` + outbound +
			`</outbound><on-error><base /><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error></policies>`
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/api/apiInformation.json":       api("api"),
		"apis/api/policy.xml":                doc("", `<jsonp callback-parameter-name="cb" />`),
		"apis/expr/apiInformation.json":      api("expr"),
		"apis/expr/policy.xml":               doc("", `<jsonp callback-parameter-name="@(&quot;call&quot; + &quot;back&quot;)" />`),
		"apis/rewritten/apiInformation.json": api("rewritten"),
		// The backend's URL loses the query; the client's asks for JSONP.
		"apis/rewritten/policy.xml": doc(`<rewrite-uri template="/json" copy-unmatched-params="false" />`, `<jsonp callback-parameter-name="cb" />`),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	const wrapped = `{"id":42,"note":"line\u2028sep"}`
	tests := []struct {
		name, target string
		status       int
		contentType  string
		body         string
		xError       string
	}{
		{"no callback", "/api/json", 200, "application/json; charset=utf-8", `{"id":42,"note":"line` + "\u2028" + `sep"}`, ""},
		{"an empty callback", "/api/json?cb=", 200, "application/json; charset=utf-8", `{"id":42,"note":"line` + "\u2028" + `sep"}`, ""},
		{"a callback", "/api/json?cb=render", 200, "application/javascript; charset=utf-8", "render(" + wrapped + ");", ""},
		{"a dotted callback", "/api/json?x=1&cb=jQuery.cb_1$", 200, "application/javascript; charset=utf-8", "jQuery.cb_1$(" + wrapped + ");", ""},
		{"another status, a +json type", "/api/problem?cb=f", 404, "application/javascript; charset=utf-8", `f({"title":"not found"});`, ""},
		{"not JSON", "/api/html?cb=f", 200, "text/html", `<p>{"id":42}</p>`, ""},
		{"the client's query, not the backend's", "/rewritten/x?cb=f", 200, "application/javascript; charset=utf-8", "f(" + wrapped + ");", ""},
		{"a computed parameter name", "/expr/json?callback=f&cb=g", 200, "application/javascript; charset=utf-8", "f(" + wrapped + ");", ""},
	}
	for _, bad := range []string{"alert(1)//", "f;alert(1)", "%3Cscript%3E", "f%0Aalert(1)", "1f", "a..b", ".f", "f.", "%E2%80%A8", "f%20g", strings.Repeat("f", 257), "f&cb=g"} {
		tests = append(tests, struct {
			name, target string
			status       int
			contentType  string
			body         string
			xError       string
		}{"refused: " + bad, "/api/json?cb=" + bad, 400, "application/json",
			`{"statusCode":400,"message":"Value of callback parameter cb is not a valid JavaScript identifier."}`,
			"CallbackParameterInvalid: Value of callback parameter cb is not a valid JavaScript identifier."})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(e.srv.GatewayURL() + tt.target)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType || string(body) != tt.body || resp.Header.Get("X-Error") != tt.xError {
				t.Errorf("GET %s: %d %q %q (X-Error %q)\nwant %d %q %q (X-Error %q)", tt.target, resp.StatusCode, resp.Header.Get("Content-Type"), body,
					resp.Header.Get("X-Error"), tt.status, tt.contentType, tt.body, tt.xError)
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s for %d bytes", cl, len(body))
			}
			if strings.HasPrefix(tt.contentType, "application/javascript") && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", resp.Header.Get("X-Content-Type-Options"))
			}
		})
	}

	t.Run("compressed JSON passes unchanged", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.GatewayURL()+"/api/gzip?cb=f", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		if resp.StatusCode != 200 || !bytes.Equal(body, []byte(`{"id":42}`)) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}
