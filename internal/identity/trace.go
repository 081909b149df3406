package identity

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the token spans.
const tracerName = "github.com/lastmile-gw/lastmile/internal/identity"

// traced is Get for a request whose span records: the lookup is a span,
// "managed identity token", whose attributes say how the token was served
// and for which identity and resource, never the token.
func (c *Cache) traced(ctx context.Context, parent trace.Span, clientID, resource string) (Token, Outcome, error) {
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, "managed identity token",
		trace.WithAttributes(attribute.String("lastmile.token.client_id", clientID), attribute.String("lastmile.token.resource", resource)))
	defer span.End()
	tok, o, err := c.get(ctx, clientID, resource)
	if c.opt.observer != nil {
		c.opt.observer.TokenServed(o)
	}
	span.SetAttributes(attribute.String("lastmile.token.outcome", o.String()))
	if err != nil {
		span.SetStatus(codes.Error, errorKind(err))
	}
	return tok, o, err
}

// callSource calls the token source, in a span of its own when the request
// that started the call is traced: the span of the token's issuance.
func (c *Cache) callSource(ctx context.Context, e *entry) (Token, error) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return c.src.Token(ctx, e.clientID, e.resource)
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, "token source",
		trace.WithAttributes(attribute.String("lastmile.token.client_id", e.clientID), attribute.String("lastmile.token.resource", e.resource)))
	defer span.End()
	tok, err := c.src.Token(ctx, e.clientID, e.resource)
	if err != nil {
		span.SetStatus(codes.Error, errorKind(err))
	}
	return tok, err
}

// errorKind names a token failure for a span's status, without the source's
// message.
func errorKind(err error) string {
	var ue *UnavailableError
	switch {
	case errors.Is(err, ErrConfiguration):
		return "configuration"
	case errors.As(err, &ue):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "source failed"
}
