package policies

import (
	"context"
	"log/slog"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// TokenRecorder receives the token counts that llm-emit-token-metric and
// azure-openai-emit-token-metric emit, one call at a time. The gateway's
// Prometheus export implements it (gateway.TokenMetrics); an OpenTelemetry
// meter can too, and TokenRecorders sends to several. RecordTokens must be
// safe for concurrent use and must not block.
type TokenRecorder interface {
	RecordTokens(ctx context.Context, m TokenMetric)
}

// TokenMetric is the tokens one model call used, with the dimensions the
// policy gives them.
type TokenMetric struct {
	// Namespace is the policy's namespace ("API Management" by default).
	Namespace string
	// Dimensions are the policy's dimensions, in its order: each name as
	// written, with custommetrics.Sanitize its label name.
	Dimensions []Dimension
	// Usage is the call's tokens. Cached and reasoning tokens are there
	// when Usage.HasCached and Usage.HasReasoning say so.
	Usage llm.Usage
	// Estimated is true when some counts are estimates (a stream that did
	// not report them).
	Estimated bool
}

// Dimension is a metric dimension and its value for one call.
type Dimension struct {
	Name, Value string
}

// TokenRecorders sends each metric to every recorder.
type TokenRecorders []TokenRecorder

// RecordTokens records m with each recorder.
func (rs TokenRecorders) RecordTokens(ctx context.Context, m TokenMetric) {
	for _, r := range rs {
		r.RecordTokens(ctx, m)
	}
}

// defaultDimension is the value of a default dimension (a name without a
// value: "api id", ..., lower case with single spaces) for x, and whether the
// name is one.
func defaultDimension(key string, x *exchange.Exchange) (string, bool) {
	switch key {
	case "api id":
		if x.API != nil {
			return x.API.ID, true
		}
	case "operation id":
		if x.Operation != nil {
			return x.Operation.ID, true
		}
	case "product id":
		if x.Product != nil {
			return x.Product.ID, true
		}
	case "user id":
		if x.User != nil {
			return x.User.ID, true
		}
	case "subscription id":
		if x.Subscription != nil {
			return x.Subscription.ID, true
		}
	case "location":
		if x.Deployment != nil {
			return x.Deployment.Region, true
		}
	case "gateway id":
		if x.Deployment != nil {
			return x.Deployment.GatewayID, true
		}
	case "backend id":
		return x.Backend.ID, true
	default:
		return "", false
	}
	return "", true
}

// llm-emit-token-metric and azure-openai-emit-token-metric emit the prompt,
// completion and total tokens of each model call (cached and reasoning tokens
// when the response reports them), with the policy's dimensions, to the
// gateway's TokenRecorder.
type tokenMetricPolicy struct {
	rec       TokenRecorder
	log       *slog.Logger
	est       *llm.Estimator
	namespace string
	dims      []tokenDimension
}

type tokenDimension struct {
	name  string
	value *pipeline.Value // nil for a default dimension
	def   string          // the default dimension's key
}

// llmEmitTokenMetric compiles llm-emit-token-metric: at most 5 dimensions.
func (d *Deps) llmEmitTokenMetric(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return d.emitTokenMetric(c, el, 5, true)
}

// azureOpenAIEmitTokenMetric compiles azure-openai-emit-token-metric: at
// most 10 dimensions, and no Backend ID.
func (d *Deps) azureOpenAIEmitTokenMetric(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return d.emitTokenMetric(c, el, 10, false)
}

func (d *Deps) emitTokenMetric(c *pipeline.Compiler, el *policyxml.Element, maxDims int, backendID bool) (pipeline.Policy, error) {
	c.CheckAttrs(el, "namespace")
	c.CheckChildren(el, "dimension")
	p := &tokenMetricPolicy{rec: d.TokenMetrics, log: d.Logger, est: d.estimator(), namespace: "API Management"}
	if ns, ok := c.LiteralAttr(el, "namespace"); ok {
		if strings.TrimSpace(ns) == "" {
			c.Report(c.Errorf(el.Attr("namespace").Value.Pos(), "namespace of <%s> must not be empty", el.Name))
		}
		p.namespace = ns
	}
	labels := map[string]string{}
	ok := true
	for _, dim := range el.Elements() {
		if dim.Name != "dimension" {
			continue
		}
		c.CheckAttrs(dim, "name", "value")
		c.CheckChildren(dim)
		name, has := c.LiteralAttr(dim, "name")
		if !has || strings.TrimSpace(name) == "" {
			c.Report(c.Errorf(dim.Pos, "<dimension> needs a name"))
			ok = false
			continue
		}
		label := custommetrics.Sanitize(name)
		switch prev, dup := labels[label]; {
		case strings.Trim(label, "_") == "":
			c.Report(c.Errorf(dim.Attr("name").Value.Pos(), "dimension name %q has no letter or digit", name))
			ok = false
		case label == "namespace":
			c.Report(c.Errorf(dim.Attr("name").Value.Pos(), "dimension name %q is the label namespace, which the export keeps for the policy's namespace; choose another name", name))
			ok = false
		case dup:
			c.Report(c.Errorf(dim.Attr("name").Value.Pos(), "dimensions %q and %q are both the metric label %s; name them apart", prev, name, label))
			ok = false
		}
		labels[label] = name
		td := tokenDimension{name: name}
		if v, hasValue := c.Attr(dim, "value"); hasValue {
			td.value = &v
		} else {
			td.def = strings.ToLower(strings.Join(strings.Fields(name), " "))
			if _, isDefault := defaultDimension(td.def, &exchange.Exchange{}); !isDefault || td.def == "backend id" && !backendID {
				c.Report(c.Errorf(dim.Pos, "dimension %q needs a value: only the default dimensions (%s) take the request's without one", name, defaultNames(backendID)))
				ok = false
			}
		}
		p.dims = append(p.dims, td)
	}
	if len(p.dims) > maxDims {
		c.Report(c.Errorf(el.Pos, "<%s> has %d dimensions; it allows at most %d", el.Name, len(p.dims), maxDims))
		ok = false
	}
	if !ok {
		return nil, nil
	}
	return p, nil
}

func defaultNames(backendID bool) string {
	names := "API ID, Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID"
	if backendID {
		names += ", Backend ID"
	}
	return names
}

func (p *tokenMetricPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if p.rec == nil {
		return nil // nothing exports the metrics
	}
	call, err := llmCallOf(x, p.est)
	if err != nil {
		return err
	}
	var dims []Dimension
	var dimErr error
	call.watch(usageWatch{
		// The dimensions' values are taken when the backend has answered:
		// set-backend-service has chosen the backend by then.
		answered: func() { dims, dimErr = p.dimensions(x) },
		usage: func(ctx context.Context, r usageReport) {
			if dimErr != nil {
				p.log.LogAttrs(ctx, slog.LevelWarn, "a dimension of a token metric failed to evaluate; the call's tokens are not emitted",
					slog.String("requestId", x.RequestID), slog.String("error", dimErr.Error()))
				return
			}
			if !r.OK || dims == nil {
				return // no usage, or no answer
			}
			p.rec.RecordTokens(ctx, TokenMetric{Namespace: p.namespace, Dimensions: dims, Usage: r.Usage, Estimated: r.Estimated})
		},
	})
	return nil
}

// dimensions evaluates the dimensions' values. A value that fails to
// evaluate drops the call's metric (with a warning), not the request.
func (p *tokenMetricPolicy) dimensions(x *exchange.Exchange) ([]Dimension, error) {
	out := make([]Dimension, len(p.dims))
	for i, d := range p.dims {
		out[i].Name = d.name
		if d.value == nil {
			out[i].Value, _ = defaultDimension(d.def, x)
			continue
		}
		v, err := d.value.String(x)
		if err != nil {
			return nil, err
		}
		out[i].Value = v
	}
	return out, nil
}
