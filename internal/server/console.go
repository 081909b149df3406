package server

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/console"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/jwks"
)

// consoleState is what the console reads besides the generation: when the
// configuration being served was built, and the last reload's outcome.
type consoleState struct {
	mu         sync.Mutex
	loaded     time.Time
	lastReload *console.Reload
}

func (c *consoleState) reloaded(err error, needRestart []string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastReload = &console.Reload{At: now, Err: err, NeedRestart: needRestart}
	if err == nil {
		c.loaded = now
	}
}

// consoleSource is the running server as the console reads it.
type consoleSource struct{ s *Server }

func (c consoleSource) Snapshot() *gateway.Snapshot { return c.s.handler.Snapshot() }

func (c consoleSource) Directory() console.Directory {
	if p := c.s.cur.Load().idp; p != nil {
		return p
	}
	return nil
}

func (c consoleSource) TokenCache() console.TokenCache {
	if t := c.s.cur.Load().tokens; t != nil {
		return t
	}
	return nil
}

func (c consoleSource) Status() console.Status {
	st := &c.s.console
	st.mu.Lock()
	defer st.mu.Unlock()
	out := console.Status{ConfigDir: c.s.opts.ConfigDir, Loaded: st.loaded}
	if lr := st.lastReload; lr != nil {
		r := *lr
		out.LastReload = &r
	}
	return out
}

// setupConsole makes the console's handler, and has the data plane feed its
// live traffic; without listeners.console the data plane feeds nothing.
func (s *Server) setupConsole(cfg *config.Config, g *generation) error {
	s.console.loaded = time.Now()
	if s.consoleLn == nil {
		return nil
	}
	traffic := console.NewTraffic()
	s.handler.Requests = traffic
	o := console.Options{
		Source:      consoleSource{s},
		DataPlane:   s.handler,
		GatewayHost: loopbackAddr(s.gwLn.Addr().(*net.TCPAddr)),
		Traffic:     traffic,
		Logger:      s.log,
	}
	if a := cfg.Console.Auth; a != nil {
		var ts console.Tokens
		if lm := a.Lastmile; lm != nil {
			// The provider's keys, read in process; a reload may replace the
			// provider, so the current one is asked each time. Read again
			// every second: a revoked key must stop opening the console as
			// soon as the provider drops it, and reading costs little.
			f := jwks.StaticFetcher{Issuer: g.idp.Issuer(), JWKS: func() []byte { return s.cur.Load().idp.JWKS() }}
			src := jwks.NewSource("lastmile issuer (console)", f, jwks.Options{Refresh: time.Second, MinInterval: time.Second, RetryAfter: time.Second})
			ts = append(ts, console.Trust{Keys: src, Audience: lm.Audience, Role: lm.Role})
		}
		if o := a.OIDC; o != nil {
			src := g.keys.Source(strings.TrimSuffix(o.Issuer, "/") + "/.well-known/openid-configuration")
			ts = append(ts, console.Trust{Keys: src, Issuer: o.Issuer, Audience: o.Audience, Role: o.Role})
		}
		o.Auth = ts
	}
	s.consoleSrv = s.sideServer(console.New(o))
	return nil
}

// ConsoleURL is the web console's base URL, or "" without listeners.console.
func (s *Server) ConsoleURL() string {
	if s.consoleLn == nil {
		return ""
	}
	return scheme(s.consoleTLS) + "://" + loopbackAddr(s.consoleLn.Addr().(*net.TCPAddr))
}

// listenConsole binds listeners.console.
func (s *Server) listenConsole(cfg *config.Config) error {
	if cfg.Listeners.Console == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Listeners.Console)
	if err != nil {
		return fmt.Errorf("console listener (listeners.console): %w", err)
	}
	s.consoleLn = ln
	return nil
}

var _ console.Directory = (*idp.Provider)(nil)
