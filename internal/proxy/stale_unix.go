//go:build unix

package proxy

import (
	"crypto/tls"
	"errors"
	"syscall"
)

// stale reports whether the backend closed the idle connection or sent
// anything on it, without reading: a peek that does not wait.
func (bc *bconn) stale() bool {
	nc := bc.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn() // a close_notify or any record counts too
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	stale := false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing arrived. Anything else is data, the end (n == 0,
		// no error) or an error such as a reset.
		stale = !errors.Is(err, syscall.EAGAIN)
	})
	return stale || err != nil
}
