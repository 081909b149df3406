package identity_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// fakeSource issues numbered tokens of a fixed lifetime, or fails, and counts calls
// per key. It can hold calls until released.
type fakeSource struct {
	mu       sync.Mutex
	lifetime time.Duration
	err      error
	hold     chan struct{} // when non-nil, calls wait for it to close
	calls    map[string]int
	total    int
	refresh  time.Duration // when non-zero, tokens carry RefreshAt = now + refresh
}

func newFake(lifetime time.Duration) *fakeSource {
	return &fakeSource{lifetime: lifetime, calls: make(map[string]int)}
}

func (f *fakeSource) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	f.mu.Lock()
	f.total++
	f.calls[clientID+" "+resource]++
	n := f.total
	err, hold, lifetime, refresh := f.err, f.hold, f.lifetime, f.refresh
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return identity.Token{}, ctx.Err()
		}
	}
	if err != nil {
		return identity.Token{}, err
	}
	now := time.Now()
	tok := identity.Token{Value: fmt.Sprintf("token-%d", n), IssuedAt: now, ExpiresAt: now.Add(lifetime)}
	if refresh > 0 {
		tok.RefreshAt = now.Add(refresh)
	}
	return tok, nil
}

func (f *fakeSource) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

func (f *fakeSource) countKey(clientID, resource string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[clientID+" "+resource]
}

var errOutage = errors.New("issuer unavailable")

type configErr struct{ resource string }

func (e configErr) Error() string { return fmt.Sprintf("resource %q is not registered", e.resource) }
func (e configErr) Unwrap() error { return identity.ErrConfiguration }

const res = "api://orders"

func mustToken(t *testing.T, c *identity.Cache, clientID, resource string) identity.Token {
	t.Helper()
	tok, err := c.Token(t.Context(), clientID, resource)
	if err != nil {
		t.Fatalf("%v: Token(%q, %q): %v", time.Now().UTC().Format(time.TimeOnly), clientID, resource, err)
	}
	if tok.Value == "" || !time.Now().Before(tok.ExpiresAt) {
		t.Fatalf("Token(%q, %q) = %v: not a valid token", clientID, resource, tok)
	}
	return tok
}

func TestCacheHit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src)
		first := mustToken(t, c, "", res)
		for range 10 {
			if got := mustToken(t, c, "", res); got.Value != first.Value {
				t.Fatalf("second request got %s, want the cached %s", got.Value, first.Value)
			}
		}
		if got := src.count(); got != 1 {
			t.Errorf("source calls = %d, want 1", got)
		}
	})
}

func TestCacheKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src)
		const uami = "6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d"
		sys := mustToken(t, c, "", "api://orders")
		for _, spelling := range []string{"API://Orders", "api://orders/", "api://orders/.default", "api://ORDERS//.Default"} {
			if got := mustToken(t, c, "", spelling); got.Value != sys.Value {
				t.Errorf("resource %q got %s, want the token of api://orders %s", spelling, got.Value, sys.Value)
			}
		}
		user := mustToken(t, c, uami, "api://orders")
		if user.Value == sys.Value {
			t.Error("a user-assigned identity got the system identity's token")
		}
		if got := mustToken(t, c, "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D", "api://orders"); got.Value != user.Value {
			t.Errorf("upper-case client id got %s, want %s", got.Value, user.Value)
		}
		other := mustToken(t, c, "", "api://billing")
		if other.Value == sys.Value {
			t.Error("two resources share a token")
		}
		if got := src.count(); got != 3 {
			t.Errorf("source calls = %d, want 3 (system/orders, user/orders, system/billing)", got)
		}
		// The source sees the first spelling of each key.
		if got := src.countKey("", "api://orders"); got != 1 {
			t.Errorf("source calls for the first spelling = %d, want 1", got)
		}
	})
}

func TestCacheRefreshAtHalfLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src, identity.WithRefreshJitter(0))
		start := time.Now()
		first := mustToken(t, c, "", res)
		if want := start.Add(30 * time.Minute); !first.RefreshAt.Equal(want) {
			t.Errorf("RefreshAt = %v, want %v", first.RefreshAt, want)
		}

		time.Sleep(30*time.Minute - time.Second)
		mustToken(t, c, "", res)
		synctest.Wait()
		if got := src.count(); got != 1 {
			t.Fatalf("source calls before half-life = %d, want 1", got)
		}

		time.Sleep(time.Second)
		// The request that finds the refresh due still gets the cached token at once...
		if got := mustToken(t, c, "", res); got.Value != first.Value {
			t.Errorf("request at half-life got %s, want the cached %s", got.Value, first.Value)
		}
		// ...and one refresh runs in the background.
		synctest.Wait()
		if got := src.count(); got != 2 {
			t.Fatalf("source calls after half-life = %d, want 2", got)
		}
		second := mustToken(t, c, "", res)
		if second.Value == first.Value {
			t.Fatal("the refreshed token is not served")
		}
		if want := time.Now().Add(30 * time.Minute); !second.RefreshAt.Equal(want) {
			t.Errorf("refreshed token's RefreshAt = %v, want %v", second.RefreshAt, want)
		}
	})
}

func TestCacheRefreshJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const keys = 200
		src := newFake(time.Hour)
		c := identity.NewCache(src) // default jitter: ±10% of the half-life
		start := time.Now()
		low, high := start.Add(27*time.Minute), start.Add(33*time.Minute)
		var earliest, latest time.Time
		for i := range keys {
			tok := mustToken(t, c, "", fmt.Sprintf("api://r%d", i))
			if tok.RefreshAt.Before(low) || tok.RefreshAt.After(high) {
				t.Errorf("key %d: RefreshAt %v outside [%v, %v]", i, tok.RefreshAt.Sub(start), low.Sub(start), high.Sub(start))
			}
			if earliest.IsZero() || tok.RefreshAt.Before(earliest) {
				earliest = tok.RefreshAt
			}
			if tok.RefreshAt.After(latest) {
				latest = tok.RefreshAt
			}
		}
		if spread := latest.Sub(earliest); spread < 3*time.Minute {
			t.Errorf("refresh times of %d keys spread over %v; want them spread across the ±3m window", keys, spread)
		}

		// Observe the refreshes: step through the window, asking for every key.
		refreshed := make([]time.Duration, keys)
		const step = 10 * time.Second
		for now := time.Duration(0); now <= 40*time.Minute; now += step {
			for i := range keys {
				r := fmt.Sprintf("api://r%d", i)
				mustToken(t, c, "", r)
				synctest.Wait()
				if refreshed[i] == 0 && src.countKey("", r) == 2 {
					refreshed[i] = time.Since(start)
				}
			}
			time.Sleep(step)
		}
		for i, at := range refreshed {
			if at < 27*time.Minute || at > 33*time.Minute+step {
				t.Errorf("key %d refreshed at %v, want within [27m, 33m] (plus one %v step)", i, at, step)
			}
		}
	})
}

func TestCacheServesThroughOutageUntilMargin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src, identity.WithRefreshJitter(0))
		start := time.Now()
		first := mustToken(t, c, "", res)
		src.set(errOutage)

		// From half-life to the 5-minute margin, every request gets the cached
		// token at once while refreshes fail in the background.
		time.Sleep(30 * time.Minute)
		for time.Since(start) < 55*time.Minute {
			tok, err := c.Token(t.Context(), "", res)
			if err != nil {
				t.Fatalf("at %v: %v, want the cached token", time.Since(start), err)
			}
			if tok.Value != first.Value {
				t.Fatalf("at %v: got %s, want %s", time.Since(start), tok.Value, first.Value)
			}
			synctest.Wait()
			time.Sleep(5 * time.Second)
		}
		// 25 minutes of failures, backing off 1s, 2s, 4s ... up to 1m: not one call per request.
		calls := src.count() - 1
		if calls < 20 || calls > 40 {
			t.Errorf("%d refresh attempts during a 25m outage, want 20 to 40 (backoff capped at 1m)", calls)
		}

		// At the margin the token is no longer served: one request tries the source again.
		if got := time.Since(start); got != 55*time.Minute {
			t.Fatalf("test stepped to %v, want 55m", got)
		}
		before := src.count()
		tok, err := c.Token(t.Context(), "", res)
		if !errors.Is(err, errOutage) {
			t.Fatalf("at the margin: Token = %v, %v; want the source's error", tok, err)
		}
		if tok.Value != "" {
			t.Errorf("an error came with the stale token %s", tok.Value)
		}
		if got := src.count(); got != before+1 {
			t.Errorf("source calls at the margin = %d, want %d", got, before+1)
		}
		// Then the cache backs off without calling the source.
		_, err = c.Token(t.Context(), "", res)
		var unavailable *identity.UnavailableError
		if !errors.As(err, &unavailable) || !errors.Is(err, errOutage) {
			t.Fatalf("after the margin: %v, want an *UnavailableError wrapping the outage", err)
		}
		if unavailable.RetryAfter <= 0 || unavailable.RetryAfter > time.Minute {
			t.Errorf("RetryAfter = %v, want within (0, 1m]", unavailable.RetryAfter)
		}
		if got := src.count(); got != before+1 {
			t.Errorf("source called while backing off: %d calls, want %d", got, before+1)
		}
		// The expired token is never served, however long the outage lasts.
		for range 200 {
			time.Sleep(7 * time.Second)
			if tok, err := c.Token(t.Context(), "", res); err == nil {
				t.Fatalf("at %v: got token %v during the outage", time.Since(start), tok)
			}
			synctest.Wait()
		}
	})
}

func TestCacheBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.set(errOutage)
		c := identity.NewCache(src) // backoff 1s doubling, capped at 1m
		if _, err := c.Token(t.Context(), "", res); !errors.Is(err, errOutage) {
			t.Fatalf("first request: %v, want the source's error", err)
		}
		maxDelays := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
			16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
		for i, maxDelay := range maxDelays {
			var unavailable *identity.UnavailableError
			_, err := c.Token(t.Context(), "", res)
			if !errors.As(err, &unavailable) {
				t.Fatalf("failure %d: %v, want *UnavailableError", i+1, err)
			}
			if d := unavailable.RetryAfter; d < maxDelay/2 || d > maxDelay {
				t.Errorf("after failure %d: RetryAfter = %v, want within [%v, %v]", i+1, d, maxDelay/2, maxDelay)
			}
			// Requests during the backoff do not reach the source.
			for range 50 {
				c.Token(t.Context(), "", res)
			}
			if got := src.count(); got != i+1 {
				t.Fatalf("source calls during backoff %d = %d, want %d", i+1, got, i+1)
			}
			time.Sleep(unavailable.RetryAfter)
			if _, err := c.Token(t.Context(), "", res); !errors.Is(err, errOutage) || errors.As(err, &unavailable) {
				t.Fatalf("after backoff %d: %v, want a new attempt failing with the source's error", i+1, err)
			}
		}
	})
}

func TestCacheRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.set(errOutage)
		c := identity.NewCache(src)
		for range 5 { // fail five times, waiting out each backoff
			c.Token(t.Context(), "", res)
			time.Sleep(time.Minute)
		}
		src.set(nil)
		tok := mustToken(t, c, "", res)
		if got := mustToken(t, c, "", res); got.Value != tok.Value {
			t.Errorf("after recovery got %s then %s, want the cached token", tok.Value, got.Value)
		}
		// The failure count was reset: the next outage backs off from 1s again.
		time.Sleep(time.Hour)
		src.set(errOutage)
		c.Token(t.Context(), "", res)
		var unavailable *identity.UnavailableError
		if _, err := c.Token(t.Context(), "", res); !errors.As(err, &unavailable) || unavailable.RetryAfter > time.Second {
			t.Errorf("first failure after recovery: %v, want a backoff of at most 1s", err)
		}
	})
}

func TestCacheConfigErrorCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.set(configErr{res})
		c := identity.NewCache(src, identity.WithConfigErrorTTL(30*time.Second))
		for i := range 100 {
			_, err := c.Token(t.Context(), "", res)
			if !errors.Is(err, identity.ErrConfiguration) {
				t.Fatalf("request %d: %v, want a configuration error", i, err)
			}
			var unavailable *identity.UnavailableError
			if errors.As(err, &unavailable) {
				t.Fatalf("request %d: configuration error reported as unavailable: %v", i, err)
			}
			time.Sleep(250 * time.Millisecond) // 25s in all
		}
		if got := src.count(); got != 1 {
			t.Errorf("source calls within the TTL = %d, want 1", got)
		}
		time.Sleep(5 * time.Second)
		c.Token(t.Context(), "", res)
		if got := src.count(); got != 2 {
			t.Errorf("source calls after the TTL = %d, want 2", got)
		}
		// Once the configuration is fixed the key works again after the TTL.
		src.set(nil)
		time.Sleep(30 * time.Second)
		mustToken(t, c, "", res)
	})
}

func TestCacheConfigErrorDropsToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src, identity.WithRefreshJitter(0))
		mustToken(t, c, "", res)
		// The resource is unregistered by a configuration reload: the refresh is
		// refused and the token is no longer served, though it has not expired.
		src.set(configErr{res})
		time.Sleep(30 * time.Minute)
		c.Token(t.Context(), "", res) // starts the refresh
		synctest.Wait()
		if _, err := c.Token(t.Context(), "", res); !errors.Is(err, identity.ErrConfiguration) {
			t.Fatalf("after a refused refresh: %v, want the configuration error", err)
		}
	})
}

func TestCacheConcurrentFirstRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 1000
		src := newFake(time.Hour)
		src.hold = make(chan struct{})
		c := identity.NewCache(src)
		var wg sync.WaitGroup
		got := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				tok, err := c.Token(context.Background(), "", res)
				got[i], errs[i] = tok.Value, err
			})
		}
		synctest.Wait() // all 1000 are waiting
		if calls := src.count(); calls != 1 {
			t.Fatalf("source calls with %d requests waiting = %d, want 1", n, calls)
		}
		close(src.hold)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i] != "token-1" {
				t.Fatalf("request %d: %q, %v; want token-1", i, got[i], errs[i])
			}
		}
		if calls := src.count(); calls != 1 {
			t.Errorf("source calls = %d, want 1", calls)
		}
	})
}

func TestCacheWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.hold = make(chan struct{})
		c := identity.NewCache(src)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := c.Token(ctx, "", res)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request: %v, want context.Canceled", err)
		}
		// The call to the source was not cancelled with the request: its token is cached.
		close(src.hold)
		synctest.Wait()
		if got := mustToken(t, c, "", res); got.Value != "token-1" {
			t.Errorf("got %s, want token-1 from the call the cancelled request started", got.Value)
		}
		if got := src.count(); got != 1 {
			t.Errorf("source calls = %d, want 1", got)
		}
	})
}

func TestCacheRefreshTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		src.hold = make(chan struct{}) // never released: the source hangs
		c := identity.NewCache(src, identity.WithRefreshTimeout(10*time.Second))
		start := time.Now()
		_, err := c.Token(context.Background(), "", res)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hanging source: %v, want context.DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 10*time.Second {
			t.Errorf("gave up after %v, want 10s", got)
		}
	})
}

func TestCacheRejectsUnusableTokens(t *testing.T) {
	tests := []struct {
		name string
		tok  func(now time.Time) identity.Token
	}{
		{"expired", func(now time.Time) identity.Token {
			return identity.Token{Value: "old", ExpiresAt: now.Add(-time.Second)}
		}},
		{"expires now", func(now time.Time) identity.Token {
			return identity.Token{Value: "old", ExpiresAt: now}
		}},
		{"no expiry", func(now time.Time) identity.Token { return identity.Token{Value: "x"} }},
		{"empty", func(now time.Time) identity.Token { return identity.Token{ExpiresAt: now.Add(time.Hour)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := identity.TokenSourceFunc(func(context.Context, string, string) (identity.Token, error) {
					return tt.tok(time.Now()), nil
				})
				c := identity.NewCache(src)
				if tok, err := c.Token(t.Context(), "", res); err == nil {
					t.Fatalf("got %v, want an error", tok)
				}
			})
		})
	}
}

func TestCacheShortLivedTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A 6-minute token: margin min(5m, 6m/6) = 1m, refresh at 3m.
		src := newFake(6 * time.Minute)
		src.set(nil)
		c := identity.NewCache(src, identity.WithRefreshJitter(0))
		start := time.Now()
		first := mustToken(t, c, "", res)
		src.set(errOutage)
		for time.Since(start) < 5*time.Minute {
			if tok, err := c.Token(t.Context(), "", res); err != nil || tok.Value != first.Value {
				t.Fatalf("at %v: %v, %v; want the cached token", time.Since(start), tok, err)
			}
			synctest.Wait()
			time.Sleep(time.Second)
		}
		if _, err := c.Token(t.Context(), "", res); err == nil {
			t.Fatalf("at %v (1m before expiry): still served", time.Since(start))
		}
	})
}

func TestCacheRefreshHint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(24 * time.Hour)
		src.refresh = time.Hour // like Azure's refresh_in
		c := identity.NewCache(src)
		start := time.Now()
		if tok := mustToken(t, c, "", res); !tok.RefreshAt.Equal(start.Add(time.Hour)) {
			t.Errorf("RefreshAt = %v, want the source's hint %v", tok.RefreshAt, start.Add(time.Hour))
		}
		time.Sleep(time.Hour)
		mustToken(t, c, "", res)
		synctest.Wait()
		if got := src.count(); got != 2 {
			t.Errorf("source calls after the hinted refresh time = %d, want 2", got)
		}
	})
}

func TestCacheInvalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src)
		first := mustToken(t, c, "", res)
		// A young token is not dropped: concurrent 401s cause one refresh, not many.
		time.Sleep(10 * time.Second)
		c.Invalidate("", res)
		if got := mustToken(t, c, "", res); got.Value != first.Value {
			t.Fatalf("token of 10s was dropped by Invalidate")
		}
		time.Sleep(20 * time.Second)
		c.Invalidate("", "API://orders/.default") // any spelling of the key
		second := mustToken(t, c, "", res)
		if second.Value == first.Value {
			t.Fatal("Invalidate did not drop a 30s-old token")
		}
		c.Invalidate("", res)
		c.Invalidate("", res)
		if got := mustToken(t, c, "", res); got.Value != second.Value {
			t.Error("Invalidate dropped the token just issued")
		}
		c.Invalidate("", "api://never-requested") // no entry: nothing happens
		if got := src.count(); got != 2 {
			t.Errorf("source calls = %d, want 2", got)
		}
	})
}

// TestCacheInvalidateAll: when the identity provider's keys change (a key
// revoked), every cached token is dropped at once, young ones too.
func TestCacheInvalidateAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src)
		a, b := mustToken(t, c, "", res), mustToken(t, c, "", "api://other")
		c.InvalidateAll()
		if got := mustToken(t, c, "", res); got.Value == a.Value {
			t.Error("a token survived InvalidateAll")
		}
		if got := mustToken(t, c, "", "api://other"); got.Value == b.Value {
			t.Error("the other token survived InvalidateAll")
		}
		if got := src.count(); got != 4 {
			t.Errorf("source calls = %d, want 4", got)
		}
	})
}

func TestCacheMaxEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src, identity.WithMaxEntries(3))
		for i := range 3 {
			mustToken(t, c, "", fmt.Sprintf("api://r%d", i))
			time.Sleep(time.Minute) // r0 expires first
		}
		mustToken(t, c, "", "api://r3") // evicts r0, the closest to expiry
		for i := 1; i <= 3; i++ {
			mustToken(t, c, "", fmt.Sprintf("api://r%d", i))
		}
		if got := src.count(); got != 4 {
			t.Errorf("source calls = %d, want 4 (r1 to r3 still cached)", got)
		}
		mustToken(t, c, "", "api://r0")
		if got := src.countKey("", "api://r0"); got != 2 {
			t.Errorf("source calls for the evicted key = %d, want 2", got)
		}
	})
}

func TestCacheNegativeEntriesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := identity.TokenSourceFunc(func(_ context.Context, _, resource string) (identity.Token, error) {
			return identity.Token{}, configErr{resource}
		})
		c := identity.NewCache(src, identity.WithMaxEntries(10))
		// Many distinct unregistered resources (a resource taken from a request,
		// say) must not grow the cache without bound; each gets its error.
		for i := range 1000 {
			r := fmt.Sprintf("api://unknown-%d", i)
			if _, err := c.Token(t.Context(), "", r); !errors.Is(err, identity.ErrConfiguration) {
				t.Fatalf("%s: %v, want a configuration error", r, err)
			}
		}
		synctest.Wait()
	})
}

var sink identity.Token

func BenchmarkCacheHit(b *testing.B) {
	c := identity.NewCache(newFake(time.Hour))
	ctx := context.Background()
	resource := "https://cognitiveservices.azure.com"
	if _, err := c.Token(ctx, "", resource); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.Token(ctx, "", resource)
		if err != nil {
			b.Fatal(err)
		}
		sink = tok
	}
}

func BenchmarkCacheHitUnnormalized(b *testing.B) {
	// A resource written as a scope: normalizing trims the suffix, still without allocating.
	c := identity.NewCache(newFake(time.Hour))
	ctx := context.Background()
	resource := "https://cognitiveservices.azure.com/.default"
	if _, err := c.Token(ctx, "", resource); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.Token(ctx, "", resource)
		if err != nil {
			b.Fatal(err)
		}
		sink = tok
	}
}

func BenchmarkCacheHitParallel(b *testing.B) {
	c := identity.NewCache(newFake(time.Hour))
	ctx := context.Background()
	resources := make([]string, 16)
	for i := range resources {
		resources[i] = fmt.Sprintf("api://backend-%d", i)
		if _, err := c.Token(ctx, "", resources[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Token(ctx, "", resources[i%len(resources)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

type outcomeLog struct {
	mu      sync.Mutex
	served  []string
	sources []string
}

func (o *outcomeLog) TokenServed(oc identity.Outcome) {
	o.mu.Lock()
	o.served = append(o.served, oc.String())
	o.mu.Unlock()
}

func (o *outcomeLog) SourceCalled(d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.sources = append(o.sources, "error")
		return
	}
	o.sources = append(o.sources, "ok")
}

// TestCacheOutcomes follows one key through its life and checks what Get
// says of each request, and what the observer hears: issued (waited for the
// source), hit, refresh (past half-life, a refresh starts), outage (served
// while refreshes fail), error (at the margin, with the source down).
func TestCacheOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		obs := &outcomeLog{}
		c := identity.NewCache(src, identity.WithRefreshJitter(0), identity.WithObserver(obs))
		var got []string
		get := func() {
			_, o, _ := c.Get(t.Context(), "", res)
			got = append(got, o.String())
			synctest.Wait()
		}
		get()                        // issued
		get()                        // hit
		time.Sleep(31 * time.Minute) // past half-life
		src.set(errOutage)
		get()                        // refresh (it fails in the background)
		get()                        // outage
		time.Sleep(25 * time.Minute) // past the margin
		get()                        // error
		want := []string{"issued", "hit", "refresh", "outage", "error"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if diff := cmp.Diff(want, obs.served); diff != "" {
			t.Errorf("observed outcomes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"ok", "error", "error"}, obs.sources); diff != "" {
			t.Errorf("observed source calls (-want +got):\n%s", diff)
		}
	})
}
