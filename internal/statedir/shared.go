package statedir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"time"
)

// Backend keeps Shared's records; store.Redis implements it. Records have no
// expiry; leases do.
type Backend interface {
	// GetState returns the record name and whether there is one.
	GetState(ctx context.Context, name string) ([]byte, bool, error)
	// PutState stores record under name if the lease named lease is still
	// held with token, atomically, and reports whether it was.
	PutState(ctx context.Context, lease, token, name string, record []byte) (bool, error)
	// AcquireLease takes the lease named lease with token for ttl unless it is
	// held, and reports whether it took it.
	AcquireLease(ctx context.Context, lease, token string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if it is still held with token.
	ReleaseLease(ctx context.Context, lease, token string) error
	// StateNames lists the names of the records there are.
	StateNames(ctx context.Context) ([]string, error)
	// DescribeState says where the record name is kept, for messages.
	DescribeState(name string) string
}

// DefaultLeaseTTL is how long Shared holds a lease at most: an instance that
// dies while it holds one (between reading and writing a record) blocks the
// others' changes for at most this long. A change must be saved within it
// (generating an RSA key takes well under a second), or it is refused.
const DefaultLeaseTTL = 15 * time.Second

// Shared is state kept in Redis for instances on different machines: the same
// documents a Dir keeps in files (Read, Update, Describe), each encrypted with
// Keys (AES-256-GCM) before it leaves the process, so that Redis, its backups
// and its replicas never hold private keys or credentials in clear. Changes
// are made under a lease with an expiry instead of a file lock, and a change is
// saved only while its lease is still held. It is safe for concurrent use.
type Shared struct {
	b        Backend
	keys     *Keys
	leaseTTL time.Duration
}

// NewShared returns the state kept in b, encrypted with keys. leaseTTL is how
// long a lease lasts; zero means DefaultLeaseTTL.
func NewShared(b Backend, keys *Keys, leaseTTL time.Duration) *Shared {
	if leaseTTL <= 0 {
		leaseTTL = DefaultLeaseTTL
	}
	return &Shared{b: b, keys: keys, leaseTTL: leaseTTL}
}

// KeyIDs returns the ids of the encryption keys, the encrypting key's first.
func (s *Shared) KeyIDs() []string { return s.keys.IDs() }

// Describe names the record name in messages, with the Redis key it is kept in.
func (s *Shared) Describe(name string) string {
	return fmt.Sprintf("state %s (%s)", name, s.b.DescribeState(name))
}

// notExist is the error for a record that is not there; it matches
// fs.ErrNotExist, as a missing file does.
type notExist struct{ what string }

func (e *notExist) Error() string        { return e.what + " does not exist" }
func (e *notExist) Is(target error) bool { return target == fs.ErrNotExist }

// Read returns the record name, decrypted. A missing record gives an error that
// matches fs.ErrNotExist; one that does not decrypt, a *KeyError.
func (s *Shared) Read(ctx context.Context, name string) ([]byte, error) {
	record, ok, err := s.b.GetState(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.Describe(name), err)
	}
	if !ok {
		return nil, &notExist{s.Describe(name)}
	}
	return s.keys.open(name, s.Describe(name), record)
}

// Update changes the record name under the lease of its folder ("lock" in it,
// as Dir's lock file): it reads the record (nil when there is none), calls
// change with it, and stores what change returns, encrypted with the first
// key. When change returns nil nothing is stored; an error from change is
// returned as it is. It waits for the lease until ctx is done.
func (s *Shared) Update(ctx context.Context, name string, change func(old []byte) ([]byte, error)) error {
	lease := lockName(name)
	token, err := s.acquire(ctx, lease)
	if err != nil {
		return err
	}
	defer func() {
		// Give the lease back even when ctx is done; it expires anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.b.ReleaseLease(rctx, lease, token)
	}()
	old, err := s.Read(ctx, name)
	if _, missing := err.(*notExist); missing {
		old, err = nil, nil
	}
	if err != nil {
		return err
	}
	data, err := change(old)
	if err != nil || data == nil {
		return err
	}
	record, err := s.keys.seal(name, data)
	if err != nil {
		return err
	}
	ok, err := s.b.PutState(ctx, lease, token, name, record)
	if err != nil {
		return fmt.Errorf("saving %s: %w", s.Describe(name), err)
	}
	if !ok {
		return fmt.Errorf("saving %s: the lease %s expired before the change was saved (it lasts %v); nothing was written, try again", s.Describe(name), lease, s.leaseTTL)
	}
	return nil
}

// acquire takes the lease, waiting until ctx is done, and returns its token.
func (s *Shared) acquire(ctx context.Context, lease string) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	held := func() error {
		return fmt.Errorf("taking the lease %s on the shared state: another instance holds it (a lease lasts %v, so one held by an instance that died expires by then): %w",
			lease, s.leaseTTL, context.Cause(ctx))
	}
	delay := 10 * time.Millisecond
	for tries := 0; ; tries++ {
		ok, err := s.b.AcquireLease(ctx, lease, token, s.leaseTTL)
		if err != nil {
			if tries > 0 && ctx.Err() != nil {
				return "", held() // the wait ran out during an attempt
			}
			return "", fmt.Errorf("taking the lease %s on the shared state: %w", lease, err)
		}
		if ok {
			return token, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", held()
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// Reencrypt stores every record again, encrypted with the first key, and
// returns how many records there are and how many were encrypted with another
// key. Run it after putting a new key first on every instance, before
// removing the old key.
func (s *Shared) Reencrypt(ctx context.Context) (total, changed int, err error) {
	names, err := s.b.StateNames(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("listing the state in Redis: %w", err)
	}
	first := s.keys.keys[0].id
	for _, name := range names {
		record, ok, err := s.b.GetState(ctx, name)
		if err != nil {
			return total, changed, fmt.Errorf("reading %s: %w", s.Describe(name), err)
		}
		if !ok {
			continue
		}
		total++
		if sealedWith(record) == first {
			continue
		}
		if err := s.Update(ctx, name, func(old []byte) ([]byte, error) { return old, nil }); err != nil {
			return total, changed, err
		}
		changed++
	}
	return total, changed, nil
}
