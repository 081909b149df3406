// Package llm reads and edits the request and response bodies of large
// language model APIs, for the policies that limit, meter and cache their
// tokens:
//
//   - OpenAI Chat Completions, legacy Completions, Embeddings and Responses,
//     also behind Azure OpenAI's paths (/openai/deployments/{d}/chat/completions,
//     /openai/v1/responses ...);
//   - Anthropic Messages (/v1/messages);
//   - Google Vertex AI and Gemini (...:generateContent, ...:streamGenerateContent).
//
// ParseRequest gives a request's model, whether it streams, and its prompt as
// Messages with roles normalised to system, user, assistant and tool: the
// semantic cache and content safety read prompts with it, the token limits
// estimate them (Estimator). ParseUsage reads the token usage of a response
// body, and StreamMeter the usage and the text of a streamed one (server-sent
// events, or Vertex's streamed JSON array). IncludeUsage asks an OpenAI
// stream for its final usage chunk.
//
// Nothing here buffers without a bound: request and response bodies arrive
// within the gateway's buffering limit, a stream's events are kept only up to
// MaxEventBytes each and its text up to MaxExactBytes.
package llm

import "strings"

// Shape is the API a request or response body follows.
type Shape uint8

// The shapes.
const (
	Unknown Shape = iota
	// ChatCompletions is OpenAI's /chat/completions, and the many servers
	// that speak it.
	ChatCompletions
	// Completions is OpenAI's legacy /completions.
	Completions
	// Embeddings is OpenAI's /embeddings.
	Embeddings
	// Responses is OpenAI's /responses.
	Responses
	// AnthropicMessages is Anthropic's /v1/messages.
	AnthropicMessages
	// Vertex is Google's generateContent and streamGenerateContent (Vertex AI
	// and the Gemini API).
	Vertex
)

var shapeNames = [...]string{"unknown", "chat-completions", "completions", "embeddings", "responses", "anthropic-messages", "vertex"}

// String returns the shape's name, e.g. "chat-completions".
func (s Shape) String() string {
	if int(s) < len(shapeNames) {
		return shapeNames[s]
	}
	return "unknown"
}

// chat reports whether the shape wraps each message in a chat format, which
// costs tokens of its own.
func (s Shape) chat() bool {
	return s == ChatCompletions || s == Responses || s == AnthropicMessages || s == Vertex
}

// ShapeOf returns the shape that a request to path follows, by the path's
// last segment, or Unknown. The path is the URL's decoded path.
func ShapeOf(path string) Shape {
	p := strings.ToLower(strings.TrimRight(path, "/"))
	last := p[strings.LastIndexByte(p, '/')+1:]
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return ChatCompletions
	case last == "completions":
		return Completions
	case last == "embeddings":
		return Embeddings
	case last == "responses":
		return Responses
	case last == "messages" && !strings.Contains(p, "/threads/"): // not the Assistants API's messages
		return AnthropicMessages
	case strings.HasSuffix(last, ":generatecontent"), strings.HasSuffix(last, ":streamgeneratecontent"):
		return Vertex
	}
	return Unknown
}

// streamsByPath reports whether a request to path streams whatever its body
// says: Vertex's streamGenerateContent.
func streamsByPath(path string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimRight(path, "/")), ":streamgeneratecontent")
}
