package statedir_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

func newKey(t testing.TB) string {
	b := make([]byte, statedir.KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// connect opens a new connection to the Redis at addr.
func connect(t testing.TB, addr string) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(context.Background(), store.RedisOptions{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func shared(t testing.TB, r *store.Redis, keys string, ttl time.Duration) *statedir.Shared {
	t.Helper()
	k, err := statedir.ParseKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return statedir.NewShared(r, k, ttl)
}

func TestSharedReadUpdate(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	r := connect(t, addr)
	s := shared(t, r, newKey(t), 0)

	if _, err := s.Read(ctx, "idp/keys.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing record: %v, want fs.ErrNotExist", err)
	}
	doc := []byte(`{"private":"the plaintext"}`)
	if err := s.Update(ctx, "idp/keys.json", func(old []byte) ([]byte, error) {
		if old != nil {
			t.Errorf("old = %q, want nil", old)
		}
		return doc, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, "idp/keys.json"); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	raw, ok, err := r.GetState(ctx, "idp/keys.json")
	if err != nil || !ok || bytes.Contains(raw, []byte("plaintext")) {
		t.Fatalf("in Redis: %q %v %v; want an encrypted record", raw, ok, err)
	}

	// nil writes nothing; an error from change is returned and writes nothing.
	s.Update(ctx, "idp/keys.json", func([]byte) ([]byte, error) { return nil, nil })
	boom := errors.New("boom")
	if err := s.Update(ctx, "idp/keys.json", func([]byte) ([]byte, error) { return []byte("x"), boom }); err != boom {
		t.Errorf("Update returned %v, want the change's error as it is", err)
	}
	if after, _, _ := r.GetState(ctx, "idp/keys.json"); !bytes.Equal(after, raw) {
		t.Error("the record changed although nothing was to be written")
	}
	// The lease was given back each time: another Update does not wait.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.Update(short, "idp/identities.json", func([]byte) ([]byte, error) { return []byte("{}"), nil }); err != nil {
		t.Fatal(err)
	}
	names, err := r.StateNames(ctx)
	if err != nil || len(names) != 2 {
		t.Errorf("StateNames = %v, %v; want the two records", names, err)
	}
}

// updater is what Dir and Shared have in common.
type updater interface {
	Read(ctx context.Context, name string) ([]byte, error)
	Update(ctx context.Context, name string, change func(old []byte) ([]byte, error)) error
}

// TestUpdateExcludes: instances changing one document at once, each through
// its own Dir on one directory or its own connection to one Redis, never lose
// a change.
func TestUpdateExcludes(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	key := newKey(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		open func() updater
	}{
		{"state directory", func() updater {
			d, err := statedir.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"redis", func() updater { return shared(t, connect(t, addr), key, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testUpdateExcludes(t, tc.open) })
	}
}

func testUpdateExcludes(t *testing.T, open func() updater) {
	var wg sync.WaitGroup
	for range 3 {
		s := open()
		wg.Go(func() {
			for range 15 {
				err := s.Update(context.Background(), "counter", func(old []byte) ([]byte, error) {
					n, _ := strconv.Atoi(string(old))
					return []byte(strconv.Itoa(n + 1)), nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := open().Read(context.Background(), "counter")
	if err != nil || string(got) != "45" {
		t.Errorf("counter = %s, %v; want 45", got, err)
	}
}

// TestSharedLeaseExpires: a lease whose holder vanished (it never gives it
// back) blocks changes until it expires, and no longer.
func TestSharedLeaseExpires(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	r := connect(t, addr)
	const ttl = 500 * time.Millisecond
	s := shared(t, r, newKey(t), ttl)
	if ok, err := r.AcquireLease(ctx, "idp/lock", "a-dead-instance", ttl); !ok || err != nil {
		t.Fatal(ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := s.Update(short, "idp/keys.json", func([]byte) ([]byte, error) { return []byte("{}"), nil })
	if err == nil || !strings.Contains(err.Error(), "taking the lease idp/lock on the shared state: another instance holds it") {
		t.Fatalf("Update while the lease is held: %v", err)
	}
	// Waiting long enough, the lease has expired and the change is made.
	long, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := s.Update(long, "idp/keys.json", func([]byte) ([]byte, error) { return []byte("{}"), nil }); err != nil {
		t.Fatalf("Update after the lease expired: %v", err)
	}
}

// TestSharedFencedWrite: an instance whose lease expired while it worked (a
// pause, a slow disk) cannot overwrite what the next holder stored.
func TestSharedFencedWrite(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	key := newKey(t)
	const ttl = 300 * time.Millisecond
	slow, fast := shared(t, connect(t, addr), key, ttl), shared(t, connect(t, addr), key, ttl)
	took := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- slow.Update(ctx, "doc", func([]byte) ([]byte, error) {
			close(took)
			time.Sleep(3 * ttl) // the lease expires meanwhile
			return []byte("slow"), nil
		})
	}()
	<-took
	if err := fast.Update(ctx, "doc", func([]byte) ([]byte, error) { return []byte("fast"), nil }); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "the lease lock expired before the change was saved") {
		t.Errorf("the late write: %v, want a refusal", err)
	}
	if got, _ := fast.Read(ctx, "doc"); string(got) != "fast" {
		t.Errorf("record = %q, want the second holder's", got)
	}
}

// TestSharedReencrypt follows the documented key rotation: the new key is
// added second, then put first, then everything is re-encrypted, then the old
// key goes.
func TestSharedReencrypt(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	r := connect(t, addr)
	oldKey, newKey := newKey(t), newKey(t)
	old := shared(t, r, oldKey, 0)
	for _, name := range []string{"idp/keys.json", "idp/identities.json", "subscription-keys.json"} {
		if err := old.Update(ctx, name, func([]byte) ([]byte, error) { return []byte(name), nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Step 1: the new key beside the old one changes nothing yet.
	if _, err := shared(t, r, oldKey+" "+newKey, 0).Read(ctx, "idp/keys.json"); err != nil {
		t.Fatal(err)
	}
	// Without the old key, reading fails naming the key it needs.
	newOnly := shared(t, r, newKey, 0)
	if _, err := newOnly.Read(ctx, "idp/keys.json"); err == nil || !strings.Contains(err.Error(), "is encrypted with key "+old.KeyIDs()[0]+", which is not among this instance's encryption keys ("+newOnly.KeyIDs()[0]+")") {
		t.Fatalf("reading with the wrong key: %v", err)
	}
	// Steps 2 and 3: new key first, re-encrypt.
	both := shared(t, r, newKey+","+oldKey, 0)
	if total, changed, err := both.Reencrypt(ctx); err != nil || total != 3 || changed != 3 {
		t.Fatalf("Reencrypt = %d, %d, %v; want 3 of 3", total, changed, err)
	}
	if total, changed, err := both.Reencrypt(ctx); err != nil || total != 3 || changed != 0 {
		t.Errorf("a second Reencrypt = %d, %d, %v; want 0 of 3", total, changed, err)
	}
	// Step 4: the new key alone reads everything.
	for _, name := range []string{"idp/keys.json", "idp/identities.json", "subscription-keys.json"} {
		if got, err := newOnly.Read(ctx, name); err != nil || string(got) != name {
			t.Errorf("%s with the new key: %q, %v", name, got, err)
		}
	}
}
