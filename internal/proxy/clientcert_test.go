package proxy

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// tlsBackend is an HTTPS backend with a certificate from ca that answers with
// the common name of the client certificate the connection presented, or
// "none". With require, a connection without a certificate from ca fails.
func tlsBackend(t *testing.T, ca *certtest.CA, require bool, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			cn := "none"
			if len(r.TLS.PeerCertificates) > 0 {
				cn = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			fmt.Fprint(w, cn)
		}
	}
	srv := httptest.NewUnstartedServer(h)
	auth := tls.VerifyClientCertIfGiven
	if require {
		auth = tls.RequireAndVerifyClientCert
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Server()}, ClientAuth: auth, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// trustingForwarder is a Forwarder whose transport trusts ca, as
// backend.caFile makes it.
func trustingForwarder(t *testing.T, ca *certtest.CA) *Forwarder {
	t.Helper()
	file := certtest.WriteFile(t, t.TempDir(), "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	tr, err := NewTransport(file)
	if err != nil {
		t.Fatal(err)
	}
	return &Forwarder{Transport: tr}
}

// TestClientCertificate: a request presents the certificate its exchange
// carries, and only that one; a request without one presents none, even on a
// keep-alive connection pool that another request's certificate opened.
func TestClientCertificate(t *testing.T) {
	ca := certtest.NewCA(t, "backend CA")
	alice, bob := ca.Client("alice"), ca.Client("bob")
	optional := tlsBackend(t, ca, false, nil)
	required := tlsBackend(t, ca, true, nil)
	f := trustingForwarder(t, ca)

	send := func(url string, c *tls.Certificate) (string, error) {
		x := newX(t, "GET", url+"/who", nil, 0)
		x.Backend.SetCertificate(c)
		if err := f.Forward(context.Background(), x, opts()); err != nil {
			return "", err
		}
		return readBody(t, x), nil
	}
	for i, tt := range []struct {
		url  string
		cert *tls.Certificate
		want string
	}{
		{optional.URL, alice, "alice"},
		{optional.URL, nil, "none"},
		{optional.URL, bob, "bob"},
		{optional.URL, alice, "alice"},
		{optional.URL, nil, "none"},
		{required.URL, bob, "bob"},
		{required.URL, alice, "alice"},
	} {
		got, err := send(tt.url, tt.cert)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got != tt.want {
			t.Errorf("request %d presented %q, want %q", i, got, tt.want)
		}
	}

	// Without a certificate, a backend that requires one refuses the handshake.
	_, err := send(required.URL, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Reason != "BackendConnectionFailure" {
		t.Errorf("without a certificate: %v, want BackendConnectionFailure", err)
	}

	// A certificate the backend's CA did not issue is refused too.
	stranger := certtest.NewCA(t, "another CA").Client("mallory")
	if _, err := send(required.URL, stranger); !errors.As(err, &pe) || pe.Reason != "BackendConnectionFailure" {
		t.Errorf("with another CA's certificate: %v, want BackendConnectionFailure", err)
	}
}

// TestClientCertificateNotOnRedirect: a redirect followed to another origin
// does not present the client certificate there.
func TestClientCertificateNotOnRedirect(t *testing.T) {
	ca := certtest.NewCA(t, "backend CA")
	elsewhere := tlsBackend(t, ca, false, nil)
	first := tlsBackend(t, ca, true, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/who", http.StatusFound)
			return
		}
		if r.URL.Path == "/who" {
			fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
			return
		}
		http.Redirect(w, r, elsewhere.URL+"/who", http.StatusFound)
	})
	f := trustingForwarder(t, ca)
	o := opts()
	o.FollowRedirects = true
	for _, tt := range []struct{ path, want string }{
		{"/away", "none"},  // another origin: no certificate
		{"/same", "alice"}, // the same origin: the certificate again
	} {
		x := newX(t, "GET", first.URL+tt.path, nil, 0)
		x.Backend.SetCertificate(ca.Client("alice"))
		if err := f.Forward(context.Background(), x, o); err != nil {
			t.Fatal(err)
		}
		if got := readBody(t, x); got != tt.want {
			t.Errorf("%s: the redirect target saw %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestClientTransportsBounded: computed certificates cannot grow the
// transports without bound.
func TestClientTransportsBounded(t *testing.T) {
	ca := certtest.NewCA(t, "ca")
	f := trustingForwarder(t, ca)
	for i := range maxClientTransports + 10 {
		if _, err := f.routes.get(f.Transport, ca.Client(fmt.Sprint("c", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.routes.m); n != maxClientTransports {
		t.Errorf("%d transports kept, want %d", n, maxClientTransports)
	}
	if _, err := (&Forwarder{Transport: roundTripFunc(nil)}).routes.get(roundTripFunc(nil), ca.Client("x"), nil); err == nil || !strings.Contains(err.Error(), "own HTTP transport") {
		t.Errorf("a foreign RoundTripper: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
