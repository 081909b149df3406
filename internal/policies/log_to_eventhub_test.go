package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestLogToEventHubErrors: what <log-to-eventhub> refuses at load. What it
// does is in internal/server's TestLogToEventHub.
func TestLogToEventHubErrors(t *testing.T) {
	tests := []struct{ policy, want string }{
		{`<log-to-eventhub>m</log-to-eventhub>`, `<log-to-eventhub> needs a logger-id attribute`},
		{`<log-to-eventhub logger-id="@(&quot;x&quot;)">m</log-to-eventhub>`, `logger-id of <log-to-eventhub> must be a name, not a policy expression`},
		{`<log-to-eventhub logger-id=" ">m</log-to-eventhub>`, `logger-id of <log-to-eventhub> must not be empty`},
		{`<log-to-eventhub logger-id="l" partition-id="1" partition-key="k">m</log-to-eventhub>`, `takes partition-id or partition-key, not both`},
		{`<log-to-eventhub logger-id="l" partition="1">m</log-to-eventhub>`, `unknown attribute "partition"`},
	}
	for _, tt := range tests {
		_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.policy, err, tt.want)
		}
	}
	for _, sec := range []func(string) string{
		func(p string) string { return sideDoc(p, "", "", "") },
		func(p string) string { return sideDoc("", p, "", "") },
		func(p string) string { return sideDoc("", "", p, "") },
		func(p string) string { return sideDoc("", "", "", p) },
	} {
		if _, err := sideCompile(t, policies.Deps{}, sec(`<log-to-eventhub logger-id="l" partition-id="@(&quot;1&quot;)">@(context.RequestId)</log-to-eventhub>`)); err != nil {
			t.Errorf("every section takes it: %v", err)
		}
	}
}
