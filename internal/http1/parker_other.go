//go:build !linux

package http1

// parker is a no-op where there is no epoll: an idle connection waits in its
// goroutine with a one-byte read, without its buffers.
type parker struct{}

func (*parker) park(*conn) bool { return false }
func (*parker) take(*conn) bool { return false }
func (*parker) parked() int64   { return 0 }
