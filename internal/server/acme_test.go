package server_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// ACME against a real ACME server in the test: Let's Encrypt's Pebble, run in
// process (its CA, validation authority and web front end), with a DNS
// server that resolves every name to 127.0.0.1. Pebble's validation
// authority connects to configurable ports instead of 443 and 80, which is the
// one thing a public CA does differently; real DNS and a public CA are not
// tested here.

// pebble is an ACME server whose validation ports are set once lastmile's
// listeners are bound.
type pebble struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	db      *db.MemoryStore
	ca      *ca.CAImpl
	tlsCA   *certtest.CA // the ACME directory's own TLS certificate
	log     *syncBuffer
}

func newPebble(t *testing.T) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &pebble{tlsCA: certtest.NewCA(t, "ACME directory CA"), log: &syncBuffer{}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := p.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "the ACME server is down", http.StatusServiceUnavailable)
	}))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*p.tlsCA.Server()}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", p.log)
		}
	})
	return p
}

// start runs Pebble, validating http-01 on httpPort and tls-alpn-01 on
// tlsPort of the address dnsAddr's server gives every name.
func (p *pebble) start(httpPort, tlsPort int, dnsAddr string) {
	logger := log.New(p.log, "pebble ", 0)
	p.db = db.NewMemoryStore()
	p.ca = ca.New(logger, p.db, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	v := va.New(logger, httpPort, tlsPort, false, dnsAddr, p.db)
	w := wfe.New(logger, p.db, v, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := w.Handler()
	p.handler.Store(&h)
}

func (p *pebble) stop() { p.handler.Store(nil) }

func (p *pebble) directoryURL() string { return p.srv.URL + wfe.DirectoryPath }

// roots trusts Pebble's root, which issues the certificates.
func (p *pebble) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.ca.GetRootCert(0).PEM())
	return pool
}

// orderedNames lists the names of every order the account whose key is in
// the cache file made.
func (p *pebble) orderedNames(t *testing.T, accountKeyFile string) []string {
	t.Helper()
	data, err := os.ReadFile(accountKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := p.db.GetAccountByKey(crypto.Signer(key).Public())
	if err != nil || acct == nil {
		t.Fatalf("the account: %v", err)
	}
	var names []string
	for _, o := range p.db.GetOrdersByAccountID(acct.ID) {
		o.RLock()
		for _, id := range o.Identifiers {
			names = append(names, id.Value)
		}
		o.RUnlock()
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// loopbackDNS answers every A question with 127.0.0.1 (and AAAA with
// nothing), over TCP as Pebble asks.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func port(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Port())
	return n
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dialName makes a TLS connection asking for name (SNI; none when name is
// ""), checking the certificate for want against roots, and returns the
// certificate served. The first handshake waits for the certificate to be
// obtained.
func dialName(addr, name, want string, roots *x509.CertPool) (*x509.Certificate, error) {
	var served *x509.Certificate
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := served.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: want})
			return err
		}})
	if err != nil {
		return served, err
	}
	c.Close()
	return served, nil
}

func acmeYAML(p *pebble, extra string) string {
	return `listeners:
` + extra + `  gateway:
    tls:
      acme:
        domains: [gw.lastmile.test, api.lastmile.test]
        email: ops@lastmile.test
        directoryURL: ` + p.directoryURL() + `
        caFile: acme-ca.pem
`
}

// TestACMETLSALPN gets certificates from Pebble through the TLS-ALPN-01
// challenge, answered on the data plane itself: they are obtained at start,
// served by name (SNI) with HTTP/2, the first name's to a client that names
// none; a name not in domains is refused without asking the CA; the cache
// (account key and certificates) is in the state directory with owner-only
// permissions, and a restart serves the cached certificate while the CA is
// down.
func TestACMETLSALPN(t *testing.T) {
	p := newPebble(t)
	dnsAddr := loopbackDNS(t)
	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "acme-ca.pem", caPEM(p.tlsCA))
	writeFiles(t, cfgDir, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": acmeYAML(p, "")}))
	stateDir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	s, err := server.New(ctx, server.Options{ConfigDir: cfgDir, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Expr: policies.Expressions})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p.start(closedPort(t), port(t, s.GatewayURL()), dnsAddr)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stop := func() { cancel(); <-done }
	defer func() {
		if t.Failed() {
			t.Logf("lastmile's log:\n%s", logs)
		}
	}()
	addr := strings.TrimPrefix(s.GatewayURL(), "https://")

	first, err := dialName(addr, "gw.lastmile.test", "gw.lastmile.test", p.roots())
	if err != nil {
		stop()
		t.Fatalf("gw.lastmile.test: %v", err)
	}
	if _, err := dialName(addr, "api.lastmile.test", "api.lastmile.test", p.roots()); err != nil {
		t.Errorf("api.lastmile.test: %v", err)
	}
	if c, err := dialName(addr, "", "gw.lastmile.test", p.roots()); err != nil || !c.Equal(first) {
		t.Errorf("no name: %v, want the first domain's certificate", err)
	}
	if _, err := dialName(addr, "evil.lastmile.test", "evil.lastmile.test", p.roots()); err == nil {
		t.Error("a name not in domains got a certificate")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: p.roots(), ServerName: "gw.lastmile.test"}}}
	if resp, body := get(t, client, s.GatewayURL()+"/echo/x"); resp.StatusCode != 200 || body != "none" || resp.Proto != "HTTP/2.0" {
		t.Errorf("a request: %d %s %q", resp.StatusCode, resp.Proto, body)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(logs.String(), "ACME: certificate ready") < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "ACME: certificate ready"); n != 2 {
		t.Errorf("%d certificates logged as ready at start, want 2", n)
	}
	stop()

	// The cache: a folder per directory, owner only.
	cache := filepath.Join(stateDir, "acme", strings.ReplaceAll(strings.TrimPrefix(p.srv.URL, "https://"), ":", "_"))
	for _, f := range []string{"", "acme_account+key", "gw.lastmile.test", "api.lastmile.test"} {
		fi, err := os.Stat(filepath.Join(cache, f))
		want := os.FileMode(0o600)
		if f == "" {
			want = os.ModeDir | 0o700
		}
		if err != nil || fi.Mode() != want {
			t.Errorf("cache %q: %v, mode %v, want %v", f, err, fi.Mode(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "evil.lastmile.test")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a certificate was cached for a name not in domains: %v", err)
	}
	if got, want := p.orderedNames(t, filepath.Join(cache, "acme_account+key")), []string{"api.lastmile.test", "gw.lastmile.test"}; !slices.Equal(got, want) {
		t.Errorf("orders for %v, want only %v", got, want)
	}

	// A restart with the CA down serves the cached certificate.
	p.stop()
	s2, _ := serveTLS(t, cfgDir, stateDir, nil)
	again, err := dialName(strings.TrimPrefix(s2.GatewayURL(), "https://"), "gw.lastmile.test", "gw.lastmile.test", p.roots())
	if err != nil || !again.Equal(first) {
		t.Errorf("after a restart with the CA down: %v, want the cached certificate", err)
	}
}

// TestACMEHTTP01 gets a certificate through the HTTP-01 challenge on
// listeners.acmeHTTP: TLS-ALPN-01 is tried first and fails (Pebble connects to
// a port nothing listens on), then HTTP-01 passes. The challenge listener
// redirects other requests for the domains to https, and knows no other host.
func TestACMEHTTP01(t *testing.T) {
	p := newPebble(t)
	dnsAddr := loopbackDNS(t)
	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "acme-ca.pem", caPEM(p.tlsCA))
	writeFiles(t, cfgDir, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": acmeYAML(p, "  acmeHTTP: 127.0.0.1:0\n")}))
	s, logs := serveTLS(t, cfgDir, t.TempDir(), nil)
	if s.ACMEHTTPURL() == "" {
		t.Fatal("no ACME HTTP listener")
	}
	defer func() {
		if t.Failed() {
			t.Logf("lastmile's log:\n%s", logs)
		}
	}()
	p.start(port(t, s.ACMEHTTPURL()), closedPort(t), dnsAddr)
	addr := strings.TrimPrefix(s.GatewayURL(), "https://")
	if _, err := dialName(addr, "gw.lastmile.test", "gw.lastmile.test", p.roots()); err != nil {
		t.Fatalf("gw.lastmile.test: %v", err)
	}
	if !strings.Contains(p.log.String(), "validate w/ HTTP") {
		t.Error("Pebble's log shows no http-01 validation")
	}

	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct{ host, path, status, location string }{
		{"gw.lastmile.test", "/orders?id=1", "302 Found", "https://gw.lastmile.test/orders?id=1"},
		{"gw.lastmile.test", "/.well-known/acme-challenge/unknown", "404 Not Found", ""},
		{"elsewhere.example", "/", "404 Not Found", ""},
	} {
		req, _ := http.NewRequest("GET", s.ACMEHTTPURL()+tt.path, nil)
		req.Host = tt.host
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Status != tt.status || resp.Header.Get("Location") != tt.location {
			t.Errorf("%s%s: %s %q, want %s %q", tt.host, tt.path, resp.Status, resp.Header.Get("Location"), tt.status, tt.location)
		}
	}
}
