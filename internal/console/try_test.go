package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/lastmile-gw/lastmile/internal/apiops"
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

// A secret that the limit of the shown body would cut in two is cut out
// whole: no part of it is shown.
func TestTryBodyLimitKeepsSecretsWhole(t *testing.T) {
	const key = "subscription-key-0123456789abcdef"
	snap, err := gateway.NewSnapshot(gateway.SnapshotConfig{Subscriptions: []apiops.Subscription{
		{Name: "s", Scope: apiops.ScopeAllAPIs, State: apiops.StateActive, PrimaryKey: key, SecondaryKey: "other-key-0123456789abcdef"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		before  int // bytes before the key
		after   int // bytes after it
		cut     bool
		partial string
	}{
		{"the key at the shown limit", MaxShownBody - 10, 1 << 20, true, key[:10]},
		{"the key at the capture's limit", MaxShownBody + redactMargin - 10, 1 << 20, true, key[:10]},
		{"a short body", 100, 100, false, key[:10]},
		{"the key just before the shown limit of a body that ends in the margin", MaxShownBody - 20, redactMargin / 2, true, key[:10]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plane := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(bytes.Repeat([]byte("a"), tc.before))
				w.Write([]byte(key))
				w.Write(bytes.Repeat([]byte("b"), tc.after))
			})
			h := New(Options{Source: fakeSource{snap: snap}, DataPlane: plane, GatewayHost: "gw"})
			req := httptest.NewRequest("POST", "http://127.0.0.1/api/try", bytes.NewReader([]byte(`{"path":"/x"}`)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var got tryResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got.Body, tc.partial) {
				t.Errorf("the shown body holds a part of the key (%d bytes shown)", len(got.Body))
			}
			if got.BodyTruncated != tc.cut || len(got.Body) > MaxShownBody || got.BodyBytes != int64(tc.before+len(key)+tc.after) {
				t.Errorf("truncated %v, %d bytes shown of %d; want truncated %v, at most %d shown", got.BodyTruncated, len(got.Body), got.BodyBytes, tc.cut, MaxShownBody)
			}
		})
	}
}
