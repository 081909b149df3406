package policies

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// maxEventHubMessage is API Management's limit on a log-to-eventhub message:
// longer ones are cut to it.
const maxEventHubMessage = 200 << 10

// log-to-eventhub sends a message to an Event Hubs logger in API Management.
// lastmile has no Event Hubs client: the message goes to the gateway's log at
// debug level, evaluated exactly as API Management would send it, so that a
// configuration that uses it loads and runs, and its messages can be seen
// (docs/policies.md, log-to-eventhub).
type logToEventHubPolicy struct {
	logger               *slog.Logger
	loggerID             string
	message              pipeline.Value
	partitionID, partKey *pipeline.Value
}

func (d Deps) logToEventHub(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "logger-id", "partition-id", "partition-key")
	c.CheckChildren(el)
	p := &logToEventHubPolicy{logger: d.Logger}
	id, ok := c.LiteralAttr(el, "logger-id")
	switch {
	case el.Attr("logger-id") == nil:
		c.Report(c.Errorf(el.Pos, "<log-to-eventhub> needs a logger-id attribute"))
	case !ok:
		c.Report(c.Errorf(el.Attr("logger-id").Value.Pos(), "logger-id of <log-to-eventhub> must be a name, not a policy expression"))
	case strings.TrimSpace(id) == "":
		c.Report(c.Errorf(el.Attr("logger-id").Value.Pos(), "logger-id of <log-to-eventhub> must not be empty"))
	}
	p.loggerID = strings.TrimSpace(id)
	if el.Attr("partition-id") != nil && el.Attr("partition-key") != nil {
		c.Report(c.Errorf(el.Attr("partition-key").NamePos, "<log-to-eventhub> takes partition-id or partition-key, not both"))
	}
	if v, ok := c.Attr(el, "partition-id"); ok {
		p.partitionID = &v
	}
	if v, ok := c.Attr(el, "partition-key"); ok {
		p.partKey = &v
	}
	p.message = c.Value(el.Text())
	return p, nil
}

func (p *logToEventHubPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	// Evaluated even when nobody reads it: an expression that fails fails the
	// request in API Management too.
	msg, err := p.message.String(x)
	if err != nil {
		return err
	}
	if _, isLit := p.message.Literal(); isLit {
		msg = strings.TrimSpace(msg)
	}
	if len(msg) > maxEventHubMessage {
		n := maxEventHubMessage
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n]
	}
	attrs := []any{"request_id", x.RequestID, "logger_id", p.loggerID}
	for _, part := range []struct {
		name string
		v    *pipeline.Value
	}{{"partition_id", p.partitionID}, {"partition_key", p.partKey}} {
		if part.v == nil {
			continue
		}
		s, err := part.v.String(x)
		if err != nil {
			return err
		}
		attrs = append(attrs, part.name, s)
	}
	if !p.logger.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	p.logger.DebugContext(ctx, "log-to-eventhub", append(attrs, "message", msg)...)
	return nil
}
