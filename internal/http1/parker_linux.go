//go:build linux

package http1

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// parker keeps idle keep-alive connections waiting without a goroutine each:
// their sockets wait in an epoll set of the server's, and a connection gets a
// goroutine again (conn.resume) when its next bytes arrive. Ten thousand idle
// connections then cost their sockets and small structs, not ten thousand
// stacks and buffers.
type parker struct {
	once  sync.Once
	epfd  int
	err   error
	mu    sync.Mutex
	conns map[int]*conn
	count atomic.Int64 // connections parked so far
}

// parked returns how many connections were parked so far.
func (p *parker) parked() int64 { return p.count.Load() }

func (p *parker) start() error {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if p.err == nil {
			p.conns = map[int]*conn{}
			go p.run()
		}
	})
	return p.err
}

// park hands c's wait to the epoll set; after it returns true, the caller
// must not touch c. It returns false where it cannot (a TLS connection, whose
// reads go through its own buffer).
func (p *parker) park(c *conn) bool {
	sc, ok := c.rwc.(syscall.Conn)
	if !ok || p.start() != nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c.parkedFD = fd
	p.conns[fd] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollOneShot, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(p.conns, fd)
		return false
	}
	p.count.Add(1)
	return true
}

// epollOneShot is EPOLLONESHOT, which package syscall types as a negative
// constant on some platforms.
const epollOneShot = 1 << 30

// take removes a parked connection, for its caller to close it; false means
// it was not parked (any more): its goroutine owns it again.
func (p *parker) take(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil || p.conns[c.parkedFD] != c {
		return false
	}
	delete(p.conns, c.parkedFD)
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.parkedFD, nil)
	return true
}

// run gives each connection whose socket became readable (the next request,
// or the client closing) a goroutine again.
func (p *parker) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			p.mu.Lock()
			c := p.conns[fd]
			if c != nil {
				delete(p.conns, fd)
				syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
			}
			p.mu.Unlock()
			if c != nil {
				go c.resume()
			}
		}
	}
}
