//go:build unix

package proxy

import (
	"errors"
	"syscall"
)

// stale reports whether the backend closed the idle connection or sent
// anything on it, without reading: a peek that does not wait.
func (bc *bconn) stale() bool {
	if bc.raw == nil {
		return false
	}
	stale := false
	err := bc.raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing arrived. Anything else is data, the end (n == 0,
		// no error) or an error such as a reset. Under TLS, a close_notify
		// or any record counts too.
		stale = !errors.Is(err, syscall.EAGAIN)
	})
	return stale || err != nil
}
