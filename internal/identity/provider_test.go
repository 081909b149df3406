package identity_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

func newIDP(t *testing.T) *idp.Provider {
	t.Helper()
	state, err := statedir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := idp.New(context.Background(), idp.Config{
		Issuer:       "http://127.0.0.1:8081",
		UserAssigned: []idp.UserAssignedIdentity{{Name: "reports"}},
		Resources:    []idp.Resource{{ID: "https://cognitiveservices.azure.com"}},
	}, state)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingSource counts the tokens a real identity provider signs.
type countingSource struct {
	src   identity.TokenSource
	calls atomic.Int64
}

func (c *countingSource) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	c.calls.Add(1)
	return c.src.Token(ctx, clientID, resource)
}

// TestCacheOnProvider runs 1,000 concurrent first requests per identity against the
// real identity provider, with real parallelism: each key is issued exactly once.
func TestCacheOnProvider(t *testing.T) {
	p := newIDP(t)
	src := &countingSource{src: p}
	c := identity.NewCache(src)
	reports := p.Identities()[1].ClientID

	const n = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	values := make([]string, 2*n)
	for i := range 2 * n {
		clientID := ""
		if i%2 == 1 {
			clientID = reports
		}
		wg.Go(func() {
			<-start
			tok, err := c.Token(context.Background(), clientID, "https://cognitiveservices.azure.com/.default")
			if err != nil {
				t.Error(err)
				return
			}
			values[i] = tok.Value
		})
	}
	close(start)
	wg.Wait()
	if got := src.calls.Load(); got != 2 {
		t.Errorf("tokens issued for %d concurrent first requests on 2 identities = %d, want 2", 2*n, got)
	}
	for i := 2; i < 2*n; i++ {
		if values[i] != values[i%2] {
			t.Fatalf("request %d got a different token from request %d", i, i%2)
		}
	}
	if values[0] == values[1] {
		t.Error("the two identities got the same token")
	}

	// Refusals from the provider are configuration errors the cache remembers.
	for range 100 {
		_, err := c.Token(context.Background(), "", "api://unregistered")
		if !errors.Is(err, idp.ErrUnknownResource) || !errors.Is(err, identity.ErrConfiguration) {
			t.Fatalf("unregistered resource: %v", err)
		}
	}
	if got := src.calls.Load(); got != 3 {
		t.Errorf("provider calls after 100 requests for an unregistered resource = %d, want 3", got)
	}
	tok, _ := c.Token(context.Background(), "", "https://cognitiveservices.azure.com")
	if d := time.Until(tok.RefreshAt); d < 26*time.Minute || d > 34*time.Minute {
		t.Errorf("1h token refreshes in %v, want about 30m", d)
	}
}
