// Package azure is the "azure" token source: real Azure managed identity through
// azidentity, for a lastmile that runs in Azure. azidentity chooses the protocol
// from the environment as every Azure SDK does (IMDS on a VM, App Service and
// Functions, Arc, Cloud Shell, Service Fabric), so the
// authentication-managed-identity policy then behaves as it does in API
// Management, with Entra as the issuer. identity.WorkloadIdentity
// (authentication-provider="WorkloadIdentity") uses Entra workload identity
// federation instead, configured by the AZURE_CLIENT_ID, AZURE_TENANT_ID,
// AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST variables that the AKS
// webhook sets.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

// Options configure the Source.
type Options struct {
	// ClientOptions are passed to every credential (a test transport, a cloud).
	ClientOptions azcore.ClientOptions
	// DisableInstanceDiscovery is passed to the workload identity credential, for
	// authorities other than Entra's public clouds.
	DisableInstanceDiscovery bool
	// FirstCallTimeout bounds the first token request of each credential: outside
	// Azure the IMDS address does not answer, and the chain should move on rather
	// than wait for azidentity's retries. Default 5 seconds.
	FirstCallTimeout time.Duration
}

// Source gets tokens from Azure managed identity. It is safe for concurrent use.
type Source struct {
	opts Options

	mu    sync.Mutex
	creds map[string]*credential // by lower-case client id; "" is system-assigned
}

// credential is one azidentity credential and whether it ever worked.
type credential struct {
	cred   azcore.TokenCredential
	err    error // construction error
	worked atomic.Bool
}

// New returns a Source. Nothing is contacted until the first token request.
func New(opts Options) *Source {
	if opts.FirstCallTimeout <= 0 {
		opts.FirstCallTimeout = 5 * time.Second
	}
	return &Source{opts: opts, creds: map[string]*credential{}}
}

// Token gets a token for resource as the managed identity clientID: "" for the
// system-assigned identity, a user-assigned identity's client id, or
// identity.WorkloadIdentity for workload identity federation.
func (s *Source) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	c := s.credential(clientID)
	name := "Azure managed identity"
	if identity.IsWorkloadIdentity(clientID) {
		name = "Azure workload identity"
	}
	if c.err != nil {
		return identity.Token{}, fmt.Errorf("%s: %w: %w", name, c.err, identity.ErrConfiguration)
	}
	scope := resource
	if !strings.HasSuffix(strings.ToLower(scope), "/.default") {
		scope += "/.default"
	}
	first := !c.worked.Load()
	callCtx := ctx
	if first {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, s.opts.FirstCallTimeout)
		defer cancel()
	}
	at, err := c.cred.GetToken(callCtx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err == nil {
		c.worked.Store(true)
		tok := identity.Token{Value: at.Token, ExpiresAt: at.ExpiresOn}
		if !at.RefreshOn.IsZero() {
			tok.RefreshAt = at.RefreshOn
		}
		return tok, nil
	}
	if ctx.Err() != nil {
		return identity.Token{}, ctx.Err()
	}
	return identity.Token{}, classify(name, err, first)
}

// classify sorts azidentity's errors for the cache and the chain.
func classify(name string, err error, first bool) error {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		resp := afe.RawResponse
		msg := fmt.Errorf("%s answered %d", name, resp.StatusCode)
		switch s := resp.StatusCode; {
		case s == http.StatusBadRequest || s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusNotFound:
			// An identity that is not assigned here, a resource Entra does not
			// know, a federated credential that does not match.
			return fmt.Errorf("%w: %s: %w", msg, firstLine(afe.Error()), identity.ErrConfiguration)
		default:
			return &identity.TransientError{Err: fmt.Errorf("%w: %s", msg, firstLine(afe.Error())), RetryAfter: wire.RetryAfter(resp.Header, time.Now())}
		}
	}
	if first {
		// No answer from the first request: not in Azure, or no managed identity
		// here. The chain moves on.
		return fmt.Errorf("%s: %s: %w", name, firstLine(err.Error()), identity.ErrUnavailable)
	}
	return &identity.TransientError{Err: fmt.Errorf("%s: %s", name, firstLine(err.Error()))}
}

// credential returns the credential for clientID, creating it once.
func (s *Source) credential(clientID string) *credential {
	key := strings.ToLower(clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[key]; c != nil {
		return c
	}
	c := &credential{}
	switch {
	case identity.IsWorkloadIdentity(clientID):
		c.cred, c.err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions:            s.opts.ClientOptions,
			DisableInstanceDiscovery: s.opts.DisableInstanceDiscovery,
		})
	case clientID == "":
		c.cred, c.err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: s.opts.ClientOptions})
	default:
		c.cred, c.err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: s.opts.ClientOptions,
			ID:            azidentity.ClientID(clientID),
		})
	}
	s.creds[key] = c
	return c
}

// firstLine keeps the first line of azidentity's multi-line messages, which
// continue with troubleshooting links and the full response.
func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "---") {
			return line
		}
	}
	return s
}
