package console

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"

	"github.com/lastmile-gw/lastmile/internal/gateway"
)

type fakeSource struct {
	snap  *gateway.Snapshot
	cache TokenCache
}

func (f fakeSource) Snapshot() *gateway.Snapshot { return f.snap }
func (f fakeSource) Directory() Directory        { return nil }
func (f fakeSource) TokenCache() TokenCache      { return f.cache }
func (f fakeSource) Status() Status              { return Status{} }

// Try it holds at most MaxConcurrentTries requests in flight: one more gets
// 503 at once, and a slot frees when a request ends.
func TestTryConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snap, err := gateway.NewSnapshot(gateway.SnapshotConfig{})
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		plane := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.WriteHeader(http.StatusNoContent)
		})
		h := New(Options{Source: fakeSource{snap: snap}, DataPlane: plane, GatewayHost: "gw"})
		try := func(codes chan<- int) {
			req := httptest.NewRequest("POST", "http://127.0.0.1/api/try", bytes.NewReader([]byte(`{"path":"/x"}`)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			codes <- rec.Code
		}
		held := make(chan int, MaxConcurrentTries)
		for range MaxConcurrentTries {
			go try(held)
		}
		synctest.Wait() // every one of them waits at the backend
		over := make(chan int, 1)
		go try(over)
		synctest.Wait()
		select {
		case got := <-over:
			if got != http.StatusServiceUnavailable {
				t.Errorf("one Try it over the bound: %d, want 503", got)
			}
		default:
			t.Errorf("one Try it over the bound waits with the others; want 503 at once")
		}
		close(release)
		for range MaxConcurrentTries {
			if got := <-held; got != http.StatusOK {
				t.Errorf("a Try it within the bound: %d, want 200", got)
			}
		}
		after := make(chan int, 1)
		try(after)
		if got := <-after; got != http.StatusOK {
			t.Errorf("Try it after the others ended: %d, want 200", got)
		}
	})
}
