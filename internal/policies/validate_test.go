package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestValidationPolicyErrors: what the validation policies refuse at load.
// What they do to messages is in internal/server's TestValidationPolicies.
func TestValidationPolicyErrors(t *testing.T) {
	tests := []struct {
		name, inbound, outbound, want string
	}{
		{"status code: no action", "", `<validate-status-code />`, `<validate-status-code> needs unspecified-status-code-action: ignore, prevent or detect`},
		{"status code: an unknown action", "", `<validate-status-code unspecified-status-code-action="block" />`, `unspecified-status-code-action of <validate-status-code> must be ignore, prevent or detect, not "block"`},
		{"status code: a code out of range", "", `<validate-status-code unspecified-status-code-action="prevent"><status-code code="99" action="ignore" /></validate-status-code>`, `<status-code> needs a code from 100 to 599, not "99"`},
		{"status code: a code twice", "", `<validate-status-code unspecified-status-code-action="prevent"><status-code code="418" action="ignore" /><status-code code="418" action="detect" /></validate-status-code>`, `status code 418 is listed twice`},
		{"status code: inbound", `<validate-status-code unspecified-status-code-action="prevent" />`, "", `policy <validate-status-code> is not allowed in <inbound>`},
		{"status code: the toolkit's misspelling", "", `<validate-status-code unspecified-status-code-action="prevent" error-variable-name="e" />`, `unknown attribute "error-variable-name"`},
		{"status code: an expression for the variable", "", `<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="@(&quot;e&quot;)" />`, `errors-variable-name of <validate-status-code> must be a name, not a policy expression`},
		{"headers: no unspecified action", "", `<validate-headers specified-header-action="ignore" />`, `<validate-headers> needs unspecified-header-action`},
		{"headers: a header without a name", "", `<validate-headers specified-header-action="ignore" unspecified-header-action="ignore"><header action="ignore" /></validate-headers>`, `<header> in <validate-headers> needs a name`},
		{"headers: a header twice", "", `<validate-headers specified-header-action="ignore" unspecified-header-action="ignore"><header name="server" action="ignore" /><header name="Server" action="detect" /></validate-headers>`, `"Server" is listed twice`},
		{"parameters: outbound", "", `<validate-parameters specified-parameter-action="ignore" unspecified-parameter-action="ignore" />`, `policy <validate-parameters> is not allowed in <outbound>`},
		{"parameters: path takes no unspecified action", `<validate-parameters specified-parameter-action="ignore" unspecified-parameter-action="ignore"><path unspecified-parameter-action="prevent" /></validate-parameters>`, "", `unknown attribute "unspecified-parameter-action" on <path>`},
		{"parameters: a section twice", `<validate-parameters specified-parameter-action="ignore" unspecified-parameter-action="ignore"><query /><query /></validate-parameters>`, "", `<query> appears twice in <validate-parameters>`},
		{"parameters: a parameter without an action", `<validate-parameters specified-parameter-action="ignore" unspecified-parameter-action="ignore"><headers><parameter name="X" /></headers></validate-parameters>`, "", `<parameter> needs action`},
		{"content: no max-size", `<validate-content unspecified-content-type-action="prevent" size-exceeded-action="prevent" />`, "", `<validate-content> needs a max-size attribute`},
		{"content: a max-size that is not a number", `<validate-content unspecified-content-type-action="prevent" max-size="100KB" size-exceeded-action="prevent" />`, "", `max-size of <validate-content> must be a whole number of bytes above 0, such as 102400, not "100KB"`},
		{"content: an unknown engine", `<validate-content unspecified-content-type-action="prevent" max-size="10" size-exceeded-action="prevent"><content type="application/json" validate-as="yaml" action="prevent" /></validate-content>`, "", `validate-as of <content> must be json, xml or soap, not "yaml"`},
		{"content: schema-id", `<validate-content unspecified-content-type-action="prevent" max-size="10" size-exceeded-action="prevent"><content validate-as="json" schema-id="s" action="prevent" /></validate-content>`, "", `schema-id is not supported by lastmile yet`},
		{"content: a type map entry without from or when", `<validate-content unspecified-content-type-action="prevent" max-size="10" size-exceeded-action="prevent"><content-type-map><type to="application/json" /></content-type-map></validate-content>`, "", `<type> in <content-type-map> needs to and either from (a content type) or when (a condition)`},
		{"content: a type map entry with both", `<validate-content unspecified-content-type-action="prevent" max-size="10" size-exceeded-action="prevent"><content-type-map><type from="text/json" when="@(true)" to="application/json" /></content-type-map></validate-content>`, "", `needs to and either from`},
		{"content: a content type as an expression", `<validate-content unspecified-content-type-action="prevent" max-size="10" size-exceeded-action="prevent"><content-type-map any-content-type-value="@(&quot;a/b&quot;)" /></validate-content>`, "", `any-content-type-value of <content-type-map> must be a content type, not a policy expression`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.inbound, "", tt.outbound, ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{
		`<validate-status-code unspecified-status-code-action="@(&quot;detect&quot;)" errors-variable-name="e"><status-code code="500" action="prevent" /></validate-status-code>`,
		`<validate-headers specified-header-action="ignore" unspecified-header-action="prevent"><header name="Server" action="ignore" /></validate-headers>`,
		`<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="detect"><content-type-map any-content-type-value="application/soap+xml"><type when="@(true)" to="text/xml" /></content-type-map><content type="text/xml" validate-as="soap" action="prevent" /></validate-content>`,
	} {
		if _, err := sideCompile(t, policies.Deps{}, sideDoc("", "", ok, "")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
