package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// WorkloadIdentity is the client id that the authentication-managed-identity
// policy passes for authentication-provider="WorkloadIdentity": the gateway
// workload's own federated identity. Sources that have one (azure, the workload
// identity source) use it; the others treat it as the system-assigned identity.
// It compares ignoring case (see IsWorkloadIdentity).
const WorkloadIdentity = "WorkloadIdentity"

// IsWorkloadIdentity reports whether clientID is WorkloadIdentity, in any case:
// the cache lower-cases client ids.
func IsWorkloadIdentity(clientID string) bool { return equalFoldASCII(clientID, WorkloadIdentity) }

// SystemForWorkloadIdentity adapts a source that has no workload identity of its
// own: WorkloadIdentity becomes "", the system-assigned identity, which is what
// the gateway workload's identity is when lastmile is its own identity provider.
func SystemForWorkloadIdentity(src TokenSource) TokenSource {
	return TokenSourceFunc(func(ctx context.Context, clientID, resource string) (Token, error) {
		if IsWorkloadIdentity(clientID) {
			clientID = ""
		}
		return src.Token(ctx, clientID, resource)
	})
}

// ErrUnavailable marks a source that cannot work where lastmile runs at all, such
// as Azure managed identity outside Azure: a Chain moves on to its next source.
var ErrUnavailable = errors.New("token source not available here")

// TransientError is a failure that may pass by itself, with the time the source
// asked callers to wait (an HTTP Retry-After). Cache waits at least that long
// before asking the source again, up to MaxRetryAfter.
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

// MaxRetryAfter caps the wait a source can impose through TransientError, so a
// wrong Retry-After cannot stop refreshes for hours.
const MaxRetryAfter = 5 * time.Minute

// Error returns the underlying error's message.
func (e *TransientError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *TransientError) Unwrap() error { return e.Err }

// retryAfter returns the wait a TransientError in err asks for, capped.
func retryAfter(err error) time.Duration {
	var te *TransientError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return min(te.RetryAfter, MaxRetryAfter)
	}
	return 0
}

// NamedSource is a TokenSource in a Chain.
type NamedSource struct {
	Name   string // for messages: "embedded", "azure", ...
	Source TokenSource
}

// Chain is the token source chain of lastmile.yaml's identity.sources: sources
// are tried in order until one is available, as DefaultAzureCredential does, and
// the first one that answers with anything but ErrUnavailable is kept for good.
// Mixing sources would give a backend tokens from different issuers for the same
// identity, so a source that fails later is not replaced: its errors go to the
// cache, which serves cached tokens and backs off. Safe for concurrent use.
type Chain struct {
	sources []NamedSource
	chosen  atomic.Int32 // index into sources, -1 until one answers
}

// NewChain returns a chain of the sources, in order.
func NewChain(sources ...NamedSource) *Chain {
	c := &Chain{sources: sources}
	c.chosen.Store(-1)
	return c
}

// Token asks the chosen source, or tries the sources in order until one is
// available. When none is, the error matches ErrConfiguration and ErrUnavailable.
func (c *Chain) Token(ctx context.Context, clientID, resource string) (Token, error) {
	if i := c.chosen.Load(); i >= 0 {
		return c.sources[i].Source.Token(ctx, clientID, resource)
	}
	var why []string
	for i, s := range c.sources {
		tok, err := s.Source.Token(ctx, clientID, resource)
		if err != nil && errors.Is(err, ErrUnavailable) {
			why = append(why, s.Name+": "+err.Error())
			continue
		}
		c.chosen.CompareAndSwap(-1, int32(i))
		return tok, err
	}
	return Token{}, &chainError{msg: "no token source is available: " + strings.Join(why, "; ")}
}

// Chosen returns the name of the source in use, or "" before one has answered.
func (c *Chain) Chosen() string {
	if i := c.chosen.Load(); i >= 0 {
		return c.sources[i].Name
	}
	return ""
}

type chainError struct{ msg string }

func (e *chainError) Error() string   { return e.msg }
func (e *chainError) Unwrap() []error { return []error{ErrConfiguration, ErrUnavailable} }
