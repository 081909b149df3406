package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"sync"
)

// maxClientTransports bounds the transports kept for client certificates and
// proxies. The certificates lastmile.yaml names are few; authentication-
// certificate's body and proxy's expressions can compute any number, so the
// least recently used transport goes.
const maxClientTransports = 64

// clientTransports keeps one transport per client certificate and HTTP
// proxy, each a clone of the base transport that presents that certificate
// and dials that proxy. TLS authenticates a connection, not a request, so a
// connection made with one certificate (or none) must never carry a request
// meant for another: separate transports have separate connection pools, and
// separate TLS configurations, so no session is resumed across certificates
// either. A proxy's credentials likewise stay with its own connections.
type clientTransports struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*clientTransport
	tick uint64
}

type clientTransport struct {
	t    idleCloser
	used uint64
}

// idleCloser is a transport whose idle connections can be closed.
type idleCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// get returns the transport that presents c (when not nil) and goes through
// the HTTP proxy via (when not nil), made from base on first use.
func (ct *clientTransports) get(base http.RoundTripper, c *tls.Certificate, via *url.URL) (http.RoundTripper, error) {
	switch base.(type) {
	case *Client:
	case *http.Transport:
	default:
		return nil, errors.New("a client certificate or an HTTP proxy needs the gateway's own HTTP transport")
	}
	h := sha256.New()
	if c != nil {
		for _, der := range c.Certificate {
			h.Write(der)
		}
	}
	h.Write([]byte{0})
	if via != nil {
		h.Write([]byte(via.String())) // with its credentials: each has its pool
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])

	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.tick++
	if e, ok := ct.m[key]; ok {
		e.used = ct.tick
		return e.t, nil
	}
	if len(ct.m) >= maxClientTransports {
		ct.evictOldest()
	}
	// Presented whatever CAs the server asks for: the policy chose it.
	present := func(cfg *tls.Config) *tls.Config {
		if c == nil {
			return cfg
		}
		if cfg = cfg.Clone(); cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
		return cfg
	}
	var t idleCloser
	switch b := base.(type) {
	case *Client:
		t = &Client{Dialer: b.Dialer, TLSConfig: present(b.TLSConfig), MaxIdlePerHost: b.MaxIdlePerHost,
			IdleTimeout: b.IdleTimeout, MaxResponseHeaderBytes: b.MaxResponseHeaderBytes, Proxy: via}
	case *http.Transport:
		bt := b.Clone()
		bt.TLSClientConfig = present(b.TLSClientConfig)
		if via != nil {
			// CONNECT for https targets; its credentials go only to the proxy.
			bt.Proxy = http.ProxyURL(via)
		}
		t = bt
	}
	if ct.m == nil {
		ct.m = make(map[[sha256.Size]byte]*clientTransport)
	}
	ct.m[key] = &clientTransport{t: t, used: ct.tick}
	return t, nil
}

func (ct *clientTransports) evictOldest() {
	var oldest [sha256.Size]byte
	first := true
	for k, e := range ct.m {
		if first || e.used < ct.m[oldest].used {
			oldest, first = k, false
		}
	}
	// Requests in flight keep using it; its idle connections close now.
	ct.m[oldest].t.CloseIdleConnections()
	delete(ct.m, oldest)
}
