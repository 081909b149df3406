package jwks_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/jwks"
)

// fakeIssuer publishes the kids in keys; each fetch takes delay (fake time in
// a synctest bubble) and fails while down is set.
type fakeIssuer struct {
	mu      sync.Mutex
	kids    []string
	down    bool
	delay   time.Duration
	fetches atomic.Int32
}

func (f *fakeIssuer) Fetch(ctx context.Context) (*jwks.Set, error) {
	f.fetches.Add(1)
	f.mu.Lock()
	kids, down, delay := append([]string(nil), f.kids...), f.down, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if down {
		return nil, errors.New("issuer down")
	}
	set := &jwks.Set{Issuer: "https://issuer.test"}
	for _, k := range kids {
		set.Keys = append(set.Keys, directory.VerificationKey{KeyID: k})
	}
	return set, nil
}

func (f *fakeIssuer) set(kids ...string) {
	f.mu.Lock()
	f.kids = kids
	f.mu.Unlock()
}

func kidsOf(s *jwks.Set) []string {
	var out []string
	for _, k := range s.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// TestRefreshSchedule: the first use fetches and waits; a set younger than
// Refresh is served from memory; an older one is served while a background
// fetch replaces it.
func TestRefreshSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := &fakeIssuer{kids: []string{"k1"}}
		src := jwks.NewSource("test", iss, jwks.Options{})
		ctx := context.Background()

		set, err := src.Keys(ctx, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"k1"}, kidsOf(set)); diff != "" {
			t.Errorf("first keys (-want +got):\n%s", diff)
		}
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("fetches after first use = %d, want 1", n)
		}

		iss.set("k2")
		time.Sleep(59 * time.Minute)
		src.Keys(ctx, "k1")
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("fetches before an hour = %d, want 1", n)
		}

		time.Sleep(time.Minute)
		set, _ = src.Keys(ctx, "k1") // due: served the old set, refreshed behind
		if diff := cmp.Diff([]string{"k1"}, kidsOf(set)); diff != "" {
			t.Errorf("keys while refreshing (-want +got):\n%s", diff)
		}
		synctest.Wait()
		if n := iss.fetches.Load(); n != 2 {
			t.Errorf("fetches after an hour = %d, want 2", n)
		}
		set, _ = src.Keys(ctx, "k2")
		if diff := cmp.Diff([]string{"k2"}, kidsOf(set)); diff != "" {
			t.Errorf("keys after the refresh (-want +got):\n%s", diff)
		}
	})
}

// TestUnknownKidRateLimit: a token naming a kid the set lacks makes one early
// fetch, and then none for MinInterval, however many such tokens come.
func TestUnknownKidRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := &fakeIssuer{kids: []string{"k1"}}
		src := jwks.NewSource("test", iss, jwks.Options{})
		ctx := context.Background()
		src.Keys(ctx, "")

		time.Sleep(10 * time.Second)
		iss.set("k1", "k2") // a new key appears
		if set, _ := src.Keys(ctx, "k2"); set.Has("k2") {
			t.Errorf("a new kid 10s after the first fetch was fetched at once; want at most one fetch per MinInterval")
		}
		time.Sleep(5 * time.Minute)
		set, err := src.Keys(ctx, "k2")
		if err != nil || !set.Has("k2") {
			t.Fatalf("new kid after an early fetch: set %v, err %v", set, err)
		}
		if n := iss.fetches.Load(); n != 2 {
			t.Errorf("fetches = %d, want 2 (one early fetch for the new kid)", n)
		}

		for i := range 100 {
			time.Sleep(time.Second)
			set, err := src.Keys(ctx, "made-up")
			if err != nil || set.Has("made-up") {
				t.Fatalf("made-up kid %d: set %v, err %v", i, set, err)
			}
		}
		if n := iss.fetches.Load(); n != 2 {
			t.Errorf("fetches after 100 made-up kids in 100s = %d, want 2", n)
		}

		time.Sleep(5 * time.Minute)
		src.Keys(ctx, "made-up")
		if n := iss.fetches.Load(); n != 3 {
			t.Errorf("fetches once MinInterval passed = %d, want 3", n)
		}
	})
}

// TestOneFetchForConcurrentRequests: requests that all need keys at once share
// one fetch, and all get its result.
func TestOneFetchForConcurrentRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := &fakeIssuer{kids: []string{"k1"}, delay: 2 * time.Second}
		src := jwks.NewSource("test", iss, jwks.Options{})
		var wg sync.WaitGroup
		var ok atomic.Int32
		for range 50 {
			wg.Go(func() {
				if set, err := src.Keys(context.Background(), "k1"); err == nil && set.Has("k1") {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("fetches = %d, want 1", n)
		}
		if ok.Load() != 50 {
			t.Errorf("%d of 50 requests got the keys", ok.Load())
		}
	})
}

// TestSlowIssuer: a request waits at most FetchTimeout (or its own context)
// for an issuer that does not answer, then gets ErrNoKeys.
func TestSlowIssuer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := &fakeIssuer{kids: []string{"k1"}, delay: time.Hour}
		src := jwks.NewSource("test", iss, jwks.Options{FetchTimeout: 3 * time.Second})
		start := time.Now()
		_, err := src.Keys(context.Background(), "k1")
		if !errors.Is(err, jwks.ErrNoKeys) {
			t.Errorf("err = %v, want ErrNoKeys", err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Errorf("waited %v, want the fetch timeout, 3s", waited)
		}

		// Failed: no new fetch for RetryAfter, so the next requests do not wait.
		start = time.Now()
		src.Keys(context.Background(), "k1")
		if waited := time.Since(start); waited != 0 {
			t.Errorf("right after a failed fetch, waited %v, want 0", waited)
		}
		time.Sleep(jwks.DefaultRetryAfter)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		src.Keys(ctx, "k1")
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("with a 1s request context, waited %v, want 1s", waited)
		}
		time.Sleep(time.Minute) // the fetch gives up at its own deadline
		if n := iss.fetches.Load(); n != 2 {
			t.Errorf("fetches = %d, want 2", n)
		}
	})
}

// TestIssuerOutage: a failed first fetch is retried after RetryAfter, not on
// every request; keys fetched before serve through an outage for MaxStale, and
// then tokens are refused.
func TestIssuerOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := &fakeIssuer{kids: []string{"k1"}, down: true}
		src := jwks.NewSource("test", iss, jwks.Options{})
		ctx := context.Background()
		for range 10 {
			if _, err := src.Keys(ctx, "k1"); !errors.Is(err, jwks.ErrNoKeys) {
				t.Fatalf("err = %v, want ErrNoKeys", err)
			}
			time.Sleep(time.Second)
		}
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("fetches in 10s of outage = %d, want 1", n)
		}
		time.Sleep(20 * time.Second)
		iss.mu.Lock()
		iss.down = false
		iss.mu.Unlock()
		if _, err := src.Keys(ctx, "k1"); err != nil {
			t.Fatalf("after RetryAfter, with the issuer back: %v", err)
		}

		iss.mu.Lock()
		iss.down = true
		iss.mu.Unlock()
		for h := 1; h < 24; h++ {
			time.Sleep(time.Hour)
			if _, err := src.Keys(ctx, "k1"); err != nil {
				t.Fatalf("%dh into the outage: %v", h, err)
			}
			synctest.Wait()
		}
		time.Sleep(time.Hour)
		if _, err := src.Keys(ctx, "k1"); !errors.Is(err, jwks.ErrNoKeys) {
			t.Errorf("a day into the outage: err = %v, want ErrNoKeys", err)
		}
	})
}
