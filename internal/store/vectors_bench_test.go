package store_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// benchVectors fills one partition with a full set of entries of 1536
// dimensions (text-embedding-3-small) and 2 KB responses, and measures a
// lookup that hits.
func benchVectors(b *testing.B, s vectorStore) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func() []float32 {
		v := make([]float32, 1536)
		for i := range v {
			v[i] = rng.Float32() - 0.5
		}
		return v
	}
	var last []float32
	for range DefaultVectorLimits.PerPartition {
		last = vec()
		if err := s.Add(ctx, "bench", last, make([]byte, 2048), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := s.Nearest(ctx, "bench", last, 0.05); !ok || err != nil {
			b.Fatalf("miss: %v", err)
		}
	}
}

func BenchmarkNearestMemory(b *testing.B) {
	benchVectors(b, NewMemoryVectors(VectorLimits{}))
}

// BenchmarkNearestRedisScan is the fallback on Debian's redis-server: one
// HGETALL of the partition's 100 vectors (600 KB), the scan, one GET.
func BenchmarkNearestRedisScan(b *testing.B) {
	addr := storetest.StartRedis(b, "")
	r, err := NewRedis(context.Background(), RedisOptions{Address: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	benchVectors(b, NewRedisVectors(context.Background(), r, VectorLimits{}))
}
