package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

type commands struct {
	mu   sync.Mutex
	seen []string
}

func (c *commands) RedisCommand(name string, d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := name
	if err != nil {
		s += " failed"
	}
	c.seen = append(c.seen, s)
}

// TestRedisObserved: every command of a real Redis reaches the observer (a
// missing key is not a failure and still reads as missing), and the commands
// of a traced request are client spans, children of its span, in the
// OpenTelemetry SDK; those of a request that is not traced have none.
func TestRedisObserved(t *testing.T) {
	srv := storetest.NewServer(t, "")
	obs := &commands{}
	r, err := NewRedis(context.Background(), RedisOptions{Address: srv.Addr, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")

	if _, ok, err := r.Get(ctx, "missing"); ok || err != nil {
		t.Fatalf("Get of a missing key: %v, %v", ok, err)
	}
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if _, _, err := r.Get(context.Background(), "k"); err != nil { // not traced
		t.Fatal(err)
	}

	obs.mu.Lock()
	var data []string // the connection's handshake (hello, ping) aside
	for _, c := range obs.seen {
		if c != "hello" && c != "ping" {
			data = append(data, c)
		}
	}
	obs.mu.Unlock()
	if diff := cmp.Diff([]string{"get", "set", "get"}, data); diff != "" {
		t.Errorf("observed commands (-want +got):\n%s", diff)
	}
	var got []string
	for _, s := range spans.Ended() {
		if s.Name() == "request" {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the request's", s.Name())
		}
		got = append(got, s.Name()+" "+s.SpanKind().String())
	}
	if diff := cmp.Diff([]string{"redis get client", "redis set client"}, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// syncBuffer is a bytes.Buffer that go-redis's goroutines may write while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRouteClientLog: go-redis's own line about a failed dial goes to the
// process logger at debug level instead of its default stderr logger, and an
// info-level logger drops it.
func TestRouteClientLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused
	t.Cleanup(func() { RouteClientLog(slog.New(slog.DiscardHandler)) })
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf syncBuffer
		RouteClientLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})))
		if _, err := NewRedis(t.Context(), RedisOptions{Address: addr}); err == nil {
			t.Fatalf("NewRedis(%s) with nothing listening: no error", addr)
		}
		got := buf.String()
		const want = `level=DEBUG msg="redis client: redis: connection pool: failed to dial`
		if level == slog.LevelDebug && !strings.Contains(got, want) {
			t.Errorf("debug logger got %q; want a line with %q", got, want)
		}
		if level == slog.LevelInfo && got != "" {
			t.Errorf("info logger got %q; want nothing", got)
		}
	}
}
