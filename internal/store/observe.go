package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// RedisObserver is told how each Redis command went, for metrics. Its method
// must be safe for concurrent use and cheap.
type RedisObserver interface {
	// RedisCommand reports one command (or pipeline, named "pipeline") by its
	// name, such as "get" or "evalsha", how long it took and how it failed;
	// a missing key (redis.Nil) is not a failure.
	RedisCommand(name string, d time.Duration, err error)
}

// tracerName is the instrumentation scope of the Redis spans.
const tracerName = "github.com/lastmile-gw/lastmile/internal/store"

// redisHook times every command for the observer and, when the request that
// sent it is traced, gives it a client span. Commands of requests that are
// not traced cost nothing more when there is no observer.
type redisHook struct{ obs RedisObserver }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.on(ctx) {
			return next(ctx, cmd)
		}
		return h.observe(ctx, cmd.Name(), func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.on(ctx) {
			return next(ctx, cmds)
		}
		return h.observe(ctx, "pipeline", func(ctx context.Context) error { return next(ctx, cmds) })
	}
}

// on reports whether a command sent with ctx is observed.
func (h redisHook) on(ctx context.Context) bool {
	return h.obs != nil || trace.SpanFromContext(ctx).IsRecording()
}

func (h redisHook) observe(ctx context.Context, name string, run func(context.Context) error) error {
	parent := trace.SpanFromContext(ctx)
	start := time.Now()
	var span trace.Span
	if parent.IsRecording() {
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, "redis "+name, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", name)))
	}
	err := run(ctx)
	failed := err
	if errors.Is(err, redis.Nil) {
		failed = nil // a missing key is an answer
	}
	if h.obs != nil {
		h.obs.RedisCommand(name, time.Since(start), failed)
	}
	if span != nil {
		if failed != nil {
			span.SetStatus(codes.Error, "redis command failed")
		}
		span.End()
	}
	return err
}

// RouteClientLog sends go-redis's own log lines (a failed dial, pool trouble)
// to log at debug level. go-redis has one logger per process, so a command's
// wiring calls this once. Its default prints to stderr on every attempt while
// Redis is down, repeating what lastmile reports itself (the circuit's
// warnings and the command metrics) in another format.
func RouteClientLog(log *slog.Logger) { redis.SetLogger(clientLog{log}) }

type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, "redis client: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}
