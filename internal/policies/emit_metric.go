package policies

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// emit-metric adds a value (1 by default) to a custom metric with dimensions.
// API Management sends it to Application Insights; lastmile exports it on
// listeners.metrics as the Prometheus summary lastmile_custom_<name>, with
// the namespace and the dimensions as labels (package custommetrics), within
// bounds on the number of series. Without listeners.metrics the values go
// nowhere.

// maxMetricDimensions is API Management's limit of dimensions per metric.
const maxMetricDimensions = 10

// defaultDimensions are the dimensions that may be written without a value:
// the value comes from the request's context.
var defaultDimensions = map[string]func(x *exchange.Exchange) string{
	"api id": func(x *exchange.Exchange) string {
		if x.API == nil {
			return ""
		}
		return x.API.ID
	},
	"operation id": func(x *exchange.Exchange) string {
		if x.Operation == nil {
			return ""
		}
		return x.Operation.ID
	},
	"product id": func(x *exchange.Exchange) string {
		if x.Product == nil {
			return ""
		}
		return x.Product.ID
	},
	"user id": func(x *exchange.Exchange) string {
		if x.User == nil {
			return ""
		}
		return x.User.ID
	},
	"subscription id": func(x *exchange.Exchange) string {
		if x.Subscription == nil {
			return ""
		}
		return x.Subscription.ID
	},
	"location": func(x *exchange.Exchange) string {
		if x.Deployment == nil {
			return ""
		}
		return x.Deployment.Region
	},
	"gateway id": func(x *exchange.Exchange) string {
		if x.Deployment == nil {
			return ""
		}
		return x.Deployment.GatewayID
	},
}

type emitMetricPolicy struct {
	metric    *custommetrics.Metric // nil: no metrics listener
	namespace string
	value     pipeline.Value
	dims      []metricDimension
}

type metricDimension struct {
	value pipeline.Value
	def   func(*exchange.Exchange) string // a default dimension without value
}

func (d *Deps) emitMetric(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "name", "namespace", "value")
	c.CheckChildren(el, "dimension")
	name, hasName := c.LiteralAttr(el, "name")
	if !hasName && el.Attr("name") == nil {
		return nil, c.Errorf(el.Pos, "<emit-metric> needs a name attribute")
	}
	p := &emitMetricPolicy{namespace: "API Management", value: pipeline.Literal("1")}
	bad := !hasName
	fail := func(err error) { c.Report(err); bad = true }
	if ns, ok := c.LiteralAttr(el, "namespace"); ok {
		p.namespace = ns
	}
	if v, ok := c.Attr(el, "value"); ok {
		if lit, isLit := v.Literal(); isLit {
			if _, err := strconv.ParseFloat(strings.TrimSpace(lit), 64); err != nil {
				fail(c.Errorf(el.Attr("value").Value.Pos(), "value must be a number (a double) or a policy expression, not %q", lit))
			}
		}
		p.value = v
	}
	var names []string
	dims := el.Elements()
	if len(dims) == 0 {
		fail(c.Errorf(el.Pos, "<emit-metric> needs at least one <dimension>"))
	}
	if len(dims) > maxMetricDimensions {
		fail(c.Errorf(dims[maxMetricDimensions].Pos, "<emit-metric> has %d dimensions; API Management allows at most %d", len(dims), maxMetricDimensions))
	}
	for _, dim := range dims {
		c.CheckAttrs(dim, "name", "value")
		c.CheckChildren(dim)
		a := dim.Attr("name")
		if a == nil {
			fail(c.Errorf(dim.Pos, "<dimension> needs a name attribute"))
			continue
		}
		if a.Value.IsExpression() {
			fail(c.Errorf(a.Value.Pos(), "a dimension name from a policy expression is not supported: lastmile exports dimensions as Prometheus labels, whose names are fixed; write the name"))
			continue
		}
		dn := a.Value.String()
		md := metricDimension{}
		if v, ok := c.Attr(dim, "value"); ok {
			md.value = v
		} else if def, ok := defaultDimensions[strings.ToLower(strings.TrimSpace(dn))]; ok {
			md.def = def
		} else {
			fail(c.Errorf(dim.Pos, "dimension %q needs a value: only the default dimensions (API ID, Operation ID, Product ID, User ID, Subscription ID, Location, Gateway ID) take theirs from the request", dn))
			continue
		}
		names = append(names, dn)
		p.dims = append(p.dims, md)
	}
	if bad {
		return nil, nil
	}
	if d.Metrics != nil {
		m, err := d.Metrics.Define(name, names)
		if err != nil {
			return nil, c.Errorf(el.Pos, "emit-metric: %s", err)
		}
		p.metric = m
	} else if _, err := custommetrics.New(custommetrics.Limits{}, nil).Define(name, names); err != nil {
		// The names are checked even when nothing is exported.
		return nil, c.Errorf(el.Pos, "emit-metric: %s", err)
	}
	return p, nil
}

func (p *emitMetricPolicy) Apply(_ context.Context, x *exchange.Exchange) error {
	if p.metric == nil {
		return nil
	}
	vs, err := p.value.String(x)
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(vs), 64)
	if err != nil {
		return &pipeline.Error{Reason: "InvalidMetricValue", Message: fmt.Sprintf("emit-metric value %s is not a number", quoteShort(vs))}
	}
	values := make([]string, len(p.dims))
	for i, d := range p.dims {
		if d.def != nil {
			values[i] = d.def(x)
			continue
		}
		if values[i], err = d.value.String(x); err != nil {
			return err
		}
	}
	return p.metric.Emit(p.namespace, values, v)
}
