package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// searchSpec has one operation, GET /search, with a required query parameter
// q and an optional one.
const searchSpec = `openapi: 3.0.1
info: {title: search, version: '1'}
paths:
  /search:
    get:
      operationId: search
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: page, in: query, schema: {type: integer}}
      responses:
        '200': {description: ok}
`

// TestRequiredQueryParameters checks that an OpenAPI operation's required
// query parameter is a template parameter, as API Management's import makes it:
// a request needs it to reach the operation (404 without it), it is among
// context.Request.MatchedParameters, and rewrite-uri fills {q} with it without
// copying q again as an unmatched parameter. With translateRequiredQueryParameters
// "query" the parameter stays an ordinary query parameter.
func TestRequiredQueryParameters(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI())
	}))
	t.Cleanup(backend.Close)
	api := func(path, translate string) string {
		extra := ""
		if translate != "" {
			extra = fmt.Sprintf(`,"translateRequiredQueryParameters":%q`, translate)
		}
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false%s}}`, path, backend.URL+"/b", extra)
	}
	const policy = `<policies><inbound><base /><rewrite-uri template="/find?term={q}" /></inbound>` +
		`<backend><forward-request /></backend>` +
		`<outbound><base />` +
		`<set-header name="X-Matched" exists-action="override"><value>@(context.Request.MatchedParameters.ContainsKey("q") ? "q=" + context.Request.MatchedParameters["q"] : "no q")</value></set-header>` +
		`<set-header name="X-Template" exists-action="override"><value>@(context.Operation.UrlTemplate)</value></set-header>` +
		`</outbound><on-error /></policies>`
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/rw/apiInformation.json":          api("rw", ""),
		"apis/rw/specification.yaml":           searchSpec,
		"apis/rw/operations/search/policy.xml": policy,
		"apis/rq/apiInformation.json":          api("rq", "query"),
		"apis/rq/specification.yaml":           searchSpec,
		"apis/rq/operations/search/policy.xml": policy,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	tests := []struct {
		name, path        string
		status            int
		body, matched, tp string
	}{
		{"q reaches the operation and fills the template", "/rw/search?q=hello%20w&page=2&z=9", 200, "/b/find?term=hello+w&page=2&z=9", "q=hello w", "/search?q={q}"},
		{"q anywhere in the query", "/rw/search?page=2&q=a%26b", 200, "/b/find?term=a%26b&page=2", "q=a&b", "/search?q={q}"},
		{"without q no operation matches", "/rw/search?page=2", 404, "", "", ""},
		{"with translateRequiredQueryParameters query, q is not needed", "/rq/search?page=2", 200, "/b/find?term=&page=2", "no q", "/search"},
		{"nor matched", "/rq/search?q=x&page=2", 200, "/b/find?term=&q=x&page=2", "no q", "/search"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := e.get(t, tt.path, nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %s", status, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			if body != tt.body || h.Get("X-Matched") != tt.matched || h.Get("X-Template") != tt.tp {
				t.Errorf("got backend %s, X-Matched %q, X-Template %q\nwant backend %s, X-Matched %q, X-Template %q",
					body, h.Get("X-Matched"), h.Get("X-Template"), tt.body, tt.matched, tt.tp)
			}
		})
	}
}

// TestConsoleTryRequiredQuery checks that the console's "Try it" form puts a
// required query parameter, now part of the operation's template, into the
// request it sends, so that the request reaches the operation.
func TestConsoleTryRequiredQuery(t *testing.T) {
	ctx := browser(t)
	backend := newEchoBackend(t)
	files := consoleConfig(backend.srv.URL, "127.0.0.1:0", "")
	files["apis/search/apiInformation.json"] = fmt.Sprintf(`{"properties":{"path":"search","serviceUrl":%q,"subscriptionRequired":false}}`, backend.srv.URL)
	files["apis/search/specification.yaml"] = searchSpec
	_, c := startConsole(t, files)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(wctx,
		chromedp.Navigate(c.base+"/#/op/search/search"),
		chromedp.WaitVisible(chromedp.CSS("#try-param-q")),
		chromedp.SetValue(chromedp.CSS("#try-param-q"), "a b"))
	if err == nil {
		_, err = chromedp.Run(wctx, chromedp.Evaluate[any](`document.getElementById("try-param-q").dispatchEvent(new Event("input")); true`))
	}
	if err != nil {
		t.Fatal(err)
	}
	path, err := chromedp.Run(wctx, chromedp.Value(chromedp.CSS("#try-path")))
	if err == nil {
		err = chromedp.Do(wctx, chromedp.Click(chromedp.CSS("#try-send")), chromedp.WaitVisible(chromedp.CSS("#try-status")))
	}
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(wctx, chromedp.Text(chromedp.CSS("#try-status")))
	if err != nil {
		t.Fatal(err)
	}
	if path != "/search/search?q=a%20b" || strings.TrimSpace(status) != "200" {
		t.Errorf("try sent %q and got %q, want /search/search?q=a%%20b and 200", path, status)
	}
}
