package policies_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// convertRun runs a request with body through a document whose inbound is
// inbound, with each body limited to limit bytes, and returns the exchange.
func convertRun(t testing.TB, inbound, contentType, accept, body string, limit int64) *exchange.Exchange {
	return convertRunBudget(t, inbound, contentType, accept, body, limit, 1<<30)
}

// convertRunBudget is convertRun with the gateway's buffers limited to budget
// bytes.
func convertRunBudget(t testing.TB, inbound, contentType, accept, body string, limit, budget int64) *exchange.Exchange {
	t.Helper()
	p := compileInbound(t, inbound)
	u, _ := url.Parse("https://backend.example/x")
	x := &exchange.Exchange{Request: exchange.Request{Method: "POST", URL: u, OriginalURL: u,
		Headers: http.Header{"Content-Type": {contentType}, "Accept": {accept}}}}
	x.Buffers.Init(exchange.NewBudget(budget), limit)
	x.Request.Body = exchange.NewRequestBody(readCloser{strings.NewReader(body)}, int64(len(body)), &x.Buffers)
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	return x
}

// compileInbound compiles a document whose inbound section is inbound, with
// the policies and expressions the gateway registers.
func compileInbound(t testing.TB, inbound string) *pipeline.Pipeline {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{})
	doc, err := policyxml.Parse("policy.xml", []byte("<policies><inbound>"+inbound+"</inbound></policies>"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "api")
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Compose(d)
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestConvertHostileBodies: bodies built to exhaust the converters get clear
// client errors: 400 for what is not a document, 413 for one over the body
// limit or that would convert to more than it.
func TestConvertHostileBodies(t *testing.T) {
	lol := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`
	toJSON := `<xml-to-json kind="direct" apply="always" consider-accept-header="false" />`
	toXML := `<json-to-xml apply="always" consider-accept-header="false" />`
	tests := []struct {
		name, policy, ctype, body string
		limit                     int64
		status                    int
		reason, message           string
	}{
		{"billion laughs", toJSON, "text/xml", lol, 1 << 20, 400, policies.ReasonXMLToJSONFailure, "document type declarations"},
		{"deep XML", toJSON, "text/xml", strings.Repeat("<a>", 1000) + strings.Repeat("</a>", 1000), 1 << 20, 413, policies.ReasonXMLToJSONFailure, "nests more than 128 levels"},
		{"deep JSON", toXML, "application/json", strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000), 1 << 20, 413, policies.ReasonJSONToXMLFailure, "nests more than 128 levels"},
		{"a body over the limit", toXML, "application/json", `{"a":"` + strings.Repeat("x", 5000) + `"}`, 4096, 413, "BodyReadFailure", "exceeds the buffering limit"},
		{"an expansion over the limit", toXML, "application/json", `{"r":{"` + strings.Repeat("n", 500) + `":[` + strings.Repeat("1,", 100) + `1]}}`, 4096, 413, policies.ReasonJSONToXMLFailure, "would take more than 4096 bytes"},
		{"not JSON", toXML, "application/json", `{"a":`, 1 << 20, 400, policies.ReasonJSONToXMLFailure, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := convertRun(t, tt.policy, tt.ctype, "", tt.body, tt.limit)
			if x.LastError == nil {
				t.Fatal("the body was converted")
			}
			if x.Response.StatusCode != tt.status || x.LastError.Reason != tt.reason || !strings.Contains(x.LastError.Message, tt.message) {
				t.Errorf("got %d %s: %s; want %d %s saying %q", x.Response.StatusCode, x.LastError.Reason, x.LastError.Message, tt.status, tt.reason, tt.message)
			}
		})
	}
}

// TestConvertWhen: apply and consider-accept-header decide whether a body is
// converted.
func TestConvertWhen(t *testing.T) {
	tests := []struct {
		name, policy, ctype, accept string
		converted                   bool
	}{
		{"always", `<json-to-xml apply="always" consider-accept-header="false" />`, "text/plain", "", true},
		{"content-type-json on JSON", `<json-to-xml apply="content-type-json" consider-accept-header="false" />`, "application/problem+json; charset=utf-8", "", true},
		{"content-type-json on text", `<json-to-xml apply="content-type-json" consider-accept-header="false" />`, "text/plain", "", false},
		{"Accept asks for XML", `<json-to-xml apply="always" />`, "application/json", "text/html, application/xml;q=0.9", true},
		{"Accept refuses XML", `<json-to-xml apply="always" />`, "application/json", "application/xml;q=0", false},
		{"no Accept", `<json-to-xml apply="always" />`, "application/json", "", false},
		{"Accept anything", `<json-to-xml apply="always" />`, "application/json", "*/*", false},
		{"xml-to-json, Accept asks for JSON", `<xml-to-json kind="javascript-friendly" apply="content-type-xml" />`, "application/soap+xml", "application/json", true},
		{"xml-to-json on JSON", `<xml-to-json kind="direct" apply="content-type-xml" consider-accept-header="false" />`, "application/json", "", false},
		{"apply from an expression", `<json-to-xml apply="@(&quot;always&quot;)" consider-accept-header="@(false)" />`, "text/plain", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"a":1}`
			if strings.Contains(tt.policy, "xml-to-json") {
				body = `<a>1</a>`
			}
			x := convertRun(t, tt.policy, tt.ctype, tt.accept, body, 0)
			if x.LastError != nil {
				t.Fatal(lastError(x))
			}
			got, _ := x.Request.Body.Bytes(true)
			if converted := string(got) != body; converted != tt.converted {
				t.Errorf("converted = %v (%q), want %v", converted, got, tt.converted)
			}
		})
	}
}

func TestConvertCompileErrors(t *testing.T) {
	tests := []struct{ policy, want string }{
		{`<json-to-xml />`, "<json-to-xml> needs an apply attribute"},
		{`<json-to-xml apply="content-type-xml" />`, `apply must be always or content-type-json, not "content-type-xml"`},
		{`<xml-to-json apply="always" />`, "<xml-to-json> needs a kind attribute"},
		{`<xml-to-json kind="pretty" apply="always" />`, `kind must be javascript-friendly or direct, not "pretty"`},
		{`<json-to-xml apply="always" parse-date="@(true)" />`, "does not accept policy expressions"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := compileCacheDoc(t, policies.Deps{}, tt.policy, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConvertBudget: the memory a conversion's parse takes counts against the
// gateway's buffer budget, so that many large documents at once get 503, not
// an exhausted gateway.
func TestConvertBudget(t *testing.T) {
	// 20,000 nodes: small text in and out, but their parse takes megabytes.
	tests := []struct{ policy, ctype, body string }{
		{`<xml-to-json kind="direct" apply="always" consider-accept-header="false" />`, "text/xml", "<r>" + strings.Repeat("<a/>", 20000) + "</r>"},
		{`<set-body template="liquid">{{ body | Size }}</set-body>`, "application/json", "[" + strings.Repeat("1,", 20000) + "1]"},
	}
	for _, tt := range tests {
		x := convertRunBudget(t, tt.policy, tt.ctype, "", tt.body, 1<<20, 600_000)
		if x.LastError == nil || x.Response.StatusCode != 503 {
			t.Errorf("%s: got %d %+v, want 503", tt.policy, x.Response.StatusCode, x.LastError)
		}
	}
}
