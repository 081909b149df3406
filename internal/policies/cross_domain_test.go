package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

func TestCrossDomainErrors(t *testing.T) {
	const ok = `<cross-domain><cross-domain-policy><allow-access-from domain="*.contoso.com" /></cross-domain-policy></cross-domain>`
	tests := []struct {
		name, scope, inbound, want string
	}{
		{"the API scope", "api", ok, `policy.xml:1:20: <cross-domain> belongs directly in the inbound section of the global policy`},
		{"inside choose", "global", `<choose><when condition="true">` + ok + `</when></choose>`, `<cross-domain> belongs directly in the inbound section of the global policy`},
		{"no file", "global", `<cross-domain />`, `policy.xml:1:20: <cross-domain> needs exactly one <cross-domain-policy> element`},
		{"two files", "global", `<cross-domain><cross-domain-policy /><cross-domain-policy /></cross-domain>`, `needs exactly one <cross-domain-policy> element`},
		{"another child", "global", `<cross-domain><allow-access-from domain="*" /></cross-domain>`, `<allow-access-from>`},
		{"an element outside Adobe's format", "global", `<cross-domain><cross-domain-policy><allow-everything /></cross-domain-policy></cross-domain>`,
			`policy.xml:1:55: <allow-everything> is not part of Adobe's cross-domain policy file`},
		{"an unknown attribute", "global", `<cross-domain><cross-domain-policy><allow-access-from domains="*" /></cross-domain-policy></cross-domain>`,
			`unknown attribute "domains" on <allow-access-from>`},
		{"an expression", "global", `<cross-domain><cross-domain-policy><allow-access-from domain="@(context.Request.Url.Host)" /></cross-domain-policy></cross-domain>`,
			`domain of <allow-access-from> does not accept policy expressions`},
		{"outbound", "global", "", `policy <cross-domain> is not allowed in <outbound>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outbound := ""
			if tt.inbound == "" {
				outbound = ok
			}
			_, err := compileAt(tt.scope, sideDoc(tt.inbound, "", outbound, ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	full := `<cross-domain><cross-domain-policy>
		<site-control permitted-cross-domain-policies="master-only" />
		<allow-access-from domain="*.contoso.com" to-ports="443" secure="true" />
		<allow-access-from-identity><signatory><certificate fingerprint="01:23" fingerprint-algorithm="sha-1" /></signatory></allow-access-from-identity>
		<allow-http-request-headers-from domain="*" headers="SOAPAction" />
	</cross-domain-policy></cross-domain>`
	if _, err := compileAt("global", sideDoc(full, "", "", "")); err != nil {
		t.Errorf("every element of the format: %v", err)
	}
}

// compileAt compiles a policy document at scope.
func compileAt(scope, doc string) (*pipeline.Pipeline, error) {
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{})
	pd, err := policyxml.Parse("policy.xml", []byte(doc))
	if err != nil {
		return nil, err
	}
	d, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(pd, scope)
	if err != nil {
		return nil, err
	}
	return pipeline.Compose(d), nil
}
