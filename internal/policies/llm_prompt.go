package policies

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The prompt of an LLM request, as the semantic cache and content safety read
// it, from the request shapes the llm-* policies accept: OpenAI Chat
// Completions (and legacy Completions), OpenAI Responses, Anthropic Messages
// and Google Vertex AI (Gemini generateContent).
//
// This is a small reader of its own until the LLM request shapes have one
// owner (the token limit work has one in progress); only text is read:
// images, audio and files are left out.

// promptMessage is one message of a prompt: its role, normalised to system,
// user, assistant or tool, and its text.
type promptMessage struct {
	Role string
	Text string
}

// llmPrompt is what a request body says about its prompt.
type llmPrompt struct {
	Messages []promptMessage
	// Model is the body's model, when it names one (OpenAI, Anthropic).
	Model string
	// Stream is the body's "stream": true.
	Stream bool
}

// llmRequest is the union of the request shapes' fields that matter here.
type llmRequest struct {
	Model    json.RawMessage `json:"model"`
	Stream   json.RawMessage `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt       json.RawMessage `json:"prompt"`       // legacy Completions
	Input        json.RawMessage `json:"input"`        // Responses
	Instructions json.RawMessage `json:"instructions"` // Responses
	System       json.RawMessage `json:"system"`       // Anthropic
	Contents     []struct {
		Role  string          `json:"role"`
		Parts json.RawMessage `json:"parts"`
	} `json:"contents"` // Vertex
	SystemInstruction  *geminiContent `json:"systemInstruction"`
	SystemInstruction2 *geminiContent `json:"system_instruction"`
}

type geminiContent struct {
	Parts json.RawMessage `json:"parts"`
}

// parsePrompt reads the prompt of an LLM request body. ok is false when the
// body is not a JSON object of a known shape.
func parsePrompt(body []byte) (p llmPrompt, ok bool) {
	var r llmRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return p, false
	}
	var model string
	if json.Unmarshal(r.Model, &model) == nil {
		p.Model = model
	}
	p.Stream = bytes.Equal(bytes.TrimSpace(r.Stream), []byte("true"))
	add := func(role, text string) {
		if text != "" {
			p.Messages = append(p.Messages, promptMessage{Role: role, Text: text})
		}
	}
	switch {
	case r.Messages != nil:
		// Chat Completions, or Anthropic Messages with its system prompt apart.
		ok = true
		add("system", contentText(r.System))
		for _, m := range r.Messages {
			// Anthropic's tool results come in the user's turn: they are the
			// tools' words, not the user's.
			text, tools := splitToolResults(m.Content)
			add(normalRole(m.Role), text)
			for _, t := range tools {
				add("tool", t)
			}
		}
	case r.Contents != nil:
		ok = true
		for _, si := range []*geminiContent{r.SystemInstruction, r.SystemInstruction2} {
			if si != nil {
				add("system", contentText(si.Parts))
			}
		}
		for _, c := range r.Contents {
			add(normalRole(c.Role), contentText(c.Parts))
		}
	case r.Input != nil:
		ok = true
		add("system", contentText(r.Instructions))
		var s string
		if json.Unmarshal(r.Input, &s) == nil {
			add("user", s)
			break
		}
		var items []struct {
			Type    string          `json:"type"`
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
			Output  json.RawMessage `json:"output"`
		}
		if json.Unmarshal(r.Input, &items) != nil {
			return p, false
		}
		for _, it := range items {
			if it.Type == "function_call_output" || it.Type == "custom_tool_call_output" {
				add("tool", contentText(it.Output))
				continue
			}
			add(normalRole(it.Role), contentText(it.Content))
		}
	case r.Prompt != nil:
		ok = true
		add("user", contentText(r.Prompt))
	}
	return p, ok
}

// normalRole maps the shapes' roles to system, user, assistant or tool.
func normalRole(role string) string {
	switch strings.ToLower(role) {
	case "system", "developer":
		return "system"
	case "assistant", "model":
		return "assistant"
	case "tool", "function":
		return "tool"
	}
	return "user"
}

// splitToolResults is contentText for the text parts of a message, and the
// texts of its tool_result blocks apart.
func splitToolResults(raw json.RawMessage) (string, []string) {
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return contentText(raw), nil
	}
	var rest []json.RawMessage
	var tools []string
	for _, part := range parts {
		var p struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(part, &p) == nil && p.Type == "tool_result" {
			tools = append(tools, contentText(p.Content))
			continue
		}
		rest = append(rest, part)
	}
	all, _ := json.Marshal(rest)
	return contentText(all), tools
}

// contentText is the text of a message's content in any of the shapes: a
// string, an array of strings, or an array of parts with a "text" member
// (text, input_text, output_text; Gemini's parts), and the nested content of
// Anthropic's tool_result blocks. Parts without text are left out.
func contentText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var texts []string
	for _, part := range parts {
		var str string
		if json.Unmarshal(part, &str) == nil {
			texts = append(texts, str)
			continue
		}
		var p struct {
			Type    string          `json:"type"`
			Text    *string         `json:"text"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(part, &p) != nil {
			continue
		}
		switch {
		case p.Text != nil:
			texts = append(texts, *p.Text)
		case p.Type == "tool_result":
			texts = append(texts, contentText(p.Content))
		}
	}
	return strings.Join(texts, "\n")
}
