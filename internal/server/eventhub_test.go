package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/jwks"
)

// TestLogToEventHub runs the landing zone's chargeback pattern: log-to-eventhub
// with a JObject built from the response, in a choose, as the real document
// writes it. lastmile has no Event Hubs client: the message, evaluated as API
// Management would send it, goes to the debug log with its logger id and
// partition key. A message expression that throws fails the request, as it
// does in API Management.
func TestLogToEventHub(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"usage":{"total_tokens":42}}`)
	}))
	t.Cleanup(backend.Close)
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL)
	}
	doc := func(outbound string) string {
		return `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base />` + outbound + `</outbound><on-error><base /></on-error></policies>`
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/usage/apiInformation.json": api("usage"),
		"apis/usage/policy.xml": doc(`<choose><when condition="@(context.Response.StatusCode == 200)">
			<log-to-eventhub logger-id="eventhub-logger" partition-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Team&quot;, &quot;none&quot;))">@{
				return new JObject(
					new JProperty("RequestId", context.RequestId),
					new JProperty("TotalTokens", context.Response.Body.As&lt;JObject&gt;(preserveContent: true).SelectToken("usage.total_tokens").ToString())
				).ToString(Newtonsoft.Json.Formatting.None);
			}</log-to-eventhub></when></choose>`),
		"apis/broken/apiInformation.json": api("broken"),
		"apis/broken/policy.xml":          doc(`<log-to-eventhub logger-id="eventhub-logger">@(context.Response.Body.As&lt;JObject&gt;(preserveContent: true)["missing"].ToString())</log-to-eventhub>`),
	})
	s, logs := startWithLog(t, cfgDir, jwks.Options{})

	req, _ := http.NewRequest("GET", s.GatewayURL()+"/usage/x", nil)
	req.Header.Set("X-Team", "search")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"usage":{"total_tokens":42}}` {
		t.Errorf("%d %q: the response must pass unchanged (preserveContent)", resp.StatusCode, body)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=log-to-eventhub") {
			line = l
		}
	}
	for _, want := range []string{"logger_id=eventhub-logger", "partition_key=search", `TotalTokens\":\"42\"`, `RequestId\":\"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}

	resp, err = http.Get(s.GatewayURL() + "/broken/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("a message that throws: %d, want 500", resp.StatusCode)
	}
}
