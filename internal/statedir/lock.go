package statedir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Lock takes an exclusive lock named name (a file in the directory, created with
// mode 0600) and returns the function that releases it. The lock is held against
// other processes and against other Dir values for the same directory in this
// process, so that several gateway instances sharing one state directory (and the
// lastmile keys command run beside them) never interleave a read-modify-write of
// the same file. It waits until ctx is done, then fails naming the lock file.
//
// Where the operating system has no advisory file locks, only other Lock calls in
// this process are excluded.
func (d *Dir) Lock(ctx context.Context, name string) (unlock func(), err error) {
	path := d.File(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("locking state %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking state %s: %w", name, err)
	}
	delay := time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking state %s: %w", path, err)
		}
		if ok {
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("locking state %s: another process holds the lock: %w", path, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}
