package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/config"
)

// TLS on lastmile's own listeners. Each listener that serves TLS has a
// listenerTLS: every handshake takes the tls.Config it holds at that moment
// (GetConfigForClient), and that config is replaced whole, never changed:
//   - when a certificate file or client CA bundle changes: the files are read
//     and hashed every Options.TLSCheckInterval (10 seconds by default), so
//     that a certificate renewed by another tool (certbot, cert-manager's
//     mounted secret) is served without a reload;
//   - on reload (SIGHUP), which reads the files again and applies changed
//     certificates and clientCertificates settings.
//
// Connections already made keep the certificate they were made with;
// session tickets stay valid across the swap (the ticket keys are the
// listener's, not the swapped config's). Turning TLS on or off, and the ACME
// settings, take effect on restart (restartOnly).

// DefaultTLSCheckInterval is how often certificate files are checked for
// changes.
const DefaultTLSCheckInterval = 10 * time.Second

// listenerTLS serves one listener's TLS.
type listenerTLS struct {
	setting string // the listener's key in lastmile.yaml, for logs and errors
	http2   bool   // offer h2 (ALPN)
	acme    *acmeManager
	cur     atomic.Pointer[tlsState]
	// failed is the content that last failed to load while polling, so that
	// a broken file is reported once rather than at every check.
	failed map[string][sha256.Size]byte
}

// tlsState is one listener's settings with what was read from their files.
type tlsState struct {
	settings *config.TLS
	config   *tls.Config
	digests  map[string][sha256.Size]byte // file -> SHA-256 of the content read
	certs    []*tls.Certificate
}

// newListenerTLS reads c's files for the listener named setting; acm is
// the ACME manager when c.ACME is set.
func newListenerTLS(setting string, http2 bool, c *config.TLS, acm *acmeManager) (*listenerTLS, error) {
	l := &listenerTLS{setting: setting, http2: http2, acme: acm}
	st, err := l.load(c)
	if err != nil {
		return nil, err
	}
	l.cur.Store(st)
	return l, nil
}

// listen wraps ln so that it serves TLS.
func (l *listenerTLS) listen(ln net.Listener) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return l.cur.Load().config, nil },
	})
}

// load reads the files c names into a new state; nothing is swapped.
func (l *listenerTLS) load(c *config.TLS) (*tlsState, error) {
	st := &tlsState{settings: c, digests: map[string][sha256.Size]byte{}}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if l.http2 {
		tc.NextProtos = []string{"h2", "http/1.1"}
	}
	if l.acme != nil {
		tc.GetCertificate = l.acme.getCertificate
		tc.NextProtos = append(tc.NextProtos, acme.ALPNProto) // the TLS-ALPN-01 challenge
	}
	for _, f := range c.Certificates {
		data, err := os.ReadFile(f.File)
		if err != nil {
			return nil, fmt.Errorf("%s.tls: %w", l.setting, err)
		}
		st.digests[f.File] = sha256.Sum256(data)
		cert, err := f.Load(os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("%s.tls: %w", l.setting, err)
		}
		if cert.PrivateKey == nil {
			return nil, fmt.Errorf("%s.tls: %s holds no private key; a listener's certificate needs its key in the same file", l.setting, f.File)
		}
		st.certs = append(st.certs, cert)
		// Go serves the first certificate that suits the client's hello
		// (its SNI name, its algorithms), else the first one.
		tc.Certificates = append(tc.Certificates, *cert)
	}
	cc := c.ClientCertificates
	tc.ClientAuth = map[string]tls.ClientAuthType{
		config.ClientCertNone:          tls.NoClientCert,
		config.ClientCertRequest:       tls.RequestClientCert,
		config.ClientCertRequire:       tls.RequireAnyClientCert,
		config.ClientCertVerifyIfGiven: tls.VerifyClientCertIfGiven,
		config.ClientCertVerify:        tls.RequireAndVerifyClientCert,
	}[cc.Mode]
	if cc.CAFile != "" {
		data, err := os.ReadFile(cc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.tls.clientCertificates.caFile: %w", l.setting, err)
		}
		st.digests[cc.CAFile] = sha256.Sum256(data)
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s.tls.clientCertificates.caFile: %s holds no PEM certificates", l.setting, cc.CAFile)
		}
	}
	st.config = tc
	return st, nil
}

// changed reports whether a file of st's no longer has the content st was
// read from, with the new digests.
func (st *tlsState) changed() (map[string][sha256.Size]byte, bool) {
	now := make(map[string][sha256.Size]byte, len(st.digests))
	for f := range st.digests {
		data, err := os.ReadFile(f)
		if err != nil {
			now[f] = [sha256.Size]byte{} // gone: reported when loading
			continue
		}
		now[f] = sha256.Sum256(data)
	}
	return now, !maps.Equal(now, st.digests)
}

// refresh loads the listener's files again if they changed since they were
// read, and swaps the result in. A file that fails to load (being written,
// broken) leaves the certificate being served, and is reported once.
func (l *listenerTLS) refresh(log *slog.Logger) {
	st := l.cur.Load()
	now, changed := st.changed()
	if !changed || maps.Equal(now, l.failed) {
		return
	}
	next, err := l.load(st.settings)
	if err != nil {
		l.failed = now
		log.Error("a TLS certificate file changed but cannot be read; still serving the certificate read before", "listener", l.setting, "error", err)
		return
	}
	l.failed = nil
	l.cur.Store(next)
	log.Info("TLS certificates reloaded: their files changed", append([]any{"listener", l.setting}, next.describe()...)...)
}

// describe names the certificates served, for the log.
func (st *tlsState) describe() []any {
	var names, expiry []string
	for _, c := range st.certs {
		names = append(names, certNames(c.Leaf))
		expiry = append(expiry, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return []any{"certificates", strings.Join(names, "; "), "not_after", strings.Join(expiry, "; ")}
}

func certNames(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = []string{c.Subject.CommonName}
	}
	return strings.Join(names, ",") + " (" + certfile.Thumbprint(c) + ")"
}

// tlsListeners are the listeners that serve TLS, with the configuration's
// settings for each.
func (s *Server) tlsListeners() []tlsListener {
	return []tlsListener{
		{"listeners.gateway", &s.gwLn, &s.gwTLS, true, func(c *config.Config) *config.TLS { return c.Listeners.TLS.Gateway }},
		{"listeners.identity", &s.idLn, &s.idTLS, true, func(c *config.Config) *config.TLS { return c.Listeners.TLS.Identity }},
		{"listeners.metrics", &s.metricsLn, &s.metricsTLS, true, func(c *config.Config) *config.TLS { return c.Listeners.TLS.Metrics }},
		{"listeners.console", &s.consoleLn, &s.consoleTLS, true, func(c *config.Config) *config.TLS { return c.Listeners.TLS.Console }},
	}
}

// tlsListener is one listener that may serve TLS.
type tlsListener struct {
	setting  string
	ln       *net.Listener
	tls      **listenerTLS
	http2    bool
	settings func(*config.Config) *config.TLS
}

// startTLS makes every listener that cfg gives TLS serve it, with the ACME
// managers that their settings need (their cache in the state directory).
func (s *Server) startTLS(cfg *config.Config) error {
	for _, tl := range s.tlsListeners() {
		c := tl.settings(cfg)
		if c == nil || *tl.ln == nil {
			continue
		}
		var acm *acmeManager
		if c.ACME != nil {
			var err error
			if acm, err = s.acmeFor(c.ACME); err != nil {
				return fmt.Errorf("%s.tls.acme: %w", tl.setting, err)
			}
		}
		l, err := newListenerTLS(tl.setting, tl.http2, c, acm)
		if err != nil {
			return err
		}
		*tl.tls = l
		*tl.ln = l.listen(*tl.ln)
		if acm == nil {
			s.log.Info("serving TLS", append([]any{"listener", tl.setting}, l.cur.Load().describe()...)...)
		}
	}
	return nil
}

// acmeFor returns the ACME manager for c, one per distinct ACME setting.
func (s *Server) acmeFor(c *config.ACME) (*acmeManager, error) {
	for _, m := range s.acme {
		if reflect.DeepEqual(m.settings, c) {
			return m, nil
		}
	}
	m, err := newACMEManager(c, s.state.File("acme"), s.log)
	if err != nil {
		return nil, err
	}
	s.acme = append(s.acme, m)
	return m, nil
}

// prepareTLS reads the TLS files of cfg for a reload, and returns what
// commits them. Listeners whose TLS a reload cannot change (turned on or
// off, ACME settings: restartOnly) keep their settings.
func (s *Server) prepareTLS(cfg *config.Config) (commit func(), err error) {
	var next []func()
	for _, tl := range s.tlsListeners() {
		l, c := *tl.tls, tl.settings(cfg)
		if l == nil || c == nil || !reflect.DeepEqual(c.ACME, tl.settings(s.started).ACME) {
			continue
		}
		st, err := l.load(c)
		if err != nil {
			return nil, err
		}
		next = append(next, func() { l.failed = nil; l.cur.Store(st) })
	}
	return func() {
		for _, f := range next {
			f()
		}
	}, nil
}

// restartOnlyTLS names the TLS settings of cfg that differ from those the
// server started with and that only a restart applies.
func (s *Server) restartOnlyTLS(cfg *config.Config) []string {
	var out []string
	for _, tl := range s.tlsListeners() {
		was, now := tl.settings(s.started), tl.settings(cfg)
		switch {
		case (was == nil) != (now == nil):
			out = append(out, tl.setting+".tls")
		case was != nil && !reflect.DeepEqual(was.ACME, now.ACME):
			out = append(out, tl.setting+".tls.acme")
		}
	}
	if cfg.Listeners.ACMEHTTP != s.started.Listeners.ACMEHTTP {
		out = append(out, "listeners.acmeHTTP")
	}
	return out
}

// watchCertificates reloads certificate files that changed, every interval,
// until ctx is done.
func (s *Server) watchCertificates(ctx context.Context, interval time.Duration) {
	var ls []*listenerTLS
	for _, tl := range s.tlsListeners() {
		if l := *tl.tls; l != nil && l.acme == nil {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A reload swaps the same states; one at a time.
		s.reloadMu.Lock()
		for _, l := range ls {
			l.refresh(s.log)
		}
		s.reloadMu.Unlock()
	}
}

// scheme is the URL scheme of a listener: https when it serves TLS.
func scheme(l *listenerTLS) string {
	if l != nil {
		return "https"
	}
	return "http"
}
