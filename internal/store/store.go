// Package store is lastmile's shared state: in memory for one instance, in Redis
// when several gateway instances run together and must agree (for example that a
// client assertion's jti is used once across the fleet).
//
// Consumers declare the small interface they need; Memory and Redis implement it.
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

// Memory is a Store for one process. It is safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	keys      map[string]time.Time // key -> expiry
	nextSweep time.Time
	max       int
}

// NewMemory returns an empty in-memory store holding at most max live keys.
func NewMemory(max int) *Memory {
	return &Memory{keys: map[string]time.Time{}, max: max}
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

// Close does nothing; it lets Memory stand where a Redis store could.
func (m *Memory) Close() error { return nil }
