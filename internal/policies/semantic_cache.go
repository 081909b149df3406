package policies

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// The semantic cache: llm-semantic-cache-lookup (and its azure-openai-*
// twin) asks the embeddings backend for the embedding of the request's
// prompt and looks for a stored prompt of the same partition within
// score-threshold; on a hit it answers with that prompt's response and the
// backend is not called (nor the store policy); on a miss it leaves the
// embedding in x.SemanticCacheLookup, and llm-semantic-cache-store keeps the
// response with it for duration seconds.
//
// score-threshold is a cosine distance (1 - cosine similarity, RediSearch's
// COSINE metric): a stored prompt is a hit when its distance to the request's
// is at most the threshold, so 0 asks for the same direction and lower
// values ask for closer matches, as API Management documents.
//
// Nothing in the cache is ever an error for the caller: an embeddings backend
// or a store that fails, a body that is not a prompt, is a miss, logged.

// VectorCache keeps the semantic cache: prompts' embeddings with their
// responses, by partition, each for a time. store.MemoryVectors and
// store.RedisVectors implement it.
type VectorCache interface {
	// Nearest returns the value of partition whose vector is nearest to vec by
	// cosine distance, when it is within maxDistance.
	Nearest(ctx context.Context, partition string, vec []float32, maxDistance float64) (store.Match, bool, error)
	// Add keeps value with vec in partition for ttl.
	Add(ctx context.Context, partition string, vec []float32, value []byte, ttl time.Duration) error
}

// maxPromptBytes bounds the prompt text sent for an embedding: beyond it the
// request is not cached (an embeddings model takes 8192 tokens at most).
const maxPromptBytes = 64 << 10

// semanticLookupPolicy is llm-semantic-cache-lookup and
// azure-openai-semantic-cache-lookup.
type semanticLookupPolicy struct {
	name         string
	threshold    pipeline.Value
	embeddings   *aiBackend
	ignoreSystem pipeline.Value
	maxMessages  int // 0: no limit
	varyBy       []pipeline.Value
	vectors      VectorCache
	namespace    string
	maxBytes     int
	log          *slog.Logger
}

// semanticState is what a miss leaves for the store policy.
type semanticState struct {
	vectors   VectorCache
	partition string
	vec       []float32
	maxBytes  int
	log       *slog.Logger
}

func (d *Deps) semanticCacheLookup(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "score-threshold", "embeddings-backend-id", "embeddings-backend-auth", "ignore-system-messages", "max-message-count")
	c.CheckChildren(el, "vary-by")
	if d.Vectors == nil {
		// One per Register call, shared by its policies; the gateway passes one
		// that lives across reloads.
		d.Vectors = store.NewMemoryVectors(store.VectorLimits{})
	}
	p := &semanticLookupPolicy{name: el.Name, vectors: d.Vectors, log: d.Logger,
		namespace: "semantic:" + d.Cache.Namespace + "\x00",
		maxBytes:  cmp.Or(d.Cache.MaxValueBytes, DefaultMaxCachedValueBytes)}
	ok := true
	if v, present := c.RequiredAttr(el, "score-threshold"); present {
		if lit, isLit := v.Literal(); isLit {
			if _, err := parseThreshold(lit); err != nil {
				c.Report(c.Errorf(el.Attr("score-threshold").Value.Pos(), "score-threshold %s", err))
				ok = false
			}
		}
		p.threshold = v
	} else {
		ok = false
	}
	if id, present := c.LiteralAttr(el, "embeddings-backend-id"); present {
		b, err := d.aiBackend(strings.TrimSpace(id))
		if err != nil {
			c.Report(c.Errorf(el.Attr("embeddings-backend-id").Value.Pos(), "embeddings-backend-id: %s", err))
			ok = false
		}
		p.embeddings = b
	} else {
		if el.Attr("embeddings-backend-id") == nil {
			c.Report(c.Errorf(el.Pos, "<%s> needs an embeddings-backend-id attribute: the backend entity of the embeddings API", el.Name))
		}
		ok = false // missing, or an expression (reported)
	}
	if auth, present := c.LiteralAttr(el, "embeddings-backend-auth"); present {
		if strings.TrimSpace(auth) != "system-assigned" {
			c.Report(c.Errorf(el.Attr("embeddings-backend-auth").Value.Pos(), `embeddings-backend-auth must be "system-assigned" (the gateway's system-assigned managed identity), not %q`, auth))
			ok = false
		}
	} else {
		if el.Attr("embeddings-backend-auth") == nil {
			c.Report(c.Errorf(el.Pos, `<%s> needs embeddings-backend-auth="system-assigned"`, el.Name))
		}
		ok = false
	}
	p.ignoreSystem = c.BoolValue(el, "ignore-system-messages", false)
	if s, present := c.LiteralAttr(el, "max-message-count"); present {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			c.Report(c.Errorf(el.Attr("max-message-count").Value.Pos(), "max-message-count must be a whole number of messages, 1 or more, not %q", s))
			ok = false
		}
		p.maxMessages = n
	}
	for _, ch := range el.Elements() {
		if ch.Name != "vary-by" {
			continue
		}
		c.CheckAttrs(ch)
		p.varyBy = append(p.varyBy, c.Value(ch.Text()))
	}
	if !ok {
		return nil, nil
	}
	return p, nil
}

// parseThreshold reads a score threshold, a cosine distance from 0 to 1.
func parseThreshold(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("must be a number from 0.0 to 1.0 (a cosine distance: lower asks for closer matches), not %q", s)
	}
	return f, nil
}

func (p *semanticLookupPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	x.SemanticCacheLookup = nil
	text, model, why := p.prompt(x)
	if why != "" {
		p.log.LogAttrs(ctx, slog.LevelDebug, "semantic cache skipped", slog.String("policy", p.name),
			slog.String("requestId", x.RequestID), slog.String("reason", why))
		return nil
	}
	partition, err := p.partition(x, model)
	if err != nil {
		return err
	}
	ts, err := p.threshold.String(x)
	if err != nil {
		return err
	}
	threshold, err := parseThreshold(ts)
	if err != nil {
		return &pipeline.Error{Reason: "InvalidScoreThreshold", Message: p.name + " score-threshold " + err.Error()}
	}
	vec, err := p.embeddings.embed(ctx, text)
	if err != nil {
		p.warn(ctx, x, "semantic cache lookup failed: no embedding; the request goes on uncached", err)
		return nil
	}
	m, hit, err := p.vectors.Nearest(ctx, partition, vec, threshold)
	if err != nil {
		// The embedding is good: the response may still be stored.
		p.warn(ctx, x, "semantic cache lookup failed; treating it as a miss", err)
		hit = false
	}
	if hit {
		e, err := decodeCachedResponse(m.Value)
		switch {
		case err != nil:
			p.warn(ctx, x, "cached response unreadable; treating it as a miss", err)
		case !acceptsEncoding(x.Request.Headers, e.Headers.Get("Content-Encoding")):
		default:
			p.log.LogAttrs(ctx, slog.LevelDebug, "semantic cache hit", slog.String("policy", p.name),
				slog.String("requestId", x.RequestID), slog.Float64("distance", m.Distance))
			x.Response = &exchange.Response{StatusCode: e.Status, StatusReason: e.Reason, Headers: e.Headers, Body: exchange.NewBytesBody(e.body)}
			if !e.Stored.IsZero() { // stored by a gateway from before Age: none
				x.Response.Headers.Set("Age", strconv.FormatInt(e.age(time.Now()), 10))
			}
			return pipeline.ErrSkipToOutbound
		}
	}
	x.SemanticCacheLookup = &semanticState{vectors: p.vectors, partition: partition, vec: vec, maxBytes: p.maxBytes, log: p.log}
	return nil
}

// prompt returns the text to embed and the body's model, or why the request
// is not cached: no prompt in the body, a streaming request (whose client
// wants server-sent events, not a stored JSON response), more messages than
// max-message-count, or a prompt too long to embed.
func (p *semanticLookupPolicy) prompt(x *exchange.Exchange) (text, model, why string) {
	b := x.Request.Body
	if b == nil {
		return "", "", "no request body"
	}
	pr, err := llmPromptOf(x)
	if err != nil {
		return "", "", "the request body cannot be read: " + err.Error()
	}
	if pr.Shape == llm.Unknown {
		return "", "", "the request body is not an LLM request"
	}
	if pr.Stream {
		return "", "", "a streaming request"
	}
	ignore, err := p.ignoreSystem.Bool(x)
	if err != nil {
		return "", "", "ignore-system-messages: " + err.Error()
	}
	var texts []string
	n := 0
	for _, m := range pr.Messages {
		if ignore && m.Role == "system" {
			continue
		}
		if m.Images > 0 || m.Tokens > 0 {
			// Two prompts of one text and different pictures (or token
			// ids) would share an embedding, and a response.
			return "", "", "the prompt has images or token ids, which its embedding would not see"
		}
		n++
		texts = append(texts, m.Text)
	}
	if p.maxMessages > 0 && n > p.maxMessages {
		return "", "", fmt.Sprintf("%d messages, more than max-message-count %d", n, p.maxMessages)
	}
	text = strings.Join(texts, "\n")
	switch {
	case strings.TrimSpace(text) == "":
		return "", "", "no prompt text"
	case len(text) > maxPromptBytes:
		return "", "", fmt.Sprintf("the prompt has %d bytes, more than %d", len(text), maxPromptBytes)
	}
	return text, pr.Model, ""
}

// partition is the cache partition of the request: the deployment's
// namespace, the API and its revision, the operation, the path the client
// called (an Azure OpenAI deployment is in the path), the body's model, and
// the vary-by values in order, hashed. Prompts of different models or APIs
// never share responses.
func (p *semanticLookupPolicy) partition(x *exchange.Exchange, model string) (string, error) {
	h := sha256.New()
	field := func(s string) { io.WriteString(h, s); h.Write([]byte{0}) }
	field(p.namespace)
	if x.API != nil {
		field(x.API.ID)
		field(x.API.Revision)
	}
	if x.Operation != nil {
		field(x.Operation.ID)
	}
	if x.Request.OriginalURL != nil {
		field(x.Request.OriginalURL.EscapedPath())
	}
	field(model)
	for _, v := range p.varyBy {
		s, err := v.String(x)
		if err != nil {
			return "", err
		}
		field("v:" + s)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (p *semanticLookupPolicy) warn(ctx context.Context, x *exchange.Exchange, msg string, err error) {
	p.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("policy", p.name),
		slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
}

// semanticStorePolicy is llm-semantic-cache-store and
// azure-openai-semantic-cache-store.
type semanticStorePolicy struct {
	duration pipeline.Value
}

func (d *Deps) semanticCacheStore(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "duration")
	c.CheckChildren(el)
	duration, ok, err := durationAttr(c, el)
	if err != nil {
		return nil, err
	}
	// On a hit, outbound resumes after this policy: the cached response is
	// not stored again.
	c.MarkResumePoint()
	if !ok {
		return nil, nil
	}
	return &semanticStorePolicy{duration: duration}, nil
}

func (p *semanticStorePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	st, _ := x.SemanticCacheLookup.(*semanticState)
	if st == nil || x.Response == nil {
		return nil // no lookup ran, it did not apply, or it hit
	}
	x.SemanticCacheLookup = nil // one response, stored once
	if x.Response.StatusCode != http.StatusOK || !storable(x.Response.Headers, false) {
		return nil
	}
	ds, err := p.duration.String(x)
	if err != nil {
		return err
	}
	secs, err := parseDuration(ds)
	if err != nil {
		return &pipeline.Error{Reason: ReasonInvalidCacheDuration, Message: "semantic cache store duration " + err.Error()}
	}
	if secs < 1 {
		return nil
	}
	ttl := time.Duration(secs) * time.Second
	now := time.Now()
	e := cachedResponse{Status: x.Response.StatusCode, Reason: x.Response.StatusReason, Headers: x.Response.Headers.Clone(), Stored: now, Expires: now.Add(ttl)}
	if e.Headers == nil {
		e.Headers = http.Header{}
	}
	e.Headers.Del("Content-Length")
	body := x.Response.Body
	if body == nil {
		return nil // nothing to serve again
	}
	if n := body.Len(); n > int64(st.maxBytes) {
		return nil
	} else if n >= 0 || body.Buffered() {
		// A response of known length (an LLM's JSON) is read here, so that it
		// is stored before the client has it.
		data, err := body.Bytes(true)
		if err != nil {
			return nil
		}
		e.body = data
		st.store(ctx, x, e, ttl)
		return nil
	}
	sctx := context.WithoutCancel(ctx)
	body.WrapStream(func(r io.ReadCloser) io.ReadCloser {
		return &cacheTee{r: r, max: st.maxBytes, bufs: &x.Buffers, done: func(data []byte) {
			e.body = data
			st.store(sctx, x, e, ttl)
		}}
	})
	return nil
}

// store keeps e with the lookup's embedding; a cache that fails is logged.
func (st *semanticState) store(ctx context.Context, x *exchange.Exchange, e cachedResponse, ttl time.Duration) {
	data, err := e.encode()
	if err == nil && len(data) > st.maxBytes {
		return
	}
	if err == nil {
		err = st.vectors.Add(ctx, st.partition, st.vec, data, ttl)
	}
	if err != nil && !errors.Is(err, store.ErrTooLarge) {
		st.log.LogAttrs(ctx, slog.LevelWarn, "semantic cache store failed", slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
	}
}
