package policies_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// model is a fake model behind forward-request: it records the request bodies
// and headers it gets, and answers with what answer gives.
type model struct {
	mu      sync.Mutex
	bodies  []string
	headers []http.Header
	answer  func(req string) *exchange.Response
}

func (m *model) Forward(_ context.Context, x *exchange.Exchange, _ proxy.Options) error {
	body, err := x.Request.Body.Bytes(true)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.bodies = append(m.bodies, string(body))
	m.headers = append(m.headers, x.Request.Headers.Clone())
	m.mu.Unlock()
	x.Response = m.answer(string(body))
	return nil
}

// jsonAnswer is a chat completion that used prompt and completion tokens.
func jsonAnswer(prompt, completion int) func(string) *exchange.Response {
	return func(string) *exchange.Response {
		body := fmt.Sprintf(`{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			prompt, completion, prompt+completion)
		return &exchange.Response{StatusCode: 200, Headers: http.Header{"Content-Type": {"application/json"}},
			Body: exchange.NewStreamBody(io.NopCloser(strings.NewReader(body)), int64(len(body)), nil)}
	}
}

// sseAnswer streams body as server-sent events of unknown length.
func sseAnswer(body string) func(string) *exchange.Response {
	return func(string) *exchange.Response {
		return &exchange.Response{StatusCode: 200, Headers: http.Header{"Content-Type": {"text/event-stream"}},
			Body: exchange.NewStreamBody(io.NopCloser(strings.NewReader(body)), -1, nil)}
	}
}

// chatStream is an OpenAI stream of two words, with the usage chunk when
// usage is set.
func chatStream(usage bool) string {
	s := "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n"
	if usage {
		s += "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":12,\"total_tokens\":42}}\n\n"
	}
	return s + "data: [DONE]\n\n"
}

const helloChat = `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello, world!"}]}`

// chatPrompt is helloChat's estimate: one message (4 tokens of text, 4 of
// format) and the reply's 3.
const chatPrompt = 11

// llmDoc is a policy document with inbound policies, forward-request, and
// outbound and on-error sections that show the variables and LastError.
func llmDoc(in string) string {
	return `<policies><inbound>` + in + `</inbound><backend><forward-request /></backend>
		<outbound><set-header name="X-Consumed-In-Outbound"><value>@(context.Variables.ContainsKey("used") ? context.Variables["used"].ToString() : "")</value></set-header></outbound>
		<on-error><set-header name="X-Reason"><value>@(context.LastError.Reason)</value></set-header></on-error></policies>`
}

// llmCall sends body to /v1/chat/completions through p, reads the response
// to its end as the gateway does, and returns the exchange.
func llmCall(t testing.TB, p *pipeline.Pipeline, body string, h http.Header) *exchange.Exchange {
	t.Helper()
	u, _ := url.Parse("https://model.example/v1/chat/completions")
	if h == nil {
		h = http.Header{}
	}
	x := &exchange.Exchange{
		RequestID: "00000000-0000-4000-8000-000000000001",
		Request: exchange.Request{Method: "POST", URL: u, OriginalURL: u, Headers: h,
			Body: exchange.NewRequestBody(io.NopCloser(strings.NewReader(body)), int64(len(body)), nil)},
		API:       &exchange.API{ID: "openai"},
		Operation: &exchange.Operation{ID: "chat"},
	}
	if err := p.Run(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if b := x.Response.Body; b != nil {
		r := b.Reader() // as the gateway sends it
		data, _ := io.ReadAll(r)
		r.Close()
		x.Response.Body = exchange.NewBytesBody(data)
	}
	return x
}

type llmOutcome struct {
	Status int
	Header map[string]string
	Body   string
}

func llmOutcomeOf(x *exchange.Exchange, headers ...string) llmOutcome {
	o := llmOutcome{Status: x.Response.StatusCode, Header: map[string]string{}}
	for _, h := range headers {
		if v := x.Response.Headers.Get(h); v != "" {
			o.Header[h] = v
		}
	}
	if x.Response.StatusCode >= 400 {
		o.Body, _ = func() (string, error) { b, err := x.Response.Body.Bytes(true); return string(b), err }()
	}
	return o
}

func TestTokenLimitCompileErrors(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"azure has no quota", `<azure-openai-token-limit counter-key="k" tokens-per-minute="5" estimate-prompt-tokens="false" token-quota="5" token-quota-period="Daily" />`,
			"azure-openai-token-limit has no token quota: token-quota needs llm-token-limit"},
		{"azure needs a rate", `<azure-openai-token-limit counter-key="k" estimate-prompt-tokens="false" />`, "needs a tokens-per-minute attribute"},
		{"llm needs a limit", `<llm-token-limit counter-key="k" estimate-prompt-tokens="false" />`, "needs tokens-per-minute, or token-quota with token-quota-period"},
		{"quota needs a period", `<llm-token-limit counter-key="k" token-quota="5" estimate-prompt-tokens="false" />`, "needs token-quota and token-quota-period together"},
		{"a period API Management lacks", `<llm-token-limit counter-key="k" token-quota="5" token-quota-period="Minutely" estimate-prompt-tokens="false" />`,
			`must be Hourly, Daily, Weekly, Monthly or Yearly, not "Minutely"`},
		{"estimate-prompt-tokens is required", `<llm-token-limit counter-key="k" tokens-per-minute="5" />`, "needs estimate-prompt-tokens"},
		{"counter-key is required", `<llm-token-limit tokens-per-minute="5" estimate-prompt-tokens="true" />`, "counter-key"},
		{"a bad rate", `<llm-token-limit counter-key="k" tokens-per-minute="0" estimate-prompt-tokens="true" />`, "tokens-per-minute of <llm-token-limit> must be a whole number from 1"},
		{"a header the gateway owns", `<llm-token-limit counter-key="k" tokens-per-minute="5" estimate-prompt-tokens="true" tokens-consumed-header-name="Content-Length" />`,
			"header Content-Length is managed by the gateway"},
		{"too many llm dimensions", `<llm-emit-token-metric><dimension name="a" value="1" /><dimension name="b" value="1" /><dimension name="c" value="1" /><dimension name="d" value="1" /><dimension name="e" value="1" /><dimension name="f" value="1" /></llm-emit-token-metric>`,
			"has 6 dimensions; it allows at most 5"},
		{"too many azure dimensions", `<azure-openai-emit-token-metric>` + dims(11) + `</azure-openai-emit-token-metric>`,
			"has 11 dimensions; it allows at most 10"},
		{"a dimension without a value", `<llm-emit-token-metric><dimension name="Operation" /></llm-emit-token-metric>`, `dimension "Operation" needs a value`},
		{"Backend ID is llm's", `<azure-openai-emit-token-metric><dimension name="Backend ID" /></azure-openai-emit-token-metric>`, `dimension "Backend ID" needs a value`},
		{"two dimensions, one label", `<llm-emit-token-metric><dimension name="API ID" /><dimension name="api-id" value="x" /></llm-emit-token-metric>`,
			`dimensions "API ID" and "api-id" are both the metric label api_id`},
		{"the namespace label", `<llm-emit-token-metric><dimension name="Namespace" value="x" /></llm-emit-token-metric>`, "is the label namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileLimitDoc(t, policies.Deps{Forwarder: nopForwarder{}}, "api", `<policies><inbound>`+tt.policy+`</inbound></policies>`)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Within the limits, every attribute compiles.
	ok := `<llm-token-limit counter-key="@(context.Api.Id)" tokens-per-minute="@(100)" token-quota="@(1000)" token-quota-period="@(&quot;Monthly&quot;)"
		estimate-prompt-tokens="true" retry-after-header-name="x-retry" retry-after-variable-name="r" remaining-tokens-header-name="x-left"
		remaining-tokens-variable-name="left" remaining-quota-tokens-header-name="x-quota" remaining-quota-tokens-variable-name="q"
		tokens-consumed-header-name="x-used" tokens-consumed-variable-name="used" />
		<azure-openai-token-limit counter-key="k" tokens-per-minute="5" estimate-prompt-tokens="false" />
		<llm-emit-token-metric namespace="ns"><dimension name="API ID" /><dimension name="Backend ID" /><dimension name="Client IP" value="@(context.Request.IpAddress)" /></llm-emit-token-metric>
		<azure-openai-emit-token-metric>` + dims(10) + `</azure-openai-emit-token-metric>`
	if _, err := compileLimitDoc(t, policies.Deps{Forwarder: nopForwarder{}}, "api", `<policies><inbound>`+ok+`</inbound></policies>`); err != nil {
		t.Error(err)
	}
}

func dims(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `<dimension name="d%d" value="v" />`, i)
	}
	return b.String()
}

// TestTokenLimitFromUsage: without estimation the limit only checks that the
// counter is not spent, and counts the response's usage: the call that
// crosses the limit goes through, the next is refused until the tokens come
// back, with API Management's 429.
func TestTokenLimitFromUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &model{answer: jsonAnswer(40, 20)}
		p := mustCompileLimit(t, policies.Deps{Forwarder: m}, "api", llmDoc(
			`<llm-token-limit counter-key="team-a" tokens-per-minute="100" estimate-prompt-tokens="false"
				remaining-tokens-header-name="x-left" remaining-tokens-variable-name="left"
				tokens-consumed-header-name="x-used" tokens-consumed-variable-name="used" retry-after-variable-name="wait" />`))
		var got []llmOutcome
		for range 3 {
			got = append(got, llmOutcomeOf(llmCall(t, p, helloChat, nil), "x-left", "x-used", "Retry-After", "X-Consumed-In-Outbound", "X-Reason"))
		}
		want := []llmOutcome{
			{Status: 200, Header: map[string]string{"x-left": "40", "x-used": "60", "X-Consumed-In-Outbound": "60"}},
			{Status: 200, Header: map[string]string{"x-left": "0", "x-used": "60", "X-Consumed-In-Outbound": "60"}},
			// 20 tokens of debt and one to spend: 21 at 100 a minute.
			{Status: 429, Header: map[string]string{"Retry-After": "13", "X-Reason": "OpenAITokenLimitExceeded"},
				Body: `{"statusCode":429,"message":"Token limit is exceeded. Try again in 13 seconds."}`},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if len(m.bodies) != 2 {
			t.Errorf("the model got %d calls, want 2", len(m.bodies))
		}
	})
}

// TestTokenLimitEstimate: with estimate-prompt-tokens the prompt's estimate is
// taken before the call, so that a prompt the counter cannot afford never
// reaches the model; the usage then replaces the estimate.
func TestTokenLimitEstimate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &model{answer: jsonAnswer(5, 10)}
		p := mustCompileLimit(t, policies.Deps{Forwarder: m}, "api", llmDoc(
			`<azure-openai-token-limit counter-key="k" tokens-per-minute="40" estimate-prompt-tokens="true"
				remaining-tokens-variable-name="left" tokens-consumed-variable-name="used" remaining-tokens-header-name="x-left" />
			<set-header name="x-left-inbound"><value>@(context.Variables["left"].ToString())</value></set-header>
			<set-header name="x-used-inbound"><value>@(context.Variables["used"].ToString())</value></set-header>`))
		x := llmCall(t, p, helloChat, nil)
		// Inbound: 40 - 11 estimated; the backend got that estimate in
		// tokens-consumed, outbound the real 15; the header says 40 - 15.
		if got, want := m.headers[0].Get("x-left-inbound")+"/"+m.headers[0].Get("x-used-inbound"), fmt.Sprintf("%d/%d", 40-chatPrompt, chatPrompt); got != want {
			t.Errorf("inbound saw left/used %s, want %s", got, want)
		}
		if got := llmOutcomeOf(x, "x-left", "X-Consumed-In-Outbound"); got.Header["x-left"] != "25" || got.Header["X-Consumed-In-Outbound"] != "15" {
			t.Errorf("first call: %+v, want 25 left and 15 consumed", got)
		}
		llmCall(t, p, helloChat, nil) // 10 left
		// An 11-token prompt does not fit in 10: refused before the model.
		x = llmCall(t, p, helloChat, nil)
		if x.Response.StatusCode != 429 || len(m.bodies) != 2 {
			t.Errorf("third call: %d after %d model calls; want 429 after 2", x.Response.StatusCode, len(m.bodies))
		}
	})
}

// TestTokenLimitGivesBack: what was taken before the call is given back when
// the model did not answer (the backend failed), or answered with an error
// that reports no usage.
func TestTokenLimitGivesBack(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(string) *exchange.Response
		fail   bool
		want   string // tokens left after the call
	}{
		{"a backend failure", nil, true, "100"},
		{"an error without usage", func(string) *exchange.Response {
			return &exchange.Response{StatusCode: 429, Headers: http.Header{"Content-Type": {"application/json"}}, Body: exchange.NewBytesBody([]byte(`{"error":{"code":"429"}}`))}
		}, false, "100"},
		{"a success without usage keeps the estimate", func(string) *exchange.Response {
			return &exchange.Response{StatusCode: 200, Headers: http.Header{"Content-Type": {"application/json"}}, Body: exchange.NewBytesBody([]byte(`{"choices":[]}`))}
		}, false, fmt.Sprint(100 - chatPrompt)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fwd := forwardFunc(func(_ context.Context, x *exchange.Exchange, _ proxy.Options) error {
					if tt.fail {
						return &proxy.Error{Reason: "BackendConnectionFailure", Message: "refused", Status: 500}
					}
					x.Response = tt.answer("")
					return nil
				})
				limits := store.NewMemoryLimits(0)
				deps := policies.Deps{Forwarder: fwd, Limits: policies.Limits{Store: limits}}
				p := mustCompileLimit(t, deps, "api", llmDoc(`<llm-token-limit counter-key="k" tokens-per-minute="100" estimate-prompt-tokens="true" remaining-tokens-header-name="x-left" />`))
				x := llmCall(t, p, helloChat, nil)
				if got := x.Response.Headers.Get("x-left"); got != tt.want {
					t.Errorf("x-left = %q, want %s", got, tt.want)
				}
				// The store agrees with the header.
				probe := mustCompileLimit(t, policies.Deps{Forwarder: fwd, Limits: policies.Limits{Store: limits}}, "api",
					`<policies><inbound><llm-token-limit counter-key="k" tokens-per-minute="100" estimate-prompt-tokens="false" remaining-tokens-variable-name="left" />
					<return-response><set-header name="x-left"><value>@(context.Variables["left"].ToString())</value></set-header></return-response></inbound></policies>`)
				if got := llmCall(t, probe, helloChat, nil).Response.Headers.Get("x-left"); got != tt.want {
					t.Errorf("the store holds %s tokens, want %s", got, tt.want)
				}
			})
		})
	}
}

// TestTokenQuota: a daily quota refuses with 403 once spent, saying when it
// renews (windows start at midnight UTC).
func TestTokenQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// synctest's clock starts at 2000-01-01 00:00 UTC.
		m := &model{answer: jsonAnswer(70, 30)}
		p := mustCompileLimit(t, policies.Deps{Forwarder: m}, "api", llmDoc(
			`<llm-token-limit counter-key="q" token-quota="150" token-quota-period="Daily" estimate-prompt-tokens="false"
				remaining-quota-tokens-header-name="x-quota" remaining-quota-tokens-variable-name="quota" retry-after-header-name="x-retry" />`))
		var got []llmOutcome
		for range 3 {
			got = append(got, llmOutcomeOf(llmCall(t, p, helloChat, nil), "x-quota", "x-retry", "X-Reason"))
		}
		want := []llmOutcome{
			{Status: 200, Header: map[string]string{"x-quota": "50"}},
			{Status: 200, Header: map[string]string{"x-quota": "0"}},
			{Status: 403, Header: map[string]string{"x-retry": "86400", "X-Reason": "OpenAITokenQuotaExceeded"},
				Body: `{"statusCode":403,"message":"Token quota is exceeded. Try again in 1440 minutes and 0 seconds."}`},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

// TestTokenLimitStream: a stream is estimated before the call, whatever
// estimate-prompt-tokens says, the caller's request asks for the usage chunk,
// and the stream is counted when it ends: from its usage chunk, or by
// estimating its prompt and the text it streamed.
func TestTokenLimitStream(t *testing.T) {
	const streamBody = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hello, world!"}]}`
	completion := llm.NewEstimator().Count("gpt-4o", "Hello there")
	for _, tt := range []struct {
		name  string
		usage bool
		want  int64
	}{
		{"with the usage chunk", true, 42},
		{"without it", false, chatPrompt + completion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &model{answer: sseAnswer(chatStream(tt.usage))}
				limits := store.NewMemoryLimits(0)
				deps := policies.Deps{Forwarder: m, Limits: policies.Limits{Store: limits}}
				p := mustCompileLimit(t, deps, "api", llmDoc(`<llm-token-limit counter-key="s" tokens-per-minute="1000" estimate-prompt-tokens="false"
					remaining-tokens-header-name="x-left" tokens-consumed-header-name="x-used" />`))
				x := llmCall(t, p, streamBody, http.Header{"Accept-Encoding": {"gzip"}})
				// The headers left with the stream's first bytes: the
				// estimate was taken, nothing was consumed yet.
				if got := llmOutcomeOf(x, "x-left", "x-used"); !cmp.Equal(got.Header, map[string]string{"x-left": fmt.Sprint(1000 - chatPrompt)}) {
					t.Errorf("headers %v", got.Header)
				}
				if b, _ := x.Response.Body.Bytes(true); string(b) != chatStream(tt.usage) {
					t.Errorf("the client got %q", b)
				}
				if !strings.Contains(m.bodies[0], `"stream_options":{"include_usage":true}`) || m.headers[0].Get("Accept-Encoding") != "" {
					t.Errorf("the model got %s with Accept-Encoding %q", m.bodies[0], m.headers[0].Get("Accept-Encoding"))
				}
				res, _ := limits.Rate(context.Background(), []store.Bucket{{Key: tokenBucketKey("s"), Calls: 1000, Period: 60e9}}, 1, store.RatePeek)
				if res.Remaining != 1000-tt.want {
					t.Errorf("the stream counted %d tokens, want %d", 1000-res.Remaining, tt.want)
				}
			})
		})
	}
}

// tokenBucketKey is where a token limit with namespace "" keeps key's rate,
// as the limiter names it.
func tokenBucketKey(key string) string { return policies.LimitKeyForTest("tl", "", key) }

// recorder keeps what the token metric policies emit.
type tokenRecorder struct {
	mu  sync.Mutex
	got []policies.TokenMetric
}

func (r *tokenRecorder) RecordTokens(_ context.Context, m policies.TokenMetric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}

// TestEmitTokenMetric: the usage with the default dimensions' values (the
// backend's id once set-backend-service chose it) and the custom ones;
// nothing for an answer without usage; estimated counts for a stream
// without them.
func TestEmitTokenMetric(t *testing.T) {
	rec := &tokenRecorder{}
	answer := jsonAnswer(7, 3)
	m := &model{answer: func(req string) *exchange.Response {
		switch {
		case strings.Contains(req, "fail"):
			return &exchange.Response{StatusCode: 500, Headers: http.Header{"Content-Type": {"application/json"}}, Body: exchange.NewBytesBody([]byte(`{"error":{}}`))}
		case strings.Contains(req, `"stream":true`):
			return sseAnswer(chatStream(false))(req)
		}
		return answer(req)
	}}
	deps := policies.Deps{Forwarder: m, TokenMetrics: rec, Backends: map[string]policies.Backend{"aoai-east": {URL: "https://east.example"}}}
	p := mustCompileLimit(t, deps, "api", llmDoc(`<llm-emit-token-metric namespace="openai">
			<dimension name="API ID" /><dimension name="Backend ID" /><dimension name="Subscription ID" />
			<dimension name="Client" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;none&quot;))" />
		</llm-emit-token-metric>
		<set-backend-service backend-id="aoai-east" />`))
	llmCall(t, p, helloChat, http.Header{"X-Client": {"app-1"}})
	llmCall(t, p, `{"messages":[{"role":"user","content":"fail"}]}`, nil)
	llmCall(t, p, `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hello, world!"}]}`, nil)
	dims := func(client string) []policies.Dimension {
		return []policies.Dimension{{"API ID", "openai"}, {"Backend ID", "aoai-east"}, {"Subscription ID", ""}, {"Client", client}}
	}
	completion := llm.NewEstimator().Count("gpt-4o", "Hello there")
	want := []policies.TokenMetric{
		{Namespace: "openai", Dimensions: dims("app-1"), Usage: llm.Usage{Prompt: 7, Completion: 3, Total: 10}},
		{Namespace: "openai", Dimensions: dims("none"), Usage: llm.Usage{Prompt: chatPrompt, Completion: completion, Total: chatPrompt + completion}, Estimated: true},
	}
	if diff := cmp.Diff(want, rec.got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
