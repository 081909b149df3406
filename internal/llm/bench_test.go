package llm

import (
	"fmt"
	"strings"
	"testing"
)

// prompt2KB is a chat request whose messages hold 2 KiB of English prose.
func prompt2KB() []byte {
	text := strings.Repeat("The gateway meters every call to the model, and a team that uses more than its share waits. ", 23)[:2048]
	return fmt.Appendf(nil, `{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":%q}]}`, text)
}

// BenchmarkEstimatePrompt2KB is what estimate-prompt-tokens costs a request
// with a 2 KiB prompt: parsing the body and tokenizing its messages.
func BenchmarkEstimatePrompt2KB(b *testing.B) {
	body := prompt2KB()
	e := NewEstimator()
	e.Load()
	b.ReportAllocs()
	b.SetBytes(2048)
	for b.Loop() {
		r, err := ParseRequest("/v1/chat/completions", body)
		if err != nil {
			b.Fatal(err)
		}
		if e.Prompt(r) == 0 {
			b.Fatal("no tokens")
		}
	}
}

// BenchmarkStreamMeterChunk is the cost of metering one chunk of an OpenAI
// stream (a few words of content, as models send them): per op, one chunk.
func BenchmarkStreamMeterChunk(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_4d1cc13cd8","choices":[{"index":0,"delta":{"content":" the quick"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	m := NewStreamMeter(ChatCompletions, "text/event-stream")
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		m.Write(chunk)
	}
}

// BenchmarkStreamMeterChunkSplit is the same with each chunk arriving in two
// reads, so that the meter joins the line.
func BenchmarkStreamMeterChunkSplit(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_4d1cc13cd8","choices":[{"index":0,"delta":{"content":" the quick"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	m := NewStreamMeter(ChatCompletions, "text/event-stream")
	half := len(chunk) / 2
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		m.Write(chunk[:half])
		m.Write(chunk[half:])
	}
}
