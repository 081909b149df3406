package agent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

type connKey struct{}

// connState is what the agent knows of one connection. TCP callers are looked up
// once per connection (the lookup scans /proc); the process behind them is
// checked again on every request.
type connState struct {
	conn net.Conn

	once  sync.Once
	owner sockOwner
	err   error
}

// sockOwner is who holds the client end of a connection: the kernel's uid (and
// gid) and, when it can be found, the pid.
type sockOwner struct {
	pid      int32
	uid, gid uint32
	hasGID   bool
}

// Peer is an identified caller.
type Peer struct {
	PID      int32
	UID, GID uint32
	// HasGID is false for TCP callers, whose sockets record only a uid.
	HasGID bool
	// Exe is the executable's path from /proc/<pid>/exe, "" when it cannot be read.
	Exe string
	// startTime is the process start time, which tells a reused pid apart.
	startTime uint64
}

// caller is who is asking and which identities it may use.
type caller struct {
	key     string // the rate limit key
	all     bool
	allowed map[string]bool // lower-case identity names
	peer    *Peer
	entries []string // the names of the registration entries it matched
}

func (c *caller) may(id Identity) bool {
	return c.all || c.allowed[strings.ToLower(id.Name)]
}

// describe names the caller for logs.
func (c *caller) describe() string {
	if c.peer == nil {
		return c.key
	}
	p := c.peer
	return fmt.Sprintf("pid=%d uid=%d exe=%q entries=%v", p.PID, p.UID, p.Exe, c.entries)
}

// caller identifies the caller of r and the identities it may use.
func (a *Agent) caller(r *http.Request, tr transport) (*caller, error) {
	if tr == overTCP && !a.cfg.AttestTCP {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return &caller{key: "tcp:" + host, all: true}, nil
	}
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		return nil, errors.New("the server does not record its connections (set ConnContext)")
	}
	cs.once.Do(func() {
		if tr == overSocket {
			cs.owner, cs.err = socketPeer(cs.conn)
		} else {
			cs.owner, cs.err = tcpPeer(cs.conn)
		}
	})
	if cs.err != nil {
		return nil, cs.err
	}
	return a.attestor.identify(cs.owner, a.cfg.Workloads)
}

// attestor reads what /proc says of a process and matches registration entries.
type attestor struct {
	proc string // "/proc", or a fake tree in tests

	mu      sync.Mutex
	digests map[fileKey]string // executable digests by file identity
}

// fileKey identifies an executable's content without reading it: a rewritten
// file gets a new mtime or size, a replaced one a new inode.
type fileKey struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// maxDigestFiles bounds the digest cache; maxExeSize bounds what is hashed.
const (
	maxDigestFiles = 1024
	maxExeSize     = 1 << 30
)

func newAttestor() *attestor {
	return &attestor{proc: "/proc", digests: make(map[fileKey]string)}
}

// identify reads the process behind owner, matches the registration entries and
// checks that the pid still names the same process afterwards, so a process that
// exited and whose pid was reused cannot borrow another's entries.
func (at *attestor) identify(owner sockOwner, entries []Workload) (*caller, error) {
	p := &Peer{PID: owner.pid, UID: owner.uid, GID: owner.gid, HasGID: owner.hasGID}
	c := &caller{allowed: map[string]bool{}, peer: p}
	if owner.pid > 0 {
		st, err := at.startTime(owner.pid)
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", owner.pid, err)
		}
		p.startTime = st
		if exe, err := os.Readlink(at.path(owner.pid, "exe")); err == nil && !strings.HasSuffix(exe, " (deleted)") {
			p.Exe = exe
		}
		c.key = fmt.Sprintf("pid:%d:%d", p.PID, p.startTime)
	} else {
		c.key = fmt.Sprintf("uid:%d", p.UID)
	}

	digest := ""
	digestDone := false
	for _, w := range entries {
		if w.UID != nil && *w.UID != p.UID {
			continue
		}
		if w.GID != nil && (!p.HasGID || *w.GID != p.GID) {
			continue
		}
		if w.Path != "" && (p.Exe == "" || w.Path != p.Exe) {
			continue
		}
		if w.SHA256 != "" {
			if !digestDone && p.PID > 0 {
				digest, _ = at.digest(p.PID)
				digestDone = true
			}
			if digest == "" || digest != w.SHA256 {
				continue
			}
		}
		c.entries = append(c.entries, w.Name)
		for _, n := range w.Identities {
			c.allowed[strings.ToLower(n)] = true
		}
	}

	if p.PID > 0 {
		st, err := at.startTime(p.PID)
		if err != nil || st != p.startTime {
			return nil, fmt.Errorf("process %d exited or was replaced while it was being identified", p.PID)
		}
	}
	return c, nil
}

func (at *attestor) path(pid int32, name string) string {
	return at.proc + "/" + strconv.Itoa(int(pid)) + "/" + name
}

// startTime returns field 22 of /proc/<pid>/stat, the start time in clock ticks.
func (at *attestor) startTime(pid int32) (uint64, error) {
	b, err := os.ReadFile(at.path(pid, "stat"))
	if err != nil {
		return 0, errors.New("no such process")
	}
	// The command name (field 2) is in parentheses and may hold anything,
	// parentheses included: the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // fields after the name start at field 3
	if len(f) <= startField {
		return 0, errors.New("unreadable /proc stat")
	}
	return strconv.ParseUint(f[startField], 10, 64)
}

// digest returns the sha256 of the process's executable, read through
// /proc/<pid>/exe so that it is the file the process runs even if its path now
// names another. Digests are cached by file identity.
func (at *attestor) digest(pid int32) (string, error) {
	f, err := os.Open(at.path(pid, "exe"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	key := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.dev, key.ino = uint64(st.Dev), uint64(st.Ino)
	}
	at.mu.Lock()
	d, ok := at.digests[key]
	at.mu.Unlock()
	if ok {
		return d, nil
	}
	if fi.Size() > maxExeSize {
		return "", fmt.Errorf("executable is larger than %d bytes", maxExeSize)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxExeSize)); err != nil {
		return "", err
	}
	d = hex.EncodeToString(h.Sum(nil))
	at.mu.Lock()
	if len(at.digests) >= maxDigestFiles {
		clear(at.digests)
	}
	at.digests[key] = d
	at.mu.Unlock()
	return d, nil
}

// tcpPeer finds who holds the client end of a loopback TCP connection: the uid
// and inode of its socket from /proc/net/tcp{,6}, then the process with that
// socket open. The uid is always found on Linux; the pid only when lastmile may
// read the owner's file descriptors (the same user, or root).
func tcpPeer(c net.Conn) (sockOwner, error) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return sockOwner{}, errors.New("not a TCP connection")
	}
	// The client's socket has the client's address as its local address.
	uid, inode, err := findSocket("/proc", remote, local)
	if err != nil {
		return sockOwner{}, err
	}
	o := sockOwner{uid: uid}
	if pid, ok := socketProcess("/proc", inode); ok {
		o.pid = pid
		if gid, ok := processGID("/proc", pid); ok {
			o.gid, o.hasGID = gid, true
		}
	}
	return o, nil
}

// findSocket looks up the TCP socket whose local address is src and remote
// address dst in /proc/net/tcp and tcp6.
func findSocket(proc string, src, dst *net.TCPAddr) (uid uint32, inode uint64, err error) {
	for _, file := range []string{"net/tcp", "net/tcp6"} {
		v6 := file == "net/tcp6"
		s, d := procAddr(src, v6), procAddr(dst, v6)
		if s == "" || d == "" {
			continue
		}
		f, err := os.Open(proc + "/" + file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(fl) < 10 || fl[1] != s || fl[2] != d {
				continue
			}
			u, err1 := strconv.ParseUint(fl[7], 10, 32)
			ino, err2 := strconv.ParseUint(fl[9], 10, 64)
			f.Close()
			if err1 != nil || err2 != nil {
				return 0, 0, errors.New("unreadable /proc/net entry")
			}
			return uint32(u), ino, nil
		}
		f.Close()
	}
	return 0, 0, errors.New("the connection's socket is not in /proc/net/tcp (is the caller in another network namespace?)")
}

// procAddr writes a TCP address as /proc/net/tcp{,6} does: the address as
// native-endian 32-bit words in hex, a colon, the port in hex. An IPv4 address
// in tcp6 is written v4-mapped.
func procAddr(a *net.TCPAddr, v6 bool) string {
	ip := a.IP
	if !v6 {
		ip = ip.To4()
		if ip == nil {
			return ""
		}
	} else {
		ip = ip.To16()
	}
	var b strings.Builder
	for i := 0; i+4 <= len(ip); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", a.Port)
	return b.String()
}

// socketProcess finds a process that has socket inode open.
func socketProcess(proc string, inode uint64) (int32, bool) {
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	d, err := os.Open(proc)
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(proc + "/" + n + "/fd")
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			if l, err := os.Readlink(proc + "/" + n + "/fd/" + fd.Name()); err == nil && l == want {
				return int32(pid), true
			}
		}
	}
	return 0, false
}

// processGID returns the real gid from /proc/<pid>/status.
func processGID(proc string, pid int32) (uint32, bool) {
	b, err := os.ReadFile(proc + "/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Gid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				g, err := strconv.ParseUint(f[0], 10, 32)
				return uint32(g), err == nil
			}
		}
	}
	return 0, false
}
