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
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/http1"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/llm"
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
	// Version is the version the telemetry reports (service.version).
	Version string
	// KeyFetch is the schedule on which validate-jwt and
	// validate-azure-ad-token fetch issuers' signing keys; the zero value is
	// API Management's (cached an hour, refetched at most every 5 minutes for
	// an unknown kid).
	KeyFetch jwks.Options
	// TLSCheckInterval is how often the listeners' certificate files are
	// checked for changes; 0 means DefaultTLSCheckInterval.
	TLSCheckInterval time.Duration
}

// Server is a running gateway and identity provider.
type Server struct {
	opts    Options
	log     *slog.Logger
	state   *statedir.Dir
	ident   *IdentityState // keys, identities and subscription keys: state (memory store) or Redis
	handler *gateway.Handler
	// started is the configuration the server started with: the settings a
	// reload cannot change are compared against it (see restartOnly).
	started *config.Config
	// cur is everything built from the configuration being served; a reload
	// builds a new one and swaps it in whole (reload.go).
	cur     atomic.Pointer[generation]
	swapped chan struct{} // tells runKeys that cur changed
	caches  policies.Caches
	// vectors is the semantic cache: Redis's when the store is Redis.
	vectors policies.VectorCache
	// customMetrics are emit-metric's, exported on listeners.metrics; nil
	// without it.
	customMetrics *custommetrics.Registry
	// breakers are the backends' circuit breakers, kept across reloads.
	breakers balancer.Breakers
	// oneWay sends send-one-way-request's requests, within bounds that hold
	// across reloads; shutdown waits for them within its grace period.
	oneWay policies.OneWay
	issuer string // derived from the identity listener when listeners.issuer is unset

	gwLn, idLn  net.Listener
	gwSrv       *http1.Server
	idSrv       *http.Server
	plane       identityPlane // managed identity endpoints for local workloads (identityplane.go)
	workloadEnv *envPublisher // identity.env (workloadenv.go)

	metricsLn  net.Listener // nil without listeners.metrics
	metricsSrv *http.Server
	consoleLn  net.Listener // nil without listeners.console
	consoleSrv *http.Server
	console    consoleState  // console.go
	obs        observability // metrics, OpenTelemetry, access log, request traces (telemetry.go)
	// tokens are the token metrics policies emit (nil when no one reads
	// metrics), kept across reloads; estimator counts prompts.
	tokens    *gateway.TokenMetrics
	estimator *llm.Estimator

	// TLS on the listeners (tls.go): nil for a listener serving plain HTTP.
	gwTLS, idTLS, metricsTLS, consoleTLS *listenerTLS
	acme                                 []*acmeManager // one per distinct acme setting
	acmeLn                               net.Listener   // nil without listeners.acmeHTTP
	acmeSrv                              *http.Server

	reloadMu sync.Mutex
	shared   sharedStore // replay protection (and more) across instances
	limits   limitStore  // the traffic limits' counters (limits.go)
}

// New loads and checks the whole configuration, binds every listener, and only
// then opens the state directory, starts the identity provider, compiles the
// gateway's snapshot and publishes the managed identity environment
// (identity.env). A configuration that cannot start therefore leaves the state
// directory as it was. Nothing is served until Serve; call Serve or Close.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConfigDir == "" {
		return nil, errors.New("no configuration folder: pass --config DIR (an APIOps extract)")
	}
	if fi, err := os.Stat(o.ConfigDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("configuration folder %s: not a readable folder; pass --config DIR (an APIOps extract)", o.ConfigDir)
	}
	s := &Server{opts: o, log: o.Logger, swapped: make(chan struct{}, 1)}
	cfg, err := config.Load(filepath.Join(o.ConfigDir, config.FileName))
	if err != nil {
		return nil, err
	}
	s.started = cfg
	// Everything that can be checked without the state directory is checked
	// first: the folder and its policies, the token sources, the key files.
	if err := snapshot.Validate(ctx, o.ConfigDir, cfg, o.Expr, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	if _, err := tokenChain(cfg, nil, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := addTokenService(cfg, &idp.Config{}); err != nil {
		return nil, err
	}

	fail := func(err error) (*Server, error) {
		s.closeListeners()
		s.obs.close(ctx)
		if s.limits != nil {
			s.limits.Close()
		}
		closeCache(s.caches)
		if s.shared != nil {
			s.shared.Close()
		}
		return nil, err
	}
	if s.idLn, err = net.Listen("tcp", cmp.Or(o.IdentityListen, cfg.Listeners.Identity)); err != nil {
		return fail(fmt.Errorf("identity listener: %w", err))
	}
	if s.gwLn, err = net.Listen("tcp", cmp.Or(o.Listen, cfg.Listeners.Gateway)); err != nil {
		return fail(fmt.Errorf("gateway listener: %w", err))
	}
	if addr := cfg.Listeners.Metrics; addr != "" {
		if s.metricsLn, err = net.Listen("tcp", addr); err != nil {
			return fail(fmt.Errorf("metrics listener: %w", err))
		}
	}
	if err := s.listenConsole(cfg); err != nil {
		return fail(err)
	}
	if addr := cfg.Listeners.ACMEHTTP; addr != "" {
		if s.acmeLn, err = net.Listen("tcp", addr); err != nil {
			return fail(fmt.Errorf("ACME HTTP-01 listener (listeners.acmeHTTP): %w", err))
		}
	}
	if err := s.listenIdentityPlane(cfg); err != nil {
		return fail(err)
	}
	if err := s.setupObservability(ctx, cfg); err != nil {
		return fail(err)
	}
	s.issuer = "http://" + loopbackAddr(s.idLn.Addr().(*net.TCPAddr))
	if cfg.Listeners.TLS.Identity != nil {
		s.issuer = "https://" + loopbackAddr(s.idLn.Addr().(*net.TCPAddr))
	}
	if err := s.checkIssuer(cfg); err != nil {
		return fail(err)
	}
	if s.shared, err = openStore(ctx, cfg.Store, os.Getenv, s.obs.redisObserver()); err != nil {
		return fail(err)
	}
	s.estimator = llm.NewEstimator()
	s.caches = valueCaches(s.shared, cfg.Store.Redis.Timeout)
	s.vectors = vectorCache(ctx, s.shared, s.log)
	if s.obs.metrics != nil { // someone reads metrics
		// One registry for every metric: the gateway's (lastmile_requests_total...),
		// the token policies' (lastmile_llm_*) and emit-metric's
		// (lastmile_custom_*), whose prefixes keep them apart.
		s.tokens = gateway.NewTokenMetrics(s.obs.reg, 0, s.log)
		s.customMetrics = custommetrics.New(custommetrics.Limits{}, s.log)
		s.obs.reg.MustRegister(s.customMetrics)
	}
	s.limits = openLimits(s.shared, cfg.Store, s.log)
	s.oneWay.Logger = s.log

	// From here on the state directory is used.
	if s.state, err = statedir.Open(o.StateDir); err != nil {
		return fail(err)
	}
	if err := s.startTLS(cfg); err != nil {
		return fail(err)
	}
	if s.acmeLn != nil {
		s.acmeSrv = s.sideServer(acmeHTTPHandler(s.acme))
		s.acmeSrv.IdleTimeout = 30 * time.Second
	}
	if s.ident, err = identityState(cfg.Store, s.state, s.shared, os.Getenv); err != nil {
		return fail(err)
	}
	if err := s.ident.checkSwitch(ctx, s.log); err != nil {
		return fail(err)
	}
	if s.ident.Shared != nil {
		s.log.Info("the identity state (signing keys, identities, generated subscription keys) is kept in Redis, encrypted",
			"redis", cfg.Store.Redis.Address, "encryption_key", s.ident.Shared.KeyIDs()[0], "state_dir", s.state.Path())
	}
	g, err := s.build(ctx, cfg, nil)
	if err != nil {
		return fail(err)
	}
	s.cur.Store(g)
	s.handler = gateway.NewHandler(s.log)
	s.handler.Swap(g.snap)
	s.handler.Metrics = s.obs.metrics
	s.handler.Tracer = s.obs.tel.Tracer()
	s.handler.AccessLog = s.obs.access
	s.handler.Traces = s.obs.traces
	if err := s.setupConsole(cfg, g); err != nil {
		return fail(err)
	}
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.obs.reg, promhttp.HandlerOpts{}))
		s.metricsSrv = s.sideServer(mux)
	}

	s.gwSrv = gatewayServer(s.handler, cfg.Limits, s.log)
	s.idSrv = s.sideServer(s.identityHandler())
	s.idSrv.ConnContext = s.connContext()
	if err := s.publishWorkloadEnvironment(cfg); err != nil {
		return fail(err)
	}
	return s, nil
}

// gatewayServer is the data plane's HTTP server with lastmile.yaml's limits.
// They are read at start only (a reload names them as needing a restart).
func gatewayServer(h *gateway.Handler, l config.Limits, log *slog.Logger) *http1.Server {
	h.BodyLimit = l.BufferedBody
	h.Budget = exchange.NewBudget(l.BufferedBodies)
	h.TunnelIdleTimeout = l.TunnelIdleTimeout
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

// issuerFor is the issuer URL cfg gives: listeners.issuer, or the identity
// listener's URL.
func (s *Server) issuerFor(cfg *config.Config) string {
	return cmp.Or(cfg.Listeners.Issuer, s.issuer)
}

// checkIssuer checks the issuer derived from the identity listener when
// listeners.issuer is unset (the configuration loader checks the one it names):
// an identity listener on a host other than loopback gives a plain http issuer.
func (s *Server) checkIssuer(cfg *config.Config) error {
	if cfg.Listeners.Issuer != "" {
		return nil
	}
	if msg := directory.CheckIssuer(s.issuer, cfg.Identity.AllowInsecureIssuer); msg != "" {
		return fmt.Errorf("the issuer is http://<identity listener>, since listeners.issuer is unset: %s", msg)
	}
	return nil
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

// tokenAdapter gives policies the cached token's value and how the cache
// served it.
type tokenAdapter struct{ c *identity.Cache }

func (t tokenAdapter) AccessToken(ctx context.Context, clientID, resource string) (policies.AccessToken, error) {
	tok, o, err := t.c.Get(ctx, clientID, resource)
	return policies.AccessToken{Value: tok.Value, Outcome: o.String()}, err
}

// loopbackAddr names a listener's address for URLs: an unspecified host
// (0.0.0.0 or ::) becomes 127.0.0.1.
func loopbackAddr(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	return a.String()
}

// GatewayURL is the data plane's base URL, as a client on this host reaches it.
func (s *Server) GatewayURL() string {
	return scheme(s.gwTLS) + "://" + loopbackAddr(s.gwLn.Addr().(*net.TCPAddr))
}

// IdentityURL is the identity listener's base URL, as a client on this host
// reaches it.
func (s *Server) IdentityURL() string {
	return scheme(s.idTLS) + "://" + loopbackAddr(s.idLn.Addr().(*net.TCPAddr))
}

// Issuer is the identity provider's issuer URL.
func (s *Server) Issuer() string { return s.cur.Load().idp.Issuer() }

// Provider returns the embedded identity provider being served; a reload that
// changes the identity settings replaces it.
func (s *Server) Provider() *idp.Provider { return s.cur.Load().idp }

// Snapshot returns the configuration being served.
func (s *Server) Snapshot() *gateway.Snapshot { return s.handler.Snapshot() }

// Serve serves both listeners until ctx is done, then shuts down gracefully.
// The data plane stops accepting and closes its idle keep-alive connections at
// once, and requests in flight finish; meanwhile the identity listener still
// serves, since a request in flight may need it (a policy that calls the token
// endpoint). Then the identity listener, the metrics listener and the managed
// identity endpoints drain the same way. All of it shares one deadline,
// shutdown.gracePeriod as the configuration being served says; what still runs
// then is cut off. It logs when the shutdown starts and when it is done.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 5+len(s.plane.servers))
	// In the background: the signing keys (rotation schedule, and changes by
	// other instances or lastmile keys, picked up every idp.KeyReloadInterval),
	// and identity.env, taken over when the instance that owns it stops.
	bgCtx, stopBackground := context.WithCancel(ctx)
	keysDone, envDone, subsDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { s.runKeys(bgCtx); close(keysDone) }()
	go func() { s.workloadEnv.takeOver(bgCtx); close(envDone) }()
	go func() { s.restoreSubscriptionKeys(bgCtx); close(subsDone) }()
	stopBg := sync.OnceFunc(func() { stopBackground(); <-keysDone; <-envDone; <-subsDone })
	defer stopBg()
	go func() { errc <- s.gwSrv.Serve(s.gwLn) }()
	go func() { errc <- s.idSrv.Serve(s.idLn) }()
	if s.metricsSrv != nil {
		go func() { errc <- s.metricsSrv.Serve(s.metricsLn) }()
	}
	if s.acmeSrv != nil {
		go func() { errc <- s.acmeSrv.Serve(s.acmeLn) }()
	}
	if s.consoleSrv != nil {
		go func() { errc <- s.consoleSrv.Serve(s.consoleLn) }()
	}
	s.serveIdentityPlane(errc)
	// TLS: certificate files checked for changes, ACME certificates obtained
	// now rather than at the first handshake.
	go s.watchCertificates(bgCtx, cmp.Or(s.opts.TLSCheckInterval, DefaultTLSCheckInterval))
	for _, m := range s.acme {
		go m.obtain(bgCtx)
	}
	g := s.cur.Load()
	attrs := []any{
		"gateway_listen", s.gwLn.Addr().String(), "gateway_url", s.GatewayURL(),
		"identity_listen", s.idLn.Addr().String(), "identity_url", s.IdentityURL(), "issuer", s.Issuer(),
		"token_sources", sourceNames(g.cfg),
	}
	if s.metricsLn != nil {
		attrs = append(attrs, "metrics_listen", s.metricsLn.Addr().String())
	}
	attrs = append(attrs, s.obs.settings(g.cfg.Telemetry)...)
	if s.acmeLn != nil {
		attrs = append(attrs, "acme_http_listen", s.acmeLn.Addr().String())
	}
	if s.consoleLn != nil {
		attrs = append(attrs, "console_url", s.ConsoleURL())
	}
	env := s.plane.env
	for _, kv := range [][2]string{{"identity_endpoint", env.IdentityEndpoint}, {"imds", env.IMDSHost}, {"identity_socket", env.Socket}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	s.log.Info("lastmile is serving", attrs...)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	grace := s.cur.Load().cfg.Shutdown.GracePeriod // as configured now: a reload applies it
	if err == nil {
		s.log.Info("shutdown started: no new connections; requests in flight may finish", "grace", grace, "cause", context.Cause(ctx))
	} else {
		s.log.Error("a listener failed; shutting down", "error", err, "grace", grace)
	}
	began := time.Now()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	shutErr := errors.Join(s.gwSrv.Shutdown(shutCtx), s.idSrv.Shutdown(shutCtx))
	if werr := s.oneWay.Wait(shutCtx); werr != nil {
		shutErr = errors.Join(shutErr, fmt.Errorf("send-one-way-request requests still in flight: %w", werr))
	}
	if s.metricsSrv != nil {
		shutErr = errors.Join(shutErr, s.metricsSrv.Shutdown(shutCtx))
	}
	if s.acmeSrv != nil {
		shutErr = errors.Join(shutErr, s.acmeSrv.Shutdown(shutCtx))
	}
	if s.consoleSrv != nil {
		shutErr = errors.Join(shutErr, s.consoleSrv.Shutdown(shutCtx))
	}
	shutErr = errors.Join(shutErr, s.closeIdentityPlane(func(srv *http.Server) error { return srv.Shutdown(shutCtx) }))
	if shutErr != nil {
		// The grace period is over: cut off what still runs now, not when the
		// process exits.
		s.gwSrv.Close()
		s.idSrv.Close()
		s.closeIdentityPlane((*http.Server).Close)
		if s.metricsSrv != nil {
			s.metricsSrv.Close()
		}
		if s.consoleSrv != nil {
			s.consoleSrv.Close()
		}
	}
	s.workloadEnv.close()
	// The spans of the last requests go out before the exporters stop.
	if terr := s.obs.close(shutCtx); terr != nil {
		s.log.Warn("telemetry could not send what it held", "error", terr)
	}
	stopBg() // the key maintenance uses the store (the identity state in Redis)
	// ACME requests in flight may be writing a certificate: a moment for them.
	settleCtx, settleCancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	for _, m := range s.acme {
		m.settle(settleCtx)
	}
	settleCancel()
	s.limits.Close()
	closeCache(s.caches)
	s.shared.Close()
	if shutErr != nil {
		s.log.Warn("shutdown finished; requests still in flight after the grace period were cut off", "took", time.Since(began).Round(time.Millisecond), "error", shutErr)
	} else {
		s.log.Info("shutdown finished", "took", time.Since(began).Round(time.Millisecond))
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close stops every listener at once, without waiting for requests in flight.
func (s *Server) Close() error {
	var merr error
	if s.metricsSrv != nil {
		merr = s.metricsSrv.Close()
	}
	if s.acmeSrv != nil {
		merr = errors.Join(merr, s.acmeSrv.Close())
	}
	if s.consoleSrv != nil {
		merr = errors.Join(merr, s.consoleSrv.Close())
	}
	s.workloadEnv.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.obs.close(ctx)
	return errors.Join(s.gwSrv.Close(), s.idSrv.Close(), s.closeIdentityPlane((*http.Server).Close), s.limits.Close(), closeCache(s.caches), s.shared.Close(), merr)
}

// closeListeners closes whatever New bound before it failed.
func (s *Server) closeListeners() {
	for _, ln := range append([]net.Listener{s.gwLn, s.idLn, s.metricsLn, s.consoleLn, s.acmeLn}, s.plane.lns...) {
		if ln != nil {
			ln.Close()
		}
	}
}

// MetricsURL is the Prometheus endpoint, or "" when listeners.metrics is unset.
func (s *Server) MetricsURL() string {
	if s.metricsLn == nil {
		return ""
	}
	return scheme(s.metricsTLS) + "://" + loopbackAddr(s.metricsLn.Addr().(*net.TCPAddr)) + "/metrics"
}

// ACMEHTTPURL is the base URL of the ACME HTTP-01 challenge listener, or ""
// when listeners.acmeHTTP is unset.
func (s *Server) ACMEHTTPURL() string {
	if s.acmeLn == nil {
		return ""
	}
	return "http://" + loopbackAddr(s.acmeLn.Addr().(*net.TCPAddr))
}

// sharedStore is the state several instances share; in memory for one.
type sharedStore interface {
	idp.ReplayStore
	Close() error
}

// valueCaches are the caches of the cache policies. With Redis, Redis is the
// external cache every instance shares, its calls bounded by timeout
// (store.redis.timeout) and a circuit as the traffic limits' are, and each
// instance has its own in-memory internal cache; with the in-memory store,
// that store is the internal cache and there is no external one
// (caching-type="external" is then a load error). They live as long as the
// server: a reload keeps the values.
func valueCaches(shared sharedStore, timeout time.Duration) policies.Caches {
	switch s := shared.(type) {
	case *store.Redis:
		return policies.Caches{Internal: store.NewMemory(0), External: s.Cache(timeout)}
	case *store.Memory:
		return policies.Caches{Internal: s}
	}
	return policies.Caches{}
}

// vectorCache is the semantic cache: in Redis when the store is Redis, so
// that every instance shares it (with RediSearch's vector index when the
// server has it, which is logged), else in memory. It lives as long as the
// server: a reload keeps the entries.
func vectorCache(ctx context.Context, shared sharedStore, log *slog.Logger) policies.VectorCache {
	if r, ok := shared.(*store.Redis); ok {
		v := store.NewRedisVectors(ctx, r, store.VectorLimits{})
		log.Info("the semantic cache keeps its vectors in Redis", "search", v.Mode())
		return v
	}
	return store.NewMemoryVectors(store.VectorLimits{})
}

// openStore opens the store lastmile.yaml names: memory, or Redis when several
// instances run together (so that, for example, a client assertion is accepted
// once across all of them).
func openStore(ctx context.Context, c config.Store, getenv func(string) string, obs store.RedisObserver) (sharedStore, error) {
	if c.Type != config.StoreRedis {
		return store.NewMemory(1 << 18), nil
	}
	password := ""
	if c.Redis.PasswordEnv != "" {
		password = getenv(c.Redis.PasswordEnv)
	}
	r, err := store.NewRedis(ctx, store.RedisOptions{
		Address: c.Redis.Address, Username: c.Redis.Username, Password: password, DB: c.Redis.DB, TLS: c.Redis.TLS,
		Observer: obs,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return r, nil
}

// sideServer is the net/http server of a listener beside the data plane (the
// identity endpoints, the console, metrics, ACME): bounded waits for a head
// and on an idle connection, and net/http's complaints in the debug log.
func (s *Server) sideServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// closeCache closes the connections of the caches' external store, when it
// has its own (Redis).
func closeCache(c policies.Caches) error {
	if cl, ok := c.External.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
