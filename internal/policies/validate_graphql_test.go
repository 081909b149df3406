package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

func TestValidateGraphQLRequestErrors(t *testing.T) {
	tests := []struct {
		name, inbound, want string
	}{
		{"no max-size", `<validate-graphql-request />`, `policy.xml:1:20: <validate-graphql-request> needs a max-size attribute`},
		{"max-size over API Management's", `<validate-graphql-request max-size="102401" />`, `max-size of <validate-graphql-request> must be a number of bytes from 1 to 102400, not "102401"`},
		{"max-depth 0", `<validate-graphql-request max-size="10" max-depth="0" />`, `max-depth of <validate-graphql-request> must be a whole number from 1 to 100`},
		{"a rule without a path", `<validate-graphql-request max-size="10"><authorize><rule action="reject" /></authorize></validate-graphql-request>`, `<rule> needs a path attribute`},
		{"a path of three segments", `<validate-graphql-request max-size="10"><authorize><rule path="/a/b/c" /></authorize></validate-graphql-request>`, `path of <rule> must be /type/field or /field, not "/a/b/c"`},
		{"a path without its slash", `<validate-graphql-request max-size="10"><authorize><rule path="Query/users" /></authorize></validate-graphql-request>`, `path of <rule> must be /type/field or /field`},
		{"a path with other characters", `<validate-graphql-request max-size="10"><authorize><rule path="/Query/us-ers" /></authorize></validate-graphql-request>`, `names of letters, digits and _ with * wildcards`},
		{"an unknown action", `<validate-graphql-request max-size="10"><authorize><rule path="/__*" action="block" /></authorize></validate-graphql-request>`, `action of <rule> must be allow, remove, reject or ignore, not "block"`},
		{"authorize twice", `<validate-graphql-request max-size="10"><authorize /><authorize /></validate-graphql-request>`, `<authorize>`},
		{"another child", `<validate-graphql-request max-size="10"><rule path="/a" /></validate-graphql-request>`, `<rule>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.inbound, "", "", ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := sideCompile(t, policies.Deps{}, sideDoc("", "", `<validate-graphql-request max-size="10" />`, "")); err == nil {
		t.Error("outbound accepted")
	}
	ok := `<validate-graphql-request error-variable-name="e" max-size="102400" max-depth="4"><authorize><rule path="/__*" action="reject" />` +
		`<rule path="/Missions/name" action="@(context.Request.Headers.Count &gt; 2 ? &quot;remove&quot; : &quot;allow&quot;)" /><rule path="/Mutation/deleteUser" action="deny" /><rule path="/*/secret*" /></authorize></validate-graphql-request>`
	if _, err := sideCompile(t, policies.Deps{}, sideDoc(ok, "", "", "")); err != nil {
		t.Errorf("Microsoft's examples: %v", err)
	}
}
