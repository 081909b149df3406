// Package store is lastmile's shared state: in memory for one instance, in Redis
// when several gateway instances run together and must agree (for example that a
// client assertion's jti is used once across the fleet, or on the values the
// cache-store-value policy keeps).
//
// Consumers declare the small interface they need; Memory and Redis implement it.
// The two kinds of state live side by side:
//
//   - SetNX records keys that must not be forgotten early (replay protection):
//     when Memory is full it refuses new keys rather than evict live ones.
//   - Get, Set and Delete keep values for a time, as a cache does: Memory evicts
//     the least recently used values when it holds too many or too many bytes.
//
// In Redis both share one key space under the deployment's prefix, so each
// consumer puts its own prefix before its keys ("jti:", "cache:", ...). Memory
// keeps them apart anyway.
package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrFull is returned by Memory.SetNX when it holds its maximum of unexpired
// keys: it refuses new keys (fails closed) rather than forget live ones.
var ErrFull = errors.New("store: too many live keys; try again shortly")

// ErrTooLarge is returned by Set for a value larger than the store accepts.
var ErrTooLarge = errors.New("store: value too large")

// ValueLimits bound Memory's values. Zero fields take the defaults of
// DefaultValueLimits.
type ValueLimits struct {
	// Entries is the most values held; beyond it the least recently used are
	// evicted.
	Entries int
	// Bytes is the most bytes of keys and values held; beyond it the least
	// recently used values are evicted.
	Bytes int64
	// ValueBytes is the largest value Set accepts (ErrTooLarge beyond it).
	ValueBytes int
}

// DefaultValueLimits are Memory's value limits unless WithValueLimits says
// otherwise: 100,000 values, 64 MiB, 4 MiB a value.
var DefaultValueLimits = ValueLimits{Entries: 100_000, Bytes: 64 << 20, ValueBytes: 4 << 20}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithValueLimits sets the limits of the value cache (Get, Set, Delete).
func WithValueLimits(l ValueLimits) MemoryOption {
	return func(m *Memory) {
		if l.Entries > 0 {
			m.limits.Entries = l.Entries
		}
		if l.Bytes > 0 {
			m.limits.Bytes = l.Bytes
		}
		if l.ValueBytes > 0 {
			m.limits.ValueBytes = l.ValueBytes
		}
	}
}

// entryOverhead is what a value costs beyond its key and bytes (map slot, list
// links, expiry), so that many tiny values still count against Bytes.
const entryOverhead = 96

// Memory is a Store for one process. It is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	keys      map[string]time.Time // SetNX: key -> expiry
	nextSweep time.Time
	max       int

	vals      map[string]*valueEntry
	lru       valueEntry // sentinel of the recency list: lru.next is the most recent
	valBytes  int64
	valSweep  time.Time
	limits    ValueLimits
	evictions uint64
}

type valueEntry struct {
	key        string
	val        []byte
	until      time.Time
	prev, next *valueEntry
}

func (e *valueEntry) size() int64 { return int64(len(e.key)+len(e.val)) + entryOverhead }

// NewMemory returns an empty in-memory store holding at most max live SetNX
// keys, and values within DefaultValueLimits unless an option says otherwise.
func NewMemory(max int, opts ...MemoryOption) *Memory {
	m := &Memory{keys: map[string]time.Time{}, max: max, vals: map[string]*valueEntry{}, limits: DefaultValueLimits}
	m.lru.next, m.lru.prev = &m.lru, &m.lru
	for _, o := range opts {
		o(m)
	}
	if int64(m.limits.ValueBytes) > m.limits.Bytes {
		m.limits.ValueBytes = int(m.limits.Bytes)
	}
	return m
}

// SetNX records key for ttl unless it is already recorded and unexpired. It
// reports whether it recorded it.
func (m *Memory) SetNX(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.keys[key]; ok && now.Before(until) {
		return false, nil
	}
	if len(m.keys) >= m.max || !now.Before(m.nextSweep) {
		for k, until := range m.keys {
			if !now.Before(until) {
				delete(m.keys, k)
			}
		}
		m.nextSweep = now.Add(time.Minute)
		if len(m.keys) >= m.max {
			return false, ErrFull
		}
	}
	m.keys[key] = now.Add(ttl)
	return true, nil
}

// Get returns the value stored under key and whether there is an unexpired
// one. The returned slice is shared: callers must not modify it.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.vals[key]
	if !ok {
		return nil, false, nil
	}
	if !now.Before(e.until) {
		m.remove(e)
		return nil, false, nil
	}
	m.unlink(e)
	m.pushFront(e)
	return e.val, true, nil
}

// Set stores a copy of value under key for ttl, replacing any value there. A
// ttl of zero or less removes the key, as a value that expires at once would.
// It evicts the least recently used values to stay within the limits, and
// returns ErrTooLarge for a value over ValueLimits.ValueBytes.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return m.Delete(context.Background(), key)
	}
	if len(value) > m.limits.ValueBytes || int64(len(key)+len(value))+entryOverhead > m.limits.Bytes {
		return ErrTooLarge
	}
	now := time.Now()
	e := &valueEntry{key: key, val: append([]byte(nil), value...), until: now.Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.vals[key]; ok {
		m.remove(old)
	}
	if !now.Before(m.valSweep) {
		m.sweep(now)
	}
	for len(m.vals) >= m.limits.Entries || m.valBytes+e.size() > m.limits.Bytes {
		m.remove(m.lru.prev) // the least recently used; the list is not empty here
		m.evictions++
	}
	m.vals[key] = e
	m.valBytes += e.size()
	m.pushFront(e)
	return nil
}

// Delete removes the value stored under key, if any.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.vals[key]; ok {
		m.remove(e)
	}
	return nil
}

// ValueStats are the value cache's figures, for tests and metrics.
type ValueStats struct {
	Entries   int
	Bytes     int64  // keys, values and per-entry overhead
	Evictions uint64 // values evicted to make room (not expired ones)
}

// ValueStats returns the value cache's current figures.
func (m *Memory) ValueStats() ValueStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ValueStats{Entries: len(m.vals), Bytes: m.valBytes, Evictions: m.evictions}
}

// sweep drops expired values, at most once a minute, so that values nobody
// reads again do not hold memory until evicted.
func (m *Memory) sweep(now time.Time) {
	for e := m.lru.next; e != &m.lru; {
		next := e.next
		if !now.Before(e.until) {
			m.remove(e)
		}
		e = next
	}
	m.valSweep = now.Add(time.Minute)
}

func (m *Memory) remove(e *valueEntry) {
	m.unlink(e)
	delete(m.vals, e.key)
	m.valBytes -= e.size()
}

func (m *Memory) unlink(e *valueEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (m *Memory) pushFront(e *valueEntry) {
	e.prev, e.next = &m.lru, m.lru.next
	m.lru.next.prev = e
	m.lru.next = e
}

// Close does nothing; it lets Memory stand where a Redis store could.
func (m *Memory) Close() error { return nil }
