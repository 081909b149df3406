package llm

import (
	"bytes"
	"encoding/json"
)

// Usage is the tokens of one call. Completion includes reasoning tokens, as
// every API reports them; Cached is the part of Prompt served from the
// model's prompt cache.
type Usage struct {
	Prompt, Completion, Total int64
	Cached, Reasoning         int64
	// HasCached and HasReasoning report whether the response said how many
	// cached and reasoning tokens there were (the metrics emit them only
	// then).
	HasCached, HasReasoning bool
}

// maxTokens bounds a count a backend reports, so that sums stay exact in
// Redis's doubles whatever a backend says.
const maxTokens = 1 << 40

// usageJSON is the union of the usage objects: OpenAI Chat Completions,
// Completions and Embeddings (prompt_tokens ...), OpenAI Responses and
// Anthropic (input_tokens ...), Vertex (usageMetadata's promptTokenCount ...).
type usageJSON struct {
	PromptTokens     *int64 `json:"prompt_tokens"`
	CompletionTokens *int64 `json:"completion_tokens"`
	TotalTokens      *int64 `json:"total_tokens"`
	PromptDetails    *struct {
		CachedTokens *int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionDetails *struct {
		ReasoningTokens *int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`

	InputTokens  *int64 `json:"input_tokens"`
	OutputTokens *int64 `json:"output_tokens"`
	InputDetails *struct {
		CachedTokens *int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputDetails *struct {
		ReasoningTokens *int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	CacheCreation *int64 `json:"cache_creation_input_tokens"`
	CacheRead     *int64 `json:"cache_read_input_tokens"`

	PromptTokenCount     *int64 `json:"promptTokenCount"`
	CandidatesTokenCount *int64 `json:"candidatesTokenCount"`
	TotalTokenCount      *int64 `json:"totalTokenCount"`
	CachedTokenCount     *int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount   *int64 `json:"thoughtsTokenCount"`
	ToolUsePromptCount   *int64 `json:"toolUsePromptTokenCount"`
}

// partial is what one usage object says: the prompt and completion tokens
// each only when it gives them (an Anthropic stream gives the prompt at its
// start and the completion at its end).
type partial struct {
	Usage
	hasPrompt, hasCompletion bool
}

func get(p *int64) int64 {
	if p == nil {
		return 0
	}
	return min(max(*p, 0), maxTokens)
}

// read interprets u for shape.
func (u *usageJSON) read(shape Shape) partial {
	var p partial
	switch {
	case u.PromptTokenCount != nil || u.CandidatesTokenCount != nil || u.TotalTokenCount != nil:
		// Vertex: thoughts are billed as output but reported apart.
		p.hasPrompt = u.PromptTokenCount != nil || u.ToolUsePromptCount != nil
		p.Prompt = get(u.PromptTokenCount) + get(u.ToolUsePromptCount)
		p.hasCompletion = u.CandidatesTokenCount != nil || u.ThoughtsTokenCount != nil
		p.Completion = get(u.CandidatesTokenCount) + get(u.ThoughtsTokenCount)
		p.Cached, p.HasCached = get(u.CachedTokenCount), u.CachedTokenCount != nil
		p.Reasoning, p.HasReasoning = get(u.ThoughtsTokenCount), u.ThoughtsTokenCount != nil
		switch total := get(u.TotalTokenCount); {
		case u.TotalTokenCount == nil:
		case p.hasCompletion && !p.hasPrompt:
			p.Prompt, p.hasPrompt = max(total-p.Completion, 0), true
		case p.hasPrompt && !p.hasCompletion:
			// No candidates (an empty or blocked answer).
			p.Completion, p.hasCompletion = max(total-p.Prompt, 0), true
		}
	case u.PromptTokens != nil || u.CompletionTokens != nil:
		// Chat Completions, Completions, Embeddings (no completion).
		p.Prompt, p.hasPrompt = get(u.PromptTokens), u.PromptTokens != nil
		p.Completion = get(u.CompletionTokens)
		p.hasCompletion = u.CompletionTokens != nil || shape == Embeddings || u.TotalTokens != nil
		if u.CompletionTokens == nil && u.TotalTokens != nil {
			p.Completion = max(get(u.TotalTokens)-p.Prompt, 0) // embeddings: 0
		}
		if d := u.PromptDetails; d != nil && d.CachedTokens != nil {
			p.Cached, p.HasCached = get(d.CachedTokens), true
		}
		if d := u.CompletionDetails; d != nil && d.ReasoningTokens != nil {
			p.Reasoning, p.HasReasoning = get(d.ReasoningTokens), true
		}
	case shape == AnthropicMessages || u.CacheCreation != nil || u.CacheRead != nil:
		// Anthropic: input_tokens leaves out the tokens written to and read
		// from the prompt cache.
		p.hasPrompt = u.InputTokens != nil || u.CacheCreation != nil || u.CacheRead != nil
		p.Prompt = get(u.InputTokens) + get(u.CacheCreation) + get(u.CacheRead)
		p.Completion, p.hasCompletion = get(u.OutputTokens), u.OutputTokens != nil
		p.Cached, p.HasCached = get(u.CacheRead), u.CacheRead != nil
	case u.InputTokens != nil || u.OutputTokens != nil:
		// Responses.
		p.Prompt, p.hasPrompt = get(u.InputTokens), u.InputTokens != nil
		p.Completion, p.hasCompletion = get(u.OutputTokens), u.OutputTokens != nil
		if d := u.InputDetails; d != nil && d.CachedTokens != nil {
			p.Cached, p.HasCached = get(d.CachedTokens), true
		}
		if d := u.OutputDetails; d != nil && d.ReasoningTokens != nil {
			p.Reasoning, p.HasReasoning = get(d.ReasoningTokens), true
		}
	}
	p.Total = p.Prompt + p.Completion
	return p
}

// ParseUsage reads the usage of a response body of shape (Unknown: any): the
// "usage" object of OpenAI and Anthropic, Vertex's "usageMetadata". ok is
// false when the body has neither with both its prompt and completion
// counts. Total is Prompt + Completion, whatever the body says its total is.
func ParseUsage(shape Shape, body []byte) (u Usage, ok bool) {
	var r struct {
		Usage         *usageJSON `json:"usage"`
		UsageMetadata *usageJSON `json:"usageMetadata"`
	}
	if json.Unmarshal(body, &r) != nil {
		return Usage{}, false
	}
	for _, j := range []*usageJSON{r.Usage, r.UsageMetadata} {
		if j == nil {
			continue
		}
		if p := j.read(shape); p.hasPrompt && p.hasCompletion {
			return p.Usage, true
		}
	}
	return Usage{}, false
}

// MaxTailBytes is how much of the end of a response body a BodyMeter keeps.
const MaxTailBytes = 64 << 10

// BodyMeter reads the usage of a response body too large to buffer, as it
// passes: it keeps the body's last MaxTailBytes, where the APIs put their
// usage object (after the choices, the data or the candidates), and reads the
// last "usage" or "usageMetadata" object found there. Write never fails.
type BodyMeter struct {
	shape Shape
	tail  []byte
}

// NewBodyMeter returns a meter for a response body of shape.
func NewBodyMeter(shape Shape) *BodyMeter { return &BodyMeter{shape: shape} }

// Write reads the next bytes of the body.
func (m *BodyMeter) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= MaxTailBytes {
		m.tail = append(m.tail[:0], p[len(p)-MaxTailBytes:]...)
		return n, nil
	}
	if over := len(m.tail) + len(p) - 2*MaxTailBytes; over > 0 {
		// Keep the last MaxTailBytes, moving them once per MaxTailBytes read.
		keep := m.tail[len(m.tail)-(MaxTailBytes-len(p)):]
		m.tail = append(m.tail[:0], keep...)
	}
	m.tail = append(m.tail, p...)
	return n, nil
}

// Usage reads the usage from the end of the body, as ParseUsage does.
func (m *BodyMeter) Usage() (Usage, bool) {
	for _, key := range []string{`"usageMetadata"`, `"usage"`} {
		i := bytes.LastIndex(m.tail, []byte(key))
		if i < 0 {
			continue
		}
		rest := bytes.TrimLeft(m.tail[i+len(key):], " \t\r\n")
		rest, ok := bytes.CutPrefix(rest, []byte(":"))
		if !ok {
			continue
		}
		var u usageJSON
		if json.NewDecoder(bytes.NewReader(rest)).Decode(&u) != nil {
			continue
		}
		if p := u.read(m.shape); p.hasPrompt && p.hasCompletion {
			return p.Usage, true
		}
	}
	return Usage{}, false
}
