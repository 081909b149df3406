package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// The token policies through the real server, with the official OpenAI Go
// SDK as the client and an OpenAI-compatible fake model as the backend, which
// checks the gateway's managed identity token as Azure OpenAI would.

// Every answer of the fake model uses 20 prompt and 10 completion tokens.
const (
	modelPrompt     = 20
	modelCompletion = 10
	modelTotal      = modelPrompt + modelCompletion
)

// openAIModel is an OpenAI-compatible chat completions server. It verifies
// each request's bearer token (a token of the gateway's system-assigned
// identity for https://cognitiveservices.azure.com, signed by the gateway's
// identity provider) and refuses with 401 what Azure OpenAI would refuse;
// the caller's key must never reach it. script, when set, may answer a
// request (by its 1-based number) in its place.
type openAIModel struct {
	name   string
	verify *verifyingBackend
	srv    *httptest.Server
	script func(n int) (status int, h http.Header)

	mu       sync.Mutex
	n        int
	problems []string
	bodies   []map[string]any
}

func newOpenAIModel(t *testing.T, name string) *openAIModel {
	m := &openAIModel{name: name, verify: newVerifyingBackend(t, cognitiveServices)}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *openAIModel) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var body map[string]any
	var problems []string
	if err := json.Unmarshal(data, &body); err != nil {
		problems = append(problems, "body: "+err.Error())
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		problems = append(problems, "no bearer token")
	} else if claims, _, err := m.verify.verify(raw); err != nil {
		problems = append(problems, "token: "+err.Error())
	} else if fmt.Sprint(claims["aud"]) != cognitiveServices {
		problems = append(problems, fmt.Sprintf("token audience %v", claims["aud"]))
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "the-callers-key") {
				problems = append(problems, "the caller's key reached the model in "+name)
			}
		}
	}
	m.mu.Lock()
	m.n++
	n := m.n
	m.problems = append(m.problems, problems...)
	m.bodies = append(m.bodies, body)
	m.mu.Unlock()
	if len(problems) > 0 {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if m.script != nil {
		if status, h := m.script(n); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"code":"%d","message":"try later"}}`, status)
			return
		}
	}
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, modelPrompt, modelCompletion, modelTotal)
	if body["stream"] != true {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c%d","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"%s %d"},"finish_reason":"stop"}],"usage":%s}`,
			n, m.name, n, usage)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	for i, word := range []string{m.name, " streams", " words"} {
		fmt.Fprintf(w, "data: {\"id\":\"c%d\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", n, word)
		if i == 0 {
			f.Flush() // the first words leave before the rest
		}
	}
	if so, _ := body["stream_options"].(map[string]any); so["include_usage"] == true {
		fmt.Fprintf(w, "data: {\"id\":\"c%d\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":%s}\n\n", n, usage)
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// check fails the test for every problem the model saw, and returns the
// bodies it got.
func (m *openAIModel) check(t *testing.T) []map[string]any {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.problems {
		t.Errorf("model %s: %s", m.name, p)
	}
	m.problems = nil
	return slices.Clone(m.bodies)
}

func (m *openAIModel) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// sdkClient is the OpenAI SDK pointed at the gateway's API path, with the
// caller's own key (which the gateway must not pass on) and the team header;
// it does not retry, so that every refusal is seen.
func sdkClient(gatewayURL, team string) openai.Client {
	return openai.NewClient(option.WithBaseURL(gatewayURL+"/openai/v1/"), option.WithAPIKey("the-callers-key"),
		option.WithHeader("X-Team", team), option.WithMaxRetries(0))
}

// chatParams is a one-message chat completion.
func chatParams(prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}
}

// tokenPolicy is an API "openai" in front of the model, with the gateway's
// managed identity for Cognitive Services, a token limit per X-Team,
// emit-metric counting calls, and the token metrics per team.
func tokenPolicy(limit string) string {
	return `<policies>
	<inbound>
		<base />
		<authentication-managed-identity resource="https://cognitiveservices.azure.com" />
		<emit-metric name="calls" namespace="openai"><dimension name="API ID" /></emit-metric>
		` + limit + `
		<llm-emit-token-metric namespace="openai">
			<dimension name="API ID" />
			<dimension name="Team" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Team&quot;, &quot;none&quot;))" />
		</llm-emit-token-metric>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`
}

// scrape returns the lines of the gateway's Prometheus metrics that start
// with one of prefixes, sorted.
func scrape(t *testing.T, e *env, prefixes ...string) []string {
	t.Helper()
	resp, err := http.Get(e.srv.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// TestOpenAISDKTokenLimit drives llm-token-limit and llm-emit-token-metric
// with the OpenAI SDK, plain and streaming: the limit allows, is crossed by
// the call that uses the last tokens, and refuses the next with 429,
// Retry-After and API Management's body; another team's counter is apart. A
// stream is metered from its usage chunk, which the gateway asked for (the
// SDK does not), and the client still gets every word. The backend gets the
// gateway's token and never the caller's key. Token metrics and emit-metric's
// custom metrics are on one Prometheus endpoint.
func TestOpenAISDKTokenLimit(t *testing.T) {
	model := newOpenAIModel(t, "answer")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                   aiIdentity + "listeners:\n  metrics: 127.0.0.1:0\n",
		"apis/openai/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"openai","serviceUrl":%q,"subscriptionRequired":false}}`, model.srv.URL),
		"apis/openai/policy.xml": tokenPolicy(`<llm-token-limit counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Team&quot;, &quot;none&quot;))"
			tokens-per-minute="100" estimate-prompt-tokens="false" remaining-tokens-header-name="x-remaining-tokens" tokens-consumed-header-name="x-consumed-tokens" />`),
	})
	e := start(t, cfgDir, t.TempDir(), model.verify)
	ctx := context.Background()

	blue := sdkClient(e.srv.GatewayURL(), "blue")
	var remaining []string
	for i := range 4 {
		var resp *http.Response
		c, err := blue.Chat.Completions.New(ctx, chatParams("Hello"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("blue call %d: %v", i+1, err)
		}
		if want := fmt.Sprintf("answer %d", i+1); c.Choices[0].Message.Content != want || c.Usage.TotalTokens != modelTotal {
			t.Errorf("blue call %d: %q, %d tokens; want %q, %d", i+1, c.Choices[0].Message.Content, c.Usage.TotalTokens, want, modelTotal)
		}
		if got := resp.Header.Get("X-Consumed-Tokens"); got != fmt.Sprint(modelTotal) {
			t.Errorf("blue call %d: x-consumed-tokens %q, want %d", i+1, got, modelTotal)
		}
		remaining = append(remaining, resp.Header.Get("X-Remaining-Tokens"))
	}
	// 100 a minute, 30 a call: 70, 40, 10 left, then the fourth call crosses
	// the limit (it could not know it would before the model answered) and
	// leaves 0. The bucket refills by 1.67 tokens a second, which a slow run
	// may add to the later counts.
	if remaining[0] != "70" || remaining[3] != "0" {
		t.Errorf("x-remaining-tokens %v, want 70 first and 0 last", remaining)
	}
	var resp *http.Response
	_, err := blue.Chat.Completions.New(ctx, chatParams("Hello"), option.WithResponseInto(&resp))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("blue call 5: %v, want the SDK's 429 error", err)
	}
	retryAfter := resp.Header.Get("Retry-After")
	wantBody := fmt.Sprintf(`{"statusCode":429,"message":"Token limit is exceeded. Try again in %s seconds."}`, retryAfter)
	_, body, _ := strings.Cut(string(apiErr.DumpResponse(true)), "\r\n\r\n")
	if !regexp.MustCompile(`^([1-9]|1[0-3])$`).MatchString(retryAfter) || body != wantBody {
		// 20 tokens of debt and one more at 100 a minute: 13 s at most.
		t.Errorf("429 with Retry-After %q and body %s; want 1 to 13 s and %s", retryAfter, body, wantBody)
	}
	if n := model.count(); n != 4 {
		t.Errorf("the model got %d calls, want 4 (the refused one never reaches it)", n)
	}

	// Another team has its own counter, and streams.
	green := sdkClient(e.srv.GatewayURL(), "green")
	if _, err := green.Chat.Completions.New(ctx, chatParams("Hello")); err != nil {
		t.Fatalf("green: %v", err)
	}
	stream := green.Chat.Completions.NewStreaming(ctx, chatParams("Tell me a story"), option.WithResponseInto(&resp))
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("green stream: %v", err)
	}
	stream.Close()
	if got := acc.Choices[0].Message.Content; got != "answer streams words" {
		t.Errorf("the stream's text %q, want %q", got, "answer streams words")
	}
	// The usage chunk the gateway asked for reaches the client too.
	if acc.Usage.TotalTokens != modelTotal {
		t.Errorf("the stream's usage %+v, want %d tokens", acc.Usage, modelTotal)
	}
	if got := resp.Header.Get("X-Remaining-Tokens"); got == "" {
		t.Error("the stream's head has no x-remaining-tokens")
	}
	bodies := model.check(t)
	if so, _ := bodies[len(bodies)-1]["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("the model got stream_options %v, want include_usage added by the gateway", bodies[len(bodies)-1]["stream_options"])
	}

	// The stream is counted when it ends, which may be just after the client
	// read its last byte.
	want := []string{
		`lastmile_custom_calls_count{api_id="openai",namespace="openai"} 7`,
		fmt.Sprintf(`lastmile_llm_completion_tokens_total{api_id="openai",namespace="openai",team="blue"} %d`, 4*modelCompletion),
		fmt.Sprintf(`lastmile_llm_completion_tokens_total{api_id="openai",namespace="openai",team="green"} %d`, 2*modelCompletion),
		fmt.Sprintf(`lastmile_llm_prompt_tokens_total{api_id="openai",namespace="openai",team="blue"} %d`, 4*modelPrompt),
		fmt.Sprintf(`lastmile_llm_prompt_tokens_total{api_id="openai",namespace="openai",team="green"} %d`, 2*modelPrompt),
		fmt.Sprintf(`lastmile_llm_tokens_total{api_id="openai",namespace="openai",team="blue"} %d`, 4*modelTotal),
		fmt.Sprintf(`lastmile_llm_tokens_total{api_id="openai",namespace="openai",team="green"} %d`, 2*modelTotal),
	}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = scrape(t, e, "lastmile_llm_", "lastmile_custom_calls_count"); cmp.Equal(want, got) {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// TestTokenLimitFleet runs two gateways on one Redis with one token limit:
// calls through A and B take from one counter, so that together they reach
// the limit that either alone would not, and both refuse once it is crossed.
// The token quota is shared too.
func TestTokenLimitFleet(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	model := newOpenAIModel(t, "answer")
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                   aiIdentity + redisStore(t, addr),
		"apis/openai/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"openai","serviceUrl":%q,"subscriptionRequired":false}}`, model.srv.URL),
		"apis/openai/policy.xml": tokenPolicy(`<llm-token-limit counter-key="fleet" tokens-per-minute="100" token-quota="100000" token-quota-period="Monthly"
			estimate-prompt-tokens="false" remaining-tokens-header-name="x-remaining-tokens" remaining-quota-tokens-header-name="x-remaining-quota" />`),
	})
	a := start(t, cfgDir, t.TempDir(), model.verify)
	b := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, cognitiveServices))
	ctx := context.Background()
	type outcome struct {
		Via    string
		Status int
		Quota  string
	}
	var got []outcome
	for i, e := range []*env{a, b, a, b, a, b} {
		via := map[*env]string{a: "a", b: "b"}[e]
		// Each instance signs with the identity state they share in Redis;
		// the model checks tokens against the issuer of the one that calls.
		model.verify.issuer = e.srv.Issuer()
		var resp *http.Response
		client := sdkClient(e.srv.GatewayURL(), "t")
		_, err := client.Chat.Completions.New(ctx, chatParams("Hello"), option.WithResponseInto(&resp))
		var apiErr *openai.Error
		switch {
		case err == nil:
			got = append(got, outcome{via, 200, resp.Header.Get("X-Remaining-Quota")})
		case errors.As(err, &apiErr):
			got = append(got, outcome{via, apiErr.StatusCode, ""})
		default:
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	// 100 a minute and 30 a call: four calls, two through each, use 120;
	// the fifth and sixth are refused whichever instance they reach. Alone,
	// each would have let all three of its calls through.
	want := []outcome{{"a", 200, "99970"}, {"b", 200, "99940"}, {"a", 200, "99910"}, {"b", 200, "99880"}, {"a", 429, ""}, {"b", 429, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	model.check(t)
}

// TestAIGatewayPattern is the public AI-Gateway pattern end to end: a pool
// of model backends (two of priority 1, weighted 2 and 1, and a spare of
// priority 2) with circuit breakers on 429 that accept Retry-After, retry in
// the backend section across the pool with forward-request
// buffer-request-body, and the token limit and metrics on top. When the
// heavier member answers 429 with Retry-After its breaker trips for that
// long, the retry sends the call to the other member, no client request
// fails, and the spare is never needed. Only the answers are counted (the
// 429 used no tokens).
func TestAIGatewayPattern(t *testing.T) {
	east, west, spare := newOpenAIModel(t, "east"), newOpenAIModel(t, "west"), newOpenAIModel(t, "spare")
	east.script = func(n int) (int, http.Header) {
		if n == 2 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}
		}
		return 0, nil
	}
	backend := func(m *openAIModel) string {
		return fmt.Sprintf(`{"properties": {"url": %q, "protocol": "http", "circuitBreaker": {"rules": [%s]}}}`, m.srv.URL, breaker429)
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                          aiIdentity + "listeners:\n  metrics: 127.0.0.1:0\n",
		"backends/east/backendInformation.json":  backend(east),
		"backends/west/backendInformation.json":  backend(west),
		"backends/spare/backendInformation.json": backend(spare),
		"backends/models/backendInformation.json": `{"properties": {"type": "Pool", "pool": {"services": [
			{"id": "/backends/east", "priority": 1, "weight": 2}, {"id": "/backends/west", "priority": 1, "weight": 1},
			{"id": "/backends/spare", "priority": 2}]}}}`,
		"apis/openai/apiInformation.json": `{"properties":{"path":"openai","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/openai/policy.xml": `<policies>
	<inbound>
		<base />
		<authentication-managed-identity resource="https://cognitiveservices.azure.com" />
		<set-backend-service backend-id="models" />
		<azure-openai-token-limit counter-key="all" tokens-per-minute="100000" estimate-prompt-tokens="true" remaining-tokens-header-name="x-remaining-tokens" />
		<llm-emit-token-metric namespace="aoai"><dimension name="Backend ID" /></llm-emit-token-metric>
	</inbound>
	<backend>
		<retry count="2" interval="0" first-fast-retry="true" condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode == 503)">
			<set-backend-service backend-id="models" />
			<forward-request buffer-request-body="true" />
		</retry>
	</backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), east.verify)
	west.verify.issuer, spare.verify.issuer = east.verify.issuer, east.verify.issuer
	client := sdkClient(e.srv.GatewayURL(), "t")
	answers := map[string]int{}
	for i := range 9 {
		c, err := client.Chat.Completions.New(context.Background(), chatParams("Hello"))
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		answers[strings.Fields(c.Choices[0].Message.Content)[0]]++
	}
	// Weights 2 and 1: east, west, east... east answers its first call, 429s
	// its second (call 3), which the retry gives to west; then west alone.
	if diff := cmp.Diff(map[string]int{"east": 1, "west": 8}, answers); diff != "" {
		t.Errorf("answers by member (-want +got):\n%s", diff)
	}
	if got := []int{east.count(), west.count(), spare.count()}; !cmp.Equal(got, []int{2, 8, 0}) {
		t.Errorf("calls east, west, spare: %v, want [2 8 0]", got)
	}
	for _, m := range []*openAIModel{east, west} {
		for _, body := range m.check(t) {
			if body["messages"] == nil {
				t.Errorf("%s got a body without messages (the retry lost the buffered body): %v", m.name, body)
			}
		}
	}
	// Backend ID is the backend entity set-backend-service chose: the pool.
	want := []string{fmt.Sprintf(`lastmile_llm_prompt_tokens_total{backend_id="models",namespace="aoai"} %d`, 9*modelPrompt)}
	if diff := cmp.Diff(want, scrape(t, e, "lastmile_llm_prompt_tokens_total")); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
