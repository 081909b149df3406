package llm

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tiktoken-go/tokenizer"
)

func TestShapeOf(t *testing.T) {
	tests := []struct {
		path string
		want Shape
	}{
		{"/v1/chat/completions", ChatCompletions},
		{"/openai/deployments/gpt-4o/chat/completions", ChatCompletions},
		{"/openai/deployments/gpt-35/completions", Completions},
		{"/v1/embeddings", Embeddings},
		{"/openai/v1/responses", Responses},
		{"/openai/responses/", Responses},
		{"/v1/messages", AnthropicMessages},
		{"/v1/threads/t1/messages", Unknown},
		{"/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent", Vertex},
		{"/v1beta/models/gemini-2.5-pro:streamGenerateContent", Vertex},
		{"/v1/models", Unknown},
		{"", Unknown},
	}
	for _, tt := range tests {
		if got := ShapeOf(tt.path); got != tt.want {
			t.Errorf("ShapeOf(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, path, body string
		want             *Request
	}{{
		name: "chat completions",
		path: "/openai/deployments/gpt-4o/chat/completions",
		body: `{"messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"What is in"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"this picture?"}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"look","arguments":"{\"x\":1}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"a cat"}],
			"tools":[{"type":"function","function":{"name":"look"}}],"stream":true,"stream_options":{"include_usage":true}}`,
		want: &Request{Shape: ChatCompletions, Stream: true, StreamUsage: true, Tools: `[{"type":"function","function":{"name":"look"}}]`,
			Messages: []Message{{Role: "system", Text: "Be brief."}, {Role: "user", Text: "What is in\nthis picture?", Images: 1},
				{Role: "assistant", Text: "look\n{\"x\":1}"}, {Role: "tool", Text: "a cat"}}},
	}, {
		name: "chat completions by the body",
		body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":false}`,
		want: &Request{Shape: ChatCompletions, Model: "gpt-4o-mini", Messages: []Message{{Role: "user", Text: "Hi"}}},
	}, {
		name: "legacy completions with token ids",
		path: "/v1/completions",
		body: `{"model":"gpt-3.5-turbo-instruct","prompt":["Say this",[1,2,3],7]}`,
		want: &Request{Shape: Completions, Model: "gpt-3.5-turbo-instruct", Messages: []Message{{Role: "user", Text: "Say this"}, {Role: "user", Tokens: 4}}},
	}, {
		name: "embeddings",
		path: "/v1/embeddings",
		body: `{"model":"text-embedding-3-small","input":"The food was delicious"}`,
		want: &Request{Shape: Embeddings, Model: "text-embedding-3-small", Messages: []Message{{Role: "user", Text: "The food was delicious"}}},
	}, {
		name: "responses with a string",
		path: "/v1/responses",
		body: `{"model":"gpt-4.1","instructions":"Talk like a pirate.","input":"Are semicolons optional?","stream":true}`,
		want: &Request{Shape: Responses, Model: "gpt-4.1", Stream: true,
			Messages: []Message{{Role: "system", Text: "Talk like a pirate."}, {Role: "user", Text: "Are semicolons optional?"}}},
	}, {
		name: "responses with items",
		path: "/openai/v1/responses",
		body: `{"input":[{"role":"user","content":[{"type":"input_text","text":"what is in this image?"},{"type":"input_image","image_url":"data:..."}]},
			{"type":"function_call","name":"get_weather","arguments":"{}","call_id":"c"},{"type":"function_call_output","call_id":"c","output":"sunny"}]}`,
		want: &Request{Shape: Responses, Messages: []Message{{Role: "user", Text: "what is in this image?", Images: 1},
			{Role: "assistant", Text: "get_weather\n{}"}, {Role: "tool", Text: "sunny"}}},
	}, {
		name: "anthropic messages",
		path: "/v1/messages",
		body: `{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"You are terse."}],
			"messages":[{"role":"user","content":"Hello"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm"},{"type":"tool_use","id":"t","name":"calc","input":{"a":1}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"2"}]},{"type":"image","source":{"type":"base64"}}]}]}`,
		want: &Request{Shape: AnthropicMessages, Model: "claude-sonnet-4-5", Messages: []Message{{Role: "system", Text: "You are terse."},
			{Role: "user", Text: "Hello"}, {Role: "assistant", Text: "hm\ncalc\n{\"a\":1}"}, {Role: "tool", Text: "2"}, {Role: "user", Images: 1}}},
	}, {
		name: "anthropic tool results amid text",
		path: "/v1/messages",
		body: `{"messages":[{"role":"user","content":[{"type":"text","text":"U"},{"type":"tool_result","tool_use_id":"x","content":"R1"},{"type":"tool_result","tool_use_id":"y","content":[{"type":"text","text":"R2"}]},{"type":"text","text":"V"}]}]}`,
		want: &Request{Shape: AnthropicMessages, Messages: []Message{{Role: "user", Text: "U"}, {Role: "tool", Text: "R1"}, {Role: "tool", Text: "R2"}, {Role: "user", Text: "V"}}},
	}, {
		name: "anthropic by the body",
		body: `{"model":"claude-3","system":"Be kind.","messages":[{"role":"user","content":"Hi"}]}`,
		want: &Request{Shape: AnthropicMessages, Model: "claude-3", Messages: []Message{{Role: "system", Text: "Be kind."}, {Role: "user", Text: "Hi"}}},
	}, {
		name: "vertex",
		path: "/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash:streamGenerateContent",
		body: `{"systemInstruction":{"parts":[{"text":"Answer in French."}]},"contents":[{"role":"user","parts":[{"text":"Describe"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]},
			{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"function","parts":[{"function_response":{"name":"f","response":{"r":1}}}]}]}`,
		want: &Request{Shape: Vertex, Stream: true, Messages: []Message{{Role: "system", Text: "Answer in French."}, {Role: "user", Text: "Describe", Images: 1},
			{Role: "assistant", Text: `{"name":"f","args":{}}`}, {Role: "tool", Text: `{"name":"f","response":{"r":1}}`}}},
	}, {
		name: "fields of unexpected types are skipped",
		path: "/v1/chat/completions",
		body: `{"model":7,"messages":"hello","stream":"yes"}`,
		want: &Request{Shape: ChatCompletions},
	}, {
		name: "an object of no known shape",
		body: `{"query":"x"}`,
		want: &Request{Shape: Unknown},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.path, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Request{})); diff != "" {
				t.Errorf("ParseRequest (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"messages":`, `{} {}`} {
		if _, err := ParseRequest("/v1/chat/completions", []byte(bad)); err != ErrNotJSON {
			t.Errorf("ParseRequest(%q) = %v, want ErrNotJSON", bad, err)
		}
	}
}

func TestIncludeUsage(t *testing.T) {
	tests := []struct {
		name, path, body, want string
		changed                bool
	}{
		{"a stream without options", "/v1/chat/completions", ` {"model":"m","stream":true,"messages":[]}`,
			` {"stream_options":{"include_usage":true},"model":"m","stream":true,"messages":[]}`, true},
		{"options without include_usage", "/v1/completions", `{"stream":true,"stream_options":{"x":1},"prompt":"p"}`,
			`{"stream":true,"stream_options":{"include_usage":true,"x":1},"prompt":"p"}`, true},
		// Only stream_options changes: the rest keeps its order and bytes.
		{"include_usage false", "/v1/chat/completions", `{"model":"m", "stream":true,"stream_options":{ "include_usage" : false },"messages":[{"role":"user","content":"\u00e9"}]}`,
			`{"model":"m", "stream":true,"stream_options":{ "include_usage" : true },"messages":[{"role":"user","content":"\u00e9"}]}`, true},
		{"empty options", "/v1/chat/completions", `{"stream":true,"stream_options":{ },"z":1}`,
			`{"stream":true,"stream_options":{"include_usage":true },"z":1}`, true},
		{"null options", "/v1/chat/completions", `{"stream":true,"stream_options":null}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`, true},
		{"options twice: the last counts, as a decoder reads it", "/v1/chat/completions", `{"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}}`,
			`{"stream":true,"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}`, true},
		{"asked already", "/v1/chat/completions", `{"stream":true,"stream_options":{"include_usage":true}}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`, false},
		{"not a stream", "/v1/chat/completions", `{"stream":false}`, `{"stream":false}`, false},
		{"responses report usage anyway", "/v1/responses", `{"stream":true,"input":"x"}`, `{"stream":true,"input":"x"}`, false},
		{"anthropic reports usage anyway", "/v1/messages", `{"stream":true,"messages":[]}`, `{"stream":true,"messages":[]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.path, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, changed := IncludeUsage(r, []byte(tt.body))
			if string(got) != tt.want || changed != tt.changed {
				t.Errorf("IncludeUsage = %s, %v; want %s, %v", got, changed, tt.want, tt.changed)
			}
			if changed {
				again, _ := ParseRequest(tt.path, got)
				if !again.StreamUsage {
					t.Errorf("the new body does not ask for usage")
				}
			}
		})
	}
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		body  string
		want  Usage
		ok    bool
	}{
		{"chat completions", ChatCompletions, `{"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,
			"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":3}}}`,
			Usage{Prompt: 19, Completion: 10, Total: 29, Cached: 4, Reasoning: 3, HasCached: true, HasReasoning: true}, true},
		{"total is prompt plus completion", Unknown, `{"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":99}}`,
			Usage{Prompt: 5, Completion: 6, Total: 11}, true},
		{"embeddings", Embeddings, `{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, Usage{Prompt: 8, Total: 8}, true},
		{"responses", Responses, `{"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,
			"output_tokens_details":{"reasoning_tokens":64},"total_tokens":123}}`,
			Usage{Prompt: 36, Completion: 87, Total: 123, Reasoning: 64, HasCached: true, HasReasoning: true}, true},
		{"anthropic", AnthropicMessages, `{"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":40}}`,
			Usage{Prompt: 60, Completion: 40, Total: 100, Cached: 30, HasCached: true}, true},
		{"vertex", Vertex, `{"candidates":[],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":7,"thoughtsTokenCount":5,"totalTokenCount":24,"cachedContentTokenCount":2}}`,
			Usage{Prompt: 12, Completion: 12, Total: 24, Cached: 2, Reasoning: 5, HasCached: true, HasReasoning: true}, true},
		{"vertex without candidates", Vertex, `{"usageMetadata":{"promptTokenCount":12,"totalTokenCount":12}}`,
			Usage{Prompt: 12, Total: 12}, true},
		{"negative and huge counts", Unknown, `{"usage":{"prompt_tokens":-5,"completion_tokens":1e300}}`, Usage{}, false},
		{"clamped counts", Unknown, `{"usage":{"prompt_tokens":-5,"completion_tokens":99999999999999999}}`,
			Usage{Completion: maxTokens, Total: maxTokens}, true},
		{"no usage", ChatCompletions, `{"error":{"message":"no"}}`, Usage{}, false},
		{"half a usage", ChatCompletions, `{"usage":{"prompt_tokens":3}}`, Usage{}, false},
		{"not json", Unknown, `data: x`, Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseUsage(tt.shape, []byte(tt.body))
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseUsage (-want +got):\n%s", diff)
			}
		})
	}
}

type streamWant struct {
	usage              Usage
	prompt, completion bool
	text               string
}

var streams = []struct {
	name, contentType string
	shape             Shape
	body              string
	want              streamWant
}{{
	name: "openai with the usage chunk", shape: ChatCompletions, contentType: "text/event-stream",
	body: "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n" +
		"data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\r\n\r\n" +
		"data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
		": a comment\nevent: x\n\n" +
		"data: {\"id\":\"1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n" +
		"data: [DONE]\n\n",
	want: streamWant{usage: Usage{Prompt: 9, Completion: 2, Total: 11, HasCached: true}, prompt: true, completion: true, text: "Hello world"},
}, {
	name: "openai without a usage chunk, tool calls, no final blank line", shape: ChatCompletions, contentType: "text/event-stream; charset=utf-8",
	body: "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"text\":\"legacy\",\"index\":0}]}",
	want: streamWant{text: "f{}legacy"},
}, {
	name: "responses", shape: Responses, contentType: "text/event-stream",
	body: "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n" +
		"event: response.audio.delta\ndata: {\"type\":\"response.audio.delta\",\"delta\":\"AAAA\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1,\"total_tokens\":4,\"output_tokens_details\":{\"reasoning_tokens\":0}}}}\n\n",
	want: streamWant{usage: Usage{Prompt: 3, Completion: 1, Total: 4, HasReasoning: true}, prompt: true, completion: true, text: "Hi"},
}, {
	name: "anthropic", shape: AnthropicMessages, contentType: "text/event-stream",
	body: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n" +
		"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	want: streamWant{usage: Usage{Prompt: 30, Completion: 15, Total: 45, Cached: 5, HasCached: true}, prompt: true, completion: true, text: "Hello"},
}, {
	name: "anthropic cut short", shape: AnthropicMessages, contentType: "text/event-stream",
	body: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}\n\n",
	want: streamWant{usage: Usage{Prompt: 25, Total: 25}, prompt: true, text: "{\"a"},
}, {
	name: "vertex sse", shape: Vertex, contentType: "text/event-stream",
	body: "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Bon\"}],\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":8,\"totalTokenCount\":8}}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"jour\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":2,\"totalTokenCount\":10}}\r\n\r\n",
	want: streamWant{usage: Usage{Prompt: 8, Completion: 2, Total: 10}, prompt: true, completion: true, text: "Bonjour"},
}, {
	name: "vertex json array", shape: Vertex, contentType: "application/json; charset=UTF-8",
	body: "[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a \\\"}{[\"}]}}]}\n,\r\n" +
		"{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"b\"}]}}],\"usageMetadata\": {\"promptTokenCount\": 4,\"candidatesTokenCount\": 3,\"totalTokenCount\": 7}}\n]",
	want: streamWant{usage: Usage{Prompt: 4, Completion: 3, Total: 7}, prompt: true, completion: true, text: "a \"}{[b"},
}}

// TestStreamMeter feeds each stream whole, byte by byte, and split at every
// point: the meter must read the same.
func TestStreamMeter(t *testing.T) {
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			read := func(parts ...string) streamWant {
				m := NewStreamMeter(tt.shape, tt.contentType)
				for _, p := range parts {
					m.Write([]byte(p))
				}
				m.Close()
				var w streamWant
				w.usage, w.prompt, w.completion = m.Usage()
				w.text, _ = m.Text()
				return w
			}
			opts := cmp.AllowUnexported(streamWant{})
			if diff := cmp.Diff(tt.want, read(tt.body), opts); diff != "" {
				t.Errorf("whole (-want +got):\n%s", diff)
			}
			bytewise := make([]string, len(tt.body))
			for i := range tt.body {
				bytewise[i] = tt.body[i : i+1]
			}
			if diff := cmp.Diff(tt.want, read(bytewise...), opts); diff != "" {
				t.Errorf("byte by byte (-want +got):\n%s", diff)
			}
			for i := range tt.body {
				if diff := cmp.Diff(tt.want, read(tt.body[:i], tt.body[i:]), opts); diff != "" {
					t.Fatalf("split at %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// TestStreamMeterBounds checks that an event over MaxEventBytes is skipped
// without being kept, and that the text kept stops at MaxExactBytes.
func TestStreamMeterBounds(t *testing.T) {
	huge := `data: {"choices":[{"delta":{"content":"` + strings.Repeat("x", MaxEventBytes) + `"}}]}` + "\n\n"
	usage := `data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}` + "\n\n"
	m := NewStreamMeter(ChatCompletions, "text/event-stream")
	for i := 0; i < len(huge); i += 4096 {
		m.Write([]byte(huge[i:min(i+4096, len(huge))]))
	}
	m.Write([]byte(usage))
	if cap(m.line) > 64<<10 || cap(m.data) > 64<<10 {
		t.Errorf("the meter kept %d and %d bytes of an event over the limit", cap(m.line), cap(m.data))
	}
	if u, p, c := m.Usage(); !p || !c || u.Total != 3 {
		t.Errorf("after a long event, Usage = %+v %v %v; want the next event's", u, p, c)
	}
	if s, n := m.Text(); s != "" || n != 0 {
		t.Errorf("the long event's text was read: %d bytes", n)
	}

	m = NewStreamMeter(ChatCompletions, "text/event-stream")
	chunk := `data: {"choices":[{"delta":{"content":"` + strings.Repeat("y", 1000) + `"}}]}` + "\n\n"
	for range 200 {
		m.Write([]byte(chunk))
	}
	if s, n := m.Text(); len(s) != MaxExactBytes || n != 200_000 {
		t.Errorf("Text kept %d of %d bytes; want %d of 200000", len(s), n, MaxExactBytes)
	}

	m = NewStreamMeter(Vertex, "application/json")
	m.Write([]byte("[{\"text\":\"" + strings.Repeat("z", MaxEventBytes) + "\"},{\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":1}}]"))
	if u, _, c := m.Usage(); !c || u.Total != 2 {
		t.Errorf("after a long element, Usage = %+v; want the next element's", u)
	}
}

func TestSegments(t *testing.T) {
	inputs := []string{
		strings.Repeat(" \n", 10000),
		strings.Repeat("a", 20000),
		strings.Repeat("word ", 3000),
		strings.Repeat("\u3000\n", 5000),
		strings.Repeat("中文", 5000),
		"short",
		"",
	}
	for _, in := range inputs {
		var got []string
		segments(in, func(s string) { got = append(got, s) })
		if strings.Join(got, "") != in {
			t.Errorf("the segments of %.20q... are not the text", in)
		}
		for _, s := range got {
			if len(s) > maxSegment+maxSpaceRun+utf8.UTFMax || !utf8.ValidString(s) {
				t.Errorf("segment of %d bytes (valid %v)", len(s), utf8.ValidString(s))
			}
			if n := longestSpaceRun(s); n > maxSpaceRun+utf8.UTFMax {
				t.Errorf("segment with a whitespace run of %d bytes", n)
			}
		}
	}
}

func longestSpaceRun(s string) int {
	best, run := 0, 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			run += utf8.RuneLen(r)
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// TestEstimatorExact checks that ordinary text counts exactly as the encoder
// counts it whole, despite the segments.
func TestEstimatorExact(t *testing.T) {
	e := NewEstimator()
	if err := e.Load(); err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"Hello, world!",
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 200),
		strings.Repeat("Grüße aus Köln, 東京から こんにちは, 12345 + 67890 = 80235.\n", 100),
		"func main() {\n\tfmt.Println(\"hi\")\n}\n",
	}
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		enc := tokenizer.O200kBase
		if model == "gpt-4" {
			enc = tokenizer.Cl100kBase
		}
		c, _ := tokenizer.Get(enc)
		for _, s := range texts {
			want, _ := c.Count(s)
			if got := e.Count(model, s); got != int64(want) {
				t.Errorf("Count(%s, %.30q) = %d, want %d", model, s, got, want)
			}
		}
	}
	if got := e.Count("", "Hello, world!"); got != 4 {
		t.Errorf("Count(Hello, world!) = %d, want 4", got)
	}
}

func TestEstimatorPrompt(t *testing.T) {
	e := NewEstimator()
	r, err := ParseRequest("/v1/chat/completions", []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"Hello, world!"},{"role":"user","content":[{"type":"text","text":"Hello, world!"},{"type":"image_url","image_url":{"url":"x"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Two messages of 4 tokens each with 3+1 of format, the reply's 3, and
	// the "\n" between the texts.
	text := e.Count("gpt-4o", "Hello, world!\nHello, world!")
	if got, want := e.Prompt(r), 2*4+3+text+ImageTokens; got != want {
		t.Errorf("Prompt = %d, want %d", got, want)
	}
	emb, _ := ParseRequest("/v1/embeddings", []byte(`{"input":[[1,2,3],"Hello, world!"]}`))
	if got := e.Prompt(emb); got != 3+4 {
		t.Errorf("Prompt(embeddings) = %d, want 7", got)
	}
}

// TestEstimatorSample checks the extrapolation past MaxExactBytes.
func TestEstimatorSample(t *testing.T) {
	e := NewEstimator()
	unit := "alpha beta gamma delta "
	long := strings.Repeat(unit, 2*MaxExactBytes/len(unit))
	exact := e.Count("", long[:MaxExactBytes])
	got := e.Count("", long)
	want := exact * int64(len(long)) / MaxExactBytes
	if got < want-1 || got > want+1 {
		t.Errorf("Count of %d bytes = %d, want about %d", len(long), got, want)
	}
	// A sample cut in the middle of a character is cut before it.
	cjk := strings.Repeat("東", MaxExactBytes) // 3 bytes each
	if got := e.Count("", cjk); got <= 0 {
		t.Errorf("Count(CJK) = %d", got)
	}
	if got := e.CountSample("", "abc", 3000); got != 1000*e.Count("", "abc") {
		t.Errorf("CountSample extrapolates to %d", got)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"messages":[{"role":"user","content":"x"}],"stream":true}`, `{"contents":[{"parts":[{"text":"x"}]}]}`,
		`{"input":[{"type":"function_call_output","output":"y"}]}`, `{"prompt":[[1,2],3]}`} {
		f.Add("/v1/chat/completions", s)
		f.Add("", s)
	}
	e := NewEstimator()
	f.Fuzz(func(t *testing.T, path, body string) {
		r, err := ParseRequest(path, []byte(body))
		if err != nil {
			return
		}
		if e.Prompt(r) < 0 {
			t.Error("negative estimate")
		}
		out, changed := IncludeUsage(r, []byte(body))
		if changed {
			again, err := ParseRequest(path, out)
			if err != nil || !again.StreamUsage {
				t.Errorf("IncludeUsage made %q: %v", out, err)
			}
		}
	})
}

func FuzzStreamMeter(f *testing.F) {
	for _, s := range streams {
		f.Add(s.body, s.contentType == "text/event-stream", 7)
	}
	f.Fuzz(func(t *testing.T, body string, sse bool, split int) {
		ct := "application/json"
		if sse {
			ct = "text/event-stream"
		}
		m := NewStreamMeter(Unknown, ct)
		if split <= 0 {
			split = 1
		}
		for i := 0; i < len(body); i += split {
			m.Write([]byte(body[i:min(i+split, len(body))]))
		}
		m.Close()
		u, _, _ := m.Usage()
		if u.Prompt < 0 || u.Completion < 0 || u.Total != u.Prompt+u.Completion {
			t.Errorf("usage %+v", u)
		}
	})
}

func TestBodyMeter(t *testing.T) {
	vector := strings.Repeat("0.0123456789,", 20000)
	body := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[` + vector + `1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
	for _, piece := range []int{1, 1000, MaxTailBytes - 1, MaxTailBytes, 3 * MaxTailBytes} {
		m := NewBodyMeter(Embeddings)
		for i := 0; i < len(body); i += piece {
			m.Write([]byte(body[i:min(i+piece, len(body))]))
		}
		u, ok := m.Usage()
		if !ok || u != (Usage{Prompt: 8, Total: 8}) {
			t.Errorf("pieces of %d: Usage = %+v, %v", piece, u, ok)
		}
		if cap(m.tail) > 3*MaxTailBytes {
			t.Errorf("pieces of %d: kept %d bytes", piece, cap(m.tail))
		}
	}
	m := NewBodyMeter(Vertex)
	m.Write([]byte(`{"candidates":[{"content":{"parts":[{"text":"the \"usage\": word"}]}}],"usageMetadata": {"promptTokenCount":3,"candidatesTokenCount":4}}`))
	if u, ok := m.Usage(); !ok || u.Total != 7 {
		t.Errorf("vertex: %+v %v", u, ok)
	}
	m = NewBodyMeter(ChatCompletions)
	m.Write([]byte(`{"error":{"message":"the usage: none"}}`))
	if _, ok := m.Usage(); ok {
		t.Error("a body without usage has one")
	}
}
