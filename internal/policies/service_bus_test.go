package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

// TestSendServiceBusMessageErrors: what <send-service-bus-message> refuses at
// load. What it sends is in internal/server's TestSendServiceBusMessage.
func TestSendServiceBusMessageErrors(t *testing.T) {
	const ns = `namespace="bus.servicebus.windows.net"`
	tests := []struct{ policy, want string }{
		{`<send-service-bus-message ` + ns + `><payload>p</payload></send-service-bus-message>`, `needs queue-name or topic-name, not both`},
		{`<send-service-bus-message queue-name="q" topic-name="t" ` + ns + `><payload>p</payload></send-service-bus-message>`, `needs queue-name or topic-name, not both`},
		{`<send-service-bus-message queue-name="q"><payload>p</payload></send-service-bus-message>`, `<send-service-bus-message> needs a namespace attribute`},
		{`<send-service-bus-message queue-name="q" namespace="https://bus.example/x"><payload>p</payload></send-service-bus-message>`, `namespace of <send-service-bus-message>: must be the namespace's host name`},
		{`<send-service-bus-message queue-name="q" ` + ns + ` />`, `<send-service-bus-message> needs a <payload>`},
		{`<send-service-bus-message queue-name="q" ` + ns + `><payload>p</payload><payload>p</payload></send-service-bus-message>`, `<payload> appears twice`},
		{`<send-service-bus-message queue-name="q" ` + ns + `><message-properties><message-property name="a b">v</message-property></message-properties><payload>p</payload></send-service-bus-message>`, `<message-property> needs a name made of letters`},
		{`<send-service-bus-message queue-name="q" ` + ns + ` connection-string="x"><payload>p</payload></send-service-bus-message>`, `unknown attribute "connection-string"`},
	}
	for _, tt := range tests {
		_, err := sideCompile(t, policies.Deps{Tokens: &fakeTokens{}}, sideDoc(tt.policy, "", "", ""))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.policy, err, tt.want)
		}
	}
	ok := `<send-service-bus-message topic-name="@(&quot;orders&quot;)" namespace="orders.servicebus.windows.net" client-id="@(&quot;id&quot;)"><payload>@(context.RequestId)</payload></send-service-bus-message>`
	if _, err := sideCompile(t, policies.Deps{Tokens: &fakeTokens{}}, sideDoc("", "", ok, "")); err != nil {
		t.Errorf("outbound: %v", err)
	}
	if _, err := sideCompile(t, policies.Deps{}, sideDoc(ok, "", "", "")); err == nil || !strings.Contains(err.Error(), "needs the gateway's managed identity") {
		t.Errorf("without an identity: %v", err)
	}
}
