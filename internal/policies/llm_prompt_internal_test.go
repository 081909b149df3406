package policies

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePrompt(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   llmPrompt
		wantOK bool
	}{
		{"chat completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":"Use French."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"data:"}},{"type":"text","text":"there"}]},{"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","content":"42"}]}`,
			llmPrompt{Model: "gpt-4o", Stream: true, Messages: []promptMessage{{"system", "Be brief."}, {"system", "Use French."}, {"user", "Hi\nthere"}, {"tool", "42"}}}, true},
		{"legacy completions", `{"model":"davinci","prompt":["a","b"]}`,
			llmPrompt{Model: "davinci", Messages: []promptMessage{{"user", "a\nb"}}}, true},
		{"responses, a string", `{"model":"o4","instructions":"Be kind.","input":"What now?"}`,
			llmPrompt{Model: "o4", Messages: []promptMessage{{"system", "Be kind."}, {"user", "What now?"}}}, true},
		{"responses, items", `{"input":[{"role":"user","content":[{"type":"input_text","text":"Q"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"A"}]},{"type":"function_call_output","call_id":"c","output":"{\"t\":1}"}]}`,
			llmPrompt{Messages: []promptMessage{{"user", "Q"}, {"assistant", "A"}, {"tool", `{"t":1}`}}}, true},
		{"anthropic messages", `{"model":"claude","system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":[{"type":"text","text":"U"},{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"R"}]}]}]}`,
			llmPrompt{Model: "claude", Messages: []promptMessage{{"system", "S"}, {"user", "U"}, {"tool", "R"}}}, true},
		{"vertex", `{"systemInstruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"text":"U1"},{"inlineData":{}}]},{"role":"model","parts":[{"text":"M"}]}]}`,
			llmPrompt{Messages: []promptMessage{{"system", "S"}, {"user", "U1"}, {"assistant", "M"}}}, true},
		{"vertex, snake case", `{"system_instruction":{"parts":[{"text":"S"}]},"contents":[{"parts":[{"text":"U"}]}]}`,
			llmPrompt{Messages: []promptMessage{{"system", "S"}, {"user", "U"}}}, true},
		{"not an llm request", `{"hello":"world"}`, llmPrompt{}, false},
		{"not json", `hello`, llmPrompt{}, false},
		{"an array", `[1,2]`, llmPrompt{}, false},
		{"messages of the wrong type", `{"messages":"x"}`, llmPrompt{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parsePrompt([]byte(tt.body))
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParsePrompt(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"x"}]}`)
	f.Add(`{"contents":[{"parts":[{"text":"x"}]}]}`)
	f.Add(`{"input":[{"type":"function_call_output","output":[1]}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		parsePrompt([]byte(body)) // must not panic
	})
}
