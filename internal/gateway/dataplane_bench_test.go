package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lastmile-gw/lastmile/internal/console"
	"github.com/lastmile-gw/lastmile/internal/http1"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// rawBackend answers every request on a keep-alive connection with 16 bytes,
// doing as little as an HTTP server can, so that a profile of the data plane
// shows the gateway and not the backend.
func rawBackend(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n0123456789abcdef")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// skipHead reads a request or response head up to its empty line and returns
// its Content-Length.
func skipHead(br *bufio.Reader) error {
	_, err := readHead(br)
	return err
}

func readHead(br *bufio.Reader) (int, error) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			return n, nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
}

// BenchmarkDataPlane sends requests over one keep-alive connection through the
// data plane as lastmile serves it (internal/http1, the gateway handler,
// forward-request to a backend over loopback): subscription key, set-header, a
// managed identity token from the cache, an outbound header. The client and
// the backend are raw sockets, so the figures are the gateway's.
func BenchmarkDataPlane(b *testing.B) {
	runDataPlane(b, benchHandler(b, rawBackend(b)))
}

// BenchmarkDataPlaneObserved is BenchmarkDataPlane with what an operator turns
// on: every request traced by OpenTelemetry (the SDK, sampling all, batching
// to an exporter that drops the spans), or the access log (slog's JSON
// handler, writing nowhere), or both; or the web console's live traffic.
func BenchmarkDataPlaneObserved(b *testing.B) {
	for _, tc := range []struct {
		name            string
		otel, accessLog bool
		console         bool
	}{{"otel", true, false, false}, {"accesslog", false, true, false}, {"both", true, true, false}, {"console", false, false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchHandler(b, rawBackend(b))
			if tc.otel {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { tp.Shutdown(context.Background()) })
				h.Tracer = tp.Tracer("bench")
			}
			if tc.accessLog {
				h.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
			}
			if tc.console {
				h.Requests = console.NewTraffic()
			}
			runDataPlane(b, h)
		})
	}
}

func runDataPlane(b *testing.B, h http.Handler) {
	srv := &http1.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /orders/r25/17 HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: k1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		status, err := br.ReadSlice('\n')
		if err != nil || !bytes.HasPrefix(status, []byte("HTTP/1.1 200")) {
			b.Fatalf("status line %q: %v", status, err)
		}
		n, err := readHead(br)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := br.Discard(n); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDataPlaneGarbage bounds what a request allocates on the data plane, as
// BenchmarkDataPlane measures it. On one CPU the collector is what makes most
// of lastmile's slow answers (ARCHITECTURE.md, "Tail latency and the
// collector"), and it runs once per so many bytes allocated: a change that
// adds garbage to every request makes the tail worse. Raise the bounds only
// with a reason.
func TestDataPlaneGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the data-plane benchmark for a second; skipped with -short")
	}
	r := testing.Benchmark(BenchmarkDataPlane)
	if r.N == 0 {
		t.Fatal("the benchmark did not run")
	}
	const maxBytes, maxAllocs = 3600, 22 // 3,473 B and 22 allocations when written
	// The race detector (as in CI) makes allocations larger, not more.
	if got := r.AllocedBytesPerOp(); got > maxBytes && !raceEnabled {
		t.Errorf("a request allocates %d bytes, want at most %d", got, maxBytes)
	}
	if got := r.AllocsPerOp(); got > maxAllocs {
		t.Errorf("a request makes %d allocations, want at most %d", got, maxAllocs)
	}
}
