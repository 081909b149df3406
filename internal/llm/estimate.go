package llm

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// The estimator counts tokens with OpenAI's byte-pair encodings as
// github.com/tiktoken-go/tokenizer ports them: pure Go, with the vocabularies
// compiled into the binary, so that nothing is fetched at run time.
//
// The port's pre-tokenizing regular expression backtracks: a long run of
// whitespace that holds line breaks takes time quadratic in its length (64 KiB
// of " \n" takes seconds). So text is cut into segments before it is
// tokenized: at most maxSpaceRun bytes of one whitespace run, at most
// maxSegment bytes of anything, and otherwise at a word boundary once a
// segment is longer than segment bytes. A cut can add a token where the
// encoder would have merged across it, which an estimate can afford; for
// ordinary prose the count is the encoder's.
const (
	segment     = 1 << 10
	maxSegment  = 4 << 10
	maxSpaceRun = 64
)

// MaxExactBytes is how much text one count tokenizes; the tokens of the rest
// are extrapolated at the rate of what was tokenized (so that one request
// cannot hold a core for long: about 20 ms of tokenizing at most).
const MaxExactBytes = 64 << 10

// Per-message overheads of the chat formats (OpenAI's published counting
// recipe): each message costs messageTokens plus one for its role, and a
// reply is primed with replyTokens. ImageTokens is what an image counts when
// its size is unknown: API Management's documented upper bound.
const (
	messageTokens = 3
	replyTokens   = 3
	ImageTokens   = 1200
)

// Estimator counts tokens of prompts and completions. It is safe for
// concurrent use. The zero value is not usable; call NewEstimator.
type Estimator struct {
	once          sync.Once
	o200k, cl100k tokenizer.Codec
	err           error
}

// NewEstimator returns an estimator. The vocabularies are built on first use
// (about 70 ms and 10 MB for both); Load builds them at once.
func NewEstimator() *Estimator { return &Estimator{} }

// Load builds the vocabularies now, so that the first request does not wait.
func (e *Estimator) Load() error {
	e.once.Do(func() {
		if e.o200k, e.err = tokenizer.Get(tokenizer.O200kBase); e.err != nil {
			return
		}
		e.cl100k, e.err = tokenizer.Get(tokenizer.Cl100kBase)
	})
	return e.err
}

// codec is the encoding of model: cl100k_base for the GPT-4 and GPT-3.5
// families and the older embeddings models, o200k_base for everything else
// (GPT-4o and later, the o-series, and models of other vendors, whose own
// tokenizers are not public: o200k is the closer guess for recent models).
func (e *Estimator) codec(model string) tokenizer.Codec {
	if e.Load() != nil {
		return nil
	}
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // "openai/gpt-4", "models/gpt-4"
	}
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"), strings.HasPrefix(m, "gpt-4.5"):
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "gpt-35"),
		strings.HasPrefix(m, "text-embedding-ada"), strings.HasPrefix(m, "text-embedding-3"):
		return e.cl100k
	}
	return e.o200k
}

// Count estimates the tokens of text for model ("" for the default).
func (e *Estimator) Count(model, text string) int64 {
	return e.CountSample(model, text, int64(len(text)))
}

// CountSample estimates the tokens of a text of total bytes whose beginning is
// sample (a stream keeps only the beginning of what it saw): sample is
// tokenized, up to MaxExactBytes of it, and the rest is extrapolated at the
// same rate.
func (e *Estimator) CountSample(model, sample string, total int64) int64 {
	if total <= 0 || sample == "" {
		return 0
	}
	if len(sample) > MaxExactBytes {
		cut := MaxExactBytes
		for cut > 0 && !utf8.RuneStart(sample[cut]) {
			cut-- // not in the middle of a character
		}
		sample = sample[:cut]
	}
	c := e.codec(model)
	var n int64
	if c == nil {
		n = int64(len(sample)+3) / 4 // no vocabulary: OpenAI's rule of thumb
	} else {
		n = countSegments(c, sample)
	}
	if rest := total - int64(len(sample)); rest > 0 && len(sample) > 0 {
		n += (n*rest + int64(len(sample)) - 1) / int64(len(sample))
	}
	return n
}

// countSegments tokenizes s in segments (see the top of this file).
func countSegments(c tokenizer.Codec, s string) int64 {
	var total int64
	segments(s, func(seg string) {
		n, _ := c.Count(seg)
		total += int64(n)
	})
	return total
}

// segments calls f with the segments of s, in order: together they are s.
func segments(s string, f func(string)) {
	emit := func(seg string) {
		if seg != "" {
			f(seg)
		}
	}
	start, run := 0, 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			if run >= maxSpaceRun {
				emit(s[start:i])
				start, run = i, 0
			}
			run += size
			i += size
			continue
		}
		switch {
		case run > 0 && i-start >= segment:
			// Cut before the last space of the run, so that " word" stays
			// one piece, as the encoder splits it.
			cut := i
			if s[i-1] == ' ' {
				cut = i - 1
			}
			if cut > start {
				emit(s[start:cut])
				start = cut
			}
		case i-start >= maxSegment:
			emit(s[start:i])
			start = i
		}
		run = 0
		i += size
	}
	emit(s[start:])
}

// Prompt estimates the prompt tokens of a request: its messages' text with
// the chat format's overheads, its tool definitions, and ImageTokens per
// image.
func (e *Estimator) Prompt(r *Request) int64 {
	var b strings.Builder
	var n int64
	for i, m := range r.Messages {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.Text)
		n += int64(m.Images)*ImageTokens + m.Tokens
		if r.Shape.chat() {
			n += messageTokens + 1
		}
	}
	if r.Tools != "" {
		b.WriteByte('\n')
		b.WriteString(r.Tools)
	}
	if r.Shape.chat() && len(r.Messages) > 0 {
		n += replyTokens
	}
	return n + e.Count(r.Model, b.String())
}
