package policies_test

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
)

func TestDaprErrors(t *testing.T) {
	tests := []struct {
		name, inbound, outbound, want string
	}{
		{"dapr attributes without backend-id dapr", `<set-backend-service base-url="http://x" dapr-app-id="a" dapr-method="m" />`, "",
			`base-url has no use with backend-id="dapr"`},
		{"another backend", `<set-backend-service backend-id="orders" dapr-app-id="a" dapr-method="m" />`, "",
			`policy.xml:1:20: dapr-app-id, dapr-method and dapr-namespace need backend-id="dapr"`},
		{"no method", `<set-backend-service backend-id="dapr" dapr-app-id="a" />`, "", `<set-backend-service> needs a dapr-method attribute`},
		{"an app id with a dot", `<set-backend-service backend-id="dapr" dapr-app-id="a.b" dapr-method="m" />`, "",
			`dapr-app-id of <set-backend-service>: the Dapr app id "a.b" must not contain a dot`},
		{"a namespace with a slash", `<set-backend-service backend-id="dapr" dapr-app-id="a" dapr-method="m" dapr-namespace="x/y" />`, "",
			`dapr-namespace of <set-backend-service>: the Dapr namespace "x/y" is not a name`},
		{"a method that climbs", `<set-backend-service backend-id="dapr" dapr-app-id="a" dapr-method="x/../../state" />`, "",
			`dapr-method of <set-backend-service>: the Dapr method "x/../../state" is not a method name or path`},
		{"Service Fabric", `<set-backend-service backend-id="sf" sf-resolve-condition="true" />`, "", `set-backend-service sf-resolve-condition (Service Fabric backends) is not supported`},
		{"publish without a topic", `<publish-to-dapr pubsub-name="p">x</publish-to-dapr>`, "", `<publish-to-dapr> needs a topic attribute`},
		{"a topic without its pub/sub", `<publish-to-dapr topic="t">x</publish-to-dapr>`, "", `topic of <publish-to-dapr> must be pubsub-name/topic-name when there is no pubsub-name attribute, not "t"`},
		{"a timeout of 0", `<publish-to-dapr topic="p/t" timeout="0">x</publish-to-dapr>`, "", `timeout of <publish-to-dapr> must be a whole number of seconds from 1 to 240, not "0"`},
		{"a timeout over 240", `<invoke-dapr-binding name="b" timeout="241" />`, "", `timeout of <invoke-dapr-binding> must be a whole number of seconds from 1 to 240`},
		{"another template engine", `<publish-to-dapr topic="p/t" template="handlebars">x</publish-to-dapr>`, "", `template of <publish-to-dapr> must be Liquid`},
		{"a Liquid template that does not compile", `<publish-to-dapr topic="p/t" template="Liquid">{% if %}</publish-to-dapr>`, "", `the Liquid template does not compile`},
		{"another content type", `<publish-to-dapr topic="p/t" content-type="text/plain">x</publish-to-dapr>`, "", `content-type of <publish-to-dapr> must be application/json`},
		{"publish in outbound", "", `<publish-to-dapr topic="p/t">x</publish-to-dapr>`, `policy <publish-to-dapr> is not allowed in <outbound>`},
		{"an empty variable", `<publish-to-dapr topic="p/t" response-variable-name=" ">x</publish-to-dapr>`, "", `response-variable-name of <publish-to-dapr> must not be empty`},
		{"a binding without a name", `<invoke-dapr-binding operation="create" />`, "", `<invoke-dapr-binding> needs a name attribute`},
		{"an item without a key", `<invoke-dapr-binding name="b"><metadata><item>v</item></metadata></invoke-dapr-binding>`, "", `<item> needs a key attribute`},
		{"a key twice", `<invoke-dapr-binding name="b"><metadata><item key="k">1</item><item key="k">2</item></metadata></invoke-dapr-binding>`, "", `metadata key "k" appears twice`},
		{"data twice", `<invoke-dapr-binding name="b"><data>1</data><data>2</data></invoke-dapr-binding>`, "", `<data>`},
		{"another child", `<invoke-dapr-binding name="b"><payload>1</payload></invoke-dapr-binding>`, "", `<payload>`},
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
		`<set-backend-service backend-id="dapr" dapr-app-id="@(context.Request.Headers.GetValueOrDefault(&quot;App&quot;, &quot;a&quot;))" dapr-method="m" />`,
		`<publish-to-dapr pubsub-name="p" topic="@(&quot;t&quot;)" ignore-error="true" response-variable-name="r" timeout="240" template="liquid" content-type="application/json">{"a": "{{context.RequestId}}"}</publish-to-dapr>`,
		`<invoke-dapr-binding name="b" operation="create"><metadata><item key="k">@(context.RequestId.ToString())</item></metadata><data>@(context.Request.Body.As&lt;string&gt;())</data></invoke-dapr-binding>`,
	} {
		if _, err := sideCompile(t, policies.Deps{}, sideDoc(ok, "", "", "")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
