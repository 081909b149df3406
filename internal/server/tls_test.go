package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// echoAPI is an API at /echo answering 200 with the request's client
// certificate subject (or "none") without a backend.
var echoAPI = map[string]string{
	"apis/echo/apiInformation.json": `{"properties":{"path":"echo","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
	"apis/echo/policy.xml": `<policies><inbound><base />
		<return-response><set-status code="200" reason="OK" />
			<set-body>@(context.Request.Certificate == null ? "none" : context.Request.Certificate.Subject)</set-body>
		</return-response></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
}

// serveTLS starts the server from cfgDir and returns it with its log.
func serveTLS(t *testing.T, cfgDir, stateDir string, tweak func(*server.Options)) (*server.Server, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	o := server.Options{
		ConfigDir: cfgDir, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Expr:   policies.Expressions,
	}
	if tweak != nil {
		tweak(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, log
}

// tlsFolder writes files and the test CA's server certificate (server.pem,
// with its key) and the CA (ca.pem) into a new configuration folder.
func tlsFolder(t *testing.T, ca *certtest.CA, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	certtest.WriteFile(t, dir, "server.pem", certtest.PEM(t, ca.Server(), false))
	certtest.WriteFile(t, dir, "ca.pem", caPEM(ca))
	writeFiles(t, dir, files)
	return dir
}

func caPEM(ca *certtest.CA) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// httpsClient trusts only roots; h2 offers HTTP/2.
func httpsClient(roots *x509.CertPool, h2 bool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, Certificates: certs},
		ForceAttemptHTTP2: h2,
		DisableKeepAlives: true,
	}}
}

func getTLS(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestTLSListeners serves TLS on the data plane, the identity listener, the
// metrics listener and the console from one shared listeners.tls, and reaches each with
// Go clients that check the chain against the test CA: HTTP/2 and HTTP/1.1
// (ALPN), TLS 1.2 and 1.3 but not 1.1, the issuer on https, and a client
// that does not trust the CA refused.
func TestTLSListeners(t *testing.T) {
	ca := certtest.NewCA(t, "listener CA")
	cfgDir := tlsFolder(t, ca, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": `listeners:
  metrics: 127.0.0.1:0
  console: 127.0.0.1:0
  tls:
    certificates:
      - file: server.pem
`}))
	s, _ := serveTLS(t, cfgDir, t.TempDir(), nil)
	h2, h1 := httpsClient(ca.Pool(), true), httpsClient(ca.Pool(), false)

	for _, u := range []string{s.GatewayURL(), s.IdentityURL(), s.MetricsURL(), s.ConsoleURL(), s.Issuer()} {
		if !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Errorf("URL %s, want https://127.0.0.1:...", u)
		}
	}
	t.Run("data plane", func(t *testing.T) {
		for _, tt := range []struct {
			client *http.Client
			proto  string
		}{{h2, "HTTP/2.0"}, {h1, "HTTP/1.1"}} {
			resp, body := getTLS(t, tt.client, s.GatewayURL()+"/echo/x")
			if resp.StatusCode != 200 || body != "none" || resp.Proto != tt.proto {
				t.Errorf("%s: %d %s %q, want 200 %s \"none\"", tt.proto, resp.StatusCode, resp.Proto, body, tt.proto)
			}
			if len(resp.TLS.VerifiedChains) == 0 || !resp.TLS.VerifiedChains[0][len(resp.TLS.VerifiedChains[0])-1].Equal(ca.Cert) {
				t.Errorf("%s: the chain was not verified to the test CA", tt.proto)
			}
		}
	})
	t.Run("identity listener", func(t *testing.T) {
		resp, body := getTLS(t, h2, s.Issuer()+"/.well-known/openid-configuration")
		var disc struct{ Issuer, JWKSURI string }
		json.Unmarshal([]byte(strings.ReplaceAll(body, "jwks_uri", "JWKSURI")), &disc)
		if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || disc.Issuer != s.Issuer() || !strings.HasPrefix(disc.JWKSURI, s.Issuer()+"/") {
			t.Errorf("discovery: %d %s issuer %q jwks_uri %q, want 200 HTTP/2.0 and both under %s", resp.StatusCode, resp.Proto, disc.Issuer, disc.JWKSURI, s.Issuer())
		}
		if resp, _ := getTLS(t, h1, disc.JWKSURI); resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" {
			t.Errorf("JWKS: %d %s", resp.StatusCode, resp.Proto)
		}
	})
	t.Run("metrics listener", func(t *testing.T) {
		if resp, body := getTLS(t, h2, s.MetricsURL()); resp.StatusCode != 200 || !strings.Contains(body, "go_goroutines") {
			t.Errorf("metrics: %d", resp.StatusCode)
		}
	})
	t.Run("console", func(t *testing.T) {
		if resp, body := getTLS(t, h2, s.ConsoleURL()+"/api/apis"); resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !strings.Contains(body, `"echo"`) {
			t.Errorf("console: %d %s %.200s", resp.StatusCode, resp.Proto, body)
		}
	})
	t.Run("TLS versions", func(t *testing.T) {
		addr := strings.TrimPrefix(s.GatewayURL(), "https://")
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: v, MaxVersion: v})
			if err != nil {
				t.Errorf("%s: %v", tls.VersionName(v), err)
				continue
			}
			c.Close()
		}
		if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
			c.Close()
			t.Error("TLS 1.1 was accepted")
		}
	})
	t.Run("a client that does not trust the CA", func(t *testing.T) {
		other := certtest.NewCA(t, "another CA")
		_, err := httpsClient(other.Pool(), false).Get(s.GatewayURL() + "/echo/x")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("error %v, want an unknown authority", err)
		}
	})
}

func mergeFiles(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestTLSClientCertificates asks clients for certificates on the data plane.
// With request, any certificate (or none) passes the handshake and
// validate-client-certificate decides, as in API Management, with
// context.Request.Certificate set; with verify, the handshake itself refuses
// a client without a certificate or with one from another CA.
func TestTLSClientCertificates(t *testing.T) {
	ca := certtest.NewCA(t, "listener CA")
	partners, strangers := certtest.NewCA(t, "partner CA"), certtest.NewCA(t, "stranger CA")
	partner, stranger := *partners.Client("partner-1"), *strangers.Client("partner-1")
	validated := map[string]string{
		"apis/checked/apiInformation.json": `{"properties":{"path":"checked","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/checked/policy.xml": `<policies><inbound><base />
			<validate-client-certificate validate-revocation="false" validate-trust="true">
				<identities><identity common-name="partner-1" /></identities>
			</validate-client-certificate>
			<return-response><set-status code="200" reason="OK" /><set-body>@(context.Request.Certificate.Subject)</set-body></return-response>
			</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	}
	write := func(mode string) string {
		dir := tlsFolder(t, ca, mergeFiles(echoAPI, validated, map[string]string{"lastmile.yaml": `listeners:
  gateway:
    tls:
      certificates:
        - file: server.pem
      clientCertificates:
        mode: ` + mode + `
` + map[bool]string{true: "        caFile: partners.pem\n"}[strings.HasPrefix(mode, "verify")] + `certificates:
  - id: partner-ca
    file: partners.pem
`}))
		certtest.WriteFile(t, dir, "partners.pem", caPEM(partners))
		return dir
	}
	t.Run("request: validate-client-certificate decides", func(t *testing.T) {
		s, _ := serveTLS(t, write("request"), t.TempDir(), nil)
		for _, tt := range []struct {
			name   string
			certs  []tls.Certificate
			path   string
			status int
			body   string
		}{
			{"a partner's certificate", []tls.Certificate{partner}, "/checked/x", 200, "CN=partner-1"},
			{"the same name from another CA", []tls.Certificate{stranger}, "/checked/x", 401, `{"statusCode":401,"message":"Invalid client certificate."}`},
			{"no certificate", nil, "/checked/x", 401, `{"statusCode":401,"message":"Client certificate not present."}`},
			{"no certificate, no policy", nil, "/echo/x", 200, "none"},
			{"context.Request.Certificate without the policy", []tls.Certificate{stranger}, "/echo/x", 200, "CN=partner-1"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, h2 := range []bool{false, true} {
					resp, body := getTLS(t, httpsClient(ca.Pool(), h2, tt.certs...), s.GatewayURL()+tt.path)
					if resp.StatusCode != tt.status || body != tt.body {
						t.Errorf("%s: got %d %s, want %d %s", resp.Proto, resp.StatusCode, body, tt.status, tt.body)
					}
				}
			})
		}
	})
	t.Run("verify: the handshake refuses", func(t *testing.T) {
		s, _ := serveTLS(t, write("verify"), t.TempDir(), nil)
		if resp, body := getTLS(t, httpsClient(ca.Pool(), true, partner), s.GatewayURL()+"/checked/x"); resp.StatusCode != 200 || body != "CN=partner-1" {
			t.Errorf("a partner: %d %s", resp.StatusCode, body)
		}
		for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "another CA's": {stranger}} {
			resp, err := httpsClient(ca.Pool(), false, certs...).Get(s.GatewayURL() + "/echo/x")
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s, want the handshake refused", name, resp.Status)
			} else if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s: %v, want a certificate alert", name, err)
			}
		}
	})
}

// rawTLS is one TLS connection that sends HTTP/1.1 requests one after the
// other, to show which certificate a connection keeps.
type rawTLS struct {
	c  *tls.Conn
	br *bufio.Reader
}

func dialTLS(t *testing.T, addr string, roots *x509.CertPool) *rawTLS {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawTLS{c: c, br: bufio.NewReader(c)}
}

func (r *rawTLS) serial() string {
	return r.c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func (r *rawTLS) get(t *testing.T, path string) string {
	t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(r.c, "GET %s HTTP/1.1\r\nHost: gw\r\n\r\n", path)
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatalf("on the old connection: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(body)
}

// waitForSerial dials new connections until one is served the certificate
// with serial want, and fails after a generous while.
func waitForSerial(t *testing.T, addr string, roots *x509.CertPool, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatalf("a new connection: %v", err)
		}
		got = c.ConnectionState().PeerCertificates[0].SerialNumber.String()
		c.Close()
		if got == want {
			return
		}
	}
	t.Fatalf("new connections still get the certificate with serial %s, want %s", got, want)
}

func serialOf(c *tls.Certificate) string { return c.Leaf.SerialNumber.String() }

// TestTLSCertificateReload replaces the certificate files under a live
// server: a new certificate written over the file (renamed into place, as
// tools do) is served to new connections within the check interval, while a
// connection made before keeps its certificate and keeps working; a broken
// file leaves the certificate being served, reported once; a reload (SIGHUP)
// switches to another file, a PFX whose password is in the environment, and
// then to client certificates required; turning TLS off is named as needing a
// restart.
func TestTLSCertificateReload(t *testing.T) {
	ca := certtest.NewCA(t, "listener CA")
	first, second, third := ca.Server(), ca.Server(), ca.Server()
	t.Setenv("LASTMILE_TEST_LISTENER_PFX", "pfx-s3cret")
	cfgDir := tlsFolder(t, ca, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": "listeners:\n  tls:\n    certificates:\n      - file: server.pem\n"}))
	certtest.WriteFile(t, cfgDir, "server.pem", certtest.PEM(t, first, false))
	s, log := serveTLS(t, cfgDir, t.TempDir(), func(o *server.Options) { o.TLSCheckInterval = 50 * time.Millisecond })
	addr := strings.TrimPrefix(s.GatewayURL(), "https://")
	idAddr := strings.TrimPrefix(s.IdentityURL(), "https://")

	old := dialTLS(t, addr, ca.Pool())
	if got := old.get(t, "/echo/a"); got != "200 OK none" || old.serial() != serialOf(first) {
		t.Fatalf("before: %s, serial %s", got, old.serial())
	}
	replace := func(name string, data []byte) {
		tmp := filepath.Join(cfgDir, name+".new")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(cfgDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	replace("server.pem", certtest.PEM(t, second, false))
	waitForSerial(t, addr, ca.Pool(), serialOf(second))
	waitForSerial(t, idAddr, ca.Pool(), serialOf(second))
	if got := old.get(t, "/echo/b"); got != "200 OK none" || old.serial() != serialOf(first) {
		t.Errorf("the connection made before the change: %s, serial %s, want 200 on the first certificate", got, old.serial())
	}
	if !strings.Contains(log.String(), "TLS certificates reloaded: their files changed") {
		t.Error("the reload was not logged")
	}

	// A broken file: still the second certificate, one error in the log.
	replace("server.pem", []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(log.String(), "cannot be read") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more checks
	for _, l := range []string{"listeners.gateway", "listeners.identity"} {
		if n := strings.Count(log.String(), "cannot be read; still serving the certificate read before\" listener="+l); n != 1 {
			t.Errorf("%s: the broken file was reported %d times, want once", l, n)
		}
	}
	waitForSerial(t, addr, ca.Pool(), serialOf(second))

	// SIGHUP: another file, a password-protected PFX.
	certtest.WriteFile(t, cfgDir, "server.pfx", certtest.PFX(t, third, "pfx-s3cret"))
	writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": "listeners:\n  tls:\n    certificates:\n      - file: server.pfx\n        passwordEnv: LASTMILE_TEST_LISTENER_PFX\n"})
	if restart, err := s.Reload(context.Background()); err != nil || len(restart) > 0 {
		t.Fatalf("Reload: %v (restart needed: %v)", err, restart)
	}
	waitForSerial(t, addr, ca.Pool(), serialOf(third))
	if got := old.get(t, "/echo/c"); got != "200 OK none" {
		t.Errorf("the old connection after the reload: %s", got)
	}

	// Client certificate settings apply on reload too: now one is required.
	writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": "listeners:\n  tls:\n    certificates:\n      - file: server.pfx\n        passwordEnv: LASTMILE_TEST_LISTENER_PFX\n    clientCertificates:\n      mode: require\n"})
	if restart, err := s.Reload(context.Background()); err != nil || len(restart) > 0 {
		t.Fatalf("Reload: %v (restart needed: %v)", err, restart)
	}
	if resp, err := httpsClient(ca.Pool(), false).Get(s.GatewayURL() + "/echo/x"); err == nil {
		resp.Body.Close()
		t.Errorf("without a client certificate after the reload: %s, want the handshake refused", resp.Status)
	}
	if resp, body := getTLS(t, httpsClient(ca.Pool(), false, *ca.Client("anyone")), s.GatewayURL()+"/echo/x"); resp.StatusCode != 200 || body != "CN=anyone" {
		t.Errorf("with a client certificate after the reload: %d %s", resp.StatusCode, body)
	}

	// Turning TLS off needs a restart: the listeners keep serving TLS.
	writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": ""})
	restart, err := s.Reload(context.Background())
	if err != nil || strings.Join(restart, ",") != "listeners.gateway.tls,listeners.identity.tls" {
		t.Errorf("Reload without TLS: %v, restart needed %v, want listeners.gateway.tls and listeners.identity.tls", err, restart)
	}
	waitForSerial(t, addr, ca.Pool(), serialOf(third))
	if strings.Contains(log.String(), "pfx-s3cret") {
		t.Error("the PFX password is in the log")
	}
}

// TestTLSAttacks sends what a careless or hostile client sends to a TLS
// listener: plain HTTP (a clear 400, on the data plane and on the identity
// listener), a handshake that never completes and nothing at all (closed by
// the server within limits.headerTimeout), bytes that are neither, and a name
// (SNI) the certificate does not have (the default certificate, which the
// client refuses); the server serves normally after each.
func TestTLSAttacks(t *testing.T) {
	ca := certtest.NewCA(t, "listener CA")
	cfgDir := tlsFolder(t, ca, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": `listeners:
  tls:
    certificates:
      - file: server.pem
limits:
  headerTimeout: 1s
`}))
	s, _ := serveTLS(t, cfgDir, t.TempDir(), nil)
	gw, id := strings.TrimPrefix(s.GatewayURL(), "https://"), strings.TrimPrefix(s.IdentityURL(), "https://")
	healthy := func(t *testing.T) {
		t.Helper()
		if resp, body := getTLS(t, httpsClient(ca.Pool(), true), s.GatewayURL()+"/echo/x"); resp.StatusCode != 200 || body != "none" {
			t.Errorf("afterwards: %d %s", resp.StatusCode, body)
		}
	}

	t.Run("plain HTTP", func(t *testing.T) {
		// net/http, which serves the identity listener, answers the methods
		// whose requests the identity provider serves (and a few more).
		for _, tt := range []struct {
			addr, want string
			methods    []string
		}{
			{gw, "this listener serves HTTPS; the client sent plain HTTP", []string{"GET", "POST", "DELETE", "PATCH"}},
			{id, "Client sent an HTTP request to an HTTPS server.", []string{"GET", "POST"}},
		} {
			for _, method := range tt.methods {
				resp, body, closed := rawExchange(t, tt.addr, method+" /echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp.StatusCode != 400 || !strings.Contains(body, tt.want) || !closed {
					t.Errorf("%s %s: %d %q (closed %v), want 400 saying %q", method, tt.addr, resp.StatusCode, body, closed, tt.want)
				}
			}
		}
		healthy(t)
	})
	t.Run("a handshake that never completes", func(t *testing.T) {
		for name, send := range map[string][]byte{
			"nothing":                 nil,
			"half a record header":    {0x16, 0x03},
			"a record never finished": {0x16, 0x03, 0x01, 0x02, 0x00, 0x01},
		} {
			c, err := net.Dial("tcp", gw)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(send)
			c.SetReadDeadline(time.Now().Add(30 * time.Second)) // far beyond headerTimeout
			_, err = io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: the server did not close the connection", name)
			}
			c.Close()
		}
		healthy(t)
	})
	t.Run("neither TLS nor HTTP", func(t *testing.T) {
		c, err := net.Dial("tcp", gw)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x00, 0xff, 0x13, 0x37, 0x42, 0x00, 0x00, 0x00})
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		data, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || strings.Contains(string(data), "HTTP/") {
			t.Errorf("got %q, %v; want the connection closed without an HTTP answer", data, err)
		}
		c.Close()
		healthy(t)
	})
	t.Run("a name the certificate does not have", func(t *testing.T) {
		var served *x509.Certificate
		// The client's own check, done by hand to see what was served.
		_, err := tls.Dial("tcp", gw, &tls.Config{ServerName: "unknown.example", InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				served = cs.PeerCertificates[0]
				_, err := served.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: cs.ServerName})
				return err
			}})
		var host x509.HostnameError
		if !errors.As(err, &host) {
			t.Errorf("error %v, want the client to refuse the name", err)
		}
		if served == nil || certfile.Thumbprint(served) != certfile.Thumbprint(readLeaf(t, filepath.Join(cfgDir, "server.pem"))) {
			t.Errorf("served %v, want the configured certificate", served)
		}
		healthy(t)
	})
}

func readLeaf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certfile.Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}
