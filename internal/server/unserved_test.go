package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUnservedAPIPath: a current API that lastmile does not serve (a
// synthetic GraphQL API, an unknown type) answers 404 on its path, as the load
// warning says; its requests never reach the root API's backend and policies.
// A served API on the same path still answers.
func TestUnservedAPIPath(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend saw "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	api := func(path, typ, url string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"type":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, typ, url)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"apis/root/apiInformation.json":              api("", "http", backend.URL+"/root"),
		"apis/root/policy.xml":                       `<policies><inbound><base /><set-header name="X-Root-Policy" exists-action="override"><value>ran</value></set-header></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"apis/gq/apiInformation.json":                `{"properties":{"path":"gq","type":"graphql","subscriptionRequired":false}}`,
		"apis/gq/specification.graphql":              "type Query { hello: String }\n",
		"apis/odd/apiInformation.json":               api("odd/deeper", "foo", backend.URL+"/odd"),
		"apis/same-a/apiInformation.json":            api("same", "foo", backend.URL+"/unserved"),
		"apis/same-b/apiInformation.json":            api("same", "http", backend.URL+"/served"),
		"apis/versioned/apiInformation.json":         `{"properties":{"path":"vq","type":"foo","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false,"apiVersion":"v1","apiVersionSetId":"/apiVersionSets/vs"}}`,
		"apis/original/apiInformation.json":          api("vq", "http", backend.URL+"/original"),
		"version sets/vs/versionSetInformation.json": `{"properties":{"displayName":"vs","versioningScheme":"Query","versionQueryName":"v"}}`,
	})
	e := start(t, dir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/gq/", 404, `{"statusCode":404,"message":"Resource not found"`},
		{"/gq/anything?x=1", 404, `{"statusCode":404,"message":"Resource not found"`},
		{"/odd/deeper/x", 404, `{"statusCode":404,"message":"Resource not found"`},
		{"/odd/x", 200, "backend saw /root/odd/x"}, // not under the unserved API's path
		{"/same/x", 200, "backend saw /served/x"},
		{"/vq/x?v=v1", 404, `{"statusCode":404,"message":"Resource not found"`},
		{"/vq/x", 200, "backend saw /original/x"},
		{"/elsewhere", 200, "backend saw /root/elsewhere"},
	} {
		resp, body := get(t, e.srv.GatewayURL()+tt.path, nil)
		if resp.StatusCode != tt.status || !strings.HasPrefix(body, tt.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
}

// TestExpressionFailureMessage: a failing expression's context.LastError.Message,
// which policies often return to the client, names the policy file relative to
// the configuration folder, never where the gateway keeps it on disk.
func TestExpressionFailureMessage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"apis/e/apiInformation.json": `{"properties":{"path":"e","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/e/policy.xml": `<policies><inbound><base /><set-variable name="x" value="@(1 / int.Parse(&quot;0&quot;))" /></inbound>` +
			`<backend><base /></backend><outbound><base /></outbound>` +
			`<on-error><return-response><set-status code="500" reason="Failed" /><set-body>@(context.LastError.Message)</set-body></return-response></on-error></policies>`,
	})
	e := start(t, dir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	resp, body := get(t, e.srv.GatewayURL()+"/e/x", nil)
	if resp.StatusCode != 500 || !strings.Contains(body, "(expression at apis/e/policy.xml:1:") || strings.Contains(body, dir) {
		t.Errorf("GET /e/x: %d %q, want LastError.Message naming apis/e/policy.xml, without %s", resp.StatusCode, body, dir)
	}
}
