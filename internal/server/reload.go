package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/revocation"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
)

// generation is everything the server builds from one reading of the
// configuration folder. A reload builds a whole new generation, reusing the
// parts whose settings did not change, and swaps it in only when every part
// was built.
type generation struct {
	cfg *config.Config
	// builder built snap; it restores the generated subscription keys
	// should the state lose them.
	builder *snapshot.Builder

	// The identity plane, rebuilt when identityInputs change.
	ident     identityInputs
	idp       *idp.Provider
	chain     *identity.Chain
	tokens    *identity.Cache
	agent     *agent.Agent // nil when every managed identity endpoint is off
	idHandler http.Handler // the identity listener's handler

	// The backend transport, rebuilt when backend.caFile or its content changes.
	transport *proxy.Client
	caDigest  [sha256.Size]byte
	// Issuers' signing keys and CRLs, fetched over transport: kept while it is.
	keys       *jwks.Cache
	revocation *revocation.Checker
	// ownTenant is the identity provider's tenant and keys, for
	// validate-azure-ad-token: rebuilt with the identity plane.
	ownTenant policies.Tenant

	snap *gateway.Snapshot
}

// identityInputs are what the identity plane is built from: the identity
// settings, the issuer, and the content of the files they name (application
// certificates and federated credentials' CA bundles are read once; JWKS files
// are re-read by the provider when they change).
type identityInputs struct {
	identity config.Identity
	issuer   string
	files    map[string][sha256.Size]byte
}

func (s *Server) identityInputs(cfg *config.Config) (identityInputs, error) {
	in := identityInputs{identity: cfg.Identity, issuer: s.issuerFor(cfg), files: map[string][sha256.Size]byte{}}
	for _, a := range cfg.Identity.Applications {
		files := a.Certificates
		for _, f := range a.FederatedCredentials {
			if f.CAFile != "" {
				files = append(files[:len(files):len(files)], f.CAFile)
			}
		}
		for _, f := range files {
			d, err := fileDigest(f)
			if err != nil {
				return in, fmt.Errorf("application %s: %w", a.Name, err)
			}
			in.files[f] = d
		}
	}
	return in, nil
}

func fileDigest(path string) ([sha256.Size]byte, error) {
	if path == "" {
		return [sha256.Size]byte{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}

// build builds a generation from cfg. Parts of prev (nil at start) whose
// settings are unchanged are reused, so that a reload that only changes
// policies keeps the token cache (and with it the tokens that carry the
// gateway through an outage of a remote token source) and the backend
// connections. Nothing is swapped in here.
func (s *Server) build(ctx context.Context, cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{cfg: cfg}
	var err error
	if g.ident, err = s.identityInputs(cfg); err != nil {
		return nil, err
	}
	if prev != nil && reflect.DeepEqual(prev.ident, g.ident) {
		g.idp, g.chain, g.tokens, g.agent, g.idHandler = prev.idp, prev.chain, prev.tokens, prev.agent, prev.idHandler
		g.ownTenant = prev.ownTenant
	} else if err := s.buildIdentityPlane(ctx, cfg, g); err != nil {
		return nil, err
	} else {
		g.ownTenant = ownTenant(g.idp)
	}

	if g.caDigest, err = fileDigest(cfg.Backend.CAFile); err != nil {
		return nil, fmt.Errorf("backend.caFile: %w", err)
	}
	if prev != nil && prev.cfg.Backend.CAFile == cfg.Backend.CAFile && prev.caDigest == g.caDigest {
		g.transport = prev.transport
	} else if g.transport, err = proxy.NewTransport(cfg.Backend.CAFile); err != nil {
		return nil, err
	}

	if prev != nil && prev.transport == g.transport && prev.cfg.Identity.AllowInsecureIssuer == cfg.Identity.AllowInsecureIssuer {
		g.keys, g.revocation = prev.keys, prev.revocation
	} else {
		o := s.opts.KeyFetch
		o.Logger = s.log
		g.keys = jwks.NewCache(g.transport, o, cfg.Identity.AllowInsecureIssuer)
		g.revocation = revocation.New(g.transport)
	}

	b := &snapshot.Builder{
		ConfigDir:     s.opts.ConfigDir,
		Config:        cfg,
		State:         s.ident.State,
		Tokens:        tokenAdapter{g.tokens},
		Expr:          s.opts.Expr,
		Logger:        s.log,
		Transport:     g.transport,
		Cache:         s.caches,
		Limits:        s.limits,
		Vectors:       s.vectors,
		CustomMetrics: s.customMetrics,
		Breakers:      &s.breakers,
		OneWay:        &s.oneWay,
		Keys:          g.keys,
		OwnTenant:     g.ownTenant,
		Revocation:    g.revocation,
		Metrics:       s.obs.policyMetrics(),
		Estimator:     s.estimator,
	}
	if s.tokens != nil {
		b.TokenMetrics = s.tokens // not a nil pointer in an interface
	}
	if g.snap, err = b.Build(ctx); err != nil {
		return nil, err
	}
	g.builder = b
	return g, nil
}

// ownTenant is the identity provider as validate-azure-ad-token sees it: its
// tenant id and the keys of its entra-v1 and entra-v2 issuers, read in process
// (checked every minute, and at most every second when a token names a kid
// the cached set lacks).
func ownTenant(p *idp.Provider) policies.Tenant {
	if p == nil {
		return policies.Tenant{}
	}
	tid := strings.ToLower(p.TenantID())
	o := jwks.Options{Refresh: time.Minute, MinInterval: time.Second, RetryAfter: time.Second}
	return policies.Tenant{
		ID: tid,
		V1: jwks.NewSource("lastmile entra-v1 issuer", jwks.StaticFetcher{Issuer: idp.EntraV1Issuer(tid), JWKS: p.JWKS}, o),
		V2: jwks.NewSource("lastmile entra-v2 issuer", jwks.StaticFetcher{Issuer: idp.EntraV2Issuer(tid), JWKS: p.JWKS}, o),
	}
}

// buildIdentityPlane builds the identity provider, the token source chain, the
// token cache and the managed identity agent for cfg into g.
func (s *Server) buildIdentityPlane(ctx context.Context, cfg *config.Config, g *generation) error {
	if err := s.checkIssuer(cfg); err != nil {
		return err
	}
	idpCfg := idpConfig(cfg, s.issuerFor(cfg))
	if err := addTokenService(cfg, &idpCfg); err != nil {
		return err
	}
	// Tokens cached from the provider may be signed with a key that was just
	// revoked: drop them when the keys change (g.tokens is set below, before
	// the generation is published and the provider's loop starts).
	keysChanged := idp.WithKeysChanged(func() { g.tokens.InvalidateAll() })
	p, err := idp.New(ctx, idpCfg, s.ident.State, append(s.obs.idpOptions(), idp.WithLogger(s.log), idp.WithReplayStore(s.shared), keysChanged)...)
	if err != nil {
		return err
	}
	if g.chain, err = tokenChain(cfg, p, os.LookupEnv); err != nil {
		return err
	}
	g.idp = p
	g.tokens = identity.NewCache(g.chain, append(s.obs.cacheObserver(), identity.WithLogger(s.log))...)
	if g.agent, err = s.newAgent(cfg, g); err != nil {
		return err
	}
	g.idHandler = p.Handler()
	if g.agent != nil {
		g.idHandler = g.agent.Wrap(g.idHandler)
	}
	return nil
}

// Reload reads the configuration folder again (lastmile.yaml, the APIOps
// artifacts and the files they name) and swaps in what it built. On any error
// the running configuration stays and the error is returned, with file:line:col
// for configuration and policy errors.
//
// Every setting of lastmile.yaml takes effect on reload except the listeners'
// addresses, whether they serve TLS and their ACME settings, the managed
// identity endpoints' switches and addresses, and the shared store (see
// restartOnly); those that changed are returned, and logged, as needing a
// restart. The signing keys are read again if the key file changed (lastmile
// keys), and the listeners' certificate files are read again.
func (s *Server) Reload(ctx context.Context) (needRestart []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	needRestart, err = s.reload(ctx)
	s.console.reloaded(err, needRestart)
	switch {
	case err != nil:
		s.log.Error("reload failed; still serving the previous configuration", "error", err)
	case len(needRestart) > 0:
		s.log.Warn("configuration reloaded, except settings that take effect only on restart; restart lastmile to apply them",
			"restart_needed", strings.Join(needRestart, ", "))
	default:
		s.log.Info("configuration reloaded")
	}
	return needRestart, err
}

func (s *Server) reload(ctx context.Context) ([]string, error) {
	prev := s.cur.Load()
	if changed, err := prev.idp.ReloadKeys(ctx); err != nil {
		s.log.Error("reading the signing keys failed; still using the keys read before", "error", err)
	} else if changed {
		s.log.Info("signing keys reloaded")
	}
	cfg, err := config.Load(filepath.Join(s.opts.ConfigDir, config.FileName))
	if err != nil {
		return nil, err
	}
	needRestart := s.restartOnly(cfg)
	// What cannot change yet is kept as it runs, so that the rest of the new
	// configuration is built against the listeners and store that exist.
	cfg.Listeners.Gateway, cfg.Listeners.Identity, cfg.Listeners.Metrics = s.started.Listeners.Gateway, s.started.Listeners.Identity, s.started.Listeners.Metrics
	cfg.Listeners.Console, cfg.Console = s.started.Listeners.Console, s.started.Console
	e := &cfg.Identity.Endpoints
	e.AppService, e.IMDSListen, e.Socket = s.started.Identity.Endpoints.AppService, s.started.Identity.Endpoints.IMDSListen, s.started.Identity.Endpoints.Socket
	cfg.Store = s.started.Store

	// The listeners' certificate files are read again, and their settings
	// applied, with everything else or not at all.
	commitTLS, err := s.prepareTLS(cfg)
	if err != nil {
		return nil, err
	}
	g, err := s.build(ctx, cfg, prev)
	if err != nil {
		return nil, err
	}
	commitTLS()
	s.cur.Store(g)
	s.handler.Swap(g.snap)
	if g.idp != prev.idp {
		select {
		case s.swapped <- struct{}{}:
		default:
		}
	}
	if g.transport != prev.transport {
		// Requests in flight keep their connections; idle ones go.
		prev.transport.CloseIdleConnections()
	}
	return needRestart, nil
}

// restartOnly lists the settings of cfg that differ from those the server
// started with and that a reload does not apply: they bind listeners, are
// published to workloads in identity.env, or open connections that other parts
// hold on to.
func (s *Server) restartOnly(cfg *config.Config) []string {
	old := s.started
	var out []string
	check := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	// A listener given on the command line wins over lastmile.yaml; changing
	// the file then changes nothing.
	check("listeners.gateway", s.opts.Listen == "" && cfg.Listeners.Gateway != old.Listeners.Gateway)
	check("listeners.identity", s.opts.IdentityListen == "" && cfg.Listeners.Identity != old.Listeners.Identity)
	check("listeners.metrics", cfg.Listeners.Metrics != old.Listeners.Metrics)
	check("listeners.console", cfg.Listeners.Console != old.Listeners.Console)
	check("console", !reflect.DeepEqual(cfg.Console, old.Console))
	e, oe := cfg.Identity.Endpoints, old.Identity.Endpoints
	check("identity.managedIdentityEndpoints.appService", e.AppService != oe.AppService)
	check("identity.managedIdentityEndpoints.imds.listen", e.IMDSListen != oe.IMDSListen)
	check("identity.managedIdentityEndpoints.socket", e.Socket != oe.Socket)
	check("store", cfg.Store != old.Store)
	// The data plane's HTTP server and body budget are made once, at start.
	check("limits", cfg.Limits != old.Limits)
	check("telemetry", !reflect.DeepEqual(cfg.Telemetry, old.Telemetry))
	// TLS turned on or off on a listener, the ACME settings (their managers
	// hold renewal timers and the account), the HTTP-01 listener; the
	// certificate files and client certificate settings are applied.
	return append(out, s.restartOnlyTLS(cfg)...)
}

// restoreSubscriptionKeys writes the generated subscription keys back to the
// state when it lost them, every idp.KeyReloadInterval, as the identity
// provider does with its keys and identities.
func (s *Server) restoreSubscriptionKeys(ctx context.Context) {
	t := time.NewTicker(idp.KeyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g := s.cur.Load()
		if g == nil || g.builder == nil {
			continue
		}
		switch wrote, err := g.builder.RestoreKeys(ctx); {
		case err != nil && ctx.Err() == nil:
			s.log.Error("writing back the generated subscription keys failed", "error", err)
		case wrote:
			s.log.Warn("the generated subscription keys were missing from the state; wrote back the ones this instance holds")
		}
	}
}

// runKeys runs the current identity provider's key maintenance (idp.Run) until
// ctx is done, moving to the new provider when a reload replaces it.
func (s *Server) runKeys(ctx context.Context) {
	for {
		p := s.cur.Load().idp
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { p.Run(pctx); close(done) }()
		select {
		case <-ctx.Done():
		case <-s.swapped:
		}
		cancel()
		<-done
		if ctx.Err() != nil {
			return
		}
	}
}
