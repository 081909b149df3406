package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// Snapshot is a compiled configuration: the routes, their pipelines and the
// subscriptions. It is immutable once built; a reload builds a new one and the
// Handler swaps it in atomically.
type Snapshot struct {
	apis       []*api                   // longest path first
	subs       map[string]*subscription // by key
	list       []SubscriptionInfo
	deployment *exchange.Deployment
	// Warnings are the load warnings, for the operator.
	Warnings []string
}

type api struct {
	info    *exchange.API
	prefix  []string // the API's path, split into segments
	version versioning
	// keyRequired is the API's subscriptionRequired.
	keyRequired bool
	ops         []*operation // most specific first; nil when the API has no specification
	catchAll    *operation   // used when ops is nil
	// openProduct is the product that does not require a subscription and
	// contains the API, if any: keyless calls run in its context.
	openProduct *product
	products    map[string]*product // products containing the API, by name
	// base runs subscription failures and other pre-pipeline errors through the
	// global and API on-error sections.
	base *pipeline.Pipeline
}

// versioning selects one API of a version set by query or header; the Segment
// scheme is part of the path.
type versioning struct {
	query, header, version string
}

func (v versioning) matches(r *http.Request, q url.Values) bool {
	switch {
	case v.query != "":
		return strings.EqualFold(q.Get(v.query), v.version)
	case v.header != "":
		return strings.EqualFold(r.Header.Get(v.header), v.version)
	}
	return true
}

type operation struct {
	info *exchange.Operation
	// method is upper case; "*" matches any method.
	method string
	tmpl   *template
	// pipelines by product name; "" is the request without a product.
	pipelines map[string]*pipeline.Pipeline
}

type product struct {
	info *exchange.Product
	name string
}

type subscription struct {
	info   exchange.Subscription
	scope  apiops.ScopeKind
	target string // API or product name
	active bool
}

// route finds the API for a request path, longest prefix first.
func (s *Snapshot) route(r *http.Request, segs []string, q url.Values) (*api, []string) {
	for _, a := range s.apis {
		if len(segs) < len(a.prefix) {
			continue
		}
		ok := true
		for i, p := range a.prefix {
			if !strings.EqualFold(p, segs[i]) {
				ok = false
				break
			}
		}
		if ok && a.version.matches(r, q) {
			return a, segs[len(a.prefix):]
		}
	}
	return nil, nil
}

// operation finds the operation of a for method and the path below the API, and
// fills params and raw as template.match does.
func (a *api) operation(method string, rest []string, q url.Values, params map[string]string, raw *map[string]string) *operation {
	if a.ops == nil {
		return a.catchAll
	}
	for _, op := range a.ops {
		if op.method != method && op.method != "*" {
			continue
		}
		if op.tmpl.match(rest, q, params, raw) {
			return op
		}
	}
	return nil
}

// sortOperations orders operations so that the most specific template matches
// first: more literal segments, then fewer parameters, then no wildcard.
func sortOperations(ops []*operation) {
	slices.SortStableFunc(ops, func(a, b *operation) int {
		if a.tmpl.literals != b.tmpl.literals {
			return b.tmpl.literals - a.tmpl.literals
		}
		if (a.tmpl.wildcard == "") != (b.tmpl.wildcard == "") {
			if a.tmpl.wildcard == "" {
				return -1
			}
			return 1
		}
		if len(a.tmpl.query) != len(b.tmpl.query) {
			return len(b.tmpl.query) - len(a.tmpl.query)
		}
		if (a.method == "*") != (b.method == "*") {
			if a.method == "*" {
				return 1
			}
			return -1
		}
		return 0
	})
}
