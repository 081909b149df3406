// Package remote is the "lastmile" token source: it gets the gateway's tokens
// from another lastmile's managed identity endpoint, either its attested Unix
// socket or its App Service endpoint on loopback, so that a fleet of gateways on
// one host can share one identity agent.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

// Source asks another lastmile for tokens. It is safe for concurrent use.
type Source struct {
	base   string // the App Service endpoint URL, without query
	header string // X-IDENTITY-HEADER; "" on a socket
	client *http.Client
	what   string // names the endpoint in errors
}

// appServicePath is the App Service endpoint's path on a lastmile socket.
const appServicePath = "/msi/token"

// New returns a source for endpoint: "unix:///path/to/socket" (the other
// lastmile identifies this process by its credentials; header is not used) or
// "http://127.0.0.1:PORT/msi/token" with the other lastmile's IDENTITY_HEADER.
func New(endpoint, header string) (*Source, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("lastmile token source: %q is not a URL", endpoint)
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	s := &Source{client: &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" || u.Host != "" {
			return nil, fmt.Errorf("lastmile token source: write the socket as unix:///absolute/path, not %q", endpoint)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		s.base = "http://lastmile" + appServicePath
		s.what = "the lastmile socket " + path
	case "http":
		if header == "" {
			return nil, errors.New("lastmile token source: an http endpoint needs the other lastmile's IDENTITY_HEADER")
		}
		tr.Proxy = nil // never through a proxy: the header is a secret
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
		u.RawQuery, u.Fragment = "", ""
		s.base, s.header = u.String(), header
		s.what = "the lastmile endpoint " + u.Redacted()
	default:
		return nil, fmt.Errorf("lastmile token source: %q: use unix:///path or http://127.0.0.1:PORT/msi/token", endpoint)
	}
	return s, nil
}

// Token asks the other lastmile for a token as its identity clientID ("" or
// identity.WorkloadIdentity for its system-assigned identity).
func (s *Source) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
	if clientID != "" && !identity.IsWorkloadIdentity(clientID) {
		q.Set("client_id", clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"?"+q.Encode(), nil)
	if err != nil {
		return identity.Token{}, fmt.Errorf("%s: %w", s.what, err)
	}
	if s.header != "" {
		req.Header.Set("X-IDENTITY-HEADER", s.header)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return identity.Token{}, ctx.Err()
		}
		// The other lastmile is down or restarting: transient.
		return identity.Token{}, &identity.TransientError{Err: fmt.Errorf("%s: %w", s.what, unwrapURL(err))}
	}
	body, err := wire.ReadBody(resp)
	if err != nil {
		return identity.Token{}, &identity.TransientError{Err: fmt.Errorf("%s: %w", s.what, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return identity.Token{}, wire.ResponseError(s.what, resp, body)
	}
	tok, err := wire.ParseToken(body, time.Now())
	if err != nil {
		return identity.Token{}, fmt.Errorf("%s: %w", s.what, err)
	}
	return tok, nil
}

// unwrapURL drops url.Error's method and URL (it may name the socket twice).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// String names the endpoint.
func (s *Source) String() string { return strings.TrimPrefix(s.what, "the ") }
