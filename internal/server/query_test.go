package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestQueryAsSent checks that the backend gets the query as the client wrote
// it, whatever a policy or the gateway changes in it: parameters a change does
// not name keep their bytes, escapes, order and flags (a backend may check a
// signature over them), and a rewrite-uri template's query is the backend's
// as written, a SAS token's escapes included.
func TestQueryAsSent(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI())
	}))
	t.Cleanup(backend.Close)
	api := func(path string, keyed bool) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":%v}}`, path, backend.URL+"/b", keyed)
	}
	policy := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/plain/apiInformation.json":                  api("plain", false),
		"apis/keyed/apiInformation.json":                  api("keyed", true),
		"apis/setq/apiInformation.json":                   api("setq", false),
		"apis/setq/policy.xml":                            policy(`<set-query-parameter name="zz"><value>1 2</value></set-query-parameter><set-query-parameter name="a" exists-action="delete" />`),
		"apis/sas/apiInformation.json":                    api("sas", false),
		"apis/sas/policy.xml":                             policy(`<rewrite-uri template="/container/file.txt?{{sas}}" copy-unmatched-params="false" />`),
		"apis/expr/apiInformation.json":                   api("expr", false),
		"apis/expr/policy.xml":                            policy(`<rewrite-uri template="@(&quot;/s?term=&quot; + Uri.EscapeDataString(context.Request.Url.Query.GetValueOrDefault(&quot;t&quot;, &quot;&quot;)) + &quot;&amp;lit=a%20b&amp;plus=a+b&amp;raw=x y#z&amp;pct=50%&quot;)" />`),
		"named values/sas/namedValueInformation.json":     `{"properties":{"displayName":"sas","value":"sv=2022-11-02&ss=b&sig=AbC%2BdEf%2Fgh%3D","secret":true}}`,
		"subscriptions/team/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"team-key"}}`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	const q = "b=2&%24filter=Name%20eq%20'x'&a=1&flag&list=a,b&c=%41+%2B"
	tests := []struct{ name, path, want string }{
		{"no change", "/plain/x?" + q, "/b/x?" + q},
		{"the subscription key taken out", "/keyed/x?" + "subscription-key=team-key&" + q, "/b/x?" + q},
		{"set-query-parameter", "/setq/x?" + q, "/b/x?b=2&%24filter=Name%20eq%20'x'&flag&list=a,b&c=%41+%2B&zz=1+2"},
		{"a SAS token in a rewrite-uri template", "/sas/x?other=1", "/b/container/file.txt?sv=2022-11-02&ss=b&sig=AbC%2BdEf%2Fgh%3D"},
		{"an expression's template, then the unmatched parameters", "/expr/x?t=a%26b+c&" + q, "/b/s?term=a%26b%20c&lit=a%20b&plus=a+b&raw=x%20y%23z&pct=50%25&t=a%26b+c&" + q},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(e.srv.GatewayURL() + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(got) != tt.want {
				t.Errorf("%d\n got %s\nwant %s", resp.StatusCode, got, tt.want)
			}
		})
	}
}

// TestStatusReason: set-status's reason is the status line's reason phrase
// over HTTP/1.1, as API Management sends it; one computed from the request
// cannot end the status line.
func TestStatusReason(t *testing.T) {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/r/apiInformation.json": `{"properties":{"path":"r","serviceUrl":"http://127.0.0.1:9","subscriptionRequired":false}}`,
		"apis/r/policy.xml": `<policies><inbound><return-response><set-status code="418" reason="@(context.Request.Url.Query.GetValueOrDefault(&quot;reason&quot;, &quot;Teapot&quot;))" /></return-response></inbound>` +
			`<backend /><outbound /><on-error /></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")
	for target, want := range map[string]string{
		"/r/x":                            "HTTP/1.1 418 Teapot\r\n",
		"/r/x?reason=I%27m%20a%20teapot":  "HTTP/1.1 418 I'm a teapot\r\n",
		"/r/x?reason=a%0D%0ASet-Cookie:x": "HTTP/1.1 418 a  Set-Cookie:x\r\n",
	} {
		c := dialGateway(t, addr)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", target)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != want {
			t.Errorf("GET %s: status line %q (%v), want %q", target, line, err, want)
		}
	}
}
