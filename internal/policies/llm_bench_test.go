package policies_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// answering is a backend for benchmarks: it reads the request and answers
// with answer, keeping nothing.
type answering func(string) *exchange.Response

func (a answering) Forward(_ context.Context, x *exchange.Exchange, _ proxy.Options) error {
	body, err := x.Request.Body.Bytes(true)
	if err != nil {
		return err
	}
	x.Response = a(string(body))
	return nil
}

// BenchmarkTokenLimit is one llm-token-limit decision through the pipeline:
// the counter key from an expression, the prompt parsed (and estimated with
// estimate-prompt-tokens), the estimate taken from the bucket before the
// call and corrected with the response's usage after it: two store calls, in
// memory or in Redis (two EVALSHA round trips to a local redis-server).
func BenchmarkTokenLimit(b *testing.B) {
	est := llm.NewEstimator()
	if err := est.Load(); err != nil { // the vocabularies, once per process
		b.Fatal(err)
	}
	run := func(b *testing.B, limits policies.LimitStore, estimate string) {
		m := answering(jsonAnswer(12, 30))
		p := mustCompileLimit(b, policies.Deps{Forwarder: m, Limits: policies.Limits{Store: limits}, Estimator: est}, "api", llmDoc(
			`<llm-token-limit counter-key="@(context.Request.IpAddress)" tokens-per-minute="2000000000" estimate-prompt-tokens="`+estimate+`" />`))
		b.ReportAllocs()
		for b.Loop() {
			if x := llmCall(b, p, helloChat, nil); x.Response.StatusCode != 200 {
				b.Fatalf("status %d", x.Response.StatusCode)
			}
		}
	}
	for _, estimate := range []string{"false", "true"} {
		b.Run("memory/estimate="+estimate, func(b *testing.B) { run(b, store.NewMemoryLimits(0), estimate) })
	}
	r, err := store.NewRedis(context.Background(), store.RedisOptions{Address: storetest.StartRedis(b, "")})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	l := r.Limits(store.LimitOptions{})
	defer l.Close()
	for _, estimate := range []string{"false", "true"} {
		b.Run("redis/estimate="+estimate, func(b *testing.B) { run(b, l, estimate) })
	}
}

// BenchmarkStreamMetering is what metering costs a streamed chat completion:
// 100 chunks as OpenAI sends them, and the usage chunk, passed through the
// pipeline and read to the end as the gateway sends them, with no policy
// ("pass-through") and with llm-token-limit and llm-emit-token-metric
// ("metered"). ns/chunk is the time per op over the 101 chunks.
func BenchmarkStreamMetering(b *testing.B) {
	const chunks = 100
	chunk := `data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_4d1cc13cd8","choices":[{"index":0,"delta":{"content":" the quick"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	stream := strings.Repeat(chunk, chunks) +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":100,\"total_tokens\":130}}\n\n" + "data: [DONE]\n\n"
	answer := answering(func(string) *exchange.Response {
		// A reader that returns one chunk per Read, as a backend's stream.
		return &exchange.Response{StatusCode: 200, Headers: http.Header{"Content-Type": {"text/event-stream"}},
			Body: exchange.NewStreamBody(io.NopCloser(&chunkReader{s: stream, n: len(chunk)}), -1, nil)}
	})
	body := `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello, world!"}]}`
	for _, tc := range []struct{ name, inbound string }{
		{"pass-through", ``},
		{"metered", `<llm-token-limit counter-key="k" tokens-per-minute="2000000000" estimate-prompt-tokens="false" />
			<llm-emit-token-metric><dimension name="API ID" /></llm-emit-token-metric>`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			deps := policies.Deps{Forwarder: answer, Limits: policies.Limits{Store: store.NewMemoryLimits(0)}, TokenMetrics: &tokenRecorder{}}
			p := mustCompileLimit(b, deps, "api", llmDoc(tc.inbound))
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				llmCall(b, p, body, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(chunks+1)), "ns/chunk")
		})
	}
}

// chunkReader reads s n bytes at a time.
type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}
