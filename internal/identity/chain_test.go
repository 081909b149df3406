package identity_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
)

// answer is a source that always gives the same answer and counts calls.
type answer struct {
	name  string
	err   error
	calls int
	got   []string // client ids asked for
}

func (a *answer) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	a.calls++
	a.got = append(a.got, clientID)
	if a.err != nil {
		return identity.Token{}, a.err
	}
	return identity.Token{Value: a.name, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func unavailable(name string) *answer {
	return &answer{name: name, err: fmt.Errorf("%s is not here: %w", name, identity.ErrUnavailable)}
}

func TestChain(t *testing.T) {
	errTransient := errors.New("connection refused")
	for _, tc := range []struct {
		name       string
		sources    []*answer
		want       string // the token's value, or the error's message
		wantChosen string
	}{
		{"the first that answers", []*answer{unavailable("azure"), {name: "embedded"}}, "embedded", "embedded"},
		{"the first one when it works", []*answer{{name: "lastmile"}, {name: "embedded"}}, "lastmile", "lastmile"},
		{"a failing source is kept: no issuer switch", []*answer{{name: "azure", err: errTransient}, {name: "embedded"}}, "connection refused", "azure"},
		{"none available", []*answer{unavailable("azure"), unavailable("lastmile")},
			"no token source is available: azure: azure is not here: token source not available here; lastmile: lastmile is not here: token source not available here", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var named []identity.NamedSource
			for _, s := range tc.sources {
				named = append(named, identity.NamedSource{Name: s.name, Source: s})
			}
			c := identity.NewChain(named...)
			for range 3 {
				tok, err := c.Token(t.Context(), "", "api://x")
				got := tok.Value
				if err != nil {
					got = err.Error()
				}
				if got != tc.want {
					t.Fatalf("Token = %q, want %q", got, tc.want)
				}
			}
			if c.Chosen() != tc.wantChosen {
				t.Errorf("Chosen = %q, want %q", c.Chosen(), tc.wantChosen)
			}
			if tc.wantChosen == "" {
				_, err := c.Token(t.Context(), "", "api://x")
				if !errors.Is(err, identity.ErrConfiguration) || !errors.Is(err, identity.ErrUnavailable) {
					t.Errorf("no source: %v does not match ErrConfiguration and ErrUnavailable", err)
				}
				return
			}
			// Once chosen, the sources after it are never asked, and the
			// unavailable ones before it are not asked again.
			for _, s := range tc.sources {
				switch {
				case s.name == tc.wantChosen && s.calls != 3:
					t.Errorf("%s asked %d times, want 3", s.name, s.calls)
				case s.name != tc.wantChosen && s.err == nil && s.calls != 0:
					t.Errorf("%s, after the chosen source, asked %d times", s.name, s.calls)
				case s.name != tc.wantChosen && s.err != nil && s.calls != 1:
					t.Errorf("%s, unavailable, asked %d times, want once", s.name, s.calls)
				}
			}
		})
	}
}

func TestSystemForWorkloadIdentity(t *testing.T) {
	a := &answer{name: "embedded"}
	src := identity.SystemForWorkloadIdentity(a)
	for _, id := range []string{identity.WorkloadIdentity, "workloadidentity", "", "5e29463d-0000-0000-0000-000000000000"} {
		src.Token(t.Context(), id, "r")
	}
	want := []string{"", "", "", "5e29463d-0000-0000-0000-000000000000"}
	if fmt.Sprint(a.got) != fmt.Sprint(want) {
		t.Errorf("client ids passed on = %q, want %q", a.got, want)
	}
}

// TestCacheHonoursRetryAfter: a source that says when to come back is not asked
// sooner, even when the backoff would allow it.
func TestCacheHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.set(&identity.TransientError{Err: errOutage, RetryAfter: 20 * time.Second})
		c := identity.NewCache(src)
		if _, err := c.Token(t.Context(), "", res); !errors.Is(err, errOutage) {
			t.Fatalf("first request: %v", err)
		}
		var u *identity.UnavailableError
		_, err := c.Token(t.Context(), "", res)
		if !errors.As(err, &u) || u.RetryAfter != 20*time.Second {
			t.Fatalf("second request: %v, want unavailable for 20s", err)
		}
		time.Sleep(19 * time.Second)
		c.Token(t.Context(), "", res)
		if src.count() != 1 {
			t.Fatalf("the source was asked %d times before its Retry-After", src.count())
		}
		time.Sleep(time.Second)
		src.set(nil)
		if _, err := c.Token(t.Context(), "", res); err != nil || src.count() != 2 {
			t.Fatalf("after Retry-After: %v, %d calls", err, src.count())
		}

		// An absurd Retry-After is capped.
		src2 := newFake(time.Hour)
		src2.set(&identity.TransientError{Err: errOutage, RetryAfter: 24 * time.Hour})
		c2 := identity.NewCache(src2)
		c2.Token(t.Context(), "", res)
		_, err = c2.Token(t.Context(), "", res)
		if !errors.As(err, &u) || u.RetryAfter != identity.MaxRetryAfter {
			t.Errorf("RetryAfter = %v, want the cap %v", err, identity.MaxRetryAfter)
		}
	})
}
