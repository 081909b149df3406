package identity

import (
	"cmp"
	"slices"
	"time"
)

// CacheEntry describes one identity and resource of a Cache, for an operator:
// never the token itself.
type CacheEntry struct {
	// ClientID is the identity as the first request named it ("" for the
	// system-assigned identity); Resource likewise.
	ClientID, Resource string
	// HasToken reports whether a token is cached; the times below describe it.
	HasToken  bool
	Obtained  time.Time // when the source gave it
	ExpiresAt time.Time
	// UsableUntil is ExpiresAt less the safety margin: after it the token is
	// not served.
	UsableUntil time.Time
	// RefreshAt is when the cache asks its source for the next token.
	RefreshAt time.Time
	// Failures counts the consecutive failed calls to the source; with a
	// token still usable, the cache serves through the outage.
	Failures int
	// RetryAt is when the source may be called again after a failure.
	RetryAt time.Time
	// LastError is the last failure's message (the sources' errors carry no
	// token or secret); "" after a success.
	LastError string
	// Refreshing reports whether a call to the source is under way.
	Refreshing bool
}

// Outage reports whether the cache serves e's token while its source fails.
func (e CacheEntry) Outage() bool { return e.HasToken && e.Failures > 0 }

// Entries describes the cached identities and resources, sorted by client id
// and resource. It takes no lock that Get takes on a hit.
func (c *Cache) Entries() []CacheEntry {
	m := *c.entries.Load()
	out := make([]CacheEntry, 0, len(m))
	for _, e := range m {
		st := e.st.Load()
		ce := CacheEntry{
			ClientID: e.clientID, Resource: e.resource,
			HasToken: st.tok.Value != "", Obtained: st.obtained, ExpiresAt: st.tok.ExpiresAt,
			UsableUntil: st.usableUntil, RefreshAt: st.refreshAt,
			Failures: st.failures, RetryAt: st.retryAt, Refreshing: e.inFlight.Load(),
		}
		if st.lastErr != nil {
			ce.LastError = st.lastErr.Error()
		}
		out = append(out, ce)
	}
	slices.SortFunc(out, func(a, b CacheEntry) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Resource, b.Resource))
	})
	return out
}
