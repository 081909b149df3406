package console

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity"
)

type fakeCache []identity.CacheEntry

func (f fakeCache) Entries() []identity.CacheEntry { return f }

// The token cache's state names what an operator must know of each identity
// and resource: a token served through an outage of the source above all.
func TestTokenCacheStates(t *testing.T) {
	now := time.Now()
	later, past := now.Add(time.Hour), now.Add(-time.Minute)
	entries := fakeCache{
		{Resource: "fresh", HasToken: true, ExpiresAt: later, RefreshAt: later},
		{Resource: "refresh-due", HasToken: true, ExpiresAt: later, RefreshAt: past},
		{Resource: "refreshing", HasToken: true, ExpiresAt: later, RefreshAt: past, Refreshing: true},
		{Resource: "outage", HasToken: true, ExpiresAt: later, RefreshAt: past, Failures: 2, LastError: "issuer down", RetryAt: later},
		{Resource: "failing", Failures: 1, LastError: "unknown resource", RetryAt: later},
		{Resource: "empty"},
	}
	h := New(Options{Source: fakeSource{cache: entries}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/api/identity", nil))
	var got struct {
		TokenCache []struct{ Resource, State, LastError string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	var states []string
	for _, e := range got.TokenCache {
		if e.Resource != e.State {
			t.Errorf("the entry for %q is %q", e.Resource, e.State)
		}
		states = append(states, e.State)
	}
	if diff := cmp.Diff([]string{"fresh", "refresh-due", "refreshing", "outage", "failing", "empty"}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}
