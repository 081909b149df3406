package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Request is what an LLM request body says about its prompt.
type Request struct {
	Shape Shape
	// Model is the body's model, when it names one (Azure OpenAI and Vertex
	// name theirs in the path instead).
	Model string
	// Stream is whether the response streams: "stream": true, or Vertex's
	// streamGenerateContent.
	Stream bool
	// StreamUsage is whether an OpenAI stream asked for its final usage
	// chunk (stream_options.include_usage).
	StreamUsage bool
	// Messages are the prompt: the system prompt, the conversation, tool
	// results, in order.
	Messages []Message
	// Tools are the tool and function definitions, as JSON: they count
	// toward the prompt.
	Tools string

	hasStreamOptions bool
}

// Message is one message of a prompt.
type Message struct {
	// Role is system (also OpenAI's developer, Anthropic's system and
	// Vertex's systemInstruction), user, assistant (also Vertex's model) or
	// tool (tool and function results).
	Role string
	// Text is the message's text parts, each on its own line, and the names
	// and arguments of the tool calls it makes.
	Text string
	// Images is how many images the message carries.
	Images int
	// Tokens are tokens the body gives as token ids (legacy Completions and
	// Embeddings accept them): they count as they are.
	Tokens int64
}

// Messages returns the prompt of a request body to path (the URL's decoded
// path, "" when unknown): ParseRequest's Messages.
func Messages(path string, body []byte) ([]Message, error) {
	r, err := ParseRequest(path, body)
	if err != nil {
		return nil, err
	}
	return r.Messages, nil
}

// ErrNotJSON is returned for a body that is not a JSON object.
var ErrNotJSON = errors.New("llm: the request body is not a JSON object")

// requestJSON is the union of the request shapes' fields that matter; each
// is decoded on its own, so that one field of an unexpected type does not
// hide the others.
type requestJSON struct {
	Model             json.RawMessage `json:"model"`
	Stream            json.RawMessage `json:"stream"`
	StreamOptions     json.RawMessage `json:"stream_options"`
	Messages          json.RawMessage `json:"messages"`
	Prompt            json.RawMessage `json:"prompt"`
	Input             json.RawMessage `json:"input"`
	Instructions      json.RawMessage `json:"instructions"`
	System            json.RawMessage `json:"system"`
	AnthropicVersion  json.RawMessage `json:"anthropic_version"`
	Contents          json.RawMessage `json:"contents"`
	SystemInstruction json.RawMessage `json:"systemInstruction"`
	SystemSnake       json.RawMessage `json:"system_instruction"`
	Tools             json.RawMessage `json:"tools"`
	Functions         json.RawMessage `json:"functions"`
}

// ParseRequest reads an LLM request body sent to path (the URL's decoded
// path; "" when unknown). The shape comes from the path, else from the body's
// fields. A JSON object of no known shape gives a Request with Shape Unknown
// and no messages; anything else fails with ErrNotJSON.
func ParseRequest(path string, body []byte) (*Request, error) {
	var j requestJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, ErrNotJSON
	}
	r := &Request{Shape: ShapeOf(path)}
	if r.Shape == Unknown {
		r.Shape = j.shape()
	}
	json.Unmarshal(j.Model, &r.Model)
	r.Stream = isTrue(j.Stream) || streamsByPath(path)
	if r.hasStreamOptions = len(bytes.TrimSpace(j.StreamOptions)) > 0; r.hasStreamOptions {
		var so struct {
			IncludeUsage json.RawMessage `json:"include_usage"`
		}
		json.Unmarshal(j.StreamOptions, &so)
		r.StreamUsage = isTrue(so.IncludeUsage)
	}
	var tools []string
	for _, t := range []json.RawMessage{j.Tools, j.Functions} {
		if present(t) {
			tools = append(tools, string(t))
		}
	}
	r.Tools = strings.Join(tools, "\n")

	switch r.Shape {
	case ChatCompletions, AnthropicMessages:
		r.addContent("system", j.System)
		var msgs []messageJSON
		json.Unmarshal(j.Messages, &msgs)
		for _, m := range msgs {
			r.addMessage(m)
		}
	case Completions:
		r.addPrompt(j.Prompt)
	case Embeddings:
		r.addPrompt(j.Input)
	case Responses:
		r.addContent("system", j.Instructions)
		if s, ok := stringOf(j.Input); ok {
			r.add(Message{Role: "user", Text: s})
			break
		}
		var items []messageJSON
		json.Unmarshal(j.Input, &items)
		for _, m := range items {
			r.addMessage(m)
		}
	case Vertex:
		for _, sys := range []json.RawMessage{j.SystemInstruction, j.SystemSnake} {
			var c vertexContent
			if json.Unmarshal(sys, &c) == nil {
				r.addParts("system", c.Parts)
			}
		}
		var contents []vertexContent
		json.Unmarshal(j.Contents, &contents)
		for _, c := range contents {
			r.addParts(role(c.Role), c.Parts)
		}
	}
	return r, nil
}

// shape guesses the shape of a body whose path did not say.
func (j *requestJSON) shape() Shape {
	switch {
	case present(j.Contents):
		return Vertex
	case present(j.Messages) && (present(j.System) || present(j.AnthropicVersion)):
		return AnthropicMessages
	case present(j.Messages):
		return ChatCompletions
	case present(j.Input):
		var model string
		json.Unmarshal(j.Model, &model)
		if strings.Contains(strings.ToLower(model), "embed") {
			return Embeddings
		}
		return Responses
	case present(j.Prompt):
		return Completions
	}
	return Unknown
}

// messageJSON is a chat message (OpenAI, Anthropic) or a Responses input item.
type messageJSON struct {
	Role      string          `json:"role"`
	Type      string          `json:"type"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		Function funcCall `json:"function"`
	} `json:"tool_calls"`
	FunctionCall *funcCall       `json:"function_call"`
	Name         string          `json:"name"`
	Arguments    string          `json:"arguments"` // a Responses function_call item
	Output       json.RawMessage `json:"output"`    // a Responses function_call_output item
}

type funcCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// partJSON is a content part or block of every shape.
type partJSON struct {
	Type     string           `json:"type"`
	Text     *json.RawMessage `json:"text"`
	Refusal  string           `json:"refusal"`
	Thinking string           `json:"thinking"`
	Name     string           `json:"name"`
	Input    json.RawMessage  `json:"input"`   // Anthropic tool_use
	Content  json.RawMessage  `json:"content"` // Anthropic tool_result
	// Vertex, in its JSON (camelCase) and proto (snake_case) spellings.
	InlineData       *blobJSON       `json:"inlineData"`
	InlineDataSnake  *blobJSON       `json:"inline_data"`
	FileData         *blobJSON       `json:"fileData"`
	FileDataSnake    *blobJSON       `json:"file_data"`
	FunctionCall     json.RawMessage `json:"functionCall"`
	FunctionCallS    json.RawMessage `json:"function_call"`
	FunctionResponse json.RawMessage `json:"functionResponse"`
	FunctionRespS    json.RawMessage `json:"function_response"`
}

type blobJSON struct {
	MimeType  string `json:"mimeType"`
	MimeSnake string `json:"mime_type"`
}

type vertexContent struct {
	Role  string          `json:"role"`
	Parts json.RawMessage `json:"parts"`
}

func (r *Request) add(m Message) {
	if m.Text != "" || m.Images > 0 || m.Tokens > 0 {
		r.Messages = append(r.Messages, m)
	}
}

func (r *Request) addMessage(m messageJSON) {
	switch m.Type {
	case "function_call":
		r.add(Message{Role: "assistant", Text: joinText(m.Name, m.Arguments)})
		return
	case "function_call_output":
		r.addContent("tool", m.Output)
		return
	}
	// Anthropic's tool results come in the user's turn, as tool_result
	// blocks: they are the tools' words (documents to Prompt Shields), so
	// each is a tool message of its own, in the order of the blocks.
	var parts []json.RawMessage
	if _, ok := stringOf(m.Content); !ok && json.Unmarshal(m.Content, &parts) == nil {
		start := 0
		for i, raw := range parts {
			var p struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(raw, &p) != nil || p.Type != "tool_result" {
				continue
			}
			if i > start {
				r.addContent(role(m.Role), joinParts(parts[start:i]))
			}
			var tr partJSON
			json.Unmarshal(raw, &tr)
			r.add(contentMessage("tool", tr.Content))
			start = i + 1
		}
		if start > 0 {
			m.Content = joinParts(parts[start:])
		}
	}
	msg := contentMessage(role(m.Role), m.Content)
	var calls []string
	for _, c := range m.ToolCalls {
		calls = append(calls, c.Function.Name, c.Function.Arguments)
	}
	if f := m.FunctionCall; f != nil {
		calls = append(calls, f.Name, f.Arguments)
	}
	msg.Text = joinText(append([]string{msg.Text}, calls...)...)
	r.add(msg)
}

// joinParts is a JSON array of parts.
func joinParts(parts []json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(parts)
	return b
}

// addContent adds a message whose content is a string or an array of parts.
func (r *Request) addContent(role string, content json.RawMessage) {
	r.add(contentMessage(role, content))
}

func contentMessage(role string, content json.RawMessage) Message {
	m := Message{Role: role}
	if s, ok := stringOf(content); ok {
		m.Text = s
		return m
	}
	var parts []partJSON
	json.Unmarshal(content, &parts)
	var texts []string
	for _, p := range parts {
		texts = p.collect(texts, &m.Images)
	}
	m.Text = joinText(texts...)
	return m
}

// collect appends the part's text to texts and counts its images.
func (p *partJSON) collect(texts []string, images *int) []string {
	switch p.Type {
	case "image_url", "input_image", "image":
		*images++
		return texts
	}
	for _, b := range []*blobJSON{p.InlineData, p.InlineDataSnake, p.FileData, p.FileDataSnake} {
		if b != nil && strings.HasPrefix(b.MimeType+b.MimeSnake, "image/") {
			*images++
		}
	}
	if p.Text != nil {
		if s, ok := stringOf(*p.Text); ok {
			texts = append(texts, s)
		}
	}
	texts = append(texts, p.Refusal, p.Thinking)
	if p.Type == "tool_use" {
		texts = append(texts, p.Name, string(p.Input))
	}
	if p.Type == "tool_result" { // in a system prompt or a tool result
		m := contentMessage("", p.Content)
		*images += m.Images
		texts = append(texts, m.Text)
	}
	for _, raw := range []json.RawMessage{p.FunctionCall, p.FunctionCallS, p.FunctionResponse, p.FunctionRespS} {
		if present(raw) {
			texts = append(texts, string(raw))
		}
	}
	return texts
}

// addParts adds a Vertex content's parts as one message.
func (r *Request) addParts(role string, parts json.RawMessage) {
	var ps []partJSON
	json.Unmarshal(parts, &ps)
	m := Message{Role: role}
	var texts []string
	for _, p := range ps {
		texts = p.collect(texts, &m.Images)
	}
	m.Text = joinText(texts...)
	r.add(m)
}

// addPrompt adds a legacy Completions prompt or an Embeddings input: a
// string, strings, token ids, or arrays of token ids.
func (r *Request) addPrompt(raw json.RawMessage) {
	if s, ok := stringOf(raw); ok {
		r.add(Message{Role: "user", Text: s})
		return
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return
	}
	var tokens int64
	for _, it := range items {
		if s, ok := stringOf(it); ok {
			r.add(Message{Role: "user", Text: s})
			continue
		}
		var ids []json.RawMessage
		if json.Unmarshal(it, &ids) == nil {
			tokens += int64(len(ids))
		} else {
			tokens++ // one token id
		}
	}
	r.add(Message{Role: "user", Tokens: tokens})
}

// role normalises a role name.
func role(s string) string {
	switch strings.ToLower(s) {
	case "system", "developer":
		return "system"
	case "assistant", "model":
		return "assistant"
	case "tool", "function":
		return "tool"
	}
	return "user"
}

// joinText joins the non-empty texts, one a line.
func joinText(texts ...string) string {
	n := 0
	for _, t := range texts {
		if t != "" {
			texts[n] = t
			n++
		}
	}
	return strings.Join(texts[:n], "\n")
}

// stringOf returns raw as a string when it is a JSON string.
func stringOf(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// present reports whether a field was given and not null.
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

func isTrue(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("true")) }

// IncludeUsage returns the body of an OpenAI Chat Completions or Completions
// request that streams without stream_options.include_usage, with it set to
// true, so that the stream ends with a chunk holding the usage (the client
// gets that chunk too; OpenAI's SDKs expect it). changed is false, and body
// is returned as it is, for every other request.
func IncludeUsage(r *Request, body []byte) (out []byte, changed bool) {
	if !r.Stream || r.StreamUsage || (r.Shape != ChatCompletions && r.Shape != Completions) {
		return body, false
	}
	if !r.hasStreamOptions {
		// The object has a member (stream): insert before it, keeping the
		// rest of the body as the client wrote it.
		i := bytes.IndexByte(body, '{')
		if i < 0 {
			return body, false
		}
		const member = `"stream_options":{"include_usage":true},`
		out = make([]byte, 0, len(body)+len(member))
		out = append(append(append(out, body[:i+1]...), member...), body[i+1:]...)
		return out, true
	}
	// Only stream_options' value changes; the rest keeps its bytes and
	// order, as the client wrote it.
	start, end, ok := memberValue(body, "stream_options")
	if !ok {
		return body, false
	}
	opts := body[start:end]
	var repl []byte
	switch s, e, found := memberValue(opts, "include_usage"); {
	case found:
		repl = splice(opts, s, e, []byte("true"))
	case bytes.HasPrefix(opts, []byte("{")):
		member := `"include_usage":true`
		if len(bytes.TrimSpace(opts[1:len(opts)-1])) > 0 {
			member += ","
		}
		repl = splice(opts, 1, 1, []byte(member))
	default: // null, or not an object
		repl = []byte(`{"include_usage":true}`)
	}
	return splice(body, start, end, repl), true
}

// splice is b with b[start:end] replaced by repl, in a new slice.
func splice(b []byte, start, end int, repl []byte) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(repl))
	return append(append(append(out, b[:start]...), repl...), b[end:]...)
}

// memberValue finds the value of the member name of the JSON object obj
// (the last, when it has several, as a decoder reads them): obj[start:end].
func memberValue(obj []byte, name string) (start, end int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, false
		}
		key, _ := t.(string)
		after := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, false
		}
		if key == name {
			// The value starts after the colon and any space.
			s := after + bytes.Index(obj[after:], raw)
			start, end, ok = s, s+len(raw), true
		}
	}
	return start, end, ok
}
