package store_test

import (
	"context"
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
