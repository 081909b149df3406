package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// Builder compiles a configuration folder into a Snapshot. The same Builder
// serves every reload, so the backend transport and its connections are reused.
type Builder struct {
	ConfigDir string
	Config    *config.Config
	State     *statedir.Dir
	Tokens    policies.TokenSource
	Expr      pipeline.ExprCompiler
	Logger    *slog.Logger
	// Transport reaches the backends; built from Config.Backend when nil.
	Transport http.RoundTripper
	// Cache is where the cache-*-value policies keep values: External is the
	// shared store (Redis) when lastmile.yaml has one. An in-memory Internal
	// cache is made on the first build when nil, and kept across reloads.
	Cache policies.Caches

	once sync.Once
	tErr error

	cacheOnce sync.Once
}

func (b *Builder) transport(cfg *config.Config) (http.RoundTripper, error) {
	b.once.Do(func() {
		if b.Transport == nil {
			b.Transport, b.tErr = proxy.NewTransport(cfg.Backend.CAFile)
		}
	})
	return b.Transport, b.tErr
}

func (b *Builder) log() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

// Build loads the configuration folder and compiles every policy document once.
// It returns every problem it finds; a Snapshot is returned only when there are
// none.
func (b *Builder) Build(ctx context.Context) (*Snapshot, error) {
	return b.build(ctx, false)
}

// Validate loads and compiles a configuration folder like Build, without a state
// directory, a token source or a backend: nothing is written or contacted. It
// returns every problem it finds.
func Validate(ctx context.Context, dir string, cfg *config.Config, expr pipeline.ExprCompiler, log *slog.Logger) error {
	b := &Builder{ConfigDir: dir, Config: cfg, Expr: expr, Logger: log, Tokens: noTokens{}, Transport: http.DefaultTransport}
	_, err := b.build(ctx, true)
	return err
}

// noTokens stands in for the identity provider when only compiling.
type noTokens struct{}

func (noTokens) AccessToken(context.Context, string, string) (string, error) {
	return "", errors.New("validation only: no identity provider")
}

func (b *Builder) build(ctx context.Context, validateOnly bool) (*Snapshot, error) {
	svc, err := apiops.Load(ctx, b.ConfigDir, b.log())
	if err != nil {
		return nil, err
	}
	cfg := b.Config
	if cfg == nil {
		cfg = config.Default()
	}
	tr, err := b.transport(cfg)
	if err != nil {
		return nil, err
	}
	backends := make(map[string]policies.Backend, len(svc.Backends))
	for name, be := range svc.Backends {
		pb := policies.Backend{URL: be.URL}
		if c := be.Credentials; c != nil {
			pb.Header, pb.Query = c.Header, c.Query
			if a := c.Authorization; a != nil {
				pb.AuthScheme, pb.AuthParameter = a.Scheme, a.Parameter
			}
			if mi := c.ManagedIdentity; mi != nil {
				pb.Resource, pb.ClientID = mi.Resource, mi.ClientID
			}
		}
		backends[name] = pb
	}
	reg := pipeline.NewRegistry()
	policies.Register(reg, policies.Deps{
		Tokens:         b.Tokens,
		Forwarder:      &proxy.Forwarder{Transport: tr},
		Backends:       backends,
		ForwardTimeout: cfg.Backend.Timeout,
		Logger:         b.log(),
		Cache:          b.valueCaches(cfg, validateOnly),
		SideRequests:   tr,
	})
	return compileService(svc, reg, b.Expr, b.State, cfg, b.log(), validateOnly)
}

// compiler compiles each policy document of a service once and collects errors.
type compiler struct {
	c    *pipeline.Compiler
	errs policyxml.ErrorList
	docs map[*apiops.Policy]*pipeline.Document
}

func (cc *compiler) compile(p *apiops.Policy, scope string) *pipeline.Document {
	if p == nil {
		return nil
	}
	if d, ok := cc.docs[p]; ok {
		return d
	}
	d, err := cc.c.Compile(p.Doc, scope)
	if err != nil {
		var list policyxml.ErrorList
		if errors.As(err, &list) {
			cc.errs = append(cc.errs, list...)
		} else {
			cc.errs = append(cc.errs, &policyxml.Error{File: p.Doc.File, Pos: policyxml.Pos{Line: 1, Col: 1}, Msg: err.Error()})
		}
	}
	cc.docs[p] = d
	return d
}

func compileService(svc *apiops.Service, reg *pipeline.Registry, expr pipeline.ExprCompiler, state *statedir.Dir, cfg *config.Config, log *slog.Logger, validateOnly bool) (*Snapshot, error) {
	cc := &compiler{c: pipeline.NewCompiler(reg, expr, svc.FragmentDocs()), docs: map[*apiops.Policy]*pipeline.Document{}}

	globalPolicy := svc.Policy
	if globalPolicy == nil {
		doc, err := policyxml.Parse("(default global policy)", []byte(pipeline.DefaultGlobal))
		if err != nil {
			return nil, err
		}
		globalPolicy = &apiops.Policy{File: "policy.xml", Doc: doc}
	}
	global := cc.compile(globalPolicy, "global")

	snap := &Snapshot{
		subs: map[string]*subscription{},
		deployment: &exchange.Deployment{
			GatewayID: "self-hosted", Region: cfg.Gateway.Region,
			ServiceName: cfg.Gateway.ServiceName, ServiceID: cfg.Gateway.ServiceName,
		},
	}
	for _, w := range svc.Warnings {
		snap.Warnings = append(snap.Warnings, w.String())
	}
	for _, name := range slices.Sorted(maps.Keys(svc.Backends)) {
		if t := svc.Backends[name].TLS; t != nil && ((t.ValidateCertificateChain != nil && !*t.ValidateCertificateChain) || (t.ValidateCertificateName != nil && !*t.ValidateCertificateName)) {
			w := "backends/" + name + ": tls validation cannot be turned off in lastmile; the backend's certificate is checked (trust a private CA with backend.caFile in lastmile.yaml)"
			snap.Warnings = append(snap.Warnings, w)
			log.Warn(w)
		}
	}

	products := map[string]*product{}
	productDocs := map[string]*pipeline.Document{}
	for _, name := range slices.Sorted(maps.Keys(svc.Products)) {
		p := svc.Products[name]
		state := "NotPublished"
		if strings.EqualFold(p.State, "published") {
			state = "Published"
		}
		products[name] = &product{name: name, info: &exchange.Product{
			ID: name, Name: cmp.Or(p.DisplayName, name), State: state,
			ApprovalRequired: p.ApprovalRequired, SubscriptionRequired: p.SubscriptionRequired,
			SubscriptionsLimit: p.SubscriptionsLimit,
		}}
		productDocs[name] = cc.compile(p.Policy, "product")
	}

	httpsOnly := 0
	for _, a := range svc.Served() {
		apiDoc := cc.compile(a.Policy, "api")
		info := &exchange.API{
			ID: a.Name, Name: cmp.Or(a.DisplayName, a.Name), Path: a.Path,
			Revision: a.Revision, Version: a.Version, IsCurrentRevision: a.IsCurrent,
			Protocols: a.Protocols, SubscriptionKeyHeader: a.KeyHeader, SubscriptionKeyQuery: a.KeyQuery,
		}
		if !slices.Contains(a.Protocols, "http") {
			httpsOnly++
		}
		if a.ServiceURL != "" {
			u, err := policies.ParseBaseURL(a.ServiceURL)
			if err != nil {
				cc.errs = append(cc.errs, &policyxml.Error{File: filepath.Join(svc.Dir, a.Dir, "apiInformation.json"), Pos: policyxml.Pos{Line: 1, Col: 1},
					Msg: "serviceUrl: " + err.Error()})
				continue
			}
			info.ServiceURL = u
		}
		ap := &api{info: info, prefix: splitPath(a.RoutePath()), keyRequired: a.SubscriptionRequired, products: map[string]*product{}}
		if vs := a.VersionSet; vs != nil && a.Version != "" {
			switch vs.Scheme {
			case apiops.SchemeQuery:
				ap.version = versioning{query: cmp.Or(vs.QueryName, "api-version"), version: a.Version}
			case apiops.SchemeHeader:
				ap.version = versioning{header: cmp.Or(vs.HeaderName, "Api-Version"), version: a.Version}
			}
		}
		var inProducts []string
		for _, pn := range a.Products {
			p := products[pn]
			if p == nil {
				continue
			}
			ap.products[pn] = p
			inProducts = append(inProducts, pn)
			if !p.info.SubscriptionRequired {
				if ap.openProduct != nil {
					snap.Warnings = append(snap.Warnings, fmt.Sprintf("%s: the API is in two open products (%s and %s); keyless calls use %s", a.Dir, ap.openProduct.name, pn, ap.openProduct.name))
					continue
				}
				ap.openProduct = p
			}
		}
		pipelinesFor := func(opDoc *pipeline.Document) map[string]*pipeline.Pipeline {
			m := map[string]*pipeline.Pipeline{"": pipeline.Compose(global, nil, apiDoc, opDoc)}
			for _, pn := range inProducts {
				m[pn] = pipeline.Compose(global, productDocs[pn], apiDoc, opDoc)
			}
			return m
		}
		ap.base = pipeline.Compose(global, nil, apiDoc)
		if len(a.Operations) == 0 {
			ap.catchAll = &operation{method: "*", info: &exchange.Operation{ID: "*", Method: "*", Name: "*", URLTemplate: "/*"}, pipelines: pipelinesFor(nil)}
		}
		for _, o := range a.Operations {
			t, err := parseTemplate(o.URLTemplate)
			if err != nil {
				cc.errs = append(cc.errs, &policyxml.Error{File: filepath.Join(svc.Dir, a.Spec), Pos: policyxml.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("operation %s: %v", o.Name, err)})
				continue
			}
			var opDoc *pipeline.Document
			if o.Policy != nil {
				opDoc = cc.compile(o.Policy, "operation")
			}
			ap.ops = append(ap.ops, &operation{
				info:      &exchange.Operation{ID: o.Name, Method: o.Method, Name: cmp.Or(o.DisplayName, o.Name), URLTemplate: o.URLTemplate},
				method:    strings.ToUpper(o.Method),
				tmpl:      t,
				pipelines: pipelinesFor(opDoc),
			})
		}
		sortOperations(ap.ops)
		snap.apis = append(snap.apis, ap)
	}
	if len(cc.errs) > 0 {
		return nil, cc.errs
	}
	// Longest path first; among equal paths, the version-selected ones first.
	sort.SliceStable(snap.apis, func(i, j int) bool {
		a, b := snap.apis[i], snap.apis[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		return a.version != (versioning{}) && b.version == (versioning{})
	})
	if httpsOnly > 0 {
		log.Info("lastmile listens on plain HTTP (terminate TLS in front of it), so APIs that allow only https are served over http too", "apis", httpsOnly)
	}

	if validateOnly {
		return snap, nil
	}
	subs, err := subscriptionKeys(svc, state)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		sub := &subscription{
			info: exchange.Subscription{ID: s.Name, Name: cmp.Or(s.DisplayName, s.Name),
				PrimaryKey: s.PrimaryKey, SecondaryKey: s.SecondaryKey},
			scope: s.Scope, target: s.Target, active: s.Active(),
		}
		for _, k := range []string{s.PrimaryKey, s.SecondaryKey} {
			if k == "" {
				continue
			}
			if other, dup := snap.subs[k]; dup {
				return nil, fmt.Errorf("subscriptions %s and %s have the same key; keys must be unique", other.info.ID, s.Name)
			}
			snap.subs[k] = sub
		}
		snap.list = append(snap.list, SubscriptionInfo{Name: s.Name, Scope: scopeString(s), State: s.State, PrimaryKey: s.PrimaryKey, SecondaryKey: s.SecondaryKey})
	}
	return snap, nil
}

// subscriptionKeys returns the subscriptions with their keys: the keys in the
// extract, or generated ones persisted in the state directory.
func subscriptionKeys(svc *apiops.Service, state *statedir.Dir) ([]apiops.Subscription, error) {
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(svc.Subscriptions)) {
		s := svc.Subscriptions[name]
		if s.PrimaryKey == "" || s.SecondaryKey == "" {
			missing = append(missing, name)
		}
	}
	var gen map[string]KeyPair
	if len(missing) > 0 {
		if state == nil {
			return nil, errors.New("subscriptions without keys need a state directory to keep generated keys")
		}
		var err error
		if gen, err = generatedKeys(state, missing); err != nil {
			return nil, err
		}
	}
	var out []apiops.Subscription
	for _, name := range slices.Sorted(maps.Keys(svc.Subscriptions)) {
		s := *svc.Subscriptions[name]
		if g, ok := gen[name]; ok {
			if s.PrimaryKey == "" {
				s.PrimaryKey = g.Primary
			}
			if s.SecondaryKey == "" {
				s.SecondaryKey = g.Secondary
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func scopeString(s apiops.Subscription) string {
	switch s.Scope {
	case apiops.ScopeAPI:
		return "/apis/" + s.Target
	case apiops.ScopeProduct:
		return "/products/" + s.Target
	}
	return "/apis"
}

// SubscriptionInfo describes a subscription and its keys, for operators.
type SubscriptionInfo struct {
	Name, Scope, State       string
	PrimaryKey, SecondaryKey string
}

// Subscriptions lists the snapshot's subscriptions with their keys.
func (s *Snapshot) Subscriptions() []SubscriptionInfo { return slices.Clone(s.list) }

// ListSubscriptions loads a configuration folder and returns its subscriptions
// with their keys, generating and persisting keys the extract does not have.
func ListSubscriptions(ctx context.Context, dir, stateDir string, log *slog.Logger) ([]SubscriptionInfo, error) {
	svc, err := apiops.Load(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	state, err := statedir.Open(stateDir)
	if err != nil {
		return nil, err
	}
	subs, err := subscriptionKeys(svc, state)
	if err != nil {
		return nil, err
	}
	out := make([]SubscriptionInfo, 0, len(subs))
	for _, s := range subs {
		out = append(out, SubscriptionInfo{Name: s.Name, Scope: scopeString(s), State: s.State, PrimaryKey: s.PrimaryKey, SecondaryKey: s.SecondaryKey})
	}
	return out, nil
}
