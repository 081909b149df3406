package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestLiquidBodyBounded: a template is the operator's, but what it loops over
// and prints is the client's. A client body that makes a template loop or
// write without bound stops it with LiquidTemplateFailure; the gateway does
// not run on.
func TestLiquidBodyBounded(t *testing.T) {
	items := "[" + strings.Repeat("1,", 4999) + "1]"
	tests := []struct{ name, template, body, want string }{
		{"nested loops over the client's array", `{% for a in body.items %}{% for b in body.items %}{% endfor %}{% endfor %}`, `{"items":` + items + `}`, "more than 1000000 loop iterations"},
		{"a range the client sizes", `{% for i in (1..body.n) %}{% endfor %}`, `{"n":2000000000}`, "loop iterations"},
		{"output the client multiplies", `{% for a in body.items %}{{ body.s }}{% endfor %}`, `{"items":` + items + `,"s":"` + strings.Repeat("x", 1000) + `"}`, "bytes of output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := convertRun(t, `<set-body template="liquid">`+tt.template+`</set-body>`, "application/json", "", tt.body, 1<<20)
			if x.LastError == nil || x.LastError.Reason != policies.ReasonLiquidFailure || !strings.Contains(x.LastError.Message, tt.want) {
				t.Fatalf("LastError = %+v, want %s saying %q", x.LastError, policies.ReasonLiquidFailure, tt.want)
			}
			if x.Response.StatusCode != 500 {
				t.Errorf("status %d, want 500", x.Response.StatusCode)
			}
		})
	}
}

// TestLiquidXMLBody: an XML body is bound by local names, attributes by name,
// repeated elements as a list, and xsi:nil as "" (xsi-nil="blank", the
// default) or null.
func TestLiquidXMLBody(t *testing.T) {
	body := `<s:Envelope xmlns:s="urn:s" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><s:Body><Order id="7"><Line>a</Line><Line>b</Line><Note i:nil="true"/></Order></s:Body></s:Envelope>`
	tpl := `{{ body.Envelope.Body.Order.id }}|{{ body.Envelope.Body.Order.Line | Join: "," }}|{% if body.Envelope.Body.Order.Note == nil %}null{% else %}[{{ body.Envelope.Body.Order.Note }}]{% endif %}`
	for _, tt := range []struct{ attr, want string }{{``, "7|a,b|[]"}, {` xsi-nil="null"`, "7|a,b|null"}} {
		x := convertRun(t, `<set-body template="liquid"`+tt.attr+`>`+tpl+`</set-body>`, "text/xml", "", body, 1<<20)
		if x.LastError != nil {
			t.Fatal(lastError(x))
		}
		got, _ := x.Request.Body.Bytes(true)
		if string(got) != tt.want {
			t.Errorf("xsi-nil%q: got %q, want %q", tt.attr, got, tt.want)
		}
	}
}
