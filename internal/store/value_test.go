package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// valueStore is what the value conformance tests exercise.
type valueStore interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// valueConformance checks the Get/Set/Delete contract on any store. wait lets
// time pass: synctest's fake clock for Memory, the real one for Redis.
func valueConformance(t *testing.T, s valueStore, wait func(time.Duration)) {
	t.Helper()
	ctx := context.Background()
	get := func(key string) (string, bool) {
		t.Helper()
		v, ok, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return string(v), ok
	}
	set := func(key, val string, ttl time.Duration) {
		t.Helper()
		if err := s.Set(ctx, key, []byte(val), ttl); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
	}

	if v, ok := get("v:missing"); ok {
		t.Errorf("Get of a missing key = %q, true", v)
	}
	set("v:a", "one", time.Second)
	if v, ok := get("v:a"); !ok || v != "one" {
		t.Errorf("Get after Set = %q, %v; want one, true", v, ok)
	}
	set("v:a", "two", 3*time.Second) // overwrite, with a longer ttl
	if v, ok := get("v:a"); !ok || v != "two" {
		t.Errorf("Get after overwrite = %q, %v; want two, true", v, ok)
	}

	// An empty value is a value, not a miss.
	set("v:empty", "", time.Second)
	if v, ok := get("v:empty"); !ok || v != "" {
		t.Errorf("Get of an empty value = %q, %v; want empty, true", v, ok)
	}

	// Every byte survives, and the caller's buffer is not kept.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	buf := bytes.Clone(all)
	if err := s.Set(ctx, "v:bytes", buf, time.Second); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'x'
	if v, _ := get("v:bytes"); v != string(all) {
		t.Errorf("binary value changed: %q", v)
	}

	// Keys are bytes too.
	set("v:ключ\x00\xff", "unicode", time.Second)
	if v, ok := get("v:ключ\x00\xff"); !ok || v != "unicode" {
		t.Errorf("Get with an unusual key = %q, %v", v, ok)
	}
	if _, ok := get("v:ключ"); ok {
		t.Error("a prefix of a key hit")
	}

	// Expiry: "v:a" has 3s, the others 1s.
	wait(1500 * time.Millisecond)
	if _, ok := get("v:empty"); ok {
		t.Error("a value outlived its ttl")
	}
	if v, ok := get("v:a"); !ok || v != "two" {
		t.Errorf("the overwritten value kept the old ttl: %q, %v", v, ok)
	}

	// Delete, and Delete of what is not there.
	if err := s.Delete(ctx, "v:a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := get("v:a"); ok {
		t.Error("Get after Delete hit")
	}
	if err := s.Delete(ctx, "v:never-set"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}

	// A ttl of zero or less removes the value, as one that expires at once.
	for _, ttl := range []time.Duration{0, -time.Second} {
		set("v:zero", "x", time.Minute)
		set("v:zero", "y", ttl)
		if v, ok := get("v:zero"); ok {
			t.Errorf("Set with ttl %v left %q", ttl, v)
		}
	}

	// A ttl under a millisecond still expires.
	set("v:tiny", "x", time.Microsecond)
	wait(50 * time.Millisecond)
	if _, ok := get("v:tiny"); ok {
		t.Error("a value with a sub-millisecond ttl did not expire")
	}

	// Concurrent writers and readers of one key see whole values only.
	var wg sync.WaitGroup
	vals := map[string]bool{}
	for i := range 20 {
		vals[strings.Repeat(fmt.Sprint(i%10), 100)] = true
	}
	for v := range vals {
		wg.Add(2)
		go func() { defer wg.Done(); s.Set(ctx, "v:race", []byte(v), time.Minute) }()
		go func() {
			defer wg.Done()
			got, ok, err := s.Get(ctx, "v:race")
			if err != nil || ok && !vals[string(got)] {
				t.Errorf("concurrent Get = %q, %v, %v", got, ok, err)
			}
		}()
	}
	wg.Wait()
	if got, ok := get("v:race"); !ok || !vals[got] {
		t.Errorf("after concurrent Sets: %q, %v", got, ok)
	}

	// A value over the limit is refused, and does not replace the old one.
	set("v:big", "small", time.Minute)
	err := s.Set(ctx, "v:big", make([]byte, DefaultValueLimits.ValueBytes+1), time.Minute)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Set of a value over the limit: %v, want ErrTooLarge", err)
	}
	if v, ok := get("v:big"); !ok || v != "small" {
		t.Errorf("a refused value changed the key: %q, %v", v, ok)
	}
}

func TestMemoryEviction(t *testing.T) {
	ctx := context.Background()
	keys := func(m *Memory, names ...string) []string {
		var held []string
		for _, k := range names {
			if _, ok, _ := m.Get(ctx, k); ok {
				held = append(held, k)
			}
		}
		return held
	}
	t.Run("entries, least recently used first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(10, WithValueLimits(ValueLimits{Entries: 3}))
			for _, k := range []string{"a", "b", "c"} {
				m.Set(ctx, k, []byte(k), time.Minute)
			}
			m.Get(ctx, "a") // a is now more recent than b
			m.Set(ctx, "d", []byte("d"), time.Minute)
			if diff := cmp.Diff([]string{"a", "c", "d"}, keys(m, "a", "b", "c", "d")); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
			if st := m.ValueStats(); st.Entries != 3 || st.Evictions != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	})
	t.Run("bytes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Room for two 1000-byte values with their one-byte keys and
			// overhead, and a one-byte value, but not three 1000-byte ones.
			m := NewMemory(10, WithValueLimits(ValueLimits{Bytes: 2*(1000+1+96) + (1 + 1 + 96), ValueBytes: 1000}))
			for _, k := range []string{"a", "b", "c"} {
				if err := m.Set(ctx, k, make([]byte, 1000), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff([]string{"b", "c"}, keys(m, "a", "b", "c")); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
			if st := m.ValueStats(); st.Bytes != 2*(1000+1+96) {
				t.Errorf("bytes %d", st.Bytes)
			}
			if err := m.Set(ctx, "d", make([]byte, 1001), time.Minute); !errors.Is(err, ErrTooLarge) {
				t.Errorf("over ValueBytes: %v", err)
			}
			// Replacing a value frees the old one's bytes.
			m.Set(ctx, "c", []byte("x"), time.Minute)
			m.Set(ctx, "e", make([]byte, 1000), time.Minute)
			if diff := cmp.Diff([]string{"b", "c", "e"}, keys(m, "a", "b", "c", "e")); diff != "" {
				t.Errorf("after a smaller replacement (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("expired values are swept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(10)
			for i := range 100 {
				m.Set(ctx, fmt.Sprint(i), []byte("x"), time.Second)
			}
			time.Sleep(2 * time.Minute)
			m.Set(ctx, "new", []byte("x"), time.Minute)
			if st := m.ValueStats(); st.Entries != 1 || st.Evictions != 0 {
				t.Errorf("after the sweep: %+v, want only the new value", st)
			}
		})
	})
	t.Run("values never push out SetNX keys", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := NewMemory(2, WithValueLimits(ValueLimits{Entries: 1}))
			m.SetNX(ctx, "jti:1", time.Minute)
			m.Set(ctx, "jti:1", []byte("x"), time.Minute)
			m.Set(ctx, "jti:2", []byte("x"), time.Minute)
			if ok, _ := m.SetNX(ctx, "jti:1", time.Minute); ok {
				t.Error("a value evicted a SetNX key")
			}
		})
	})
}

func TestRedisValuesShared(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	a, err := NewRedis(ctx, RedisOptions{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := NewRedis(ctx, RedisOptions{Address: addr})
	defer b.Close()
	other, _ := NewRedis(ctx, RedisOptions{Address: addr, Prefix: "other:", ValueBytes: 10})
	defer other.Close()

	a.Set(ctx, "cache:k", []byte("from a"), time.Minute)
	if v, ok, err := b.Get(ctx, "cache:k"); err != nil || !ok || string(v) != "from a" {
		t.Errorf("another instance reads %q, %v, %v", v, ok, err)
	}
	if _, ok, _ := other.Get(ctx, "cache:k"); ok {
		t.Error("another prefix reads the value")
	}
	b.Delete(ctx, "cache:k")
	if _, ok, _ := a.Get(ctx, "cache:k"); ok {
		t.Error("a Delete on one instance did not reach the other")
	}
	if err := other.Set(ctx, "k", make([]byte, 11), time.Minute); !errors.Is(err, ErrTooLarge) {
		t.Errorf("RedisOptions.ValueBytes: %v", err)
	}

	// A Redis that went away is an error, not a miss.
	down, _ := NewRedis(ctx, RedisOptions{Address: addr})
	down.Close()
	if _, _, err := down.Get(ctx, "cache:k"); err == nil {
		t.Error("Get on a closed client succeeded")
	}
	if err := down.Set(ctx, "cache:k", []byte("x"), time.Minute); err == nil {
		t.Error("Set on a closed client succeeded")
	}
}

func BenchmarkMemoryValues(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(1)
	val := bytes.Repeat([]byte("t"), 1200)
	m.Set(ctx, "cache:bench", val, time.Hour)
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, _ := m.Get(ctx, "cache:bench"); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Set(ctx, "cache:bench", val, time.Hour)
		}
	})
}

func BenchmarkRedisValues(b *testing.B) {
	addr := storetest.StartRedis(b, "")
	ctx := context.Background()
	r, err := NewRedis(ctx, RedisOptions{Address: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	val := bytes.Repeat([]byte("t"), 1200)
	r.Set(ctx, "cache:bench", val, time.Hour)
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := r.Get(ctx, "cache:bench"); !ok {
				b.Fatal("miss", err)
			}
		}
	})
}
