package llm

import (
	"bytes"
	"encoding/json"
	"strings"
)

// MaxEventBytes bounds one event of a stream (an SSE event's data, an element
// of a JSON array): a longer one is skipped, its text and usage unread.
const MaxEventBytes = 1 << 20

// StreamMeter reads a streamed response as it passes, keeping the usage it
// reports and the beginning of the text it generates, for when it reports
// none. It understands the streams of every Shape: OpenAI's chunks (the last
// one holds the usage when the request asked with
// stream_options.include_usage), Responses' events (response.completed holds
// the usage), Anthropic's events (message_start holds the prompt tokens,
// message_delta the completion tokens so far) and Vertex's chunks (each holds
// the usageMetadata so far), as server-sent events or, for Vertex without
// alt=sse, as one JSON array whose elements arrive one by one.
//
// A StreamMeter is used by one goroutine. Write never fails, and it holds at
// most MaxEventBytes of an event plus MaxExactBytes of text.
type StreamMeter struct {
	shape Shape
	array bool // a JSON array, not server-sent events

	line, data         []byte // the SSE line and event being read
	lineLong, dataLong bool   // over MaxEventBytes: skipped

	// The JSON array's element being read.
	depth            int
	inString, escape bool

	usage         Usage
	hasPrompt     bool
	hasCompletion bool
	text          []byte // the first MaxExactBytes of the generated text
	textBytes     int64
	events        int
}

// NewStreamMeter returns a meter for a streamed response of shape whose
// Content-Type is contentType: server-sent events for text/event-stream, else
// a JSON array.
func NewStreamMeter(shape Shape, contentType string) *StreamMeter {
	sse := strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "text/event-stream")
	return &StreamMeter{shape: shape, array: !sse}
}

// Write reads the next bytes of the stream.
func (m *StreamMeter) Write(p []byte) (int, error) {
	n := len(p)
	if m.array {
		m.scanArray(p)
		return n, nil
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.appendLine(p)
			break
		}
		line := p[:i]
		if len(m.line) > 0 || m.lineLong {
			m.appendLine(line)
			line = m.line
		}
		if !m.lineLong {
			m.sseLine(line)
		}
		m.line, m.lineLong = reuse(m.line), false
		p = p[i+1:]
	}
	return n, nil
}

// Close reads what the stream left without its final line break.
func (m *StreamMeter) Close() error {
	if !m.array {
		if len(m.line) > 0 && !m.lineLong {
			m.sseLine(m.line)
		}
		m.sseLine(nil)
		m.line = nil
	}
	return nil
}

func (m *StreamMeter) appendLine(p []byte) {
	if m.lineLong || len(m.line)+len(p) > MaxEventBytes+len("data: \r") {
		m.lineLong = true
		return
	}
	m.line = append(m.line, p...)
}

// sseLine handles one line of server-sent events: a data line adds to the
// event, a blank line ends it; other fields do not matter here.
func (m *StreamMeter) sseLine(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) == 0 {
		if len(m.data) > 0 && !m.dataLong {
			m.event(m.data)
		}
		m.data, m.dataLong = reuse(m.data), false
		return
	}
	v, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok || m.dataLong {
		return
	}
	v = bytes.TrimPrefix(v, []byte{' '})
	if len(m.data)+len(v)+1 > MaxEventBytes {
		m.dataLong = true
		return
	}
	if len(m.data) > 0 {
		m.data = append(m.data, '\n')
	}
	m.data = append(m.data, v...)
}

// scanArray finds the elements of a streamed JSON array, objects one by one.
func (m *StreamMeter) scanArray(p []byte) {
	for _, c := range p {
		if m.depth == 0 {
			if c == '{' {
				m.depth, m.inString, m.escape = 1, false, false
				m.data, m.dataLong = append(m.data[:0], c), false
			}
			continue
		}
		if !m.dataLong {
			if len(m.data) < MaxEventBytes {
				m.data = append(m.data, c)
			} else {
				m.dataLong = true
			}
		}
		switch {
		case m.inString:
			switch {
			case m.escape:
				m.escape = false
			case c == '\\':
				m.escape = true
			case c == '"':
				m.inString = false
			}
		case c == '"':
			m.inString = true
		case c == '{' || c == '[':
			m.depth++
		case c == '}' || c == ']':
			if m.depth--; m.depth == 0 {
				if !m.dataLong {
					m.event(m.data)
				}
				m.data = reuse(m.data)
			}
		}
	}
}

// reuse empties a buffer for the next line or event, letting a large one go:
// an event is usually small, and a stream may last long.
func reuse(b []byte) []byte {
	if cap(b) > 64<<10 {
		return nil
	}
	return b[:0]
}

// chunkJSON is the union of the streamed events' fields that matter.
type chunkJSON struct {
	Type    string `json:"type"`
	Choices []struct {
		Delta struct {
			Content   json.RawMessage `json:"content"`
			Reasoning string          `json:"reasoning_content"`
			Refusal   string          `json:"refusal"`
			ToolCalls []struct {
				Function funcCall `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		Text string `json:"text"`
	} `json:"choices"`
	Usage    *usageJSON      `json:"usage"`
	Delta    json.RawMessage `json:"delta"` // a string in Responses, an object in Anthropic's events
	Response *struct {
		Usage *usageJSON `json:"usage"`
	} `json:"response"`
	Message *struct {
		Usage *usageJSON `json:"usage"`
	} `json:"message"`
	Candidates []struct {
		Content struct {
			Parts []partJSON `json:"parts"`
		} `json:"content"`
	} `json:"candidates"`
	UsageMetadata *usageJSON `json:"usageMetadata"`
}

// event reads one event or chunk.
func (m *StreamMeter) event(data []byte) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		return
	}
	var c chunkJSON
	if json.Unmarshal(data, &c) != nil {
		return
	}
	m.events++
	for i := range c.Choices {
		ch := &c.Choices[i]
		if s, ok := stringOf(ch.Delta.Content); ok {
			m.addText(s)
		}
		m.addText(ch.Delta.Reasoning)
		m.addText(ch.Delta.Refusal)
		for _, t := range ch.Delta.ToolCalls {
			m.addText(t.Function.Name)
			m.addText(t.Function.Arguments)
		}
		m.addText(ch.Text)
	}
	switch {
	case strings.HasPrefix(c.Type, "response."):
		// Responses: text deltas, and the usage once the response is done.
		if s, ok := stringOf(c.Delta); ok && strings.HasSuffix(c.Type, ".delta") && !strings.Contains(c.Type, "audio") {
			m.addText(s)
		}
		if c.Response != nil && c.Response.Usage != nil {
			m.merge(c.Response.Usage.read(Responses), true)
		}
	case c.Type == "message_start":
		// Anthropic: the prompt's tokens; its output_tokens is a start.
		if c.Message != nil && c.Message.Usage != nil {
			m.merge(c.Message.Usage.read(AnthropicMessages), false)
		}
	case c.Type == "content_block_delta":
		var d struct {
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
			Thinking    string `json:"thinking"`
		}
		json.Unmarshal(c.Delta, &d)
		m.addText(d.Text)
		m.addText(d.PartialJSON)
		m.addText(d.Thinking)
	case c.Type == "message_delta":
		// Anthropic: the output tokens so far (the last one is final).
		if c.Usage != nil {
			m.merge(c.Usage.read(AnthropicMessages), true)
		}
	case c.Usage != nil:
		m.merge(c.Usage.read(m.shape), true)
	}
	for _, cand := range c.Candidates {
		var texts []string
		var images int
		for i := range cand.Content.Parts {
			texts = cand.Content.Parts[i].collect(texts, &images)
		}
		for _, t := range texts {
			m.addText(t)
		}
	}
	if c.UsageMetadata != nil {
		m.merge(c.UsageMetadata.read(Vertex), true)
	}
}

// merge takes the counts a usage object gives; completion false takes only
// its prompt.
func (m *StreamMeter) merge(p partial, completion bool) {
	if p.hasPrompt {
		m.usage.Prompt, m.hasPrompt = p.Prompt, true
		if p.HasCached {
			m.usage.Cached, m.usage.HasCached = p.Cached, true
		}
	}
	if completion && p.hasCompletion {
		m.usage.Completion, m.hasCompletion = p.Completion, true
		if p.HasReasoning {
			m.usage.Reasoning, m.usage.HasReasoning = p.Reasoning, true
		}
	}
	m.usage.Total = m.usage.Prompt + m.usage.Completion
}

func (m *StreamMeter) addText(s string) {
	if s == "" {
		return
	}
	m.textBytes += int64(len(s))
	if room := MaxExactBytes - len(m.text); room > 0 {
		m.text = append(m.text, s[:min(room, len(s))]...)
	}
}

// Usage returns the usage the stream reported, and whether it reported its
// prompt and its completion tokens.
func (m *StreamMeter) Usage() (u Usage, prompt, completion bool) {
	return m.usage, m.hasPrompt, m.hasCompletion
}

// Text returns the beginning of the generated text (at most MaxExactBytes)
// and how many bytes of text the stream generated in all, for
// Estimator.CountSample.
func (m *StreamMeter) Text() (sample string, total int64) {
	return string(m.text), m.textBytes
}

// Events returns how many events or chunks the meter read.
func (m *StreamMeter) Events() int { return m.events }
