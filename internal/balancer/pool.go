package balancer

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"time"
)

// MaxMembers is the most members a Pool can have (API Management allows 30).
const MaxMembers = 32

// Member is one backend of a pool.
type Member struct {
	ID string
	// Priority is the member's group: the groups are used in ascending order,
	// a later one only when no member of the earlier ones is available.
	Priority int
	// Weight is the member's share of its group's requests. A group whose
	// weights are all 0 is shared evenly; otherwise a member of weight 0 gets
	// requests only when no weighted member of its group is available.
	Weight int
	// Breaker is the member's circuit breaker, or nil.
	Breaker *Breaker
}

// Set is a set of a pool's members, by index.
type Set uint32

// Has reports whether member i is in s.
func (s Set) Has(i int) bool { return i >= 0 && i < MaxMembers && s&(1<<i) != 0 }

// Add returns s with member i.
func (s Set) Add(i int) Set { return s | 1<<i }

// Pool chooses a member of a load-balanced pool for each request: the first
// priority group that has an available member, and within it the members by
// smooth weighted round-robin (nginx's), which spreads a member's turns evenly
// and is exact: over any run of requests whose group and members stay the same,
// each member gets its share to within one request. It is safe for concurrent
// use.
type Pool struct {
	id      string
	members []Member
	groups  [][]int  // member indexes by priority, most preferred first
	tokens  []string // session affinity values, by member

	mu      sync.Mutex
	current []int // the round-robin's running weights, by member
}

// NewPool returns the pool id of members, at most MaxMembers of them.
func NewPool(id string, members []Member) *Pool {
	if len(members) > MaxMembers {
		panic("balancer: a pool has at most 32 members")
	}
	p := &Pool{id: id, members: slices.Clone(members), current: make([]int, len(members))}
	byPriority := map[int][]int{}
	for i, m := range members {
		byPriority[m.Priority] = append(byPriority[m.Priority], i)
		sum := sha256.Sum256([]byte(id + "\n" + m.ID))
		p.tokens = append(p.tokens, hex.EncodeToString(sum[:8]))
	}
	for _, prio := range slices.Sorted(maps.Keys(byPriority)) {
		p.groups = append(p.groups, byPriority[prio])
	}
	return p
}

// ID returns the pool's backend id.
func (p *Pool) ID() string { return p.id }

// Members returns the pool's members; the caller must not change them.
func (p *Pool) Members() []Member { return p.members }

// Available reports whether member i can take a request at now: its circuit is
// closed and it is not in exclude.
func (p *Pool) Available(now time.Time, i int, exclude Set) bool {
	if i < 0 || i >= len(p.members) || exclude.Has(i) {
		return false
	}
	_, open := p.members[i].Breaker.Open(now)
	return !open
}

// Select chooses the member for a request at now, never one in exclude (this
// request could not reach them) and one in avoid (this request was sent to
// them) only when its group has no other. It returns the member's index, or -1
// when no member is available, with the time the first open circuit among the
// others closes (zero when none of them is open).
func (p *Pool) Select(now time.Time, exclude, avoid Set) (int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cand [MaxMembers]int
	for _, g := range p.groups {
		n := 0
		for _, i := range g {
			if p.Available(now, i, exclude) {
				cand[n] = i
				n++
			}
		}
		if n == 0 {
			continue
		}
		if k := keep(cand[:n], func(i int) bool { return !avoid.Has(i) }); k > 0 {
			n = k
		}
		if k := keep(cand[:n], func(i int) bool { return p.members[i].Weight > 0 }); k > 0 {
			n = k
		}
		return p.next(cand[:n]), time.Time{}
	}
	var first time.Time
	for i, m := range p.members {
		if until, open := m.Breaker.Open(now); open && !exclude.Has(i) && (first.IsZero() || until.Before(first)) {
			first = until
		}
	}
	return -1, first
}

// keep moves the members of cand that pass ok to its front and returns how
// many did, leaving cand as it was when none did.
func keep(cand []int, ok func(int) bool) int {
	n := 0
	for _, i := range cand {
		if ok(i) {
			n++
		}
	}
	if n == 0 || n == len(cand) {
		return n
	}
	k := 0
	for _, i := range cand {
		if ok(i) {
			cand[k] = i
			k++
		}
	}
	return k
}

// next is one step of smooth weighted round-robin among cand: each gains its
// weight (1 each when none has a weight), the one with the most is chosen and
// gives back the total.
func (p *Pool) next(cand []int) int {
	weighted := p.members[cand[0]].Weight > 0 // then Select left only weighted members
	total, best := 0, -1
	for _, i := range cand {
		w := 1
		if weighted {
			w = p.members[i].Weight
		}
		p.current[i] += w
		total += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= total
	return best
}

// Token returns the session affinity value of member i: the first 16 hex
// digits of SHA-256 over the pool's and member's ids, the same on every
// instance and naming neither.
func (p *Pool) Token(i int) string { return p.tokens[i] }

// Find returns the member whose Token is token, or -1.
func (p *Pool) Find(token string) int {
	return slices.Index(p.tokens, token)
}
