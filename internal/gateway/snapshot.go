package gateway

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// Snapshot is a compiled configuration: the routes, their pipelines and the
// subscriptions. NewSnapshot builds it and nothing changes it afterwards; a
// reload builds a new one and the Handler swaps it in atomically.
type Snapshot struct {
	apis        []*api                   // longest path first
	subs        map[string]*subscription // by key
	list        []apiops.Subscription
	deployment  *exchange.Deployment
	warnings    []string
	secrets     []string // named values marked secret, kept out of request traces
	redact      []string // secrets and every subscription key: what Redact cuts out
	backends    []BackendInfo
	dir         string // the configuration folder, which request traces show policy files relative to
	crossDomain []byte // /crossdomain.xml, when the global policy has cross-domain
}

// SnapshotConfig is what NewSnapshot builds a Snapshot from. Everything in it is
// already compiled and checked (package snapshot does that); NewSnapshot arranges
// it for routing and subscription checks.
type SnapshotConfig struct {
	APIs []APIConfig
	// Products are the products the APIs name, each by its ID.
	Products []*exchange.Product
	// Subscriptions come with their keys; every key must be unique.
	Subscriptions []apiops.Subscription
	Deployment    *exchange.Deployment
	// Warnings are the configuration's problems that do not stop the gateway.
	Warnings []string
	// Secrets are the values of named values marked secret: a request trace
	// never shows them.
	Secrets []string
	// Dir is the configuration folder, which request traces show policy
	// files relative to.
	Dir string
	// Backends are the backend entities, for a console (Snapshot.Backends).
	Backends []BackendInfo
	// Global is the global policy alone, for what the gateway answers outside
	// every API: /crossdomain.xml, from its cross-domain policies.
	Global *pipeline.Pipeline
}

// APIConfig is one API of a SnapshotConfig.
type APIConfig struct {
	Info *exchange.API
	// Path is where the API is routed (apiops.API.RoutePath): its URL suffix, with
	// the version for a version set's Segment scheme.
	Path string
	// VersionQuery or VersionHeader, when set, names the query parameter or header
	// that must hold Info.Version (ignoring case) for a request to reach this API
	// of its version set.
	VersionQuery, VersionHeader string
	// KeyRequired is the API's subscriptionRequired.
	KeyRequired bool
	// Products are the IDs of the products containing the API. OpenProduct, when
	// not empty, is the one of them that needs no subscription: keyless calls run
	// in its context.
	Products    []string
	OpenProduct string
	// Operations are in any order: the most specific template matches first.
	Operations []OperationConfig
	// Base runs the global and API on-error sections for failures before an
	// operation's pipeline runs, such as a missing subscription key.
	Base *pipeline.Pipeline
	// WebSocket says the API is a WebSocket API: its requests must be
	// WebSocket handshakes, which forward-request upgrades.
	WebSocket bool
	// GRPC says the API is a gRPC API: its requests must be gRPC calls over
	// HTTP/2, which forward-request sends over HTTP/2 with their trailers.
	GRPC bool
	// GraphQL says the API is a GraphQL API: besides its HTTP requests, a
	// WebSocket handshake (subscriptions, graphql-ws) is tunnelled.
	GraphQL bool
	// Unserved marks a current API that lastmile does not serve
	// (apiops.API.Unsupported): requests on its path get 404, rather than
	// reach an API with a shorter path (the root API) and its policies. Only
	// Info, Path and the version fields matter then.
	Unserved bool
}

// OperationConfig is one operation of an APIConfig.
type OperationConfig struct {
	// Info.Method is matched ignoring case; "*" matches every method.
	Info *exchange.Operation
	// Template is Info.URLTemplate, parsed; nil matches every path, as the one
	// operation of an API without a specification does.
	Template *Template
	// SOAPActions, when not nil, are the SOAP actions the operation of a SOAP
	// API answers to (apiops.Operation.SOAPActions); Template is then its path.
	SOAPActions []string
	// Pipelines are the composed pipelines by product ID; "" is the request in no
	// product's context.
	Pipelines map[string]*pipeline.Pipeline
}

// NewSnapshot returns the snapshot c describes. It refuses two subscriptions
// with the same key, and products the configuration does not have.
func NewSnapshot(c SnapshotConfig) (*Snapshot, error) {
	s := &Snapshot{
		subs:        make(map[string]*subscription, 2*len(c.Subscriptions)),
		list:        slices.Clone(c.Subscriptions),
		deployment:  c.Deployment,
		warnings:    slices.Clone(c.Warnings),
		secrets:     slices.Clone(c.Secrets),
		redact:      slices.Clone(c.Secrets),
		backends:    slices.Clone(c.Backends),
		dir:         c.Dir,
		crossDomain: crossDomainFile(c.Global),
	}
	products := make(map[string]*product, len(c.Products))
	for _, p := range c.Products {
		products[p.ID] = &product{info: p, name: p.ID}
	}
	for _, ac := range c.APIs {
		a, err := newAPI(ac, products)
		if err != nil {
			return nil, err
		}
		s.apis = append(s.apis, a)
	}
	sortAPIs(s.apis)
	for _, sc := range c.Subscriptions {
		sub := &subscription{
			info: exchange.Subscription{ID: sc.Name, Name: cmp.Or(sc.DisplayName, sc.Name),
				PrimaryKey: sc.PrimaryKey, SecondaryKey: sc.SecondaryKey},
			scope: sc.Scope, target: sc.Target, active: sc.Active(), allowTracing: sc.AllowTracing,
		}
		for _, k := range []string{sc.PrimaryKey, sc.SecondaryKey} {
			if k == "" {
				continue
			}
			// A key may show in another case (hex keys upper-cased by a
			// policy or a backend that echoes them).
			s.redact = append(s.redact, k)
			for _, v := range []string{strings.ToUpper(k), strings.ToLower(k)} {
				if v != k {
					s.redact = append(s.redact, v)
				}
			}
			if other, dup := s.subs[k]; dup {
				return nil, fmt.Errorf("subscriptions %s and %s have the same key; keys must be unique", other.info.ID, sc.Name)
			}
			s.subs[k] = sub
		}
	}
	return s, nil
}

func newAPI(c APIConfig, products map[string]*product) (*api, error) {
	a := &api{
		info:        c.Info,
		prefix:      splitPath(c.Path),
		keyRequired: c.KeyRequired,
		webSocket:   c.WebSocket,
		grpc:        c.GRPC,
		graphQL:     c.GraphQL,
		products:    make(map[string]*product, len(c.Products)),
		base:        c.Base,
		unserved:    c.Unserved,
	}
	switch {
	case c.VersionQuery != "":
		a.version = versioning{query: c.VersionQuery, version: c.Info.Version}
	case c.VersionHeader != "":
		a.version = versioning{header: c.VersionHeader, version: c.Info.Version}
	}
	for _, name := range c.Products {
		p := products[name]
		if p == nil {
			return nil, fmt.Errorf("API %s names product %q, which the configuration does not have", c.Info.ID, name)
		}
		a.products[name] = p
	}
	if c.OpenProduct != "" {
		if a.openProduct = a.products[c.OpenProduct]; a.openProduct == nil {
			return nil, fmt.Errorf("API %s: open product %q does not contain it", c.Info.ID, c.OpenProduct)
		}
	}
	for _, oc := range c.Operations {
		op := &operation{
			info:        oc.Info,
			method:      strings.ToUpper(oc.Info.Method),
			tmpl:        oc.Template,
			soapActions: oc.SOAPActions,
			pipelines:   maps.Clone(oc.Pipelines),
			cors:        make(map[string][]corsStep, len(oc.Pipelines)),
		}
		a.soap = a.soap || oc.SOAPActions != nil
		for name, p := range oc.Pipelines {
			if steps := corsSteps(p); len(steps) > 0 {
				op.cors[name] = steps
			}
		}
		a.ops = append(a.ops, op)
	}
	sortOperations(a.ops)
	return a, nil
}

// Warnings are the configuration's problems that do not stop the gateway, for
// the operator.
func (s *Snapshot) Warnings() []string { return slices.Clone(s.warnings) }

// Subscriptions lists the snapshot's subscriptions with their keys.
func (s *Snapshot) Subscriptions() []apiops.Subscription { return slices.Clone(s.list) }

type api struct {
	info    *exchange.API
	prefix  []string // the API's path, split into segments
	version versioning
	// keyRequired is the API's subscriptionRequired.
	keyRequired bool
	ops         []*operation // most specific first
	// openProduct is the product that does not require a subscription and
	// contains the API, if any: keyless calls run in its context.
	openProduct *product
	products    map[string]*product // products containing the API, by name
	// base runs subscription failures and other pre-pipeline errors through the
	// global and API on-error sections.
	base *pipeline.Pipeline
	// webSocket: the API's requests are WebSocket handshakes, tunnelled once
	// the backend accepts one.
	webSocket bool
	grpc      bool // the API's requests are gRPC calls
	graphQL   bool // a WebSocket handshake to the API is tunnelled (subscriptions)
	// soap: the API's operations are told apart by their SOAP actions.
	soap bool
	// unserved: the API's path answers 404 (APIConfig.Unserved).
	unserved bool
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
	tmpl   *Template // nil matches every path
	// soapActions, when not nil, are the SOAP actions the operation answers to.
	soapActions []string
	// pipelines by product name; "" is the request without a product.
	pipelines map[string]*pipeline.Pipeline
	// cors are the cors policies of each pipeline's inbound section, for
	// preflights; nil for a pipeline without one.
	cors map[string][]corsStep
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
	// allowTracing lets the subscription's callers ask for request traces
	// (Ocp-Apim-Trace).
	allowTracing bool
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
			if a.unserved {
				return nil, nil
			}
			return a, segs[len(a.prefix):]
		}
	}
	return nil, nil
}

// operation finds the operation of a for method, the path below the API and,
// for a SOAP API, the request's SOAP action (soapAction), and fills params and
// raw as Template.match does.
func (a *api) operation(method, action string, rest []string, q url.Values, params, raw *map[string]string) *operation {
	for _, op := range a.ops {
		if op.method != method && op.method != "*" {
			continue
		}
		if op.soapActions != nil && !slices.Contains(op.soapActions, action) {
			continue
		}
		if op.tmpl == nil || op.tmpl.match(rest, q, params, raw) {
			return op
		}
	}
	return nil
}

// definesOptions reports whether an operation of a is defined for OPTIONS
// (not "*") on the path below the API.
func (a *api) definesOptions(rest []string, q url.Values) bool {
	for _, op := range a.ops {
		if op.method == http.MethodOptions && (op.tmpl == nil || op.tmpl.match(rest, q, new(map[string]string), nil)) {
			return true
		}
	}
	return false
}

// anyOperation is operation for whichever method comes first: the most
// specific template that matches the path.
func (a *api) anyOperation(rest []string, q url.Values, params, raw *map[string]string) *operation {
	for _, op := range a.ops {
		if op.tmpl == nil || op.tmpl.match(rest, q, params, raw) {
			return op
		}
	}
	return nil
}

// sortAPIs orders APIs for routing: longest path first; among equal paths, the
// ones a version set selects by query or header first, then served ones before
// unserved ones, which only keep requests from shorter paths.
func sortAPIs(apis []*api) {
	slices.SortStableFunc(apis, func(a, b *api) int {
		if len(a.prefix) != len(b.prefix) {
			return len(b.prefix) - len(a.prefix)
		}
		av, bv := a.version != (versioning{}), b.version != (versioning{})
		switch {
		case av && !bv:
			return -1
		case bv && !av:
			return 1
		case a.unserved != b.unserved:
			if a.unserved {
				return 1
			}
			return -1
		}
		return 0
	})
}

// sortOperations orders operations so that the most specific template matches
// first: more literal segments, then no wildcard, then more query parameters,
// then a named method before "*". An operation without a template comes last.
func sortOperations(ops []*operation) {
	slices.SortStableFunc(ops, func(a, b *operation) int {
		if (a.tmpl == nil) != (b.tmpl == nil) {
			if a.tmpl == nil {
				return 1
			}
			return -1
		}
		if a.tmpl == nil {
			return 0
		}
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
