package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// The semantic cache's vectors: each entry is a prompt's embedding and a
// value (the cached response), kept in a partition for a time. A lookup finds
// the entry of a partition whose vector is nearest to a query vector by cosine
// distance (1 - cosine similarity: 0 for the same direction, 1 for orthogonal
// vectors, 2 for opposite ones), the metric RediSearch calls COSINE.
//
// Vectors are normalised to unit length when they are added and looked up, so
// that the distance is 1 minus their dot product.

// VectorLimits bound the semantic cache. Zero fields take the defaults of
// DefaultVectorLimits.
type VectorLimits struct {
	// PerPartition is the most entries a partition keeps; adding one more
	// drops the partition's oldest. Without RediSearch a lookup reads every
	// vector of its partition, so this also bounds a lookup's work.
	PerPartition int
	// Dimensions is the longest vector accepted (ErrVectorTooLong beyond it).
	Dimensions int
	// ValueBytes is the largest value accepted (ErrTooLarge beyond it).
	ValueBytes int
	// Bytes is the most bytes of vectors and values held in memory; beyond it
	// the oldest entries are dropped. Redis applies its own memory policy.
	Bytes int64
}

// DefaultVectorLimits are the limits unless others are given: 100 entries a
// partition, 4096 dimensions (text-embedding-3-large has 3072), values of
// 1 MiB, 64 MiB in memory.
var DefaultVectorLimits = VectorLimits{PerPartition: 100, Dimensions: 4096, ValueBytes: 1 << 20, Bytes: 64 << 20}

func (l VectorLimits) withDefaults() VectorLimits {
	d := DefaultVectorLimits
	if l.PerPartition > 0 {
		d.PerPartition = l.PerPartition
	}
	if l.Dimensions > 0 {
		d.Dimensions = l.Dimensions
	}
	if l.ValueBytes > 0 {
		d.ValueBytes = l.ValueBytes
	}
	if l.Bytes > 0 {
		d.Bytes = l.Bytes
	}
	return d
}

// ErrVectorTooLong is returned for a vector with more dimensions than
// VectorLimits.Dimensions.
var ErrVectorTooLong = errors.New("store: vector has too many dimensions")

// errBadVector is returned for an empty vector, a zero one, or one with a NaN
// or infinite component: none has a direction.
var errBadVector = errors.New("store: vector has no direction (empty, zero, NaN or infinite)")

// Match is the entry a lookup found.
type Match struct {
	Value []byte
	// Distance is the cosine distance between the query and the entry's vector.
	Distance float64
}

// normalize returns v scaled to unit length, checking its length against max.
func normalize(v []float32, max int) ([]float32, error) {
	if len(v) > max {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrVectorTooLong, len(v), max)
	}
	var sum float64
	for _, f := range v {
		sum += float64(f) * float64(f)
	}
	if len(v) == 0 || sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return nil, errBadVector
	}
	n := math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(float64(f) / n)
	}
	return out, nil
}

// cosineDistance is the distance of two unit vectors of the same length: 1
// minus their dot product, kept within [0, 2] against rounding.
func cosineDistance(a, b []float32) float64 {
	b = b[:len(a)]
	// Four float32 sums: the scan over a partition is the lookup's work.
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	dot := float64(s0) + float64(s1) + float64(s2) + float64(s3)
	return min(max(1-dot, 0), 2)
}

// CosineDistance is 1 minus the cosine similarity of a and b: 0 for vectors
// of the same direction, 1 for orthogonal ones, 2 for opposite ones. It is 2
// (as far as can be) for vectors of different lengths or without a direction.
func CosineDistance(a, b []float32) float64 {
	if len(a) != len(b) {
		return 2
	}
	na, err1 := normalize(a, len(a))
	nb, err2 := normalize(b, len(b))
	if err1 != nil || err2 != nil {
		return 2
	}
	return cosineDistance(na, nb)
}

// MemoryVectors keeps the semantic cache in the process. It is safe for
// concurrent use.
type MemoryVectors struct {
	limits VectorLimits

	mu    sync.Mutex
	parts map[string][]*vectorEntry // oldest first
	// order is every entry, oldest first, so that the oldest can be dropped
	// when Bytes is reached.
	order []*vectorEntry
	bytes int64
}

type vectorEntry struct {
	partition string
	vec       []float32
	value     []byte
	until     time.Time
	dropped   bool
}

func (e *vectorEntry) size() int64 {
	return int64(4*len(e.vec)+len(e.value)+len(e.partition)) + entryOverhead
}

// NewMemoryVectors returns an empty in-memory semantic cache within l.
func NewMemoryVectors(l VectorLimits) *MemoryVectors {
	return &MemoryVectors{limits: l.withDefaults(), parts: map[string][]*vectorEntry{}}
}

// Nearest returns the unexpired entry of partition whose vector is nearest to
// vec, when it is within maxDistance.
func (m *MemoryVectors) Nearest(_ context.Context, partition string, vec []float32, maxDistance float64) (Match, bool, error) {
	q, err := normalize(vec, m.limits.Dimensions)
	if err != nil {
		return Match{}, false, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *vectorEntry
	bestD := math.Inf(1)
	for _, e := range m.parts[partition] {
		if len(e.vec) != len(q) || !now.Before(e.until) {
			continue
		}
		if d := cosineDistance(q, e.vec); d < bestD {
			best, bestD = e, d
		}
	}
	if best == nil || bestD > maxDistance {
		return Match{}, false, nil
	}
	return Match{Value: best.value, Distance: bestD}, true, nil
}

// Add keeps value with vec in partition for ttl, dropping the partition's
// oldest entries beyond PerPartition, expired ones, and the oldest of all
// beyond Bytes.
func (m *MemoryVectors) Add(_ context.Context, partition string, vec []float32, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	if len(value) > m.limits.ValueBytes {
		return ErrTooLarge
	}
	v, err := normalize(vec, m.limits.Dimensions)
	if err != nil {
		return err
	}
	now := time.Now()
	e := &vectorEntry{partition: partition, vec: v, value: append([]byte(nil), value...), until: now.Add(ttl)}
	if e.size() > m.limits.Bytes {
		return ErrTooLarge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	entries := m.parts[partition][:0:0]
	for _, old := range m.parts[partition] {
		if now.Before(old.until) {
			entries = append(entries, old)
		} else {
			m.drop(old)
		}
	}
	for len(entries) >= m.limits.PerPartition {
		m.drop(entries[0])
		entries = entries[1:]
	}
	m.parts[partition] = append(entries, e)
	m.order = append(m.order, e)
	m.bytes += e.size()
	for m.bytes > m.limits.Bytes {
		m.evictOldest()
	}
	if len(m.order) > 2*m.entries()+64 {
		m.compact()
	}
	return nil
}

// drop forgets e's bytes; it stays in order until compacted.
func (m *MemoryVectors) drop(e *vectorEntry) {
	if !e.dropped {
		e.dropped = true
		m.bytes -= e.size()
	}
}

// evictOldest drops the oldest entry still held.
func (m *MemoryVectors) evictOldest() {
	for len(m.order) > 0 {
		e := m.order[0]
		m.order = m.order[1:]
		if e.dropped {
			continue
		}
		m.drop(e)
		p := m.parts[e.partition]
		for i, x := range p {
			if x == e {
				p = append(p[:i:i], p[i+1:]...)
				break
			}
		}
		if len(p) == 0 {
			delete(m.parts, e.partition)
		} else {
			m.parts[e.partition] = p
		}
		return
	}
}

func (m *MemoryVectors) entries() int {
	n := 0
	for _, p := range m.parts {
		n += len(p)
	}
	return n
}

// compact removes dropped entries from order.
func (m *MemoryVectors) compact() {
	kept := m.order[:0]
	for _, e := range m.order {
		if !e.dropped {
			kept = append(kept, e)
		}
	}
	clear(m.order[len(kept):])
	m.order = kept
}

// VectorStats are the semantic cache's figures, for tests.
type VectorStats struct {
	Partitions, Entries int
	Bytes               int64
}

// Stats returns the cache's current figures.
func (m *MemoryVectors) Stats() VectorStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return VectorStats{Partitions: len(m.parts), Entries: m.entries(), Bytes: m.bytes}
}
