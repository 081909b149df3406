package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"testing/synctest"
	"time"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// vectorStore is what the vector conformance tests exercise.
type vectorStore interface {
	Nearest(ctx context.Context, partition string, vec []float32, maxDistance float64) (Match, bool, error)
	Add(ctx context.Context, partition string, vec []float32, value []byte, ttl time.Duration) error
}

// unit returns a unit vector of n dimensions at angle deg from the first axis
// in the plane of the first two, whose cosine distance to e1 is 1-cos(deg).
func unit(n int, deg float64) []float32 {
	v := make([]float32, n)
	r := deg * math.Pi / 180
	v[0], v[1] = float32(math.Cos(r)), float32(math.Sin(r))
	return v
}

// vectorConformance checks Nearest and Add on any vector store; the store's
// limits must allow 3 entries a partition.
func vectorConformance(t *testing.T, s vectorStore) {
	t.Helper()
	ctx := context.Background()
	add := func(p string, v []float32, val string) {
		t.Helper()
		if err := s.Add(ctx, p, v, []byte(val), time.Minute); err != nil {
			t.Fatalf("Add(%s, %s): %v", p, val, err)
		}
	}
	nearest := func(p string, v []float32, max float64) (string, float64, bool) {
		t.Helper()
		m, ok, err := s.Nearest(ctx, p, v, max)
		if err != nil {
			t.Fatalf("Nearest(%s): %v", p, err)
		}
		return string(m.Value), m.Distance, ok
	}

	if _, _, ok := nearest("a", unit(8, 0), 2); ok {
		t.Error("an empty partition found something")
	}
	add("a", unit(8, 0), "zero")
	add("a", unit(8, 90), "ninety")
	// A scaled vector has the same direction: distance 0.
	scaled := unit(8, 0)
	for i := range scaled {
		scaled[i] *= 7
	}
	if v, d, ok := nearest("a", scaled, 0.01); !ok || v != "zero" || d > 1e-6 {
		t.Errorf("the same direction: %q at %g, %v; want zero at 0", v, d, ok)
	}
	// 20 degrees from "zero": distance 1-cos(20°) = 0.0603, nearer than
	// "ninety" (0.658).
	want := 1 - math.Cos(20*math.Pi/180)
	if v, d, ok := nearest("a", unit(8, 20), 0.07); !ok || v != "zero" || math.Abs(d-want) > 1e-5 {
		t.Errorf("20°: %q at %g, %v; want zero at %g", v, d, ok, want)
	}
	if _, d, ok := nearest("a", unit(8, 20), 0.05); ok {
		t.Errorf("20° is found under a threshold of 0.05 (distance %g)", d)
	}
	// 80 degrees is nearer "ninety".
	if v, _, ok := nearest("a", unit(8, 80), 0.1); !ok || v != "ninety" {
		t.Errorf("80°: %q, %v; want ninety", v, ok)
	}
	// Partitions are apart.
	if v, _, ok := nearest("b", unit(8, 0), 2); ok {
		t.Errorf("partition b found %q of partition a", v)
	}
	// Vectors of another length never match.
	if v, _, ok := nearest("a", unit(9, 0), 2); ok {
		t.Errorf("a vector of 9 dimensions matched %q", v)
	}
	// The fourth entry of a partition drops the oldest ("zero").
	add("a", unit(8, 180), "opposite")
	add("a", unit(8, 45), "forty-five")
	if v, _, ok := nearest("a", unit(8, 0), 2); !ok || v != "forty-five" {
		t.Errorf("after the limit: %q, %v; want forty-five (zero was dropped)", v, ok)
	}
	// Bad vectors are errors.
	for _, bad := range [][]float32{nil, {0, 0}, {float32(math.NaN()), 1}} {
		if _, _, err := s.Nearest(ctx, "a", bad, 1); err == nil {
			t.Errorf("Nearest(%v): no error", bad)
		}
		if err := s.Add(ctx, "a", bad, []byte("x"), time.Minute); err == nil {
			t.Errorf("Add(%v): no error", bad)
		}
	}
	if err := s.Add(ctx, "a", make([]float32, 17), nil, time.Minute); !errors.Is(err, ErrVectorTooLong) {
		t.Errorf("a vector over the limit: %v", err)
	}
	if err := s.Add(ctx, "a", unit(8, 0), make([]byte, 65), time.Minute); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a value over the limit: %v", err)
	}
}

var testVectorLimits = VectorLimits{PerPartition: 3, Dimensions: 16, ValueBytes: 64}

func TestMemoryVectors(t *testing.T) {
	vectorConformance(t, NewMemoryVectors(testVectorLimits))
}

// TestMemoryVectorsExpiry: an entry is found until its ttl ends, and the
// bytes held stay within the limit, dropping the oldest entries of any
// partition.
func TestMemoryVectorsExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := NewMemoryVectors(VectorLimits{PerPartition: 10, Dimensions: 16, ValueBytes: 64, Bytes: 2000})
		m.Add(ctx, "p", unit(8, 0), []byte("v"), time.Minute)
		time.Sleep(59 * time.Second)
		if _, ok, _ := m.Nearest(ctx, "p", unit(8, 0), 0.1); !ok {
			t.Error("not found before its ttl ended")
		}
		time.Sleep(time.Second)
		if _, ok, _ := m.Nearest(ctx, "p", unit(8, 0), 0.1); ok {
			t.Error("found after its ttl ended")
		}
		for i := range 100 {
			m.Add(ctx, fmt.Sprint("q", i), unit(8, 0), []byte("0123456789"), time.Hour)
		}
		st := m.Stats()
		if st.Bytes > 2000 || st.Entries == 0 || st.Entries >= 100 {
			t.Errorf("stats %+v: want at most 2000 bytes in fewer than 100 entries", st)
		}
		if _, ok, _ := m.Nearest(ctx, "q99", unit(8, 0), 0.1); !ok {
			t.Error("the newest entry was dropped")
		}
		if _, ok, _ := m.Nearest(ctx, "q0", unit(8, 0), 0.1); ok {
			t.Error("the oldest entry was kept beyond the byte limit")
		}
	})
}

// TestRedisVectors runs the conformance tests on Debian's redis-server, which
// has no modules: this is the fallback (the exact scan in the gateway), and
// the test says so. A second instance on the same Redis finds what the first
// added, and another prefix does not.
func TestRedisVectors(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	r, err := NewRedis(ctx, RedisOptions{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v := NewRedisVectors(ctx, r, testVectorLimits)
	if v.Searching() {
		t.Fatalf("redis-server at %s has RediSearch; this test is for the fallback (mode %q)", addr, v.Mode())
	}
	vectorConformance(t, v)

	r2, _ := NewRedis(ctx, RedisOptions{Address: addr})
	defer r2.Close()
	other, _ := NewRedis(ctx, RedisOptions{Address: addr, Prefix: "other:"})
	defer other.Close()
	v.Add(ctx, "shared", unit(8, 0), []byte("from a"), time.Minute)
	if m, ok, err := NewRedisVectors(ctx, r2, testVectorLimits).Nearest(ctx, "shared", unit(8, 1), 0.01); err != nil || !ok || string(m.Value) != "from a" {
		t.Errorf("another instance: %q, %v, %v", m.Value, ok, err)
	}
	if _, ok, _ := NewRedisVectors(ctx, other, testVectorLimits).Nearest(ctx, "shared", unit(8, 0), 0.01); ok {
		t.Error("another prefix found the entry")
	}
}

// TestRedisSearchVectors runs the conformance tests on a Redis with
// RediSearch (Redis Stack, Redis 8, Azure Managed Redis), when
// LASTMILE_TEST_REDIS_SEARCH names one (host:port); Debian's redis-server has
// no RediSearch, so CI runs the fallback only.
func TestRedisSearchVectors(t *testing.T) {
	addr := os.Getenv("LASTMILE_TEST_REDIS_SEARCH")
	if addr == "" {
		t.Skip("skipping: set LASTMILE_TEST_REDIS_SEARCH to the address of a Redis with RediSearch to test the vector index")
	}
	ctx := context.Background()
	r, err := NewRedis(ctx, RedisOptions{Address: addr, Prefix: fmt.Sprintf("lastmile-test-%d:", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v := NewRedisVectors(ctx, r, testVectorLimits)
	if !v.Searching() {
		t.Fatalf("%s has no RediSearch", addr)
	}
	vectorConformance(t, v)
}

func TestCosineDistance(t *testing.T) {
	tests := []struct {
		name string
		a, b []float32
		want float64
	}{
		{"same", []float32{1, 2, 3}, []float32{2, 4, 6}, 0},
		{"orthogonal", []float32{1, 0}, []float32{0, 3}, 1},
		{"opposite", []float32{1, 1}, []float32{-1, -1}, 2},
		{"sixty degrees", []float32{1, 0}, []float32{0.5, float32(math.Sqrt(3) / 2)}, 0.5},
		{"lengths differ", []float32{1, 0}, []float32{1, 0, 0}, 2},
		{"zero", []float32{0, 0}, []float32{1, 0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CosineDistance(tt.a, tt.b); math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("got %g, want %g", got, tt.want)
			}
		})
	}
}
