package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func jwksOf(t *testing.T, kid string, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kids(keys []VerificationKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	return out
}

// TestRemoteKeysCaching drives the JWKS cache with explicit times: max-age,
// refetch on an unknown kid at most every 30 seconds, stale keys kept for a day
// while the issuer is down, and nothing at all before the first good fetch.
func TestRemoteKeysCaching(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var body atomic.Pointer[[]byte]
	var down atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Write(*body.Load())
	}))
	defer srv.Close()
	b1 := jwksOf(t, "one", k1)
	body.Store(&b1)
	r := &remoteKeys{issuer: srv.URL, jwksURI: srv.URL + "/keys"}
	f := &fetcher{}
	ctx := context.Background()
	t0 := time.Now()

	get := func(kid string, at time.Duration) []string {
		t.Helper()
		keys, err := r.keys(ctx, f, kid, t0.Add(at))
		if err != nil {
			t.Fatalf("keys(%q) at %v: %v", kid, at, err)
		}
		return kids(keys)
	}
	if got := get("one", 0); len(got) != 1 || got[0] != "one" || fetches.Load() != 1 {
		t.Fatalf("first fetch: %v, %d fetches", got, fetches.Load())
	}
	get("one", 9*time.Minute) // within max-age: cached
	if fetches.Load() != 1 {
		t.Errorf("%d fetches within max-age, want 1", fetches.Load())
	}
	// The issuer rotates. An unknown kid within 30s of the last fetch gets the
	// cached keys; after 30s it triggers one refetch.
	b2 := jwksOf(t, "two", k2)
	body.Store(&b2)
	r.mu.Lock()
	r.tried = t0.Add(9 * time.Minute)
	r.mu.Unlock()
	if got := get("two", 9*time.Minute+10*time.Second); got[0] != "one" || fetches.Load() != 1 {
		t.Errorf("unknown kid 10s after a fetch: keys %v, %d fetches; want the cached keys and no fetch", got, fetches.Load())
	}
	if got := get("two", 9*time.Minute+31*time.Second); got[0] != "two" || fetches.Load() != 2 {
		t.Errorf("unknown kid 31s after a fetch: keys %v, %d fetches; want a refetch", got, fetches.Load())
	}
	// Down: after max-age the stale keys are kept for a day, then dropped.
	down.Store(true)
	if got := get("two", 30*time.Minute); got[0] != "two" {
		t.Errorf("issuer down after max-age: %v, want the stale keys", got)
	}
	if _, err := r.keys(ctx, f, "two", t0.Add(25*time.Hour)); err == nil {
		t.Error("issuer down for more than a day: keys still served")
	}
	// An issuer never reached gives an error, not an empty key set.
	r2 := &remoteKeys{issuer: srv.URL}
	if _, err := r2.keys(ctx, f, "", t0); err == nil {
		t.Error("an unreachable issuer's discovery gave keys")
	}
}

func TestMaxAge(t *testing.T) {
	for cc, want := range map[string]time.Duration{
		"":                         5 * time.Minute,
		"public, max-age=600":      10 * time.Minute,
		"max-age=1":                time.Minute,
		"max-age=86400, immutable": time.Hour,
		"no-cache":                 5 * time.Minute,
		"max-age=abc":              5 * time.Minute,
	} {
		if got := maxAge(cc); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", cc, got, want)
		}
	}
}

// TestFileKeysReread checks that a bundle file is re-read when it changes (at
// most every 10 seconds), and that a broken rewrite keeps the last good keys.
func TestFileKeysReread(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "bundle.json")
	write := func(b []byte) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // as spire-agent and the kubelet do
			t.Fatal(err)
		}
	}
	f := &fileKeys{path: path}
	ctx := context.Background()
	t0 := time.Now()
	if _, err := f.keys(ctx, nil, "", t0); err == nil {
		t.Fatal("a missing file gave keys")
	}
	write(jwksOf(t, "one", k1))
	if keys, err := f.keys(ctx, nil, "", t0.Add(11*time.Second)); err != nil || kids(keys)[0] != "one" {
		t.Fatalf("after the file appeared: %v %v", kids(keys), err)
	}
	write(jwksOf(t, "two", k2))
	if keys, _ := f.keys(ctx, nil, "", t0.Add(15*time.Second)); kids(keys)[0] != "one" {
		t.Errorf("re-read within 10s of the last check: %v", kids(keys))
	}
	if keys, _ := f.keys(ctx, nil, "", t0.Add(22*time.Second)); kids(keys)[0] != "two" {
		t.Errorf("changed file not re-read: %v", kids(keys))
	}
	write([]byte("{broken"))
	if keys, err := f.keys(ctx, nil, "", t0.Add(33*time.Second)); err != nil || kids(keys)[0] != "two" {
		t.Errorf("broken rewrite: %v %v, want the last good keys", kids(keys), err)
	}
}

// TestRemoteKeysUnreachable checks that an issuer that is down is asked at most
// once every 30 seconds, however many tokens arrive.
func TestRemoteKeysUnreachable(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	r := &remoteKeys{issuer: srv.URL}
	f := &fetcher{}
	t0 := time.Now()
	for i := range 20 {
		if _, err := r.keys(context.Background(), f, "k", t0.Add(time.Duration(i)*time.Second)); err == nil {
			t.Fatal("keys from an issuer that is down")
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests to a down issuer in 20 seconds, want 1", n)
	}
	if _, err := r.keys(context.Background(), f, "k", t0.Add(31*time.Second)); err == nil || hits.Load() != 2 {
		t.Errorf("after 30 seconds: %v, %d requests; want a second attempt", err, hits.Load())
	}
}
