package store

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisCacheOutage: the cache policies' Redis calls are bounded by the
// store's timeout and stop at once while the circuit is open, whether Redis
// refuses connections or accepts them and never answers (hung). Without the
// bound, each cached call took 2-6 s while Redis was away.
func TestRedisCacheOutage(t *testing.T) {
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()

	for name, addr := range map[string]string{"hung": hung.Addr().String(), "refused": refusedAddr} {
		t.Run(name, func(t *testing.T) {
			r := &Redis{c: redis.NewClient(&redis.Options{Addr: addr}), prefix: "t:", valueBytes: 1 << 20}
			defer r.Close()
			const timeout = 100 * time.Millisecond
			c := r.Cache(timeout)
			defer c.Close()
			start := time.Now()
			if _, _, err := c.Get(context.Background(), "k"); err == nil {
				t.Fatal("Get succeeded")
			}
			// A generous bound: the point is one timeout, not go-redis's
			// retries and 5 s dial timeout.
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the first call took %v, want about %v", took, timeout)
			}
			start = time.Now()
			if err := c.Set(context.Background(), "k", []byte("v"), time.Minute); !errors.Is(err, ErrUnavailable) {
				t.Errorf("while the circuit is open: %v, want ErrUnavailable", err)
			}
			if took := time.Since(start); took > 50*time.Millisecond {
				t.Errorf("a call while the circuit is open took %v", took)
			}
		})
	}
}
