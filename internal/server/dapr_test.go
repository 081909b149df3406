package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// daprSidecar stands in for the Dapr runtime's HTTP API: it records what it
// is sent and answers as Dapr does.
type daprSidecar struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD escaped-path?query content-type body"
}

func newDaprSidecar(t *testing.T) *daprSidecar {
	d := &daprSidecar{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), body))
		d.mu.Unlock()
		fail := func(status int, code string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errorCode":%q,"message":"from the sidecar"}`, code)
		}
		path := r.URL.EscapedPath()
		switch {
		case path == "/v1.0/publish/orders/slow":
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(path, "/v1.0/publish/orders/"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(path, "/v1.0/publish/"):
			fail(http.StatusNotFound, "ERR_PUBSUB_NOT_FOUND")
		case path == "/v1.0/bindings/external-system":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"created":true}`)
		case strings.HasPrefix(path, "/v1.0/bindings/"):
			fail(http.StatusInternalServerError, "ERR_INVOKE_OUTPUT_BINDING")
		case strings.HasPrefix(path, "/v1.0/invoke/"):
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "invoked %s %s", r.Method, r.URL.RequestURI())
		default:
			fail(http.StatusNotFound, "ERR_DIRECT_INVOKE")
		}
	}))
	t.Cleanup(d.Close)
	return d
}

// take returns what the sidecar was sent since the last take.
func (d *daprSidecar) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.seen
	d.seen = nil
	return s
}

// TestDapr runs the Dapr policies through the real server against a sidecar
// stand-in: set-backend-service backend-id="dapr" forwards to the service
// invocation API, publish-to-dapr and invoke-dapr-binding post what the
// reference describes, errors reach on-error with the sidecar's answer in the
// response variable, and no value from the request climbs out of the path
// the policy names.
func TestDapr(t *testing.T) {
	sidecar := newDaprSidecar(t)
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":"http://127.0.0.1:9","subscriptionRequired":false}}`, path)
	}
	onError := `<on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Source + " " + context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error>`
	doc := func(inbound, backend string) string {
		return `<policies><inbound>` + inbound + `</inbound><backend>` + backend + `</backend><outbound />` + onError + `</policies>`
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": "dapr:\n  url: " + sidecar.URL + "\n",
		// Microsoft's example of set-backend-service to Dapr, and a method from the path.
		"apis/invoke/apiInformation.json": api("invoke"),
		"apis/invoke/policy.xml": doc(`<choose><when condition="@(context.Request.Url.Path.EndsWith(&quot;/echo&quot;))">`+
			`<set-backend-service backend-id="dapr" dapr-app-id="echo" dapr-method="back" dapr-namespace="echo-app" /></when>`+
			`<otherwise><set-backend-service backend-id="dapr" dapr-app-id="orders" dapr-method="@(&quot;orders/&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-Order&quot;, &quot;&quot;))" /></otherwise></choose>`,
			`<forward-request />`),
		// Microsoft's publish-to-dapr example: the request body to "new" of "orders".
		"apis/publish/apiInformation.json": api("publish"),
		"apis/publish/policy.xml": `<policies><inbound><publish-to-dapr pubsub-name="@(context.Request.Headers.GetValueOrDefault(&quot;X-Pubsub&quot;, &quot;orders&quot;))" topic="@(context.Request.Headers.GetValueOrDefault(&quot;X-Topic&quot;, &quot;new&quot;))" response-variable-name="dapr-response" timeout="1" content-type="application/json">@(context.Request.Body.As&lt;string&gt;())</publish-to-dapr>` +
			`<return-response><set-status code="202" /></return-response></inbound><backend /><outbound />` +
			`<on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header>` +
			`<choose><when condition="@(context.Variables.ContainsKey(&quot;dapr-response&quot;))"><return-response response-variable-name="dapr-response">` +
			`<set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></return-response></when></choose></on-error></policies>`,
		"apis/topicpath/apiInformation.json": api("topicpath"),
		"apis/topicpath/policy.xml": doc(`<publish-to-dapr topic="orders/created" template="Liquid">{"id": {{body.id}}, "by": "{{context.Request.Headers["X-User"]}}"}</publish-to-dapr>`+
			`<return-response><set-status code="204" /></return-response>`, ""),
		"apis/ignored/apiInformation.json": api("ignored"),
		"apis/ignored/policy.xml": doc(`<publish-to-dapr pubsub-name="nowhere" topic="t" ignore-error="true" response-variable-name="r">x</publish-to-dapr>`+
			`<return-response><set-status code="200" /><set-header name="X-Dapr" exists-action="override"><value>@(((IResponse)context.Variables["r"]).StatusCode.ToString())</value></set-header></return-response>`, ""),
		// Microsoft's invoke-dapr-binding example.
		"apis/bind/apiInformation.json": api("bind"),
		"apis/bind/policy.xml": `<policies><inbound><invoke-dapr-binding name="@(context.Request.Headers.GetValueOrDefault(&quot;X-Binding&quot;, &quot;external-system&quot;))" operation="create" response-variable-name="bind-response" content-type="application/json">` +
			`<metadata><item key="source">api-management</item><item key="client-ip">@(context.Request.IpAddress)</item></metadata>` +
			`<data>@(context.Request.Body.As&lt;string&gt;())</data></invoke-dapr-binding>` +
			`<return-response response-variable-name="bind-response" /></inbound><backend /><outbound />` +
			`<on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error></policies>`,
		"apis/bindtext/apiInformation.json": api("bindtext"),
		"apis/bindtext/policy.xml":          doc(`<invoke-dapr-binding name="external-system"><data>plain text</data></invoke-dapr-binding><return-response><set-status code="204" /></return-response>`, ""),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		respBody, xError         string
		sent                     []string // what the sidecar saw
	}{
		{name: "service invocation, Microsoft's example", method: "GET", path: "/invoke/echo?q=1", status: 200,
			respBody: "invoked GET /v1.0/invoke/echo.echo-app/method/back?q=1",
			sent:     []string{"GET /v1.0/invoke/echo.echo-app/method/back?q=1  "}},
		{name: "a method path from a header", method: "POST", path: "/invoke/x", body: "hello", header: map[string]string{"X-Order": "42/lines"}, status: 200,
			respBody: "invoked POST /v1.0/invoke/orders/method/orders/42/lines",
			sent:     []string{"POST /v1.0/invoke/orders/method/orders/42/lines  hello"}},
		{name: "a method that would climb into Dapr's API", method: "GET", path: "/invoke/x", header: map[string]string{"X-Order": "../../../v1.0/secrets/vault/db"}, status: 400,
			xError: `set-backend-service InvalidDaprName: the Dapr method "orders/../../../v1.0/secrets/vault/db" is not a method name or path: it needs segments without . or .., ?, # or \`},
		{name: "an encoded slash stays in its segment", method: "GET", path: "/invoke/x", header: map[string]string{"X-Order": "a%2F..%2Fb"}, status: 200,
			respBody: "invoked GET /v1.0/invoke/orders/method/orders/a%252F..%252Fb",
			sent:     []string{"GET /v1.0/invoke/orders/method/orders/a%252F..%252Fb  "}},
		{name: "publish, Microsoft's example", method: "POST", path: "/publish/x", body: `{"id":7}`, status: 202,
			sent: []string{`POST /v1.0/publish/orders/new application/json {"id":7}`}},
		{name: "an unknown pub/sub reaches on-error with Dapr's answer", method: "POST", path: "/publish/x", body: `{}`, header: map[string]string{"X-Pubsub": "nowhere"}, status: 404,
			respBody: `{"errorCode":"ERR_PUBSUB_NOT_FOUND","message":"from the sidecar"}`,
			xError:   "DaprRuntimeFailure: publish-to-dapr: the Dapr runtime answered 404 ERR_PUBSUB_NOT_FOUND",
			sent:     []string{`POST /v1.0/publish/nowhere/new application/json {}`}},
		{name: "a topic that is a path is refused", method: "POST", path: "/publish/x", body: `{}`, header: map[string]string{"X-Topic": "../../bindings/x"}, status: 500,
			respBody: `{"statusCode":500,"message":"Internal server error","activityId":`,
			xError:   `InvalidDaprName: the Dapr topic "../../bindings/x" is not a name: it must be 1 to 256 characters without / \ ? # % or control characters`},
		{name: "no answer in time", method: "POST", path: "/publish/x", body: `{}`, header: map[string]string{"X-Topic": "slow"}, status: 500,
			xError: "DaprRuntimeFailure: publish-to-dapr to " + sidecar.URL + "/v1.0/publish/orders/slow did not get a response within 1s",
			sent:   []string{`POST /v1.0/publish/orders/slow application/json {}`}},
		{name: "pub/sub and topic in one attribute, a Liquid template", method: "POST", path: "/topicpath/x", body: `{"id":5}`, header: map[string]string{"Content-Type": "application/json", "X-User": "ann"}, status: 204,
			sent: []string{`POST /v1.0/publish/orders/created  {"id": 5, "by": "ann"}`}},
		{name: "ignore-error keeps the answer", method: "GET", path: "/ignored/x", status: 200, header: map[string]string{},
			sent: []string{"POST /v1.0/publish/nowhere/t  x"}},
		{name: "binding, Microsoft's example", method: "POST", path: "/bind/x", body: `{"order":1}`, status: 200, respBody: `{"created":true}`,
			sent: []string{`POST /v1.0/bindings/external-system application/json {"data":{"order":1},"metadata":{"client-ip":"127.0.0.1","source":"api-management"},"operation":"create"}`}},
		{name: "a binding error", method: "POST", path: "/bind/x", body: `{}`, header: map[string]string{"X-Binding": "broken"}, status: 500,
			xError: "DaprRuntimeFailure: invoke-dapr-binding: the Dapr runtime answered 500 ERR_INVOKE_OUTPUT_BINDING",
			sent:   []string{`POST /v1.0/bindings/broken application/json {"data":{},"metadata":{"client-ip":"127.0.0.1","source":"api-management"},"operation":"create"}`}},
		{name: "data that is not JSON", method: "POST", path: "/bind/x", body: `not json`, status: 400,
			xError: "DaprRuntimeFailure: invoke-dapr-binding: the data is not JSON, and content-type says application/json"},
		{name: "text data is a JSON string", method: "GET", path: "/bindtext/x", status: 204,
			sent: []string{`POST /v1.0/bindings/external-system application/json {"data":"plain text"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sidecar.take()
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.respBody) || resp.Header.Get("X-Error") != tt.xError {
				t.Errorf("%s %s: %d %q (X-Error %q)\nwant %d %q (X-Error %q)", tt.method, tt.path, resp.StatusCode, body, resp.Header.Get("X-Error"), tt.status, tt.respBody, tt.xError)
			}
			if got := sidecar.take(); strings.Join(got, "\n") != strings.Join(tt.sent, "\n") {
				t.Errorf("the sidecar saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.sent, "\n"))
			}
			if tt.path == "/ignored/x" && resp.Header.Get("X-Dapr") != "404" {
				t.Errorf("X-Dapr %q, want the sidecar's 404 in the variable", resp.Header.Get("X-Dapr"))
			}
		})
	}

	t.Run("the binding's answer is JSON the client can read", func(t *testing.T) {
		sidecar.take()
		resp, err := http.Post(e.srv.GatewayURL()+"/bind/x", "application/json", strings.NewReader(`[1,2]`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]bool
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || !v["created"] {
			t.Errorf("%v %v", v, err)
		}
	})
}
