// Package federation is the workload identity federation token source: it
// exchanges a token that the platform gives this workload (a Kubernetes
// service-account token, a SPIFFE JWT-SVID, another lastmile's token), read from
// a file, for an access token from any OIDC provider's token endpoint, with the
// client credentials grant and the token as a client assertion (RFC 7523
// section 2.2), as Entra workload identity federation and azidentity's
// WorkloadIdentityCredential do.
package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

// Audience parameters: how the token request names the resource.
const (
	// Scope sends scope=<resource>/.default, as Entra's v2 endpoint expects.
	Scope = "scope"
	// Resource sends resource=<resource> (Entra v1, RFC 8707).
	Resource = "resource"
	// Audience sends audience=<resource>, as some OIDC providers expect.
	Audience = "audience"
)

// Config says where and how to exchange the federated token.
type Config struct {
	// TokenEndpoint is the provider's token endpoint.
	TokenEndpoint string
	// ClientID is the application the federated token is trusted for. Policies
	// that name a client-id use theirs instead; the system-assigned identity and
	// identity.WorkloadIdentity use this one.
	ClientID string
	// TokenFile holds the federated token. It is read again when it changes, and
	// at least every 5 minutes (Kubernetes rotates projected tokens).
	TokenFile string
	// AudienceParameter is Scope (the default), Resource or Audience.
	AudienceParameter string
	// HTTPClient sends the requests; a client that never follows redirects when nil.
	HTTPClient *http.Client
}

// Source exchanges the federated token for access tokens. It is safe for
// concurrent use.
type Source struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	assertion string
	readAt    time.Time
	modTime   time.Time
}

// reread is the longest an assertion read from the file is reused.
const reread = 5 * time.Minute

// maxAssertion bounds the token file.
const maxAssertion = 64 << 10

// New checks cfg and returns a Source. The token file need not exist yet.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.TokenEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("workload identity source: tokenEndpoint %q is not an http(s) URL", cfg.TokenEndpoint)
	}
	if cfg.ClientID == "" || cfg.TokenFile == "" {
		return nil, errors.New("workload identity source: clientId and tokenFile are required")
	}
	switch cfg.AudienceParameter {
	case "":
		cfg.AudienceParameter = Scope
	case Scope, Resource, Audience:
	default:
		return nil, fmt.Errorf("workload identity source: audienceParameter %q is not scope, resource or audience", cfg.AudienceParameter)
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{
			Timeout:       60 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Source{cfg: cfg, client: c}, nil
}

// Token exchanges the federated token for an access token for resource.
func (s *Source) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	assertion, err := s.readAssertion()
	if err != nil {
		return identity.Token{}, err
	}
	if clientID == "" || identity.IsWorkloadIdentity(clientID) {
		clientID = s.cfg.ClientID
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	switch s.cfg.AudienceParameter {
	case Scope:
		scope := resource
		if !strings.HasSuffix(strings.ToLower(scope), "/.default") {
			// "https://storage.azure.com/" gives "https://storage.azure.com//.default",
			// Entra's spelling of an audience that ends in a slash.
			scope += "/.default"
		}
		form.Set("scope", scope)
	case Resource:
		form.Set("resource", resource)
	case Audience:
		form.Set("audience", resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return identity.Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	what := "the token endpoint " + hostOf(s.cfg.TokenEndpoint)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return identity.Token{}, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return identity.Token{}, &identity.TransientError{Err: fmt.Errorf("%s: %w", what, err)}
	}
	body, err := wire.ReadBody(resp)
	if err != nil {
		return identity.Token{}, &identity.TransientError{Err: fmt.Errorf("%s: %w", what, err)}
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
			// The assertion may have expired before the platform rotated the file:
			// read it again next time rather than after reread.
			s.forget()
		}
		return identity.Token{}, wire.ResponseError(what, resp, body)
	}
	tok, err := wire.ParseToken(body, time.Now())
	if err != nil {
		return identity.Token{}, fmt.Errorf("%s: %w", what, err)
	}
	return tok, nil
}

// readAssertion returns the federated token, reading the file when it changed or
// was read more than reread ago.
func (s *Source) readAssertion() (string, error) {
	fi, err := os.Stat(s.cfg.TokenFile)
	if err != nil {
		// A projected token appears shortly after the pod starts; the cache
		// retries configuration errors after a short while.
		return "", fmt.Errorf("workload identity source: the federated token file: %w: %w", err, identity.ErrConfiguration)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assertion != "" && fi.ModTime().Equal(s.modTime) && now.Sub(s.readAt) < reread {
		return s.assertion, nil
	}
	f, err := os.Open(s.cfg.TokenFile)
	if err != nil {
		return "", fmt.Errorf("workload identity source: the federated token file: %w: %w", err, identity.ErrConfiguration)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAssertion+1))
	if err != nil {
		return "", &identity.TransientError{Err: fmt.Errorf("workload identity source: reading %s: %w", s.cfg.TokenFile, err)}
	}
	a := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxAssertion:
		return "", fmt.Errorf("workload identity source: %s is larger than %d bytes, so it is not a token: %w", s.cfg.TokenFile, maxAssertion, identity.ErrConfiguration)
	case a == "":
		return "", fmt.Errorf("workload identity source: %s is empty: %w", s.cfg.TokenFile, identity.ErrConfiguration)
	}
	s.assertion, s.readAt, s.modTime = a, now, fi.ModTime()
	return a, nil
}

func (s *Source) forget() {
	s.mu.Lock()
	s.assertion = ""
	s.mu.Unlock()
}

func hostOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
