package policies_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// notName is the message for a header name that is not an HTTP token.
func notName(name string) string {
	return `"` + name + `" is not a header name: a header name is a token of letters, digits and !#$%&'*+-.^_` + "`|~" + `, with no spaces or colons`
}

// TestHeaderNamesAreTokens: every policy that takes a header name refuses one
// that is not an HTTP token at load, at its place (it was accepted, and the
// header silently dropped).
func TestHeaderNamesAreTokens(t *testing.T) {
	const key = `<issuer-signing-keys><key>c2VjcmV0LWtleS1mb3ItdGhlLWNvcnB1cy10ZXN0cy0zMg==</key></issuer-signing-keys>`
	tests := []struct{ name, inbound, outbound, want string }{
		{"set-header, a space", `<set-header name="Bad Name"><value>v</value></set-header>`, "",
			"policy.xml:1:38: name of <set-header>: " + notName("Bad Name")},
		{"set-header, a colon", "", `<set-header name="X:Y"><value>v</value></set-header>`,
			"policy.xml:1:77: name of <set-header>: " + notName("X:Y")},
		{"set-header delete", `<set-header name="X Y" exists-action="delete" />`, "",
			"policy.xml:1:38: name of <set-header>: " + notName("X Y")},
		{"return-response's set-header", `<return-response><set-header name="a@b"><value>v</value></set-header></return-response>`, "",
			"policy.xml:1:55: name of <set-header>: " + notName("a@b")},
		{"send-request's set-header", `<send-request response-variable-name="r"><set-url>https://example.com</set-url><set-header name="X(1)"><value>v</value></set-header></send-request>`, "",
			"policy.xml:1:117: name of <set-header>: " + notName("X(1)")},
		{"check-header", `<check-header name="X Y" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true" />`, "",
			"policy.xml:1:40: name of <check-header>: " + notName("X Y")},
		{"check-header, empty", `<check-header name=" " failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true" />`, "",
			"policy.xml:1:40: name of <check-header>: " + notName("")},
		{"validate-headers", "", `<validate-headers specified-header-action="ignore" unspecified-header-action="ignore"><header name="X Y" action="ignore" /></validate-headers>`,
			"policy.xml:1:159: name of <header> in <validate-headers>: " + notName("X Y")},
		{"validate-parameters' headers", `<validate-parameters specified-parameter-action="ignore" unspecified-parameter-action="ignore"><headers><parameter name="X:Y" action="ignore" /></headers></validate-parameters>`, "",
			"policy.xml:1:141: name of <parameter> in <headers>: " + notName("X:Y")},
		{"cache-lookup vary-by-header", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept; X Y</vary-by-header></cache-lookup>`, "",
			"policy.xml:1:117: <vary-by-header>: " + notName("X Y")},
		{"cors allowed-headers", `<cors><allowed-origins><origin>*</origin></allowed-origins><allowed-headers><header>X:Y</header></allowed-headers></cors>`, "",
			"policy.xml:1:104: <header> in <allowed-headers>: " + notName("X:Y")},
		{"validate-jwt header-name", `<validate-jwt header-name="X Token">` + key + `</validate-jwt>`, "",
			"policy.xml:1:47: header-name of <validate-jwt>: " + notName("X Token")},
		{"rate-limit's header names", `<rate-limit calls="5" renewal-period="60" remaining-calls-header-name="X Left" />`, "",
			"policy.xml:1:91: remaining-calls-header-name of <rate-limit>: " + notName("X Left")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.inbound, "", tt.outbound, ""))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	// Tokens are header names, whatever their case and punctuation.
	ok := `<set-header name=" x-Custom_1.a~b " exists-action="override"><value>v</value></set-header>
		<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true" />
		<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept;X-Tenant</vary-by-header></cache-lookup>`
	if _, err := sideCompile(t, policies.Deps{}, sideDoc(ok, "", "", "")); err != nil {
		t.Error(err)
	}
}

// TestComputedHeaderNames: a header name an expression gives that is not a
// token is a policy failure, InvalidHeaderName, and on-error runs.
func TestComputedHeaderNames(t *testing.T) {
	const key = `<issuer-signing-keys><key>c2VjcmV0LWtleS1mb3ItdGhlLWNvcnB1cy10ZXN0cy0zMg==</key></issuer-signing-keys>`
	name := `@(context.Request.Headers.GetValueOrDefault(&quot;X-Name&quot;, &quot;&quot;))`
	for _, tt := range []struct{ policy, source string }{
		{`<set-header name="` + name + `"><value>v</value></set-header>`, "set-header"},
		{`<check-header name="` + name + `" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true" />`, "check-header"},
		{`<validate-jwt header-name="` + name + `">` + key + `</validate-jwt>`, "validate-jwt"},
		{`<return-response><set-header name="` + name + `"><value>v</value></set-header></return-response>`, "return-response"},
	} {
		for _, bad := range []string{"Bad Name", "X:Y", ""} {
			x := sideRun(t, policies.Deps{}, sideDoc(tt.policy, "", "", `<set-header name="X-Handled"><value>@(context.LastError.Reason)</value></set-header>`),
				sideExchange("GET", http.Header{"X-Name": {bad}}, ""))
			le := x.LastError
			if le == nil || le.Source != tt.source || le.Reason != "InvalidHeaderName" || le.Message != notName(bad) {
				t.Errorf("%s with %q: LastError = %+v", tt.source, bad, le)
				continue
			}
			if x.Response.StatusCode != 500 || x.Response.Headers.Get("X-Handled") != "InvalidHeaderName" {
				t.Errorf("%s with %q: caller got %d, on-error %q", tt.source, bad, x.Response.StatusCode, x.Response.Headers.Get("X-Handled"))
			}
			for _, h := range []http.Header{x.Request.Headers, x.Response.Headers} {
				for k := range h {
					if k == "" || strings.ContainsAny(k, " :") {
						t.Errorf("%s with %q: header %q was set", tt.source, bad, k)
					}
				}
			}
		}
	}
}
