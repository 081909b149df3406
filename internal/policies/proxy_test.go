package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestProxyErrors: what <proxy> refuses at load. What it does is in
// internal/server's TestProxyPolicy.
func TestProxyErrors(t *testing.T) {
	tests := []struct{ policy, want string }{
		{`<proxy />`, `<proxy> needs a url attribute`},
		{`<proxy url="https://proxy.example:8443" />`, `url of <proxy>: only http proxies are supported`},
		{`<proxy url="proxy.example:8080" />`, `url of <proxy>: it must be http://host:port`},
		{`<proxy url="http://u:p@proxy.example:8080" />`, `url of <proxy>: give the user and password in username and password, not in the URL`},
		{`<proxy url="http://proxy.example:8080/path" />`, `url of <proxy>: it must be http://host:port, without a path or query`},
		{`<proxy url="http://proxy.example:8080" username="a:b" password="c" />`, `username of <proxy> must not contain ':'`},
		{`<proxy url="http://proxy.example:8080" domain="corp" />`, `unknown attribute "domain" on <proxy>`},
	}
	for _, tt := range tests {
		_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.policy, err, tt.want)
		}
	}
	if _, err := sideCompile(t, policies.Deps{}, sideDoc("", "", `<proxy url="http://proxy.example:8080" />`, "")); err == nil || !strings.Contains(err.Error(), "policy <proxy> is not allowed in <outbound>") {
		t.Errorf("outbound: %v", err)
	}
}
