package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisVectors keeps the semantic cache in Redis, shared by every gateway
// instance that uses the same Redis. It uses the server's vector search
// (RediSearch: FT.SEARCH with a KNN query over a FLAT index with the COSINE
// metric) when the server has it; otherwise, as on Debian's redis-server,
// which has no modules, it keeps each partition's vectors in one hash and the
// gateway compares the query with every one of them: an exact scan of at most
// VectorLimits.PerPartition vectors, one round trip, and a second for the
// value of a hit. Both find the same nearest entry.
//
// Keys, under the store's prefix, with p the SHA-256 of the partition:
//
//	sem:v:<p>        hash: entry id -> "<expiry ms>:<vector>" (scan)
//	sem:r:<id>       the entry's value, expiring with it (scan)
//	sem:d<n>:<id>    hash: p, v (vector), r (value) (RediSearch, n dimensions)
//	sem:z<n>:<p>     sorted set of the partition's entry ids by expiry (RediSearch)
//	sem:idx:<n>      the RediSearch index of the vectors of n dimensions
//
// Vectors are float32, little-endian, normalised to unit length.
type RedisVectors struct {
	r      *Redis
	limits VectorLimits
	search bool // the server has RediSearch

	mu      sync.Mutex
	indexes map[int]bool // dimensions whose index was created
}

// NewRedisVectors returns the semantic cache in r. It asks the server whether
// it has RediSearch (FT._LIST answers) and uses it if so; Mode says which.
func NewRedisVectors(ctx context.Context, r *Redis, l VectorLimits) *RedisVectors {
	v := &RedisVectors{r: r, limits: l.withDefaults(), indexes: map[int]bool{}}
	v.search = r.c.Do(ctx, "FT._LIST").Err() == nil
	return v
}

// Searching reports whether the server's vector search is used.
func (v *RedisVectors) Searching() bool { return v.search }

// Mode says how lookups search, for the log.
func (v *RedisVectors) Mode() string {
	if v.search {
		return "RediSearch vector index (FT.SEARCH KNN, COSINE)"
	}
	return fmt.Sprintf("no RediSearch on this server: each partition's vectors in a hash, an exact scan in the gateway of at most %d a partition", v.limits.PerPartition)
}

func partitionKey(partition string) string {
	sum := sha256.Sum256([]byte(partition))
	return hex.EncodeToString(sum[:16])
}

func newEntryID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func vectorBytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	return out
}

// bytesDistance is cosineDistance of q and the unit vector encoded in b
// (vectorBytes), read in place; len(b) is 4*len(q).
func bytesDistance(q []float32, b string) float64 {
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(q); i += 2 {
		s0 += q[i] * math.Float32frombits(le32(b[4*i:]))
		s1 += q[i+1] * math.Float32frombits(le32(b[4*i+4:]))
	}
	if i < len(q) {
		s0 += q[i] * math.Float32frombits(le32(b[4*i:]))
	}
	return min(max(1-(float64(s0)+float64(s1)), 0), 2)
}

func le32(b string) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// Nearest returns the unexpired entry of partition whose vector is nearest to
// vec, when it is within maxDistance.
func (v *RedisVectors) Nearest(ctx context.Context, partition string, vec []float32, maxDistance float64) (Match, bool, error) {
	q, err := normalize(vec, v.limits.Dimensions)
	if err != nil {
		return Match{}, false, err
	}
	if v.search {
		return v.searchNearest(ctx, partitionKey(partition), q, maxDistance)
	}
	return v.scanNearest(ctx, partitionKey(partition), q, maxDistance)
}

// Add keeps value with vec in partition for ttl. Beyond PerPartition entries
// the partition's oldest are removed.
func (v *RedisVectors) Add(ctx context.Context, partition string, vec []float32, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	if len(value) > v.limits.ValueBytes || len(value) > v.r.valueBytes {
		return ErrTooLarge
	}
	q, err := normalize(vec, v.limits.Dimensions)
	if err != nil {
		return err
	}
	ttl = max(ttl, time.Millisecond)
	if v.search {
		return v.searchAdd(ctx, partitionKey(partition), q, value, ttl)
	}
	return v.scanAdd(ctx, partitionKey(partition), q, value, ttl)
}

// scanAddScript stores an entry for the scan: its value under its own key,
// its vector in the partition's hash with its expiry, and drops the hash's
// expired entries and then its oldest beyond the limit, with their values.
//
// KEYS[1] the partition's hash, KEYS[2] the value's key; ARGV: entry id,
// "<expiry ms>:<vector>", value, ttl ms, limit, now ms, value key prefix.
var scanAddScript = redis.NewScript(`
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
local limit = tonumber(ARGV[5])
if redis.call('HLEN', KEYS[1]) <= limit then return 0 end
local now = tonumber(ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local dropped = 0
for i = 1, #all, 2 do
  local e = all[i + 1]
  local colon = string.find(e, ':', 1, true)
  local exp = colon and tonumber(string.sub(e, 1, colon - 1)) or 0
  if exp <= now then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('DEL', ARGV[7] .. all[i])
    dropped = dropped + 1
  else
    live[#live + 1] = {all[i], exp}
  end
end
if #live > limit then
  table.sort(live, function(a, b) return a[2] < b[2] end)
  for i = 1, #live - limit do
    redis.call('HDEL', KEYS[1], live[i][1])
    redis.call('DEL', ARGV[7] .. live[i][1])
    dropped = dropped + 1
  end
end
return dropped
`)

func (v *RedisVectors) scanAdd(ctx context.Context, p string, q []float32, value []byte, ttl time.Duration) error {
	id := newEntryID()
	now := time.Now()
	entry := strconv.FormatInt(now.Add(ttl).UnixMilli(), 10) + ":" + string(vectorBytes(q))
	keys := []string{v.r.prefix + "sem:v:" + p, v.r.prefix + "sem:r:" + id}
	err := scanAddScript.Run(ctx, v.r.c, keys, id, entry, value, ttl.Milliseconds(), v.limits.PerPartition, now.UnixMilli(), v.r.prefix+"sem:r:").Err()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

func (v *RedisVectors) scanNearest(ctx context.Context, p string, q []float32, maxDistance float64) (Match, bool, error) {
	all, err := v.r.c.HGetAll(ctx, v.r.prefix+"sem:v:"+p).Result()
	if err != nil {
		return Match{}, false, fmt.Errorf("redis: %w", err)
	}
	now := time.Now().UnixMilli()
	bestID, bestD := "", math.Inf(1)
	for id, e := range all {
		exp, vec, ok := strings.Cut(e, ":")
		n, err := strconv.ParseInt(exp, 10, 64)
		if !ok || err != nil || n <= now || len(vec) != 4*len(q) {
			continue
		}
		if d := bytesDistance(q, vec); d < bestD {
			bestID, bestD = id, d
		}
	}
	if bestID == "" || bestD > maxDistance {
		return Match{}, false, nil
	}
	val, err := v.r.c.Get(ctx, v.r.prefix+"sem:r:"+bestID).Bytes()
	if errors.Is(err, redis.Nil) {
		return Match{}, false, nil // expired or dropped since
	}
	if err != nil {
		return Match{}, false, fmt.Errorf("redis: %w", err)
	}
	return Match{Value: val, Distance: bestD}, true, nil
}

// searchAddScript stores an entry for RediSearch: a hash the index covers,
// expiring by itself, and its id in the partition's sorted set by expiry;
// it drops the set's expired ids, and its oldest entries beyond the limit.
//
// KEYS[1] the entry's hash, KEYS[2] the partition's set; ARGV: partition,
// vector, value, ttl ms, limit, now ms, expiry ms, entry id, entry key prefix.
var searchAddScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'p', ARGV[1], 'v', ARGV[2], 'r', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
local n = redis.call('ZCARD', KEYS[2])
local limit = tonumber(ARGV[5])
if n > limit then
  local old = redis.call('ZPOPMIN', KEYS[2], n - limit)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[9] .. old[i]) end
end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return n
`)

func (v *RedisVectors) searchAdd(ctx context.Context, p string, q []float32, value []byte, ttl time.Duration) error {
	if err := v.ensureIndex(ctx, len(q)); err != nil {
		return err
	}
	id := newEntryID()
	now := time.Now()
	dim := strconv.Itoa(len(q))
	docPrefix := v.r.prefix + "sem:d" + dim + ":"
	keys := []string{docPrefix + id, v.r.prefix + "sem:z" + dim + ":" + p}
	err := searchAddScript.Run(ctx, v.r.c, keys, p, vectorBytes(q), value, ttl.Milliseconds(), v.limits.PerPartition,
		now.UnixMilli(), now.Add(ttl).UnixMilli(), id, docPrefix).Err()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// ensureIndex creates the index of vectors of dim dimensions once: a FLAT
// (exact) index with the COSINE metric over the entry hashes, with the
// partition as a TAG to filter on.
func (v *RedisVectors) ensureIndex(ctx context.Context, dim int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.indexes[dim] {
		return nil
	}
	d := strconv.Itoa(dim)
	err := v.r.c.Do(ctx, "FT.CREATE", v.r.prefix+"sem:idx:"+d, "ON", "HASH", "PREFIX", "1", v.r.prefix+"sem:d"+d+":",
		"SCHEMA", "p", "TAG", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", d, "DISTANCE_METRIC", "COSINE").Err()
	if err != nil && !strings.Contains(strings.ToLower(err.Error()), "already exists") {
		return fmt.Errorf("redis: creating the vector index: %w", err)
	}
	v.indexes[dim] = true
	return nil
}

func (v *RedisVectors) searchNearest(ctx context.Context, p string, q []float32, maxDistance float64) (Match, bool, error) {
	if err := v.ensureIndex(ctx, len(q)); err != nil {
		return Match{}, false, err
	}
	res, err := v.r.c.FTSearchWithArgs(ctx, v.r.prefix+"sem:idx:"+strconv.Itoa(len(q)),
		"(@p:{"+p+"})=>[KNN 1 @v $B AS dist]", &redis.FTSearchOptions{
			Params:         map[string]any{"B": vectorBytes(q)},
			Return:         []redis.FTSearchReturn{{FieldName: "dist"}, {FieldName: "r"}},
			DialectVersion: 2,
		}).Result()
	if err != nil {
		return Match{}, false, fmt.Errorf("redis: %w", err)
	}
	if len(res.Docs) == 0 {
		return Match{}, false, nil
	}
	doc := res.Docs[0]
	d, err := strconv.ParseFloat(doc.Fields["dist"], 64)
	val, has := doc.Fields["r"]
	if err != nil || !has || d > maxDistance {
		return Match{}, false, nil
	}
	return Match{Value: []byte(val), Distance: d}, true, nil
}
