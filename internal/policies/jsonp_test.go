package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestJSONPErrors: what <jsonp> refuses at load, with its position. What it
// does to responses is in internal/server's TestJSONP.
func TestJSONPErrors(t *testing.T) {
	tests := []struct {
		name, inbound, outbound, want string
	}{
		{"no parameter name", "", `<jsonp />`, `policy.xml:1:59: <jsonp> needs a callback-parameter-name attribute`},
		{"an empty parameter name", "", `<jsonp callback-parameter-name=" " />`, `policy.xml:1:91: callback-parameter-name of <jsonp> must not be empty; name the query parameter that carries the callback, such as cb`},
		{"in inbound", `<jsonp callback-parameter-name="cb" />`, "", `policy <jsonp> is not allowed in <inbound>`},
		{"an unknown attribute", "", `<jsonp callback-parameter-name="cb" callback="f" />`, `unknown attribute "callback" on <jsonp>`},
		{"a child", "", `<jsonp callback-parameter-name="cb"><value /></jsonp>`, `<value>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.inbound, "", tt.outbound, ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := sideCompile(t, policies.Deps{}, sideDoc("", "", `<jsonp callback-parameter-name="@(&quot;cb&quot;)" />`, "")); err != nil {
		t.Errorf("an expression: %v", err)
	}
}
