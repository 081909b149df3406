//go:build !unix

package statedir

import (
	"os"
	"sync"
)

// Without advisory file locks, exclude only other lockers in this process.
var processLocks sync.Map // path -> *sync.Mutex

func tryLock(f *os.File) (bool, error) {
	m, _ := processLocks.LoadOrStore(f.Name(), new(sync.Mutex))
	return m.(*sync.Mutex).TryLock(), nil
}

func unlockFile(f *os.File) {
	if m, ok := processLocks.Load(f.Name()); ok {
		m.(*sync.Mutex).Unlock()
	}
}
