// Package proxy sends a request to its backend for forward-request.
//
// It is a thin layer over http.Transport rather than httputil.ReverseProxy because
// API Management runs the outbound section after the backend answers and before
// anything reaches the client: the response is handed back as an Exchange value and
// the gateway writes it later. Hop-by-hop header handling and X-Forwarded-* follow
// net/http/httputil.
package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// Forwarder implements forward-request.
type Forwarder struct {
	// Transport sends requests; NewTransport builds a suitable one.
	Transport http.RoundTripper
	// BodyLimit is how much of a backend response a policy may buffer.
	BodyLimit int64
	// MaxRedirects bounds follow-redirects="true"; 10 when zero.
	MaxRedirects int
}

var _ policies.Forwarder = (*Forwarder)(nil)

// NewTransport returns the backend transport: HTTP/1.1 keep-alive with HTTP/2 where
// the backend offers it, no implicit proxy from the environment, no transparent
// decompression (bodies pass through as the backend sent them), and the system
// roots plus the PEM bundle in caFile, if given, for private backends.
func NewTransport(caFile string) (*http.Transport, error) {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("backend CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backend CA bundle %s: no PEM certificates found", caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// Forward sends x.Request to x.Request.URL and sets x.Response with a streaming body.
func (f *Forwarder) Forward(ctx context.Context, x *exchange.Exchange, opts policies.ForwardOptions) error {
	u := x.Request.URL
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &pipeline.Error{Reason: "BackendUrlNotSet", Message: "the request has no backend URL: set serviceUrl on the API or use set-backend-service", Status: 500}
	}
	out, err := f.outgoing(ctx, x, opts)
	if err != nil {
		return err
	}

	// The timeout covers waiting for the response headers, as API Management's
	// does; the body may stream for longer.
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(opts.Timeout, cancel)
	out = out.WithContext(ctx)
	resp, err := f.roundTrip(out, opts.FollowRedirects)
	timedOut := !timer.Stop()
	if err != nil {
		cancel()
		if timedOut {
			return &pipeline.Error{Source: "forward-request", Reason: "Timeout", Message: fmt.Sprintf("the backend did not answer within %s", opts.Timeout), Status: 500, Err: err}
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return &pipeline.Error{Source: "forward-request", Reason: "ClientConnectionFailure", Message: "the client went away", Status: 499, Err: err}
		}
		return &pipeline.Error{Source: "forward-request", Reason: "BackendConnectionFailure", Message: "could not reach the backend: " + sanitize(err), Status: 500, Err: err}
	}
	h := resp.Header
	exchange.RemoveHopHeaders(h)
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
	body := exchange.NewStreamBody(exchange.CloseFunc(resp.Body, cancel), resp.ContentLength, f.BodyLimit)
	x.Response = &exchange.Response{StatusCode: resp.StatusCode, StatusReason: reason, Headers: h, Body: body}
	if opts.FailOnErrorStatusCode && resp.StatusCode >= 400 {
		return &pipeline.Error{Source: "forward-request", Reason: "BackendErrorStatusCode", Message: fmt.Sprintf("the backend answered %d", resp.StatusCode), Status: resp.StatusCode}
	}
	return nil
}

// sanitize keeps a transport error's message free of URL credentials and query
// strings, which may carry secrets.
func sanitize(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.User, u.RawQuery = nil, ""
			return fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err)
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// outgoing builds the request for the backend from the exchange.
func (f *Forwarder) outgoing(ctx context.Context, x *exchange.Exchange, opts policies.ForwardOptions) (*http.Request, error) {
	h := x.Request.Headers.Clone()
	if h == nil {
		h = make(http.Header)
	}
	exchange.RemoveHopHeaders(h)
	host := h.Get("Host")
	h.Del("Host")

	// X-Forwarded-*: append the caller to any chain it brought, as
	// httputil.ProxyRequest.SetXForwarded does.
	if ip := x.Request.IPAddress; ip != "" {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	if o := x.Request.OriginalURL; o != nil {
		h.Set("X-Forwarded-Host", o.Host)
		h.Set("X-Forwarded-Proto", o.Scheme)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // do not add Go's default
	}

	var body io.ReadCloser
	length := int64(0)
	if b := x.Request.Body; b != nil && !b.Consumed() {
		if opts.BufferRequestBody || opts.FollowRedirects {
			if _, err := b.Bytes(true); err != nil {
				return nil, &pipeline.Error{Source: "forward-request", Reason: "BodyReadFailure", Message: "could not read the request body: " + err.Error(), Status: 400, Err: err}
			}
		}
		length = b.Len()
		body = b.Reader()
	}
	out, err := http.NewRequestWithContext(ctx, x.Request.Method, x.Request.URL.String(), body)
	if err != nil {
		return nil, &pipeline.Error{Source: "forward-request", Reason: "InvalidRequest", Message: "could not build the backend request: " + sanitize(err), Status: 500, Err: err}
	}
	out.Header = h
	out.ContentLength = length
	if length == 0 {
		out.Body = nil
	}
	if orig := x.Request.OriginalURL; host != "" && orig != nil && !strings.EqualFold(host, orig.Host) {
		out.Host = host // a policy chose the Host header
	}
	if buffered := x.Request.Body; buffered != nil && buffered.Buffered() && length > 0 {
		data, _ := buffered.Bytes(true)
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }
	}
	return out, nil
}

// roundTrip sends req, following redirects only when asked. Credentials go only to
// the origin they were meant for: on a redirect to another scheme, host or port,
// Authorization, Cookie and Proxy-Authorization are dropped.
func (f *Forwarder) roundTrip(req *http.Request, follow bool) (*http.Response, error) {
	resp, err := f.Transport.RoundTrip(req)
	if !follow || err != nil {
		return resp, err
	}
	max := f.MaxRedirects
	if max == 0 {
		max = 10
	}
	origin := req.URL
	for i := 0; ; i++ {
		loc := resp.Header.Get("Location")
		code := resp.StatusCode
		if loc == "" || (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
			return resp, nil
		}
		if i >= max {
			return resp, nil // hand the redirect itself to the caller
		}
		next, err := req.URL.Parse(loc)
		if err != nil || (next.Scheme != "http" && next.Scheme != "https") {
			return resp, nil
		}
		nreq := req.Clone(req.Context())
		nreq.URL, nreq.Host = next, ""
		if code == 303 || ((code == 301 || code == 302) && req.Method == http.MethodPost) {
			nreq.Method, nreq.Body, nreq.GetBody, nreq.ContentLength = http.MethodGet, nil, nil, 0
			nreq.Header.Del("Content-Type")
		} else if req.Body != nil && req.GetBody == nil {
			return resp, nil // cannot replay a streamed body
		} else if req.GetBody != nil {
			if nreq.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		if !sameOrigin(origin, next) {
			for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
				nreq.Header.Del(k)
			}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp, err = f.Transport.RoundTrip(nreq); err != nil {
			return nil, err
		}
		req = nreq
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
