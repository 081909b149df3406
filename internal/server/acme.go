package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/lastmile-gw/lastmile/internal/config"
)

// acmeManager obtains and renews the certificates of one acme setting with
// x/crypto's autocert: TLS-ALPN-01 challenges are answered on the listeners
// that use it, HTTP-01 challenges on listeners.acmeHTTP when it is set. The
// account key and the certificates are cached in the state directory, in a
// folder per ACME directory (acme/<directory host>, 0700, files 0600), so
// that a restart reuses them and a staging certificate is never served after
// a move to production.
type acmeManager struct {
	settings *config.ACME
	m        *autocert.Manager
	http01   http.Handler // nil until httpHandler is called
	log      *slog.Logger
	// obtaining counts obtain's requests, which may still be writing a
	// certificate to the state directory when the server stops.
	obtaining sync.WaitGroup
}

func newACMEManager(c *config.ACME, cacheRoot string, log *slog.Logger) (*acmeManager, error) {
	u, err := url.Parse(c.DirectoryURL)
	if err != nil {
		return nil, err // checked by the configuration loader
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificates", c.CAFile)
		}
	}
	client := &acme.Client{
		DirectoryURL: c.DirectoryURL,
		UserAgent:    "lastmile",
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}},
	}
	dir := filepath.Join(cacheRoot, strings.NewReplacer(":", "_", "/", "_").Replace(u.Host))
	return &acmeManager{settings: c, log: log, m: &autocert.Manager{
		Prompt:     autocert.AcceptTOS, // documented: setting acme accepts the CA's terms
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(c.Domains...),
		Email:      c.Email,
		Client:     client,
	}}, nil
}

// getCertificate serves the certificate of the name the client asks for,
// obtaining it first if need be, and the TLS-ALPN-01 challenge certificates.
// A client that names none (an IP address in its URL) gets the first
// domain's certificate; names not in domains are refused before anything is
// asked of the CA.
func (a *acmeManager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.settings.Domains[0]
		hello = &h
	}
	return a.m.GetCertificate(hello)
}

// httpHandler answers HTTP-01 challenges for the manager's domains. Calling it
// is what makes the manager use HTTP-01 (after TLS-ALPN-01).
func (a *acmeManager) httpHandler() http.Handler {
	if a.http01 == nil {
		a.http01 = a.m.HTTPHandler(nil)
	}
	return a.http01
}

// obtain gets the certificates of every domain now rather than at the first
// client's handshake, and logs the outcome; a failure is retried by the next
// handshake that needs the certificate. It returns when every domain is done.
func (a *acmeManager) obtain(ctx context.Context) {
	done := make(chan struct{}, len(a.settings.Domains))
	for _, d := range a.settings.Domains {
		a.obtaining.Add(1)
		go func() {
			defer func() { done <- struct{}{}; a.obtaining.Done() }()
			// A hello that accepts ECDSA, as every current client does.
			c, err := a.m.GetCertificate(&tls.ClientHelloInfo{
				ServerName:       d,
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256},
			})
			if err != nil {
				a.log.Error("ACME: no certificate yet; the next client asking for the name tries again", "domain", d, "directory", a.settings.DirectoryURL, "error", err)
				return
			}
			a.log.Info("ACME: certificate ready", "domain", d, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339), "issuer", c.Leaf.Issuer.CommonName)
		}()
	}
	for range a.settings.Domains {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// settle waits, at most until ctx is done, for obtain's requests to end, so
// that a stopping server does not leave a certificate half written.
func (a *acmeManager) settle(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.obtaining.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// acmeHTTPHandler serves listeners.acmeHTTP: the HTTP-01 challenges of the
// manager whose domains hold the request's host, and for other requests to
// those hosts a redirect to https (GET and HEAD) or 400. Other hosts get 404.
func acmeHTTPHandler(managers []*acmeManager) http.Handler {
	handlers := map[string]http.Handler{}
	for _, m := range managers {
		for _, d := range m.settings.Domains {
			if _, ok := handlers[d]; !ok {
				handlers[d] = m.httpHandler()
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		h, ok := handlers[host]
		if !ok {
			http.Error(w, "not an ACME domain of this server", http.StatusNotFound)
			return
		}
		// autocert checks the host against its domains as it is: without
		// the port, which a CA validating on another port than 80 sends.
		r = r.Clone(r.Context())
		r.Host = host
		h.ServeHTTP(w, r)
	})
}
