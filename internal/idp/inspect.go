package idp

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// What an operator's console reads of the provider: never a token or a
// private key.

// The grants RecentIssuance names, as IssueObserver does.
const (
	GrantManagedIdentity = "managed_identity"
	GrantApplication     = "application"
)

// Issuance is one token the provider issued, or refused to.
type Issuance struct {
	Time  time.Time
	Grant string // GrantManagedIdentity or GrantApplication
	// ClientID is who asked ("" for the system-assigned identity), Resource
	// the resource it asked for.
	ClientID, Resource string
	// Of the token issued: its key, its id (jti) and its expiry.
	KeyID, TokenID string
	ExpiresAt      time.Time
	// Error is why no token was issued; "" when one was.
	Error string
}

// RecentIssuanceSize is how many issuances RecentIssuance keeps.
const RecentIssuanceSize = 50

// issuanceLog keeps the last RecentIssuanceSize issuances. Issuing signs a
// token, which costs far more than this lock.
type issuanceLog struct {
	mu   sync.Mutex
	ring [RecentIssuanceSize]Issuance
	n    int // issuances recorded so far
}

func (l *issuanceLog) add(grant, clientID, resource string, tok Token, err error) {
	is := Issuance{Time: time.Now(), Grant: grant, ClientID: clip(clientID), Resource: clip(resource)}
	if err != nil {
		is.Error = err.Error()
	} else {
		is.KeyID, is.TokenID, is.ExpiresAt = tok.KeyID, tok.ID, tok.ExpiresAt
	}
	l.mu.Lock()
	l.ring[l.n%RecentIssuanceSize] = is
	l.n++
	l.mu.Unlock()
}

// RecentIssuance returns the last tokens the provider issued or refused,
// newest first: managed identity tokens (Issue) and the token endpoint's.
func (p *Provider) RecentIssuance() []Issuance {
	l := &p.recent
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, RecentIssuanceSize)
	out := make([]Issuance, 0, k)
	for i := range k {
		out = append(out, l.ring[(l.n-1-i)%RecentIssuanceSize])
	}
	return out
}

// Resources returns the registered resources as configured, with their
// roles and role assignments.
func (p *Provider) Resources() []Resource {
	out := make([]Resource, len(p.cfg.declared))
	for i, r := range p.cfg.declared {
		r.Roles = slices.Clone(r.Roles)
		r.Assignments = maps.Clone(r.Assignments)
		out[i] = r
	}
	return out
}

// KeySchedule returns the key rotation schedule, defaults applied.
func (p *Provider) KeySchedule() KeySchedule { return p.cfg.schedule.withDefaults() }

// NextKeyEvent returns when the rotation schedule next changes a key
// (publishes the next key, makes it current, drops a retired one); zero when
// nothing is scheduled.
func (p *Provider) NextKeyEvent() time.Time { return p.keys.nextEvent(p.cfg.schedule) }
