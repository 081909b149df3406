package policies_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// sideDoc is a policy document with the given sections.
func sideDoc(inbound, backend, outbound, onError string) string {
	return "<policies><inbound>" + inbound + "</inbound><backend>" + backend + "</backend><outbound>" +
		outbound + "</outbound><on-error>" + onError + "</on-error></policies>"
}

// sideCompile compiles a policy document with the expression language.
func sideCompile(t *testing.T, deps policies.Deps, doc string) (*pipeline.Pipeline, error) {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	pd, err := policyxml.Parse("policy.xml", []byte(doc))
	if err != nil {
		return nil, err
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(pd, "api")
	if err != nil {
		return nil, err
	}
	return pipeline.Compose(d), nil
}

// sideExchange is a request for https://backend.example/api/items?a=1 from
// 10.1.2.3, with a buffered body when body is not "".
func sideExchange(method string, h http.Header, body string) *exchange.Exchange {
	u, _ := url.Parse("https://backend.example/api/items?a=1")
	base, _ := url.Parse("https://backend.example/api")
	orig, _ := url.Parse("http://gateway.local/shop/items?a=1")
	if h == nil {
		h = http.Header{}
	}
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-00000000000a",
		Request:   exchange.Request{Method: method, URL: u, OriginalURL: orig, Headers: h, IPAddress: "10.1.2.3"},
		Backend:   exchange.Backend{BaseURL: base},
	}
	if body != "" {
		x.Request.Body = exchange.NewBytesBody([]byte(body))
	}
	return x
}

// sideRun compiles doc and runs it on x.
func sideRun(t *testing.T, deps policies.Deps, doc string, x *exchange.Exchange) *exchange.Exchange {
	t.Helper()
	p, err := sideCompile(t, deps, doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

// recorded is what a test backend received.
type recorded struct {
	Method, Path, Query, Host, Body string
	Header                          http.Header
}

// recorder is an httptest backend that records requests and answers with handler
// (200 {"access_token":"abc","expires_in":3599} when nil).
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
}

func newRecorder(t *testing.T, handler http.HandlerFunc) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := r.Header.Clone()
		for _, k := range []string{"Accept-Encoding"} {
			h.Del(k)
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, string(b), h})
		rec.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"abc","expires_in":3599}`)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func TestSendRequest(t *testing.T) {
	be := newRecorder(t, nil)
	tests := []struct {
		name    string
		method  string
		header  http.Header
		body    string
		inbound string
		want    recorded
		// vars are checked after the run: name -> value
		vars map[string]any
	}{
		{
			name: "GET with headers; the body reads as JSON",
			inbound: `<send-request mode="new" response-variable-name="r" timeout="20" ignore-error="false">
				<set-url>` + be.srv.URL + `/token?x=1</set-url>
				<set-method>GET</set-method>
				<set-header name="X-Api" exists-action="override"><value>one</value><value>two</value></set-header>
				<set-header name="Accept" exists-action="append"><value>application/json</value></set-header>
			</send-request>
			<set-variable name="token" value="@((string)((IResponse)context.Variables[&quot;r&quot;]).Body.As&lt;JObject&gt;()[&quot;access_token&quot;])" />
			<set-variable name="status" value="@(((IResponse)context.Variables[&quot;r&quot;]).StatusCode)" />
			<set-variable name="ctype" value="@(((IResponse)context.Variables[&quot;r&quot;]).Headers.GetValueOrDefault(&quot;Content-Type&quot;, &quot;&quot;))" />`,
			method: "GET", header: http.Header{"Authorization": {"Bearer caller"}},
			want: recorded{Method: "GET", Path: "/token", Query: "x=1", Header: http.Header{"X-Api": {"one,two"}, "Accept": {"application/json"}}},
			vars: map[string]any{"token": "abc", "status": int32(200), "ctype": "application/json"},
		},
		{
			name: "POST a form body, the client-credentials pattern",
			inbound: `<send-request ignore-error="true" timeout="20" response-variable-name="r" mode="new">
				<set-url>` + be.srv.URL + `/oauth2/token</set-url>
				<set-method>POST</set-method>
				<set-header name="Content-Type" exists-action="override"><value>application/x-www-form-urlencoded</value></set-header>
				<set-body>@{ return "client_id=app&grant_type=client_credentials"; }</set-body>
			</send-request>
			<set-header name="Authorization" exists-action="override">
				<value>@("Bearer " + (String)((IResponse)context.Variables["r"]).Body.As<JObject>()["access_token"])</value>
			</set-header>`,
			method: "GET",
			want: recorded{Method: "POST", Path: "/oauth2/token", Body: "client_id=app&grant_type=client_credentials",
				Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Length": {"43"}}},
		},
		{
			// The exchange holds the request as policies see it: the client's
			// Connection header was honoured on arrival, so a header it names
			// here was set by a policy and is copied.
			name: "copy: the caller's method, headers and body, hop-by-hop headers removed",
			inbound: `<send-request mode="copy" response-variable-name="r">
				<set-url>` + be.srv.URL + `/audit</set-url>
				<set-header name="X-Replayed" exists-action="override"><value>true</value></set-header>
			</send-request>`,
			method: "POST", body: `{"order":42}`,
			header: http.Header{"Content-Type": {"application/json"}, "X-Caller": {"c1"}, "Connection": {"X-Hop"}, "X-Hop": {"1"}, "Te": {"trailers"}},
			want: recorded{Method: "POST", Path: "/audit", Body: `{"order":42}`,
				Header: http.Header{"Content-Type": {"application/json"}, "X-Caller": {"c1"}, "X-Hop": {"1"}, "X-Replayed": {"true"}, "Content-Length": {"12"}}},
		},
		{
			name:    "copy without set-url goes to the backend URL",
			inbound: `<set-backend-service base-url="` + be.srv.URL + `/svc" /><send-request mode="copy" response-variable-name="r" />`,
			method:  "DELETE",
			want:    recorded{Method: "DELETE", Path: "/svc/items", Query: "a=1", Header: http.Header{}},
		},
		{
			name: "the Host header chooses the virtual host",
			inbound: `<send-request response-variable-name="r"><set-url>` + be.srv.URL + `/h</set-url><set-method>GET</set-method>
				<set-header name="Host" exists-action="override"><value>vault.example</value></set-header></send-request>`,
			method: "GET",
			want:   recorded{Method: "GET", Path: "/h", Host: "vault.example", Header: http.Header{}},
		},
		{
			name: "expressions in the URL, method and headers",
			inbound: `<set-variable name="id" value="42" />
				<send-request response-variable-name="@(&quot;r&quot;)" timeout="@(5)" mode="@(&quot;new&quot;)">
				<set-url>@("` + be.srv.URL + `/orders/" + (string)context.Variables["id"])</set-url>
				<set-method>PUT</set-method>
				<set-header name="@(&quot;X-Id&quot;)"><value>@((string)context.Variables["id"])</value></set-header>
			</send-request>`,
			method: "GET",
			want:   recorded{Method: "PUT", Path: "/orders/42", Header: http.Header{"X-Id": {"42"}, "Content-Length": {"0"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(be.requests())
			x := sideRun(t, policies.Deps{}, sideDoc(tt.inbound, "", "", ""), sideExchange(tt.method, tt.header, tt.body))
			if x.LastError != nil {
				t.Fatalf("LastError = %+v", x.LastError)
			}
			reqs := be.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("the backend got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			got.Header.Del("User-Agent") // checked in TestSendRequestNoDefaultUserAgent
			if tt.want.Host == "" {
				got.Host = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("side request (-want +got):\n%s", diff)
			}
			resp, ok := x.Variables["r"].(*exchange.Response)
			if !ok || resp.StatusCode != 200 || resp.Body == nil {
				t.Fatalf("variable r = %#v, want a 200 *exchange.Response with a body", x.Variables["r"])
			}
			for k, want := range tt.vars {
				if diff := cmp.Diff(want, x.Variables[k]); diff != "" {
					t.Errorf("variable %s (-want +got):\n%s", k, diff)
				}
			}
			if tt.body != "" {
				// The caller's body still goes to the backend.
				b, err := x.Request.Body.Bytes(true)
				if err != nil || string(b) != tt.body {
					t.Errorf("request body after the copy = %q, %v; want %q", b, err, tt.body)
				}
			}
		})
	}
}

func TestSendRequestUsesBearerFromFormPattern(t *testing.T) {
	be := newRecorder(t, nil)
	x := sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r" mode="new">
		<set-url>`+be.srv.URL+`/token</set-url><set-method>POST</set-method></send-request>
		<set-header name="Authorization" exists-action="override">
			<value>@("Bearer " + (String)((IResponse)context.Variables["r"]).Body.As<JObject>()["access_token"])</value>
		</set-header>`, "", "", ""), sideExchange("GET", nil, ""))
	if got := x.Request.Headers.Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization = %q, want Bearer abc", got)
	}
}

func TestSendRequestNoDefaultUserAgent(t *testing.T) {
	be := newRecorder(t, nil)
	sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r"><set-url>`+be.srv.URL+`</set-url><set-method>GET</set-method></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
	if ua, ok := be.requests()[0].Header["User-Agent"]; ok {
		t.Errorf("User-Agent %q was added", ua)
	}
}

func TestSendRequestCopyInOutboundHasNoBody(t *testing.T) {
	be := newRecorder(t, nil)
	x := sideExchange("POST", http.Header{"Content-Type": {"text/plain"}}, "payload")
	x.Response = &exchange.Response{StatusCode: 200, Headers: http.Header{}}
	sideRun(t, policies.Deps{}, sideDoc("", "", `<send-request mode="copy" response-variable-name="r"><set-url>`+be.srv.URL+`/o</set-url></send-request>`, ""), x)
	reqs := be.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Body != "" {
		t.Errorf("side requests = %+v, want one POST without a body", reqs)
	}
}

func TestSendRequestDoesNotFollowRedirects(t *testing.T) {
	var be *recorder
	be = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, be.srv.URL+"/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, "followed")
	})
	x := sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r"><set-url>`+be.srv.URL+`/start</set-url><set-method>GET</set-method></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
	resp := x.Variables["r"].(*exchange.Response)
	if resp.StatusCode != 302 || !strings.HasSuffix(resp.Headers.Get("Location"), "/elsewhere") {
		t.Errorf("response %d Location %q, want the 302 itself", resp.StatusCode, resp.Headers.Get("Location"))
	}
	if n := len(be.requests()); n != 1 {
		t.Errorf("the backend got %d requests, want 1", n)
	}
}

func TestSendRequestManagedIdentity(t *testing.T) {
	be := newRecorder(t, nil)
	tests := []struct {
		name, mi string
		tokens   *fakeTokens
		wantAuth string
		wantVar  any
	}{
		{"the token goes to the side request", `<authentication-managed-identity resource="https://vault.azure.net" />`,
			&fakeTokens{}, "Bearer tok-for--https://vault.azure.net", nil},
		{"a user-assigned identity", `<authentication-managed-identity resource="api://x" client-id="cid" />`,
			&fakeTokens{}, "Bearer tok-for-cid-api://x", nil},
		{"output-token-variable-name stores it instead", `<authentication-managed-identity resource="api://x" output-token-variable-name="t" />`,
			&fakeTokens{}, "", "tok-for--api://x"},
		{"ignore-error on the identity sends without a token", `<authentication-managed-identity resource="api://x" ignore-error="true" />`,
			&fakeTokens{err: errors.New("no identity")}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(be.requests())
			x := sideExchange("GET", http.Header{"Authorization": {"Bearer caller"}}, "")
			sideRun(t, policies.Deps{Tokens: tt.tokens}, sideDoc(`<send-request response-variable-name="r" mode="new">
				<set-url>`+be.srv.URL+`/secrets/s?api-version=7.0</set-url><set-method>GET</set-method>`+tt.mi+`</send-request>`, "", "", ""), x)
			if x.LastError != nil {
				t.Fatalf("LastError = %+v", x.LastError)
			}
			reqs := be.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d side requests", len(reqs))
			}
			if got := reqs[0].Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("side Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := x.Variables["t"]; got != tt.wantVar {
				t.Errorf("variable t = %v, want %v", got, tt.wantVar)
			}
			// The caller's request and its token state are untouched.
			if got := x.Request.Headers.Get("Authorization"); got != "Bearer caller" {
				t.Errorf("main Authorization = %q", got)
			}
			if x.Backend.Token != (exchange.BackendToken{}) {
				t.Errorf("Backend.Token = %+v, want none", x.Backend.Token)
			}
		})
	}
	t.Run("a token failure fails the policy, or sets null with ignore-error", func(t *testing.T) {
		doc := func(ignore string) string {
			return sideDoc(`<send-request response-variable-name="r" ignore-error="`+ignore+`"><set-url>`+be.srv.URL+`</set-url><set-method>GET</set-method>
				<authentication-managed-identity resource="api://nope" /></send-request>`, "", "", "")
		}
		tok := &fakeTokens{err: errors.New("AADSTS500011: resource not found")}
		x := sideRun(t, policies.Deps{Tokens: tok}, doc("false"), sideExchange("GET", nil, ""))
		if x.LastError == nil || x.LastError.Reason != "TokenAcquisitionFailure" || x.LastError.Source != "send-request" {
			t.Errorf("LastError = %+v", x.LastError)
		}
		x = sideRun(t, policies.Deps{Tokens: tok}, doc("true"), sideExchange("GET", nil, ""))
		if v, ok := x.Variables["r"]; x.LastError != nil || !ok || v != nil {
			t.Errorf("LastError = %+v, r = %v (set %v), want null", x.LastError, v, ok)
		}
	})
}

func TestSendRequestFailures(t *testing.T) {
	release := make(chan struct{})
	slow := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, url, ignore string
		wantReason        string // "" when the failure is ignored
		wantIn            string
	}{
		{"no answer in time", slow.srv.URL + "/slow?sig=s3cret", "false", "Timeout", "send-request to " + slow.srv.URL + "/slow did not get a response within 1s"},
		{"no answer in time, ignored", slow.srv.URL + "/slow", "true", "", ""},
		{"no connection", closedURL + "/x?sig=s3cret", "false", "BackendConnectionFailure", "send-request could not reach " + closedURL + "/x: "},
		{"no connection, ignored", closedURL + "/x", "true", "", ""},
		{"an expression that yields no URL", `@("not a url?sig=s3cret")`, "false", "InvalidUrl", `send-request URL must be an absolute http or https URL, not "not a url"`},
		{"an expression that yields no URL, ignored", `@("not a url")`, "true", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r" timeout="1" ignore-error="`+tt.ignore+`">
				<set-url>`+tt.url+`</set-url><set-method>GET</set-method></send-request>
				<set-variable name="after" value="ran" />`, "", "", ""), sideExchange("GET", nil, ""))
			if tt.wantReason == "" {
				v, ok := x.Variables["r"]
				if x.LastError != nil || !ok || v != nil || x.Variables["after"] != "ran" {
					t.Errorf("LastError = %+v, r = %v (set %v), after = %v; want the error ignored and r null", x.LastError, v, ok, x.Variables["after"])
				}
				return
			}
			le := x.LastError
			if le == nil || le.Source != "send-request" || le.Reason != tt.wantReason || !strings.Contains(le.Message, tt.wantIn) {
				t.Fatalf("LastError = %+v, want %s containing %q", le, tt.wantReason, tt.wantIn)
			}
			if strings.Contains(le.Message, "s3cret") {
				t.Errorf("the message shows the query: %q", le.Message)
			}
			if _, ok := x.Variables["r"]; ok {
				t.Error("the variable was set although the request failed")
			}
			if x.Response.StatusCode != 500 {
				t.Errorf("caller status %d, want 500", x.Response.StatusCode)
			}
		})
	}
	t.Run("the client going away is not ignored", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		waiting := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
		})
		p, err := sideCompile(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r" ignore-error="true">
			<set-url>`+waiting.srv.URL+`</set-url><set-method>GET</set-method></send-request>`, "", "", ""))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-entered; cancel() }()
		x := sideExchange("GET", nil, "")
		if err := p.Run(ctx, x); !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		if _, ok := x.Variables["r"]; ok {
			t.Error("the variable was set for a request the client abandoned")
		}
	})
	t.Run("a failing expression is not a request error", func(t *testing.T) {
		x := sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r" ignore-error="true">
			<set-url>@((string)context.Variables["missing"])</set-url><set-method>GET</set-method></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
		if x.LastError == nil || x.LastError.Reason != "ExpressionValueEvaluationFailure" {
			t.Errorf("LastError = %+v, want ExpressionValueEvaluationFailure", x.LastError)
		}
	})
}

func TestSendRequestResponseIsStreamedAndBounded(t *testing.T) {
	big := strings.Repeat("x", exchange.DefaultBodyLimit+1)
	be := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	x := sideRun(t, policies.Deps{}, sideDoc(`<send-request response-variable-name="r"><set-url>`+be.srv.URL+`</set-url><set-method>GET</set-method></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
	resp := x.Variables["r"].(*exchange.Response)
	if resp.Body.Buffered() {
		t.Error("the body was buffered before anybody read it")
	}
	if _, err := resp.Body.Bytes(true); !errors.Is(err, exchange.ErrBodyTooLarge) {
		t.Errorf("reading a body over the limit: %v, want ErrBodyTooLarge", err)
	}
}

func TestSendRequestLogsNoSecrets(t *testing.T) {
	be := newRecorder(t, nil)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sideRun(t, policies.Deps{Logger: log}, sideDoc(`<send-request response-variable-name="r" mode="new">
		<set-url>`+be.srv.URL+`/token?code=query-secret</set-url><set-method>POST</set-method>
		<set-header name="Authorization"><value>Bearer header-secret</value></set-header>
		<set-body>client_secret=body-secret</set-body></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
	out := buf.String()
	if !strings.Contains(out, "send-request") || !strings.Contains(out, "status=200") {
		t.Errorf("no debug line for the side request: %s", out)
	}
	for _, s := range []string{"query-secret", "header-secret", "body-secret", "access_token"} {
		if strings.Contains(out, s) {
			t.Errorf("the log shows %q: %s", s, out)
		}
	}
}

func TestSendRequestCompileErrors(t *testing.T) {
	tests := []struct {
		name, policy, want string
	}{
		{"response-variable-name is required",
			`<send-request><set-url>https://a.example</set-url></send-request>`,
			"policy.xml:1:20: <send-request> needs a response-variable-name attribute"},
		{"mode",
			`<send-request mode="clone" response-variable-name="r"><set-url>https://a.example</set-url></send-request>`,
			`policy.xml:1:40: mode of <send-request> must be new or copy, not "clone"`},
		{"timeout",
			`<send-request response-variable-name="r" timeout="0"><set-url>https://a.example</set-url></send-request>`,
			`policy.xml:1:70: timeout of <send-request> must be a whole number of seconds from 1 to 86400, not "0"`},
		{"a timeout that would overflow",
			`<send-request response-variable-name="r" timeout="9999999999"><set-url>https://a.example</set-url></send-request>`,
			`policy.xml:1:70: timeout of <send-request> must be a whole number of seconds from 1 to 86400, not "9999999999"`},
		{"ignore-error takes no expression",
			`<send-request response-variable-name="r" ignore-error="@(true)"><set-url>https://a.example</set-url></send-request>`,
			"policy.xml:1:75: attribute ignore-error of <send-request> does not accept policy expressions"},
		{"set-url is required in mode new",
			`<send-request response-variable-name="r"><set-method>GET</set-method></send-request>`,
			"policy.xml:1:20: <send-request> needs a <set-url> unless mode is copy"},
		{"a literal URL must be absolute",
			`<send-request response-variable-name="r"><set-url>/relative</set-url></send-request>`,
			`policy.xml:1:70: <set-url> must be an absolute http or https URL, not "/relative"`},
		{"children in order",
			`<send-request response-variable-name="r"><set-method>GET</set-method><set-url>https://a.example</set-url></send-request>`,
			"policy.xml:1:89: <set-url> must come before <set-method> in <send-request>"},
		{"one set-url",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><set-url>https://b.example</set-url></send-request>`,
			"policy.xml:1:97: <set-url> appears twice in <send-request>"},
		{"authentication-certificate's own checks",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><authentication-certificate thumbprint="ab" /></send-request>`,
			"policy.xml:1:137: <authentication-certificate> names a certificate, but lastmile.yaml has no certificates; add the certificate to its certificates section"},
		{"proxy's own checks",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><proxy url="https://p.example" /></send-request>`,
			"policy.xml:1:109: url of <proxy>: only http proxies are supported (as in API Management): the gateway speaks plain HTTP to the proxy, and TLS to an https backend through it"},
		{"unknown child",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><set-status code="200" /></send-request>`,
			"policy.xml:1:97: unexpected <set-status> in <send-request>; expected <set-url>, <set-method>, <set-header>, <set-body>, <authentication-managed-identity> or <proxy>"},
		{"set-header's own checks",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><set-header name="Content-Length"><value>1</value></set-header></send-request>`,
			"policy.xml:1:115: header Content-Length is managed by the gateway and cannot be set or deleted"},
		{"managed identity's own checks",
			`<send-request response-variable-name="r"><set-url>https://a.example</set-url><authentication-managed-identity /></send-request>`,
			"policy.xml:1:97: <authentication-managed-identity> needs a resource attribute"},
		{"unknown attribute",
			`<send-request response-variable-name="r" follow-redirects="true"><set-url>https://a.example</set-url></send-request>`,
			"policy.xml:1:61: unknown attribute \"follow-redirects\" on <send-request>; expected mode, response-variable-name, timeout, ignore-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{Tokens: &fakeTokens{}}, "<policies><inbound>"+tt.policy+"</inbound></policies>")
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// countingTransport answers every side request with 204 and counts them.
type countingTransport struct {
	mu sync.Mutex
	n  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return &http.Response{StatusCode: 204, Status: "204 No Content", Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func TestSendRequestUsesDepsTransport(t *testing.T) {
	tr := &countingTransport{}
	x := sideRun(t, policies.Deps{SideRequests: tr}, sideDoc(`<send-request response-variable-name="r"><set-url>https://side.example/x</set-url><set-method>GET</set-method></send-request>`, "", "", ""), sideExchange("GET", nil, ""))
	if tr.n != 1 {
		t.Errorf("transport used %d times, want 1", tr.n)
	}
	if r := x.Variables["r"].(*exchange.Response); r.StatusCode != 204 || r.StatusReason != "No Content" {
		t.Errorf("response %d %q", r.StatusCode, r.StatusReason)
	}
}

// TestForwardRequestTimeoutErrors: a timeout that would fail every request (0
// or less) or overflow into one that fires at once is refused at load, with
// its position, as send-request's is.
func TestForwardRequestTimeoutErrors(t *testing.T) {
	tests := []struct{ timeout, want string }{
		{"0", `policy.xml:1:57: attribute timeout of <forward-request> must be a whole number of seconds from 1 to 86400, not "0"`},
		{"-5", `policy.xml:1:57: attribute timeout of <forward-request> must be a whole number of seconds from 1 to 86400, not "-5"`},
		{"1.5", `policy.xml:1:57: attribute timeout of <forward-request> must be a whole number of seconds from 1 to 86400, not "1.5"`},
		{"9999999999", `policy.xml:1:57: attribute timeout of <forward-request> must be a whole number of seconds from 1 to 86400, not "9999999999"`},
		{"@(5)", `policy.xml:1:57: attribute timeout of <forward-request> does not accept policy expressions`},
	}
	for _, tt := range tests {
		t.Run(tt.timeout, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{Forwarder: &scripted{statuses: []int{200}}},
				`<policies><inbound /><backend><forward-request timeout="`+tt.timeout+`" /></backend></policies>`)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	if _, err := sideCompile(t, policies.Deps{Forwarder: &scripted{statuses: []int{200}}},
		`<policies><inbound /><backend><forward-request timeout="1" /></backend></policies>`); err != nil {
		t.Errorf("timeout 1: %v", err)
	}
}
