package policies_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// compileAI compiles a document with the AI policies' backends: "emb" and
// "cs" at url, "pool" a pool.
func compileAI(t testing.TB, deps policies.Deps, doc string) (*pipeline.Pipeline, error) {
	t.Helper()
	r := pipeline.NewRegistry()
	policies.Register(r, deps)
	d, err := policyxml.Parse("policy.xml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(d, "api")
	if err != nil {
		return nil, err
	}
	return pipeline.Compose(c), nil
}

func aiDeps(url string) policies.Deps {
	return policies.Deps{
		Tokens: &fakeTokens{}, Forwarder: nopForwarder{}, SideRequests: http.DefaultTransport,
		Backends: map[string]policies.Backend{"emb": {URL: url + "/emb"}, "cs": {URL: url + "/cs"}, "pool": {URL: url}},
	}
}

func TestAIPolicyCompileErrors(t *testing.T) {
	lookup := func(attrs string) string {
		return `<policies><inbound><llm-semantic-cache-lookup ` + attrs + ` /></inbound></policies>`
	}
	const ok = `score-threshold="0.1" embeddings-backend-id="emb" embeddings-backend-auth="system-assigned"`
	safety := func(inner string) string {
		return `<policies><inbound><llm-content-safety backend-id="cs">` + inner + `</llm-content-safety></inbound></policies>`
	}
	metric := func(inner string) string {
		return `<policies><inbound><emit-metric name="m">` + inner + `</emit-metric></inbound></policies>`
	}
	tests := []struct {
		name, doc, want string
	}{
		{"threshold over 1", lookup(`score-threshold="1.5" embeddings-backend-id="emb" embeddings-backend-auth="system-assigned"`),
			`policy.xml:1:64: score-threshold must be a number from 0.0 to 1.0 (a cosine distance: lower asks for closer matches), not "1.5"`},
		{"threshold not a number", lookup(`score-threshold="close" embeddings-backend-id="emb" embeddings-backend-auth="system-assigned"`),
			`score-threshold must be a number from 0.0 to 1.0`},
		{"unknown backend", lookup(`score-threshold="0.1" embeddings-backend-id="nope" embeddings-backend-auth="system-assigned"`),
			`policy.xml:1:92: embeddings-backend-id: backend "nope" does not exist; add backends/nope/backendInformation.json`},
		{"other auth", lookup(`score-threshold="0.1" embeddings-backend-id="emb" embeddings-backend-auth="user-assigned"`),
			`embeddings-backend-auth must be "system-assigned" (the gateway's system-assigned managed identity), not "user-assigned"`},
		{"no auth", lookup(`score-threshold="0.1" embeddings-backend-id="emb"`), `needs embeddings-backend-auth="system-assigned"`},
		{"message count zero", lookup(ok + ` max-message-count="0"`), `max-message-count must be a whole number of messages, 1 or more, not "0"`},
		{"unknown attribute", lookup(ok + ` cache-id="c"`), `unknown attribute "cache-id" on <llm-semantic-cache-lookup>`},
		{"store without duration", `<policies><outbound><llm-semantic-cache-store /></outbound></policies>`, `<llm-semantic-cache-store> needs a duration attribute`},
		{"store duration zero", `<policies><outbound><azure-openai-semantic-cache-store duration="0" /></outbound></policies>`, `duration must be at least 1 second`},
		{"lookup in outbound", `<policies><outbound><llm-semantic-cache-lookup ` + ok + ` /></outbound></policies>`, `policy <llm-semantic-cache-lookup> is not allowed in <outbound>`},
		{"content safety: bad output type", safety(`<categories output-type="TwoLevels" />`), `output-type must be FourSeverityLevels or EightSeverityLevels, not "TwoLevels"`},
		{"content safety: bad category", safety(`<categories><category name="Spam" threshold="2" /></categories>`), `category name must be Hate, SelfHarm, Sexual or Violence, not "Spam"`},
		{"content safety: threshold 8", safety(`<categories><category name="Hate" threshold="8" /></categories>`), `category threshold must be a severity from 0 to 7, not "8"`},
		{"content safety: no backend", `<policies><inbound><llm-content-safety /></inbound></policies>`, `<llm-content-safety> needs a backend-id attribute`},
		{"content safety: a pool", `<policies><inbound><llm-content-safety backend-id="missing" /></inbound></policies>`, `backend "missing" does not exist`},
		{"metric: no dimension", metric(``), `<emit-metric> needs at least one <dimension>`},
		{"metric: a custom dimension without value", metric(`<dimension name="Method" />`), `dimension "Method" needs a value: only the default dimensions`},
		{"metric: a computed dimension name", metric(`<dimension name="@(&quot;x&quot;)" value="1" />`), `a dimension name from a policy expression is not supported`},
		{"metric: eleven dimensions", metric(strings.Repeat(`<dimension name="API ID" />`, 11)), `<emit-metric> has 11 dimensions; API Management allows at most 10`},
		{"metric: labels alike", metric(`<dimension name="API ID" /><dimension name="api-id" value="x" />`), `dimensions "api-id" and another are both the label api_id`},
		{"metric: value not a number", `<policies><inbound><emit-metric name="m" value="many"><dimension name="API ID" /></emit-metric></inbound></policies>`, `value must be a number (a double) or a policy expression, not "many"`},
		{"get-authorization-context", `<policies><inbound><get-authorization-context provider-id="github" authorization-id="auth" context-variable-name="c" identity-type="managed" /></inbound></policies>`,
			`policy.xml:1:20: get-authorization-context is not supported by lastmile: it reads a connection of API Management's credential manager`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileAI(t, aiDeps("http://127.0.0.1:1"), tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant it to contain %s", err, tt.want)
			}
		})
	}
}

// aiExchange is a POST of an LLM request with body.
func aiExchange(body string) *exchange.Exchange {
	u, _ := url.Parse("https://model.example/chat/completions")
	return &exchange.Exchange{
		RequestID: "r1",
		API:       &exchange.API{ID: "openai"},
		Request: exchange.Request{Method: "POST", URL: u, OriginalURL: u,
			Headers: http.Header{"Content-Type": {"application/json"}, "Api-Key": {"callers-key"}},
			Body:    exchange.NewBytesBody([]byte(body))},
	}
}

func chatBody(messages ...string) string {
	var ms []map[string]string
	for i, m := range messages {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		ms = append(ms, map[string]string{"role": role, "content": m})
	}
	b, _ := json.Marshal(map[string]any{"messages": ms})
	return string(b)
}

// TestSemanticLookupFailures: whatever fails in the lookup, the request goes
// on to the backend: no error, no response. A request with more messages
// than max-message-count is not looked up at all.
func TestSemanticLookupFailures(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/bad/emb":
			io.WriteString(w, `{"data":[]}`)
		case "/err/emb":
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":"429","message":"Rate limit"}}`)
		default:
			io.WriteString(w, `{"data":[{"embedding":[1,0]}]}`)
		}
	}))
	defer srv.Close()
	doc := `<policies><inbound><llm-semantic-cache-lookup score-threshold="0.1" embeddings-backend-id="emb" embeddings-backend-auth="system-assigned" max-message-count="2" /></inbound><outbound><llm-semantic-cache-store duration="60" /></outbound></policies>`
	tests := []struct {
		name, base, body string
		calls            int32
	}{
		{"the embeddings backend is down", "http://127.0.0.1:1", chatBody("hi"), 0},
		{"it answers no embedding", srv.URL + "/bad", chatBody("hi"), 1},
		{"it answers 429", srv.URL + "/err", chatBody("hi"), 1},
		{"too many messages", srv.URL, chatBody("a", "b", "c"), 0},
		{"not an LLM request", srv.URL, `{"hello":"world"}`, 0},
		{"not JSON", srv.URL, `hello`, 0},
		{"streaming", srv.URL, `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 0},
		// The embedding sees the text only: one question about two pictures
		// would share a response.
		{"a picture", srv.URL, `{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"https://x/1.png"}}]}]}`, 0},
		{"token ids", srv.URL, `{"model":"gpt-3.5-turbo-instruct","prompt":[[1,2,3]]}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			p, err := compileAI(t, aiDeps(tt.base), doc)
			if err != nil {
				t.Fatal(err)
			}
			x := aiExchange(tt.body)
			if err := p.Run(context.Background(), x); err != nil {
				t.Fatalf("Run: %v", err)
			}
			// Without a backend the pipeline's answer is an empty 200: the
			// request went on, and was not answered from the cache.
			if x.LastError != nil || x.Response == nil || x.Response.StatusCode != 200 || x.Response.Body != nil {
				t.Errorf("response %+v, last error %+v: want the request to go on", x.Response, x.LastError)
			}
			if n := calls.Load(); n != tt.calls {
				t.Errorf("the embeddings backend got %d calls, want %d", n, tt.calls)
			}
		})
	}
}

// TestContentSafetyFailures: a text over the service's 10,000 characters, a
// service that fails and one that answers garbage fail the request with 500
// (API Management's documented status) without a word of why to the caller;
// a request without text passes without a call.
func TestContentSafetyFailures(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if strings.HasPrefix(r.URL.Path, "/broken") {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, `not json`)
	}))
	defer srv.Close()
	doc := `<policies><inbound><llm-content-safety backend-id="cs"><categories><category name="Hate" threshold="2" /></categories></llm-content-safety></inbound></policies>`
	tests := []struct {
		name, base, body string
		calls            int32
		status           int
	}{
		{"oversize", srv.URL, chatBody(strings.Repeat("é", 10001)), 0, 500},
		{"the service fails", srv.URL + "/broken", chatBody("hi"), 1, 500},
		{"the service answers garbage", srv.URL, chatBody("hi"), 1, 500},
		{"the service is down", "http://127.0.0.1:1", chatBody("hi"), 0, 500},
		{"no text", srv.URL, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 0, 200},
		{"messages of an unexpected type: the whole body", srv.URL + "/broken", `{"messages":"hi"}`, 1, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			p, err := compileAI(t, aiDeps(tt.base), doc)
			if err != nil {
				t.Fatal(err)
			}
			x := aiExchange(tt.body)
			err = p.Run(context.Background(), x)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			status := 0
			if x.Response != nil {
				status = x.Response.StatusCode
				body, _ := x.Response.Body.Bytes(true)
				if strings.Contains(string(body), "character") || strings.Contains(string(body), "127.0.0.1") {
					t.Errorf("the caller sees why: %s", body)
				}
			}
			if status != tt.status {
				t.Errorf("status %d, want %d (last error %+v)", status, tt.status, x.LastError)
			}
			if tt.status == 500 && (x.LastError == nil || x.LastError.Reason != policies.ReasonContentSafetyFailure) {
				t.Errorf("last error %+v, want reason %s", x.LastError, policies.ReasonContentSafetyFailure)
			}
			if n := calls.Load(); n != tt.calls {
				t.Errorf("the service got %d calls, want %d", n, tt.calls)
			}
		})
	}
}

// TestAIBackendCredentials: the policies' own calls carry the backend
// entity's credentials when it has them, else the gateway's system-assigned
// token for Cognitive Services, and never the caller's headers; a token that
// cannot be had fails the call, not the process.
func TestAIBackendCredentials(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		io.WriteString(w, `{"categoriesAnalysis":[]}`)
	}))
	defer srv.Close()
	doc := `<policies><inbound><llm-content-safety backend-id="cs"><categories><category name="Hate" threshold="2" /></categories></llm-content-safety></inbound></policies>`
	tests := []struct {
		name    string
		backend policies.Backend
		want    string // Authorization, or the key header's value
	}{
		{"no credentials", policies.Backend{URL: srv.URL}, "Bearer tok-for--https://cognitiveservices.azure.com"},
		{"a managed identity", policies.Backend{URL: srv.URL, Resource: "api://cs", ClientID: "c1"}, "Bearer tok-for-c1-api://cs"},
		{"a key", policies.Backend{URL: srv.URL, Header: map[string][]string{"ocp-apim-subscription-key": {"backend-key"}}}, "backend-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			deps := aiDeps(srv.URL)
			deps.Backends["cs"] = tt.backend
			p, err := compileAI(t, deps, doc)
			if err != nil {
				t.Fatal(err)
			}
			x := aiExchange(chatBody("hi"))
			x.Request.Headers.Set("Authorization", "Bearer callers-token")
			x.Request.Headers.Set("Ocp-Apim-Subscription-Key", "callers-subscription")
			if err := p.Run(context.Background(), x); err != nil || x.LastError != nil {
				t.Fatalf("Run: %v %+v", err, x.LastError)
			}
			if len(got) != 1 {
				t.Fatalf("%d calls", len(got))
			}
			h := got[0]
			auth := h.Get("Authorization")
			if k := h.Get("Ocp-Apim-Subscription-Key"); k != "" {
				auth = k
			}
			if auth != tt.want {
				t.Errorf("credential %q, want %q", auth, tt.want)
			}
			if h.Get("Api-Key") != "" || strings.Contains(fmt.Sprint(h), "callers") {
				t.Errorf("the caller's credentials reached the service: %v", h)
			}
		})
	}
	deps := aiDeps(srv.URL)
	deps.Tokens = &fakeTokens{err: errors.New("AADSTS500011: no such resource")}
	p, _ := compileAI(t, deps, doc)
	x := aiExchange(chatBody("hi"))
	p.Run(context.Background(), x)
	if x.Response == nil || x.Response.StatusCode != 500 {
		t.Errorf("without a token: %+v", x.Response)
	}
}

// TestContentSafetyReadsTheBodySent: content safety checks the prompt the
// model will get. A token policy before it parsed the client's prompt;
// set-body replaced it since, and the replacement is what is analyzed. An
// Anthropic tool_result block is a document to Prompt Shields, not the
// user's words.
func TestContentSafetyReadsTheBodySent(t *testing.T) {
	var analyzed, users []string
	var docs [][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Text       string   `json:"text"`
			UserPrompt string   `json:"userPrompt"`
			Documents  []string `json:"documents"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if strings.HasSuffix(r.URL.Path, "text:shieldPrompt") {
			users, docs = append(users, req.UserPrompt), append(docs, req.Documents)
			io.WriteString(w, `{"userPromptAnalysis":{"attackDetected":false},"documentsAnalysis":[]}`)
			return
		}
		analyzed = append(analyzed, req.Text)
		io.WriteString(w, `{"categoriesAnalysis":[{"category":"Hate","severity":0}]}`)
	}))
	defer srv.Close()
	doc := `<policies><inbound>
		<llm-emit-token-metric><dimension name="API ID" /></llm-emit-token-metric>
		<set-body>{"messages":[{"role":"user","content":"replaced"}]}</set-body>
		<llm-content-safety backend-id="cs" shield-prompt="true"><categories><category name="Hate" threshold="2" /></categories></llm-content-safety>
	</inbound></policies>`
	deps := aiDeps(srv.URL)
	deps.TokenMetrics = &tokenRecorder{}
	p, err := compileAI(t, deps, doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), aiExchange(chatBody("original"))); err != nil {
		t.Fatal(err)
	}
	anthropic := `{"model":"claude","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"page text"},{"type":"text","text":"Summarize it"}]}]}`
	if err := p.Run(context.Background(), aiExchange(anthropic)); err != nil {
		t.Fatal(err)
	}
	// set-body replaced the second body too.
	want := []string{"replaced", "replaced"}
	if diff := cmp.Diff(want, analyzed); diff != "" {
		t.Errorf("text:analyze got (-want +got):\n%s", diff)
	}

	p, err = compileAI(t, aiDeps(srv.URL), `<policies><inbound><llm-content-safety backend-id="cs" shield-prompt="true" /></inbound></policies>`)
	if err != nil {
		t.Fatal(err)
	}
	users, docs = nil, nil
	if err := p.Run(context.Background(), aiExchange(anthropic)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Summarize it"}, users); diff != "" {
		t.Errorf("userPrompt (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"page text"}}, docs); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}
