package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/identity/azure"
	"github.com/lastmile-gw/lastmile/internal/identity/federation"
	"github.com/lastmile-gw/lastmile/internal/identity/remote"
)

// identityPlane holds the managed identity endpoints' listeners and servers,
// which live as long as the server, and the environment that tells workloads
// where they are. The agent behind them belongs to the generation (reload.go).
type identityPlane struct {
	env     agent.Environment
	servers []*http.Server
	lns     []net.Listener
}

// tokenChain builds identity.sources into a chain. The embedded provider answers
// for the WorkloadIdentity provider with its system-assigned identity. With a
// nil embedded provider it only checks that the chain can be built.
func tokenChain(cfg *config.Config, embedded identity.TokenSource, lookupEnv func(string) (string, bool)) (*identity.Chain, error) {
	var named []identity.NamedSource
	for _, s := range cfg.Identity.Sources {
		var src identity.TokenSource
		switch s.Type {
		case config.SourceEmbedded:
			src = identity.SystemForWorkloadIdentity(embedded)
		case config.SourceLastmile:
			header := ""
			if s.HeaderEnv != "" {
				v, ok := lookupEnv(s.HeaderEnv)
				if !ok || v == "" {
					return nil, fmt.Errorf("identity.sources: the lastmile source needs the environment variable %s, the other lastmile's IDENTITY_HEADER (its `lastmile identity env` prints it)", s.HeaderEnv)
				}
				header = v
			}
			r, err := remote.New(s.Endpoint, header)
			if err != nil {
				return nil, err
			}
			src = r
		case config.SourceAzure:
			src = azure.New(azure.Options{})
		case config.SourceWorkloadIdentity:
			f, err := federation.New(federation.Config{
				TokenEndpoint:     s.TokenEndpoint,
				ClientID:          s.ClientID,
				TokenFile:         s.TokenFile,
				AudienceParameter: s.AudienceParameter,
			})
			if err != nil {
				return nil, err
			}
			src = f
		default:
			return nil, fmt.Errorf("identity.sources: unknown source type %q", s.Type)
		}
		named = append(named, identity.NamedSource{Name: s.Type, Source: src})
	}
	if len(named) == 0 {
		named = append(named, identity.NamedSource{Name: config.SourceEmbedded, Source: identity.SystemForWorkloadIdentity(embedded)})
	}
	return identity.NewChain(named...), nil
}

// endpointsOn reports whether any managed identity endpoint is on.
func endpointsOn(e config.ManagedIdentityEndpoints) bool {
	return e.AppService || e.IMDSListen != "" || e.Socket != ""
}

// listenIdentityPlane binds the IMDS listener and the socket, and sets up
// their servers; the handlers reach the current generation's agent. Nothing is
// served until Serve, and the state directory is not touched.
func (s *Server) listenIdentityPlane(cfg *config.Config) error {
	e := cfg.Identity.Endpoints
	newServer := func(h func(*agent.Agent) http.Handler) *http.Server {
		srv := s.sideServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h(s.cur.Load().agent).ServeHTTP(w, r)
		}))
		srv.ConnContext = s.connContext()
		return srv
	}
	if e.IMDSListen != "" {
		ln, err := net.Listen("tcp", e.IMDSListen)
		if err != nil {
			return fmt.Errorf("IMDS listener: %w", err)
		}
		s.plane.lns = append(s.plane.lns, ln)
		s.plane.servers = append(s.plane.servers, newServer((*agent.Agent).IMDSHandler))
		s.plane.env.IMDSHost = "http://" + ln.Addr().String()
	}
	if e.Socket != "" {
		ln, err := listenSocket(e.Socket)
		if err != nil {
			return err
		}
		s.plane.lns = append(s.plane.lns, ln)
		s.plane.servers = append(s.plane.servers, newServer((*agent.Agent).SocketHandler))
		s.plane.env.Socket = "unix://" + e.Socket
	}
	return nil
}

// newAgent creates the managed identity agent for cfg, serving g's tokens, or
// nil when every endpoint is off. The App Service endpoint's secret is read
// from the state directory, or created there on first use.
func (s *Server) newAgent(cfg *config.Config, g *generation) (*agent.Agent, error) {
	e := cfg.Identity.Endpoints
	if !endpointsOn(e) {
		return nil, nil
	}
	var ids []agent.Identity
	for _, id := range g.idp.Identities() {
		ids = append(ids, agent.Identity{Name: id.Name, SystemAssigned: id.SystemAssigned, ClientID: id.ClientID, ObjectID: id.ObjectID})
	}
	var workloads []agent.Workload
	for _, w := range cfg.Identity.Workloads {
		workloads = append(workloads, agent.Workload{Name: w.Name, UID: w.UID, GID: w.GID, Path: w.Path, SHA256: w.SHA256, Identities: w.Identities})
	}
	ac := agent.Config{
		Tokens:            g.tokens,
		Identities:        ids,
		Workloads:         workloads,
		AttestTCP:         e.TCPCallers == config.CallersAttested,
		RequestsPerSecond: e.RateLimit.RequestsPerSecond,
		Concurrent:        e.RateLimit.Concurrent,
		Logger:            s.log,
	}
	if e.AppService {
		h, err := agent.LoadOrCreateHeader(s.state)
		if err != nil {
			return nil, err
		}
		ac.Header = h
		if s.plane.env.IdentityHeader == "" {
			s.plane.env.IdentityEndpoint = s.IdentityURL() + agent.AppServicePath
			s.plane.env.IdentityHeader = h
			if a, ok := s.idLn.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
				s.log.Info("the App Service managed identity endpoint answers loopback callers only; the identity listener is on "+a.String(),
					"endpoint", s.plane.env.IdentityEndpoint)
			}
			if s.idTLS != nil {
				s.log.Info("the identity listener serves TLS, so the App Service endpoint is https: local workloads must trust its certificate for 127.0.0.1; the IMDS listener and the socket serve them without TLS",
					"endpoint", s.plane.env.IdentityEndpoint)
			}
		}
	}
	return agent.New(ac)
}

// listenSocket listens on a Unix socket that every local user may connect to:
// who gets which identity is decided by attestation, not by file permissions.
// A socket left by a previous run is replaced; any other file is not.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("identity socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("identity socket: %s exists and is not a socket; remove it or choose another path", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("identity socket: %s is in use by another process", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("identity socket: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("identity socket: %w", err)
	}
	return ln, nil
}

// identityHandler is the identity listener's handler: the current
// generation's identity provider, with the App Service endpoint in front when
// it is on.
func (s *Server) identityHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.cur.Load().idHandler.ServeHTTP(w, r)
	})
}

// connContext is the ConnContext of the listeners the agent serves on: it
// identifies callers by their connection. The agent is on for the server's
// whole life or not at all (its switches take effect on restart).
func (s *Server) connContext() func(ctx context.Context, c net.Conn) context.Context {
	if !endpointsOn(s.started.Identity.Endpoints) {
		return nil
	}
	return func(ctx context.Context, c net.Conn) context.Context {
		return s.cur.Load().agent.ConnContext(ctx, c)
	}
}

// serveIdentityPlane serves the agent's extra listeners; errors go to errc.
func (s *Server) serveIdentityPlane(errc chan<- error) {
	for i, srv := range s.plane.servers {
		go func() { errc <- srv.Serve(s.plane.lns[i]) }()
	}
}

// closeIdentityPlane stops the agent's listeners and removes the socket.
func (s *Server) closeIdentityPlane(shutdown func(*http.Server) error) error {
	var errs []error
	for _, srv := range s.plane.servers {
		errs = append(errs, shutdown(srv))
	}
	for _, ln := range s.plane.lns {
		if ln.Addr().Network() == "unix" {
			ln.Close()
		}
	}
	return errors.Join(errs...)
}

// WorkloadEnvironment returns what a local workload needs to reach the managed
// identity endpoints; also written to the state directory's identity.env.
func (s *Server) WorkloadEnvironment() agent.Environment { return s.plane.env }

// Tokens returns the gateway's token cache; a reload that changes the identity
// settings replaces it.
func (s *Server) Tokens() *identity.Cache { return s.cur.Load().tokens }

// TokenSource returns the name of the token source in use, or "" before the
// first token.
func (s *Server) TokenSource() string { return s.cur.Load().chain.Chosen() }

// InvalidateToken drops a token a backend rejected (see identity.Cache.Invalidate).
func (t tokenAdapter) InvalidateToken(clientID, resource string) { t.c.Invalidate(clientID, resource) }

// sourceNames lists the configured chain for the start-up log.
func sourceNames(cfg *config.Config) string {
	var n []string
	for _, s := range cfg.Identity.Sources {
		n = append(n, s.Type)
	}
	return strings.Join(n, ",")
}
