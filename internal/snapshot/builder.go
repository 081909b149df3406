// Package snapshot compiles a configuration folder, an APIOps extract with its
// lastmile.yaml, into the gateway's immutable gateway.Snapshot. It loads the
// folder, compiles every policy document once, composes the global, product,
// API and operation scopes of each operation in each product's context, and
// gives subscriptions their keys. It reports every problem at once, each as
// file:line:col: message.
package snapshot

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// Builder compiles a configuration folder into a gateway.Snapshot. The same
// Builder serves every reload, so the backend transport and its connections,
// and the internal value cache, are kept.
type Builder struct {
	ConfigDir string
	Config    *config.Config
	State     State
	Tokens    policies.TokenSource
	Expr      pipeline.ExprCompiler
	Logger    *slog.Logger
	// Transport reaches the backends; built from Config.Backend when nil.
	Transport http.RoundTripper
	// Cache is where the cache-*-value policies keep values: External is the
	// shared store (Redis) when lastmile.yaml has one. An in-memory Internal
	// cache is made on the first build when nil, and kept across reloads.
	Cache policies.Caches

	transportOnce sync.Once
	transportErr  error
	cacheOnce     sync.Once
}

// Build loads the configuration folder and compiles every policy document once.
// It returns every problem it finds; a Snapshot is returned only when there are
// none.
func (b *Builder) Build(ctx context.Context) (*gateway.Snapshot, error) {
	return b.build(ctx, false)
}

// build compiles the folder. validateOnly leaves out the subscriptions, whose
// generated keys would be written to the state directory.
func (b *Builder) build(ctx context.Context, validateOnly bool) (*gateway.Snapshot, error) {
	svc, err := apiops.Load(ctx, b.ConfigDir, b.log())
	if err != nil {
		return nil, err
	}
	cfg := b.Config
	if cfg == nil {
		cfg = config.Default()
	}
	reg, err := b.registry(svc, cfg, validateOnly)
	if err != nil {
		return nil, err
	}
	c, err := newCompilation(svc, reg, b.Expr)
	if err != nil {
		return nil, err
	}
	sc := gateway.SnapshotConfig{Deployment: deployment(cfg), Warnings: warnings(svc, b.log())}
	sc.Products = c.products() // before the APIs, whose pipelines include product policies
	sc.APIs = c.apis()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	logHTTPSOnly(svc, b.log())
	if !validateOnly {
		if sc.Subscriptions, err = subscriptionKeys(ctx, svc, b.State); err != nil {
			return nil, err
		}
	}
	return gateway.NewSnapshot(sc)
}

// registry registers every policy with what it needs from this build.
func (b *Builder) registry(svc *apiops.Service, cfg *config.Config, validateOnly bool) (*pipeline.Registry, error) {
	tr, err := b.transport(cfg)
	if err != nil {
		return nil, err
	}
	reg := pipeline.NewRegistry()
	policies.Register(reg, policies.Deps{
		Tokens:         b.Tokens,
		Forwarder:      &proxy.Forwarder{Transport: tr},
		Backends:       backends(svc),
		ForwardTimeout: cfg.Backend.Timeout,
		Logger:         b.log(),
		Cache:          b.valueCaches(cfg, validateOnly),
		SideRequests:   tr,
	})
	return reg, nil
}

// transport returns the backend transport, made from cfg on the first build.
func (b *Builder) transport(cfg *config.Config) (http.RoundTripper, error) {
	b.transportOnce.Do(func() {
		if b.Transport == nil {
			b.Transport, b.transportErr = proxy.NewTransport(cfg.Backend.CAFile)
		}
	})
	return b.Transport, b.transportErr
}

func (b *Builder) log() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

// deployment is context.Deployment: the gateway as lastmile.yaml names it.
func deployment(cfg *config.Config) *exchange.Deployment {
	return &exchange.Deployment{
		GatewayID: "self-hosted", Region: cfg.Gateway.Region,
		ServiceName: cfg.Gateway.ServiceName, ServiceID: cfg.Gateway.ServiceName,
	}
}

// warnings are the folder's warnings and the build's own, for the operator.
func warnings(svc *apiops.Service, log *slog.Logger) []string {
	var out []string
	for _, w := range svc.Warnings {
		out = append(out, w.String())
	}
	for _, w := range backendTLSWarnings(svc) {
		log.Warn(w)
		out = append(out, w)
	}
	return out
}

// logHTTPSOnly tells the operator that APIs allowing only https are served
// over plain HTTP: TLS ends in front of lastmile.
func logHTTPSOnly(svc *apiops.Service, log *slog.Logger) {
	n := 0
	for _, a := range svc.Served() {
		if !slices.Contains(a.Protocols, "http") {
			n++
		}
	}
	if n > 0 {
		log.Info("lastmile listens on plain HTTP (terminate TLS in front of it), so APIs that allow only https are served over http too", "apis", n)
	}
}
