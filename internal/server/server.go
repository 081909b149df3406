// Package server runs lastmile: it loads the configuration, starts the embedded
// identity provider and the data plane, reloads on request, and shuts down
// gracefully. `lastmile serve`, `lastmile demo` and the end-to-end tests all start
// the gateway through it.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/http1"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// Options say what to run. Empty listener addresses come from lastmile.yaml, then
// from the defaults (:8080 and 127.0.0.1:8081).
type Options struct {
	ConfigDir      string
	Listen         string
	IdentityListen string
	StateDir       string
	Logger         *slog.Logger
	// Expr compiles policy expressions; nil means expressions are refused.
	Expr pipeline.ExprCompiler
}

// Server is a running gateway and identity provider.
type Server struct {
	opts    Options
	log     *slog.Logger
	cfg     *config.Config
	state   *statedir.Dir
	idp     *idp.Provider
	tokens  *identity.Cache
	handler *gateway.Handler
	builder *snapshot.Builder

	gwLn, idLn net.Listener
	gwSrv      *http1.Server
	idSrv      *http.Server
	plane      identityPlane // token sources and managed identity endpoints (identityplane.go)

	metricsLn  net.Listener // nil without listeners.metrics
	metricsSrv *http.Server

	reloadMu sync.Mutex
	shared   sharedStore // replay protection (and more) across instances
}

// New loads the configuration, opens the state directory, starts the identity
// provider, compiles the gateway's snapshot and binds both listeners. Nothing is
// served until Serve.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConfigDir == "" {
		return nil, errors.New("no configuration folder: pass --config DIR (an APIOps extract)")
	}
	s := &Server{opts: o, log: o.Logger}
	cfg, err := config.Load(filepath.Join(o.ConfigDir, "lastmile.yaml"))
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	if s.state, err = statedir.Open(o.StateDir); err != nil {
		return nil, err
	}

	gwAddr := cmp.Or(o.Listen, cfg.Listeners.Gateway)
	idAddr := cmp.Or(o.IdentityListen, cfg.Listeners.Identity)
	if s.idLn, err = net.Listen("tcp", idAddr); err != nil {
		return nil, fmt.Errorf("identity listener: %w", err)
	}
	if s.gwLn, err = net.Listen("tcp", gwAddr); err != nil {
		s.idLn.Close()
		return nil, fmt.Errorf("gateway listener: %w", err)
	}
	fail := func(err error) (*Server, error) {
		s.gwLn.Close()
		s.idLn.Close()
		s.closeListeners() // the managed identity agent's, if it started
		if s.shared != nil {
			s.shared.Close()
		}
		return nil, err
	}

	issuer := cfg.Listeners.Issuer
	if issuer == "" {
		issuer = "http://" + loopbackAddr(s.idLn.Addr().(*net.TCPAddr))
	}
	idpCfg := idpConfig(cfg, issuer)
	if err := addTokenService(cfg, &idpCfg); err != nil {
		return fail(err)
	}
	shared, err := openStore(ctx, cfg.Store, os.Getenv)
	if err != nil {
		return fail(err)
	}
	s.shared = shared
	s.idp, err = idp.New(ctx, idpCfg, s.state, idp.WithLogger(s.log), idp.WithReplayStore(shared))
	if err != nil {
		return fail(err)
	}
	if s.plane.chain, err = tokenChain(cfg, s.idp, os.LookupEnv); err != nil {
		return fail(err)
	}
	s.tokens = identity.NewCache(s.plane.chain, identity.WithLogger(s.log))
	if err := s.startAgent(cfg); err != nil {
		return fail(err)
	}

	s.builder = &snapshot.Builder{
		ConfigDir: o.ConfigDir,
		Config:    cfg,
		State:     s.state,
		Tokens:    tokenAdapter{s.tokens},
		Expr:      o.Expr,
		Logger:    s.log,
		Cache:     valueCaches(shared),
	}
	snap, err := s.builder.Build(ctx)
	if err != nil {
		return fail(err)
	}
	s.handler = gateway.NewHandler(s.log)
	s.handler.Swap(snap)
	if addr := cfg.Listeners.Metrics; addr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		s.handler.Metrics = gateway.NewMetrics(reg)
		if s.metricsLn, err = net.Listen("tcp", addr); err != nil {
			return fail(fmt.Errorf("metrics listener: %w", err))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}

	s.gwSrv = gatewayServer(s.handler, cfg.Limits, s.log)
	s.idSrv = &http.Server{
		Handler:           s.identityHandler(),
		ConnContext:       s.connContext(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// gatewayServer is the data plane's HTTP server with lastmile.yaml's limits.
func gatewayServer(h *gateway.Handler, l config.Limits, log *slog.Logger) *http1.Server {
	h.BodyLimit = l.BufferedBody
	h.Budget = exchange.NewBudget(l.BufferedBodies)
	off := func(rate int) int { return cmp.Or(rate, -1) } // 0 in the file turns the check off
	return &http1.Server{
		Handler:           h,
		MaxRequestLine:    l.RequestLine,
		MaxHeaderBytes:    l.HeaderBytes,
		MaxHeaderCount:    l.HeaderCount,
		ReadHeaderTimeout: l.HeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MinBodyRate:       off(l.MinBodyRate),
		BodyGrace:         cmp.Or(l.BodyGracePeriod, -1),
		MinResponseRate:   off(l.MinResponseRate),
		HTTP2:             true,
		ErrorBody:         gateway.ErrorBody,
		Logger:            log,
	}
}

func idpConfig(cfg *config.Config, issuer string) idp.Config {
	c := idp.Config{
		Issuer:        issuer,
		TenantID:      cfg.Identity.TenantID,
		TokenLifetime: cfg.Identity.TokenLifetime,
	}
	for _, u := range cfg.Identity.UserAssignedIdentities {
		c.UserAssigned = append(c.UserAssigned, idp.UserAssignedIdentity{Name: u.Name, ClientID: u.ClientID})
	}
	for _, r := range cfg.Identity.Resources {
		res := idp.Resource{ID: r.ID, Roles: r.Roles, Assignments: map[string][]string{}}
		for _, a := range r.Assignments {
			res.Assignments[a.Identity] = a.Roles
		}
		c.Resources = append(c.Resources, res)
	}
	return c
}

// tokenAdapter gives policies the cached token's value.
type tokenAdapter struct{ c *identity.Cache }

func (t tokenAdapter) AccessToken(ctx context.Context, clientID, resource string) (string, error) {
	tok, err := t.c.Token(ctx, clientID, resource)
	return tok.Value, err
}

// loopbackAddr names a listener's address for URLs: an unspecified host
// (0.0.0.0 or ::) becomes 127.0.0.1.
func loopbackAddr(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	return a.String()
}

// GatewayURL is the data plane's base URL.
func (s *Server) GatewayURL() string { return "http://" + loopbackAddr(s.gwLn.Addr().(*net.TCPAddr)) }

// IdentityURL is the identity listener's base URL.
func (s *Server) IdentityURL() string { return "http://" + loopbackAddr(s.idLn.Addr().(*net.TCPAddr)) }

// Issuer is the identity provider's issuer URL.
func (s *Server) Issuer() string { return s.idp.Issuer() }

// Provider returns the embedded identity provider.
func (s *Server) Provider() *idp.Provider { return s.idp }

// Snapshot returns the configuration being served.
func (s *Server) Snapshot() *gateway.Snapshot { return s.handler.Snapshot() }

// Serve serves both listeners until ctx is done, then shuts down gracefully,
// letting requests in flight finish for up to 10 seconds.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 3+len(s.plane.servers))
	// The signing keys: rotation schedule, and changes by other instances or
	// lastmile keys, picked up every idp.KeyReloadInterval.
	keysCtx, stopKeys := context.WithCancel(ctx)
	keysDone := make(chan struct{})
	go func() { s.idp.Run(keysCtx); close(keysDone) }()
	defer func() { stopKeys(); <-keysDone }()
	go func() { errc <- s.gwSrv.Serve(s.gwLn) }()
	go func() { errc <- s.idSrv.Serve(s.idLn) }()
	if s.metricsSrv != nil {
		go func() { errc <- s.metricsSrv.Serve(s.metricsLn) }()
	}
	s.serveIdentityPlane(errc)
	s.log.Info("lastmile is serving", "gateway", s.GatewayURL(), "identity", s.IdentityURL(), "issuer", s.Issuer(),
		"token_sources", sourceNames(s.cfg), "identity_endpoint", s.plane.env.IdentityEndpoint,
		"imds", s.plane.env.IMDSHost, "identity_socket", s.plane.env.Socket)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.gwSrv.Shutdown(shutCtx)
	s.idSrv.Shutdown(shutCtx)
	if s.metricsSrv != nil {
		s.metricsSrv.Shutdown(shutCtx)
	}
	s.closeIdentityPlane(func(srv *http.Server) error { return srv.Shutdown(shutCtx) })
	s.shared.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Reload rebuilds the snapshot from the configuration folder and swaps it in. On
// any error the running snapshot stays and the error is returned. The identity
// provider's settings (lastmile.yaml's identity section) are read at start only;
// its signing keys are read again if the key file changed (lastmile keys).
func (s *Server) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if changed, err := s.idp.ReloadKeys(); err != nil {
		s.log.Error("reading the signing keys failed; still using the keys read before", "error", err)
	} else if changed {
		s.log.Info("signing keys reloaded")
	}
	snap, err := s.builder.Build(ctx)
	if err != nil {
		return err
	}
	s.handler.Swap(snap)
	return nil
}

// Close stops both listeners at once.
func (s *Server) Close() error {
	var merr error
	if s.metricsSrv != nil {
		merr = s.metricsSrv.Close()
	}
	return errors.Join(s.gwSrv.Close(), s.idSrv.Close(), s.closeIdentityPlane((*http.Server).Close), s.shared.Close(), merr)
}

// MetricsURL is the Prometheus endpoint, or "" when listeners.metrics is unset.
func (s *Server) MetricsURL() string {
	if s.metricsLn == nil {
		return ""
	}
	return "http://" + loopbackAddr(s.metricsLn.Addr().(*net.TCPAddr)) + "/metrics"
}

// sharedStore is the state several instances share; in memory for one.
type sharedStore interface {
	idp.ReplayStore
	Close() error
}

// valueCaches are the caches of the cache-*-value policies. With Redis, Redis
// is the external cache every instance shares and each instance has its own
// in-memory internal cache; with the in-memory store, that store is the
// internal cache and there is no external one (caching-type="external" is then
// a load error).
func valueCaches(shared sharedStore) policies.Caches {
	switch s := shared.(type) {
	case *store.Redis:
		return policies.Caches{Internal: store.NewMemory(0), External: s}
	case *store.Memory:
		return policies.Caches{Internal: s}
	}
	return policies.Caches{}
}

// openStore opens the store lastmile.yaml names: memory, or Redis when several
// instances run together (so that, for example, a client assertion is accepted
// once across all of them).
func openStore(ctx context.Context, c config.Store, getenv func(string) string) (sharedStore, error) {
	if c.Type != config.StoreRedis {
		return store.NewMemory(1 << 18), nil
	}
	password := ""
	if c.Redis.PasswordEnv != "" {
		password = getenv(c.Redis.PasswordEnv)
	}
	r, err := store.NewRedis(ctx, store.RedisOptions{
		Address: c.Redis.Address, Username: c.Redis.Username, Password: password, DB: c.Redis.DB, TLS: c.Redis.TLS,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return r, nil
}
