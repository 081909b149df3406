//go:build unix

package statedir

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes a flock(2) lock without waiting. flock locks belong to the open
// file description, so two opens in one process exclude each other, as two
// processes do; on Linux they also work on NFS (emulated with byte-range locks).
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
