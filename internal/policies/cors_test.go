package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

func TestCORSCompileErrors(t *testing.T) {
	origins := `<allowed-origins><origin>https://app.example</origin></allowed-origins>`
	tests := []struct {
		name, policy, want string
	}{
		{"no allowed-origins", `<cors />`, "policy.xml:1:20: <cors> needs <allowed-origins> with at least one <origin>"},
		{"empty allowed-origins", `<cors><allowed-origins /></cors>`, "<allowed-origins> needs at least one <origin>"},
		{"an origin with a path", `<cors><allowed-origins><origin>https://app.example/app</origin></allowed-origins></cors>`,
			`origin "https://app.example/app" is not * or a URI with a scheme and a host`},
		{"an origin without a scheme", `<cors><allowed-origins><origin>app.example</origin></allowed-origins></cors>`,
			`origin "app.example" is not * or a URI`},
		{"an origin from an expression", `<cors><allowed-origins><origin>@("https://" + "a.example")</origin></allowed-origins></cors>`,
			"<origin> does not accept policy expressions"},
		{"* with other origins", `<cors><allowed-origins><origin>*</origin><origin>https://a.example</origin></allowed-origins></cors>`,
			"<allowed-origins> holds either one <origin>*</origin> or a list of origins, not both"},
		{"* with credentials", `<cors allow-credentials="true"><allowed-origins><origin>*</origin></allowed-origins></cors>`,
			`allow-credentials="true" cannot be combined with <origin>*</origin>`},
		{"credentials not a boolean", `<cors allow-credentials="yes">` + origins + `</cors>`,
			`attribute allow-credentials of <cors> must be true, false or a policy expression, not "yes"`},
		{"terminate not a boolean", `<cors terminate-unmatched-request="maybe">` + origins + `</cors>`,
			`attribute terminate-unmatched-request of <cors> must be true, false or a policy expression`},
		{"a negative max age", `<cors>` + origins + `<allowed-methods preflight-result-max-age="-1"><method>GET</method></allowed-methods></cors>`,
			`preflight-result-max-age must be a whole number of seconds, 0 or more, not "-1"`},
		{"empty allowed-methods", `<cors>` + origins + `<allowed-methods /></cors>`, "<allowed-methods> needs at least one <method>"},
		{"a method that is not a token", `<cors>` + origins + `<allowed-methods><method>GET POST</method></allowed-methods></cors>`,
			`method "GET POST" is not an HTTP method`},
		{"a header that is not a name", `<cors>` + origins + `<allowed-headers><header>x a</header></allowed-headers></cors>`,
			`"x a" is not a header name`},
		{"empty expose-headers", `<cors>` + origins + `<expose-headers /></cors>`, "<expose-headers> needs at least one <header>"},
		{"a child twice", `<cors>` + origins + origins + `</cors>`, "<allowed-origins> appears twice in <cors>"},
		{"an unknown child", `<cors>` + origins + `<allowed-origin /></cors>`, "unexpected <allowed-origin> in <cors>"},
		{"an unknown attribute", `<cors allow-credential="true">` + origins + `</cors>`, `unknown attribute "allow-credential" on <cors>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCORSOnlyInbound(t *testing.T) {
	_, err := sideCompile(t, policies.Deps{}, sideDoc("", "", `<cors><allowed-origins><origin>*</origin></allowed-origins></cors>`, ""))
	if err == nil || !strings.Contains(err.Error(), "policy <cors> is not allowed in <outbound>") {
		t.Errorf("error %v", err)
	}
}
