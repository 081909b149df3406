package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	. "github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// setNXer is what the conformance tests exercise.
type setNXer interface {
	SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// conformance checks the SetNX contract on any store.
func conformance(t *testing.T, s setNXer, wait func(time.Duration)) {
	ctx := context.Background()
	ok, err := s.SetNX(ctx, "a", time.Second)
	if err != nil || !ok {
		t.Fatalf("first SetNX = %v, %v; want true", ok, err)
	}
	if ok, _ := s.SetNX(ctx, "a", time.Second); ok {
		t.Error("second SetNX of a live key succeeded")
	}
	if ok, _ := s.SetNX(ctx, "b", time.Second); !ok {
		t.Error("SetNX of another key failed")
	}
	wait(1100 * time.Millisecond)
	if ok, err := s.SetNX(ctx, "a", time.Second); !ok || err != nil {
		t.Errorf("SetNX after expiry = %v, %v; want true", ok, err)
	}

	// Many concurrent attempts on one key: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := s.SetNX(ctx, "race", time.Minute); ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent SetNX calls won, want 1", wins.Load())
	}
}

func TestMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conformance(t, NewMemory(100), time.Sleep)
	})
}

func TestMemoryValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		valueConformance(t, NewMemory(100), time.Sleep)
	})
}

func TestMemoryFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(2)
		ctx := context.Background()
		m.SetNX(ctx, "a", time.Minute)
		m.SetNX(ctx, "b", 2*time.Minute)
		if _, err := m.SetNX(ctx, "c", time.Minute); !errors.Is(err, ErrFull) {
			t.Errorf("SetNX when full: %v, want ErrFull", err)
		}
		time.Sleep(90 * time.Second) // "a" expires: room again
		if ok, err := m.SetNX(ctx, "c", time.Minute); !ok || err != nil {
			t.Errorf("SetNX after an expiry = %v, %v", ok, err)
		}
		if ok, _ := m.SetNX(ctx, "b", time.Minute); ok {
			t.Error("a live key was forgotten to make room")
		}
	})
}

func TestRedis(t *testing.T) {
	addr := storetest.StartRedis(t, "s3cret-pass")
	ctx := context.Background()
	r, err := NewRedis(ctx, RedisOptions{Address: addr, Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	conformance(t, r, time.Sleep)
	valueConformance(t, r, time.Sleep)

	// A second client (another gateway instance) sees the same keys.
	r2, err := NewRedis(ctx, RedisOptions{Address: addr, Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if ok, _ := r2.SetNX(ctx, "race", time.Minute); ok {
		t.Error("another instance could set a key the first one holds")
	}
	// Prefixes keep deployments apart.
	r3, _ := NewRedis(ctx, RedisOptions{Address: addr, Password: "s3cret-pass", Prefix: "other:"})
	defer r3.Close()
	if ok, _ := r3.SetNX(ctx, "race", time.Minute); !ok {
		t.Error("a different prefix shares keys")
	}

	_, err = NewRedis(ctx, RedisOptions{Address: addr, Password: "wrong"})
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if msg := err.Error(); strings.Contains(msg, "wrong") || strings.Contains(msg, "s3cret") {
		t.Errorf("the error shows a password: %s", msg)
	}
	if _, err := NewRedis(ctx, RedisOptions{Address: "127.0.0.1:1"}); err == nil {
		t.Error("an unreachable Redis was accepted")
	}
}
