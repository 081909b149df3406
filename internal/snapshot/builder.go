// Package snapshot compiles a configuration folder, an APIOps extract with its
// lastmile.yaml, into the gateway's immutable gateway.Snapshot. It loads the
// folder, compiles every policy document once, composes the global, product,
// API and operation scopes of each operation in each product's context, and
// gives subscriptions their keys. It reports every problem at once, each as
// file:line:col: message.
package snapshot

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/revocation"
	"github.com/lastmile-gw/lastmile/internal/store"
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
	// Vectors is where the semantic cache policies keep embeddings and
	// responses (memory or Redis); an in-memory one is made on the first build
	// when nil, and kept across reloads.
	Vectors policies.VectorCache
	// CustomMetrics keeps emit-metric's custom metrics; nil when nothing exports
	// them (no listeners.metrics).
	CustomMetrics *custommetrics.Registry
	// Limits is where the traffic limit policies count (memory or Redis); an
	// in-memory store per build when nil. The gateway passes one that lives
	// across reloads, so that a reload does not reset the counters.
	Limits policies.LimitStore
	// Breakers keeps the backends' circuit breakers: pass the same one to the
	// Builder of every reload so that a breaker whose rule did not change keeps
	// its state. The Builder makes its own when nil.
	Breakers *balancer.Breakers
	// OneWay sends send-one-way-request's requests; pass the same one to every
	// reload. Each build makes its own when nil.
	OneWay *policies.OneWay
	// Keys fetches issuers' signing keys for validate-jwt and
	// validate-azure-ad-token; made over Transport on the first build when nil,
	// and kept across reloads.
	Keys *jwks.Cache
	// OwnTenant is lastmile's own identity provider, for
	// validate-azure-ad-token with its tenant id; zero when there is none.
	OwnTenant policies.Tenant
	// Revocation checks client certificates against CRLs; made over Transport
	// on the first build when nil.
	Revocation policies.RevocationChecker
	// Metrics counts the policies' limit decisions and backend calls; nil
	// counts nothing.
	Metrics policies.Metrics
	// TokenMetrics receives the token metrics policies emit; nil when
	// nothing exports them.
	TokenMetrics policies.TokenRecorder
	// Estimator counts prompt tokens for the token policies; each build makes
	// its own when nil.
	Estimator *llm.Estimator

	generated map[string]keyPair // the generated subscription keys, for RestoreKeys

	transportOnce sync.Once
	transportErr  error
	cacheOnce     sync.Once
	vectorsOnce   sync.Once
	breakersOnce  sync.Once
	keysOnce      sync.Once
	// strictFragments makes an error of a fragment that nothing includes and
	// that does not compile (Check); otherwise it is a warning.
	strictFragments bool
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
	load := apiops.Load
	if validateOnly {
		load = apiops.LoadForCheck // goes on to the policies that loaded
	}
	svc, loadErr := load(ctx, b.ConfigDir, b.log())
	if svc == nil {
		return nil, loadErr
	}
	cfg := b.Config
	if cfg == nil {
		cfg = config.Default()
	}
	bes := backends(svc, b.backendBreakers(validateOnly))
	secrets := secretValues(svc)
	reg, err := b.registry(secrets, cfg, bes, validateOnly)
	if err != nil {
		return nil, err
	}
	c, err := newCompilation(svc, reg, b.Expr)
	if err != nil {
		return nil, errors.Join(loadErr, svc.HideSecrets(err))
	}
	sc := gateway.SnapshotConfig{Deployment: deployment(cfg), Warnings: warnings(svc, b.log()), Secrets: secrets, Dir: b.ConfigDir,
		Backends: backendInfo(bes)}
	sc.Products = c.products() // before the APIs, whose pipelines include product policies
	sc.APIs = c.apis()
	// After the APIs, whose includes report a fragment's errors where it is
	// used.
	for _, w := range c.fragments(b.strictFragments) {
		b.log().Warn(w)
		sc.Warnings = append(sc.Warnings, w)
	}
	sc.Global = pipeline.Compose(c.global)
	if loadErr != nil || len(c.errs) > 0 {
		return nil, errors.Join(loadErr, svc.HideSecrets(c.errs))
	}
	if cfg.Listeners.TLS.Gateway == nil {
		logHTTPSOnly(svc, b.log())
	}
	if !validateOnly {
		if sc.Subscriptions, b.generated, err = subscriptionKeys(ctx, svc, b.State); err != nil {
			return nil, err
		}
	}
	return gateway.NewSnapshot(sc)
}

// registry registers every policy with what it needs from this build.
func (b *Builder) registry(secrets []string, cfg *config.Config, bes map[string]policies.Backend, validateOnly bool) (*pipeline.Registry, error) {
	tr, err := b.transport(cfg)
	if err != nil {
		return nil, err
	}
	d := policies.Deps{
		Secrets:             secrets,
		Tokens:              b.Tokens,
		Forwarder:           &proxy.Forwarder{Transport: tr},
		Backends:            bes,
		ForwardTimeout:      cfg.Backend.Timeout,
		Logger:              b.log(),
		Cache:               b.valueCaches(cfg, validateOnly),
		Limits:              b.limits(cfg),
		Vectors:             b.vectors(),
		CustomMetrics:       b.CustomMetrics,
		SideRequests:        tr,
		OneWay:              b.OneWay,
		AllowInsecureIssuer: cfg.Identity.AllowInsecureIssuer,
		OwnTenant:           b.OwnTenant,
		Metrics:             b.Metrics,
		Estimator:           b.Estimator,
	}
	if !validateOnly {
		d.TokenMetrics = b.TokenMetrics
	}
	if d.Dapr, err = url.Parse(cfg.Dapr.URL); err != nil { // checked when lastmile.yaml was read
		return nil, fmt.Errorf("dapr.url: %w", err)
	}
	if d.Certificates, d.ClientCATrust, err = certificates(cfg, validateOnly); err != nil {
		return nil, err
	}
	if !validateOnly {
		b.keysOnce.Do(func() {
			if b.Keys == nil {
				b.Keys = jwks.NewCache(tr, jwks.Options{Logger: b.log()}, cfg.Identity.AllowInsecureIssuer)
			}
			if b.Revocation == nil {
				b.Revocation = revocation.New(tr)
			}
		})
		d.Keys, d.Revocation = b.Keys, b.Revocation
	}
	reg := pipeline.NewRegistry()
	policies.Register(reg, d)
	return reg, nil
}

// vectors is the semantic cache, made in memory on the first build when the
// Builder has none, so that a reload keeps it.
func (b *Builder) vectors() policies.VectorCache {
	b.vectorsOnce.Do(func() {
		if b.Vectors == nil {
			b.Vectors = store.NewMemoryVectors(store.VectorLimits{})
		}
	})
	return b.Vectors
}

// backendBreakers keeps circuit breakers across reloads; a validation gets
// fresh ones, so that it changes nothing.
func (b *Builder) backendBreakers(validateOnly bool) *balancer.Breakers {
	if validateOnly {
		return &balancer.Breakers{}
	}
	b.breakersOnce.Do(func() {
		if b.Breakers == nil {
			b.Breakers = &balancer.Breakers{}
		}
	})
	return b.Breakers
}

// certificates reads lastmile.yaml's certificates (nil when there are none),
// and the roots validate-client-certificate trusts: the system's and the CA
// certificates among them (nil when there are none: the system's alone).
// config.Load checked the files, so an error means one changed since. A
// validation goes on without a PFX whose password variable is not set
// (config.LoadForCheck warned about it): it stands in for any certificate.
func certificates(cfg *config.Config, validateOnly bool) (policies.Certificates, *x509.CertPool, error) {
	if len(cfg.Certificates) == 0 {
		return nil, nil, nil
	}
	byID := make(map[string]*tls.Certificate, len(cfg.Certificates))
	var roots *x509.CertPool
	unopened := false
	for _, c := range cfg.Certificates {
		if _, set := os.LookupEnv(c.PasswordEnv); validateOnly && c.PasswordEnv != "" && !set {
			byID[c.ID], unopened = placeholderCertificate, true
			continue
		}
		cert, err := c.Load(os.LookupEnv)
		if err != nil {
			return nil, nil, fmt.Errorf("lastmile.yaml: certificate %s: %w", c.ID, err)
		}
		byID[c.ID] = cert
		for _, der := range cert.Certificate {
			ca, err := x509.ParseCertificate(der)
			if err != nil || !ca.IsCA {
				continue
			}
			if roots == nil {
				if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
					roots = x509.NewCertPool()
				}
			}
			roots.AddCert(ca)
		}
	}
	if unopened {
		return unopenedCertificates{policies.NewCertificateSet(byID)}, roots, nil
	}
	return policies.NewCertificateSet(byID), roots, nil
}

// unopenedCertificates are certificates one of which could not be opened, so
// any thumbprint may be its.
type unopenedCertificates struct{ *policies.CertificateSet }

func (u unopenedCertificates) ByThumbprint(thumbprint string) (*tls.Certificate, bool) {
	if c, ok := u.CertificateSet.ByThumbprint(thumbprint); ok {
		return c, true
	}
	return placeholderCertificate, true
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

// secretValues are the values of the named values marked secret, which
// request traces cut out of everything they show.
func secretValues(svc *apiops.Service) []string {
	var out []string
	for _, nv := range svc.NamedValues {
		if nv.Secret && nv.HasValue && nv.Value != "" {
			// As a policy may have put it in a URL, too: a key ending in
			// "=" is "%3D" in a query.
			out = append(out, nv.Value, url.QueryEscape(nv.Value), url.PathEscape(nv.Value))
		}
	}
	// Longest first, so that an escaped form is cut whole, not around the
	// value it contains.
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(out)
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

// limits are the traffic limit policies' store, namespaced by the gateway's
// service name, with lastmile.yaml's failure modes.
func (b *Builder) limits(cfg *config.Config) policies.Limits {
	f := cfg.Store.FailureMode
	return policies.Limits{
		Store:     b.Limits,
		Namespace: cfg.Gateway.ServiceName,
		FailClosed: policies.FailClosed{
			RateLimit:   f.RateLimit == config.FailClosed,
			Quota:       f.Quota == config.FailClosed,
			Concurrency: f.Concurrency == config.FailClosed,
		},
	}
}
