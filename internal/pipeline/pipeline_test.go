package pipeline_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{})
	return r
}

func parse(t *testing.T, file, src string) *policyxml.Document {
	t.Helper()
	d, err := policyxml.Parse(file, []byte(src))
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return d
}

func compile(t *testing.T, c *pipeline.Compiler, file, scope, src string) *pipeline.Document {
	t.Helper()
	d, err := c.Compile(parse(t, file, src), scope)
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	return d
}

func newExchange() *exchange.Exchange {
	u, _ := url.Parse("https://backend.example/api/items")
	return &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request: exchange.Request{
			Method: "GET", URL: u, OriginalURL: u, Headers: http.Header{}, IPAddress: "192.0.2.7",
		},
	}
}

// trace appends name to X-Trace in the given section, so composition order shows.
func trace(name string) string {
	return `<set-header name="X-Trace" exists-action="append"><value>` + name + `</value></set-header>`
}

func TestComposeBase(t *testing.T) {
	c := pipeline.NewCompiler(registry(), nil, nil)
	global := compile(t, c, "policy.xml", "global", `<policies>
		<inbound>`+trace("global")+`</inbound>
		<backend />
		<outbound>`+trace("global-out")+`</outbound>
		<on-error />
	</policies>`)
	product := compile(t, c, "products/p/policy.xml", "product", `<policies>
		<inbound><base />`+trace("product")+`</inbound>
	</policies>`)
	apiDoc := compile(t, c, "apis/a/policy.xml", "api", `<policies>
		<inbound>`+trace("api-before")+`<base />`+trace("api-after")+`</inbound>
		<outbound>`+trace("api-out")+`</outbound>
	</policies>`)
	op := compile(t, c, "apis/a/operations/o/policy.xml", "operation", `<policies>
		<inbound><base />`+trace("operation")+`</inbound>
		<outbound><base /></outbound>
	</policies>`)

	tests := []struct {
		name            string
		docs            []*pipeline.Document
		wantIn, wantOut string
	}{
		{"all scopes", []*pipeline.Document{global, product, apiDoc, op}, "api-before,global,product,api-after,operation", "api-out"},
		{"no product", []*pipeline.Document{global, nil, apiDoc, op}, "api-before,global,api-after,operation", "api-out"},
		{"global only", []*pipeline.Document{global}, "global", "global-out"},
		{"operation without a section inherits it", []*pipeline.Document{global, product}, "global,product", "global-out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.Compose(tt.docs...)
			x := newExchange()
			if err := p.Run(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(x.Request.Headers.Values("X-Trace"), ","); got != tt.wantIn {
				t.Errorf("inbound order = %q, want %q", got, tt.wantIn)
			}
			if got := strings.Join(x.Response.Headers.Values("X-Trace"), ","); got != tt.wantOut {
				t.Errorf("outbound order = %q, want %q", got, tt.wantOut)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown policy",
			src:  "<policies>\n  <inbound>\n    <set-heder name=\"a\" />\n  </inbound>\n</policies>",
			want: []string{"p.xml:3:5: unknown policy <set-heder>; did you mean <set-header>?"},
		},
		{
			name: "unknown policy, nothing near",
			src:  "<policies><inbound><frobnicate /></inbound></policies>",
			want: []string{"p.xml:1:20: unknown policy <frobnicate>; check the spelling against docs/policies.md"},
		},
		{
			name: "known but unsupported policy",
			src:  "<policies><inbound><publish-event /></inbound></policies>",
			want: []string{"p.xml:1:20: policy <publish-event> is not supported by lastmile yet; see docs/policies.md for the supported policies"},
		},
		{
			name: "policy in the wrong section",
			src:  "<policies><inbound><forward-request /></inbound></policies>",
			want: []string{"p.xml:1:20: policy <forward-request> is not allowed in <inbound>; it can be used in backend"},
		},
		{
			name: "expression before the expression language",
			src:  "<policies><inbound>\n<set-variable name=\"x\" value=\"@(context.RequestId)\" /></inbound></policies>",
			want: []string{"p.xml:2:31: policy expressions are not supported yet: @(context.RequestId)"},
		},
		{
			name: "every error is reported",
			src: `<policies><inbound>
<set-header exists-action="sometimes"><value>v</value></set-header>
<ip-filter action="allow"><address>not-an-ip</address></ip-filter>
<set-status code="abc" reason="x" />
</inbound><outbound><base /><base /></outbound></policies>`,
			want: []string{
				`p.xml:2:1: <set-header> needs a name attribute`,
				`p.xml:3:36: <address> must be an IPv4 or IPv6 address, not "not-an-ip"`,
				`p.xml:4:19: status code must be a number from 200 to 999, not "abc"`,
				`p.xml:5:29: <base /> appears twice in <outbound>`,
			},
		},
		{
			name: "unknown attribute",
			src:  `<policies><inbound><set-header name="a" exist-action="skip"><value>v</value></set-header></inbound></policies>`,
			want: []string{`p.xml:1:41: unknown attribute "exist-action" on <set-header>; expected name, exists-action`},
		},
		{
			name: "missing fragment",
			src:  `<policies><inbound><include-fragment fragment-id="nope" /></inbound></policies>`,
			want: []string{`p.xml:1:51: policy fragment "nope" does not exist; add policy fragments/nope/policy.xml`},
		},
		{
			name: "section twice and stray element",
			src:  `<policies><inbound /><inbound /><set-header name="a" /></policies>`,
			want: []string{`p.xml:1:22: section <inbound> appears twice`, `p.xml:1:33: unexpected <set-header> in <policies>; expected <inbound>, <backend>, <outbound> or <on-error>`},
		},
		{
			name: "wrong root",
			src:  `<fragment />`,
			want: []string{`p.xml:1:1: a policy document must have a <policies> root element, found <fragment>`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pipeline.NewCompiler(registry(), nil, nil)
			_, err := c.Compile(parse(t, "p.xml", tt.src), "api")
			if err == nil {
				t.Fatal("Compile succeeded, want errors")
			}
			var got []string
			for _, e := range err.(policyxml.ErrorList) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOnError(t *testing.T) {
	c := pipeline.NewCompiler(registry(), nil, nil)
	doc := compile(t, c, "policy.xml", "api", `<policies>
		<inbound>
			<set-header name="X-Before" exists-action="override"><value>1</value></set-header>
			<ip-filter id="office-only" action="allow"><address-range from="10.0.0.0" to="10.255.255.255" /></ip-filter>
			<set-header name="X-After" exists-action="override"><value>1</value></set-header>
		</inbound>
		<backend />
		<outbound>`+trace("outbound")+`</outbound>
		<on-error>
			<set-header name="X-Handled" exists-action="override"><value>yes</value></set-header>
		</on-error>
	</policies>`)
	p := pipeline.Compose(doc)
	x := newExchange()
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	wantErr := &exchange.LastError{
		Source: "ip-filter", Reason: "CallerIpNotAllowed",
		Message: "Caller IP address 192.0.2.7 is not allowed. Access denied.",
		Scope:   "api", Section: "inbound", Path: `ip-filter[1]`, PolicyID: "office-only",
	}
	if diff := cmp.Diff(wantErr, x.LastError); diff != "" {
		t.Errorf("LastError (-want +got):\n%s", diff)
	}
	if x.Request.Headers.Get("X-Before") != "1" || x.Request.Headers.Get("X-After") != "" {
		t.Errorf("policies after the failure ran, or before it did not: %v", x.Request.Headers)
	}
	if got := x.Response.StatusCode; got != 403 {
		t.Errorf("status = %d, want 403", got)
	}
	if got := x.Response.Headers.Get("X-Handled"); got != "yes" {
		t.Errorf("on-error did not run: X-Handled = %q", got)
	}
	if got := x.Response.Headers.Get("X-Trace"); got != "" {
		t.Errorf("outbound ran after an inbound failure: %q", got)
	}
	body, _ := x.Response.Body.Bytes(false)
	if want := `{"statusCode":403,"message":"Caller IP address 192.0.2.7 is not allowed. Access denied."}`; string(body) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

// TestOnErrorFails: a failure inside on-error gives the caller a plain 500, and
// context.LastError is on-error's failure (Section on-error) holding the one
// that ran on-error, for the gateway's log.
func TestOnErrorFails(t *testing.T) {
	c := pipeline.NewCompiler(registry(), policies.Expressions, nil)
	doc := compile(t, c, "policy.xml", "api", `<policies>
		<inbound>
			<ip-filter action="allow"><address>10.0.0.1</address></ip-filter>
		</inbound>
		<backend />
		<outbound />
		<on-error>
			<set-header name="X-Handled" exists-action="override"><value>yes</value></set-header>
			<set-variable name="v" value="@((string)context.Variables[&quot;missing&quot;])" />
		</on-error>
	</policies>`)
	x := newExchange()
	if err := pipeline.Compose(doc).Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	le := x.LastError
	if le == nil || le.Source != "set-variable" || le.Reason != "ExpressionValueEvaluationFailure" || le.Section != "on-error" || le.Path != `set-variable[1]` {
		t.Fatalf("LastError = %+v, want on-error's failure", le)
	}
	want := &exchange.LastError{Source: "ip-filter", Reason: "CallerIpNotAllowed", Message: "Caller IP address 192.0.2.7 is not allowed. Access denied.",
		Scope: "api", Section: "inbound", Path: `ip-filter[1]`}
	if diff := cmp.Diff(want, le.Original); diff != "" {
		t.Errorf("LastError.Original (-want +got):\n%s", diff)
	}
	body, _ := x.Response.Body.Bytes(false)
	if x.Response.StatusCode != 500 || x.Response.Headers.Get("X-Handled") != "" || !strings.Contains(string(body), `"message":"Internal server error"`) {
		t.Errorf("caller got %d %v %s, want the plain 500", x.Response.StatusCode, x.Response.Headers, body)
	}
}

func TestReturnResponseStopsThePipeline(t *testing.T) {
	c := pipeline.NewCompiler(registry(), nil, nil)
	p := pipeline.Compose(compile(t, c, "policy.xml", "api", `<policies>
		<inbound>
			<choose><when condition="true">
				<return-response>
					<set-status code="418" reason="Teapot" />
					<set-header name="X-From" exists-action="override"><value>return</value></set-header>
					<set-body>short and stout</set-body>
				</return-response>
			</when></choose>
			<set-header name="X-Never" exists-action="override"><value>1</value></set-header>
		</inbound>
		<outbound>`+trace("outbound")+`</outbound>
	</policies>`))
	x := newExchange()
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if x.Response.StatusCode != 418 || x.Response.StatusReason != "Teapot" {
		t.Errorf("status = %d %q, want 418 Teapot", x.Response.StatusCode, x.Response.StatusReason)
	}
	if x.Response.Headers.Get("X-From") != "return" || x.Response.Headers.Get("X-Trace") != "" || x.Request.Headers.Get("X-Never") != "" {
		t.Errorf("unexpected headers: response %v request %v", x.Response.Headers, x.Request.Headers)
	}
	if b, _ := x.Response.Body.Bytes(false); string(b) != "short and stout" {
		t.Errorf("body = %q", b)
	}
}

func TestFragments(t *testing.T) {
	frags := map[string]*policyxml.Document{
		"tag":  parse(t, "policy fragments/tag/policy.xml", `<fragment>`+trace("fragment")+`</fragment>`),
		"loop": parse(t, "policy fragments/loop/policy.xml", "<fragment>\n<include-fragment fragment-id=\"loop\" /></fragment>"),
		"bad":  parse(t, "policy fragments/bad/policy.xml", "<fragment>\n  <base />\n</fragment>"),
	}
	c := pipeline.NewCompiler(registry(), nil, frags)
	p := pipeline.Compose(compile(t, c, "policy.xml", "api", `<policies><inbound>`+trace("a")+`<include-fragment fragment-id="tag" />`+trace("b")+`</inbound></policies>`))
	x := newExchange()
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(x.Request.Headers.Values("X-Trace"), ","); got != "a,fragment,b" {
		t.Errorf("order = %q, want a,fragment,b", got)
	}
	steps := p.Steps(pipeline.Inbound)
	if got := steps[1].Info.File; got != "policy fragments/tag/policy.xml" {
		t.Errorf("fragment step file = %q", got)
	}

	for name, want := range map[string]string{
		"loop": `policy fragments/loop/policy.xml:2:1: policy fragment "loop" includes itself (loop -> loop)`,
		"bad":  `policy fragments/bad/policy.xml:2:3: a policy fragment cannot contain <base>`,
	} {
		_, err := c.Compile(parse(t, "p.xml", `<policies><inbound><include-fragment fragment-id="`+name+`" /></inbound></policies>`), "api")
		if err == nil || err.Error() != want {
			t.Errorf("fragment %s: error = %v, want %s", name, err, want)
		}
	}
}

// TestSkipToOutbound: an inbound policy that returns ErrSkipToOutbound (as
// cache-lookup does on a hit) skips the rest of inbound and the backend, and
// outbound resumes after the first top-level step that is or contains a resume
// point (cache-store), or runs whole when there is none.
func TestSkipToOutbound(t *testing.T) {
	r := registry()
	r.Register("skip", pipeline.Inbound, func(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
		return pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
			x.Response = &exchange.Response{StatusCode: 200, Headers: http.Header{}}
			return pipeline.ErrSkipToOutbound
		}), nil
	})
	r.Register("mark", pipeline.Outbound, func(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
		c.MarkResumePoint()
		return pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
			x.Response.Headers.Add("X-Trace", "mark")
			return nil
		}), nil
	})
	resp := func(name string) string {
		return `<set-header name="X-Trace" exists-action="append"><value>` + name + `</value></set-header>`
	}
	tests := []struct {
		name, outbound, want string
	}{
		{"no resume point", resp("a") + resp("b"), "a,b"},
		{"after the mark", resp("a") + `<mark />` + resp("b"), "b"},
		{"after the step that contains it", resp("a") + `<choose><when condition="true"><mark />` + resp("in") + `</when></choose>` + resp("b"), "b"},
		{"the first mark", `<mark />` + resp("a") + `<mark />` + resp("b"), "a,mark,b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pipeline.NewCompiler(r, nil, nil)
			doc := compile(t, c, "policy.xml", "api", `<policies>
				<inbound>`+trace("in-before")+`<skip />`+trace("in-after")+`</inbound>
				<backend><set-status code="500" /></backend>
				<outbound>`+tt.outbound+`</outbound>
			</policies>`)
			x := newExchange()
			if err := pipeline.Compose(doc).Run(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if got := x.Request.Headers.Get("X-Trace"); got != "in-before" {
				t.Errorf("inbound ran %q, want only in-before", got)
			}
			if x.Response.StatusCode != 200 {
				t.Errorf("status %d: the backend section ran", x.Response.StatusCode)
			}
			if got := strings.Join(x.Response.Headers.Values("X-Trace"), ","); got != tt.want {
				t.Errorf("outbound ran %q, want %q", got, tt.want)
			}
		})
	}
}
