package snapshot

import (
	"cmp"
	"path/filepath"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// apis compiles the served APIs and their operations. Call it after products,
// since pipelines include the product policies.
func (c *compilation) apis() []gateway.APIConfig {
	var out []gateway.APIConfig
	for _, a := range c.svc.APIs {
		switch {
		case !a.IsCurrent:
		case a.Unsupported != "":
			// Its path answers 404, as the load warning says, rather than
			// reach an API with a shorter path.
			ac := gateway.APIConfig{
				Info:     &exchange.API{ID: a.Name, Name: cmp.Or(a.DisplayName, a.Name), Path: a.Path, Version: a.Version},
				Path:     a.RoutePath(),
				Unserved: true,
			}
			versioning(&ac, a)
			out = append(out, ac)
		default:
			if ac, ok := c.api(a); ok {
				out = append(out, ac)
			}
		}
	}
	return out
}

// versioning sets the version set fields of ac for a version set's query or
// header scheme.
func versioning(ac *gateway.APIConfig, a *apiops.API) {
	if vs := a.VersionSet; vs != nil && a.Version != "" {
		switch vs.Scheme {
		case apiops.SchemeQuery:
			ac.VersionQuery = cmp.Or(vs.QueryName, "api-version")
		case apiops.SchemeHeader:
			ac.VersionHeader = cmp.Or(vs.HeaderName, "Api-Version")
		}
	}
}

// api compiles one API; false when it has a problem that leaves nothing to route.
func (c *compilation) api(a *apiops.API) (gateway.APIConfig, bool) {
	apiDoc := c.compile(a.Policy, "api")
	info := &exchange.API{
		ID: a.Name, Name: cmp.Or(a.DisplayName, a.Name), Path: a.Path,
		Revision: a.Revision, Version: a.Version, IsCurrentRevision: a.IsCurrent,
		Protocols: a.Protocols, SubscriptionKeyHeader: a.KeyHeader, SubscriptionKeyQuery: a.KeyQuery,
		GraphQL: a.GraphQL,
	}
	if a.ServiceURL != "" {
		su := a.ServiceURL
		// A WebSocket handshake and a gRPC call are HTTP requests: ws and
		// grpc are http, wss and grpcs are https.
		for _, m := range [][2]string{{"ws://", "http://"}, {"wss://", "https://"}, {"grpc://", "http://"}, {"grpcs://", "https://"}} {
			if rest, ok := strings.CutPrefix(su, m[0]); ok {
				su = m[1] + rest
				break
			}
		}
		u, err := policies.ParseBaseURL(su)
		if err != nil {
			c.fail(filepath.Join(c.svc.Dir, a.Dir, "apiInformation.json"), "serviceUrl: %s", err)
			return gateway.APIConfig{}, false
		}
		info.ServiceURL = u
	}
	ac := gateway.APIConfig{
		WebSocket:   a.Type == "websocket",
		GRPC:        a.Type == "grpc",
		GraphQL:     a.Type == "graphql",
		Info:        info,
		Path:        a.RoutePath(),
		KeyRequired: a.SubscriptionRequired,
		Products:    a.Products,
		OpenProduct: c.openProduct(a.Products),
		Operations:  c.operations(a, apiDoc),
		Base:        pipeline.Compose(c.global, nil, apiDoc),
	}
	versioning(&ac, a)
	return ac, true
}

// operations compiles the operations of a. An API without a specification has
// one operation that matches every method and path.
func (c *compilation) operations(a *apiops.API, apiDoc *pipeline.Document) []gateway.OperationConfig {
	if len(a.Operations) == 0 {
		return []gateway.OperationConfig{{
			Info:      &exchange.Operation{ID: "*", Method: "*", Name: "*", URLTemplate: "/*"},
			Pipelines: c.pipelines(a, apiDoc, nil),
		}}
	}
	var out []gateway.OperationConfig
	for _, o := range a.Operations {
		tmpl := o.URLTemplate
		if o.SOAPActions != nil {
			tmpl = "/" // the query part shows the action, which is matched on its own
		}
		t, err := gateway.ParseTemplate(tmpl)
		if err != nil {
			c.fail(filepath.Join(c.svc.Dir, a.Spec), "operation %s: %v", o.Name, err)
			continue
		}
		out = append(out, gateway.OperationConfig{
			Info:        &exchange.Operation{ID: o.Name, Method: o.Method, Name: cmp.Or(o.DisplayName, o.Name), URLTemplate: o.URLTemplate, Examples: examples(o), Spec: o.Spec},
			Template:    t,
			SOAPActions: o.SOAPActions,
			Pipelines:   c.pipelines(a, apiDoc, c.compile(o.Policy, "operation")),
		})
	}
	return out
}

// examples are an operation's documented responses, for mock-response.
func examples(o *apiops.Operation) []exchange.Example {
	var out []exchange.Example
	for _, e := range o.Examples {
		out = append(out, exchange.Example{Status: e.Status, ContentType: e.ContentType, Body: e.Body})
	}
	return out
}
