package policies_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

func TestCheckHeader(t *testing.T) {
	const key = "f6dc69a089844cf6b2019bae6d36fac8"
	check := func(ignoreCase string, values ...string) string {
		p := `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="Not authorized" ignore-case="` + ignoreCase + `">`
		for _, v := range values {
			p += "<value>" + v + "</value>"
		}
		return p + "</check-header>"
	}
	tests := []struct {
		name       string
		policy     string
		header     http.Header
		wantReason string // "" when the request passes
		wantMsg    string
	}{
		{"an allowed value", check("false", "other", key), http.Header{"Authorization": {key}}, "", ""},
		{"a value that is not allowed", check("false", key), http.Header{"Authorization": {"guess"}},
			"HeaderValueNotAllowed", "Header Authorization value is not allowed. Access denied."},
		{"case matters without ignore-case", check("false", key), http.Header{"Authorization": {strings.ToUpper(key)}},
			"HeaderValueNotAllowed", "Header Authorization value is not allowed. Access denied."},
		{"ignore-case", check("true", key), http.Header{"Authorization": {strings.ToUpper(key)}}, "", ""},
		{"ignore-case as an expression", check("@(true)", key), http.Header{"Authorization": {strings.ToUpper(key)}}, "", ""},
		{"a missing header", check("false", key), http.Header{},
			"HeaderNotFound", "Header Authorization was not found in the request. Access denied."},
		{"no values: the header only has to be there", check("false"), http.Header{"Authorization": {"anything"}}, "", ""},
		{"no values, missing", check("false"), http.Header{"Other": {"x"}},
			"HeaderNotFound", "Header Authorization was not found in the request. Access denied."},
		{"every line must be allowed", check("false", key), http.Header{"Authorization": {key, "smuggled"}},
			"HeaderValueNotAllowed", "Header Authorization value is not allowed. Access denied."},
		{"surrounding white space in <value> does not count", check("false", "\n\t\t"+key+"\n\t"), http.Header{"Authorization": {key}}, "", ""},
		{"entities in <value> are decoded", check("false", "a &amp; b"), http.Header{"Authorization": {"a & b"}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := sideRun(t, policies.Deps{}, sideDoc(tt.policy+`<set-variable name="after" value="1" />`, "", "", ""), sideExchange("GET", tt.header, ""))
			if tt.wantReason == "" {
				if x.LastError != nil || x.Variables["after"] != "1" {
					t.Errorf("LastError = %+v, want the request to pass", x.LastError)
				}
				return
			}
			le := x.LastError
			if le == nil || le.Source != "check-header" || le.Reason != tt.wantReason || le.Message != tt.wantMsg {
				t.Fatalf("LastError = %+v, want %s %q", le, tt.wantReason, tt.wantMsg)
			}
			if x.Response.StatusCode != 401 {
				t.Errorf("status %d, want 401", x.Response.StatusCode)
			}
			b, _ := x.Response.Body.Bytes(true)
			if string(b) != `{"statusCode":401,"message":"Not authorized"}` {
				t.Errorf("caller body = %s", b)
			}
			if strings.Contains(le.Message, "guess") || strings.Contains(le.Message, "smuggled") {
				t.Errorf("the message shows the caller's value: %q", le.Message)
			}
		})
	}
}

func TestCheckHeaderExpressions(t *testing.T) {
	x := sideRun(t, policies.Deps{}, sideDoc(`<set-variable name="h" value="X-Tenant" />
		<check-header name="@((string)context.Variables[&quot;h&quot;])" failed-check-httpcode="@(400 + 3)"
			failed-check-error-message="@(&quot;tenant &quot; + context.Request.Method + &quot; refused&quot;)" ignore-case="false">
			<value>@("t-" + "1")</value>
		</check-header>`, "", "", ""), sideExchange("GET", http.Header{"X-Tenant": {"t-2"}}, ""))
	if x.LastError == nil || x.LastError.Message != "Header X-Tenant value is not allowed. Access denied." {
		t.Fatalf("LastError = %+v", x.LastError)
	}
	b, _ := x.Response.Body.Bytes(true)
	if x.Response.StatusCode != 403 || string(b) != `{"statusCode":403,"message":"tenant GET refused"}` {
		t.Errorf("caller got %d %s", x.Response.StatusCode, b)
	}
}

func TestCheckHeaderCompileErrors(t *testing.T) {
	full := `name="A" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true"`
	tests := []struct{ name, policy, want string }{
		{"name is required", `<check-header failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true" />`,
			"policy.xml:1:20: <check-header> needs a name attribute"},
		{"failed-check-httpcode is required", `<check-header name="A" failed-check-error-message="m" ignore-case="true" />`,
			"policy.xml:1:20: <check-header> needs a failed-check-httpcode attribute"},
		{"failed-check-error-message is required", `<check-header name="A" failed-check-httpcode="401" ignore-case="true" />`,
			"policy.xml:1:20: <check-header> needs a failed-check-error-message attribute"},
		{"ignore-case is required", `<check-header name="A" failed-check-httpcode="401" failed-check-error-message="m" />`,
			"policy.xml:1:20: <check-header> needs an ignore-case attribute (true or false)"},
		{"a status code", `<check-header name="A" failed-check-httpcode="forbidden" failed-check-error-message="m" ignore-case="true" />`,
			`policy.xml:1:66: failed-check-httpcode of <check-header>: status code must be a number from 200 to 999, not "forbidden"`},
		{"ignore-case is a boolean", `<check-header name="A" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="yes" />`,
			`policy.xml:1:115: attribute ignore-case of <check-header> must be true, false or a policy expression, not "yes"`},
		{"only <value> children", `<check-header ` + full + `><allow>x</allow></check-header>`,
			"policy.xml:1:121: unexpected <allow> in <check-header>; expected <value>"},
		{"inbound only", ``, "policy.xml:1:32: policy <check-header> is not allowed in <outbound>; it can be used in inbound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "<policies><inbound>" + tt.policy + "</inbound></policies>"
			if tt.policy == "" {
				doc = "<policies><inbound /><outbound><check-header " + full + " /></outbound></policies>"
			}
			_, err := sideCompile(t, policies.Deps{}, doc)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
