package reqtrace

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// Store keeps finished traces, as JSON, for a while under unguessable ids:
// the id is the only credential needed to read one, as API Management's
// trace location is a URL with a signature. It holds at most Max traces and
// MaxBytes of them, dropping the oldest first. Safe for concurrent use.
type Store struct {
	// TTL is how long a trace can be read.
	TTL time.Duration
	// Max bounds the number of traces kept.
	Max int
	// MaxBytes bounds the size of the traces kept, all together; 64 MiB when
	// zero.
	MaxBytes int

	mu    sync.Mutex
	items map[string]stored
	order []string // ids, oldest first
	bytes int
}

type stored struct {
	data    []byte
	expires time.Time
}

// Put stores t and returns its id: 32 hex digits from 128 random bits.
func (s *Store) Put(t *Trace) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = make(map[string]stored)
	}
	s.expire(now)
	maxBytes := s.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	for len(s.order) > 0 && (len(s.order) >= max(s.Max, 1) || s.bytes+len(data) > maxBytes) {
		s.drop()
	}
	s.items[id] = stored{data: data, expires: now.Add(s.TTL)}
	s.order = append(s.order, id)
	s.bytes += len(data)
	return id, nil
}

// Get returns the JSON of the trace id, unless it expired or was dropped.
func (s *Store) Get(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	it, ok := s.items[id]
	return it.data, ok
}

// expire drops the traces whose time is over; they expire in the order they
// were stored. s.mu is held.
func (s *Store) expire(now time.Time) {
	for len(s.order) > 0 && !now.Before(s.items[s.order[0]].expires) {
		s.drop()
	}
}

// drop removes the oldest trace. s.mu is held.
func (s *Store) drop() {
	id := s.order[0]
	s.order = s.order[1:]
	s.bytes -= len(s.items[id].data)
	delete(s.items, id)
}
