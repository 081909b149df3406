package identity_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// Entries tells an operator what the cache holds and when it refreshes,
// and when it serves through an outage; never the token.
func TestCacheEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFake(time.Hour)
		c := identity.NewCache(src, identity.WithRefreshJitter(0))
		if got := c.Entries(); len(got) != 0 {
			t.Fatalf("Entries() of an empty cache = %v", got)
		}
		start := time.Now()
		mustToken(t, c, "", res)
		mustToken(t, c, "B1B2", "api://billing")
		want := []identity.CacheEntry{
			{ClientID: "", Resource: res, HasToken: true, Obtained: start, ExpiresAt: start.Add(time.Hour),
				UsableUntil: start.Add(55 * time.Minute), RefreshAt: start.Add(30 * time.Minute)},
			{ClientID: "B1B2", Resource: "api://billing", HasToken: true, Obtained: start, ExpiresAt: start.Add(time.Hour),
				UsableUntil: start.Add(55 * time.Minute), RefreshAt: start.Add(30 * time.Minute)},
		}
		if diff := cmp.Diff(want, c.Entries()); diff != "" {
			t.Errorf("Entries() (-want +got):\n%s", diff)
		}

		// The source fails at the refresh: the token is served through the outage.
		src.set(errOutage)
		time.Sleep(31 * time.Minute)
		mustToken(t, c, "", res)
		synctest.Wait()
		got := c.Entries()[0]
		if !got.Outage() || got.Failures != 1 || got.LastError != errOutage.Error() || !got.RetryAt.After(time.Now()) {
			t.Errorf("after a failed refresh: %+v, want an outage with one failure, its error and a retry time", got)
		}
	})
}
