package policies

import (
	"context"
	"log/slog"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// trace writes a custom trace: to the request's trace (x.Trace) when the gateway
// records one, otherwise to the log at debug level, never higher. The message and
// the metadata are what the policy author wrote; nothing else from the request is
// added. When nobody listens (no x.Trace and debug logging off) nothing is
// evaluated, so that trace costs nothing in production. A message expression
// that fails is traced as such and does not fail the request: tracing must not
// change what the caller gets.
type tracePolicy struct {
	source   string
	severity string
	message  pipeline.Value
	metadata []traceMetadata
	logger   *slog.Logger
}

type traceMetadata struct{ name, value pipeline.Value }

func (d Deps) trace(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "source", "severity")
	p := &tracePolicy{logger: d.Logger, severity: "verbose"}
	src, ok := c.LiteralAttr(el, "source")
	if !ok && el.Attr("source") == nil {
		c.Report(c.Errorf(el.Pos, "<trace> needs a source attribute"))
	}
	p.source = strings.TrimSpace(src)
	if sev, ok := c.LiteralAttr(el, "severity"); ok {
		switch s := strings.ToLower(strings.TrimSpace(sev)); s {
		case "verbose", "information", "error":
			p.severity = s
		default:
			c.Report(c.Errorf(el.Attr("severity").Value.Pos(), "severity of <trace> must be verbose, information or error, not %q", sev))
		}
	}
	hasMessage := false
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "message":
			if hasMessage {
				c.Report(c.Errorf(ch.Pos, "<trace> has more than one <message>"))
				continue
			}
			if len(p.metadata) > 0 {
				c.Report(c.Errorf(ch.Pos, "<message> must come before <metadata> in <trace>"))
			}
			hasMessage = true
			c.CheckAttrs(ch)
			c.CheckChildren(ch)
			p.message = c.Value(ch.Text())
		case "metadata":
			c.CheckAttrs(ch, "name", "value")
			c.CheckChildren(ch)
			name, ok1 := c.RequiredAttr(ch, "name")
			value, ok2 := c.RequiredAttr(ch, "value")
			if ok1 && ok2 {
				p.metadata = append(p.metadata, traceMetadata{name, value})
			}
		default:
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <trace>; expected <message> or <metadata>", ch.Name))
		}
	}
	if !hasMessage {
		// The original schema had the message as the element's text:
		// <trace source="...">message</trace>. Documents written for it still load.
		text := el.Text()
		if strings.TrimSpace(text.String()) == "" {
			return nil, c.Errorf(el.Pos, "<trace> needs a <message>")
		}
		p.message = c.Value(text)
	}
	return p, nil
}

func (p *tracePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	toLog := x.Trace == nil
	if toLog && !p.logger.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	msg, err := p.message.String(x)
	if err != nil {
		msg = "the trace message could not be evaluated: " + pipeline.AsError(err).Message
	} else if _, isLit := p.message.Literal(); isLit {
		msg = strings.TrimSpace(msg)
	}
	attrs := make([]any, 0, 8+2*len(p.metadata))
	attrs = append(attrs, "request_id", x.RequestID, "source", p.source, "severity", p.severity)
	var meta strings.Builder
	for _, m := range p.metadata {
		name, err1 := m.name.String(x)
		value, err2 := m.value.String(x)
		if err1 != nil || err2 != nil {
			continue // a metadata expression that fails leaves that property out
		}
		attrs = append(attrs, slog.String("metadata."+name, value))
		if meta.Len() > 0 {
			meta.WriteString(", ")
		}
		meta.WriteString(name + "=" + value)
	}
	if !toLog {
		// x.Trace takes a message only: metadata goes after it.
		if meta.Len() > 0 {
			msg += " {" + meta.String() + "}"
		}
		x.Trace(p.source, p.severity, msg)
		return nil
	}
	attrs = append(attrs, "message", msg)
	p.logger.DebugContext(ctx, "trace", attrs...)
	return nil
}
