package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// forwardGRPC sends a gRPC call (x.GRPC) over HTTP/2, its body streaming as
// it comes while the answer streams back, and the answer's trailers kept for
// the client (trailerBody). It is Forward's path apart, not a branch in it:
// keeping the response for its trailers would make Forward's on-stack request
// escape to the heap for every request (TestForwardAllocations).
func (f *Forwarder) forwardGRPC(ctx context.Context, x *exchange.Exchange, opts Options) error {
	c, via := x.Backend.Certificate(), x.Backend.Proxy()
	if via != nil && x.Request.URL.Scheme != "https" {
		return &Error{Reason: "BackendConnectionFailure", Message: "a gRPC backend on h2c cannot be reached through an HTTP proxy; use grpcs, which tunnels with CONNECT", Status: 500}
	}
	tr := f.h2.get(f.Transport)
	if c != nil || via != nil {
		var err error
		if tr, err = f.h2.routes.get(tr, c, via); err != nil {
			return &Error{Reason: "BackendConnectionFailure", Message: err.Error(), Status: 500, Err: err}
		}
	}
	out := new(outRequest)
	watch, err := f.outgoing(ctx, x, opts, out)
	if err != nil {
		return err
	}
	resp, timedOut, cancel, err := f.send(ctx, out, tr, via, opts)
	if err != nil {
		return sendError(ctx, watch, err, timedOut, opts)
	}
	h := resp.Header
	exchange.RemoveHopHeaders(h)
	rb := &endFunc{ReadCloser: resp.Body, fn: func() { cancel(); watch.Close() }}
	x.Response = x.NewStreamResponse(resp.StatusCode, reasonPhrase(resp), h, &trailerBody{ReadCloser: rb, resp: resp}, resp.ContentLength)
	if opts.FailOnErrorStatusCode && resp.StatusCode >= 400 {
		return &Error{Reason: "BackendErrorStatusCode", Message: fmt.Sprintf("the backend answered %d", resp.StatusCode), Status: resp.StatusCode}
	}
	return nil
}

// h2Transport is the HTTP/2 transport of gRPC calls (x.GRPC): h2c with prior
// knowledge to an http backend, h2 by ALPN to an https one, trusting what the
// gateway's Client trusts. proxy.Client speaks HTTP/1.1 only, and gRPC needs
// HTTP/2's streams in both directions at once and its trailers.
type h2Transport struct {
	once sync.Once
	tr   *http.Transport
	// routes are its clones that present a client certificate
	// (authentication-certificate) or tunnel through an HTTP proxy (the
	// proxy policy), apart from the HTTP/1.1 Client's.
	routes clientTransports
}

func (h *h2Transport) get(base http.RoundTripper) http.RoundTripper {
	h.once.Do(func() {
		var cfg *tls.Config
		if c, ok := base.(*Client); ok && c.TLSConfig != nil {
			cfg = c.TLSConfig.Clone()
			cfg.NextProtos = nil // the transport offers h2
		}
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     cfg,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			Protocols:           new(http.Protocols),
		}
		tr.Protocols.SetHTTP2(true)
		tr.Protocols.SetUnencryptedHTTP2(true)
		h.tr = tr
	})
	return h.tr
}

// trailerBody is a gRPC response's body: its trailers (grpc-status,
// grpc-message) are the response's once the body was read to its end.
type trailerBody struct {
	io.ReadCloser
	resp *http.Response
}

// Trailer returns the backend's trailers, filled in at the body's end.
func (t *trailerBody) Trailer() http.Header { return t.resp.Trailer }
