// Package storetest starts a real redis-server for tests.
package storetest

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartRedis runs redis-server on a free loopback port until the test ends and
// returns its address. It skips the test when redis-server is not installed;
// scripts/test.sh installs it from Debian's packages.
func StartRedis(t testing.TB, password string) string {
	t.Helper()
	return NewServer(t, password).Addr
}

// Server is a redis-server that a test can stop, pause and start again on the
// same address, to see what the gateway does when Redis goes away and comes
// back.
type Server struct {
	// Addr is host:port; it stays the same across Stop and Start.
	Addr string

	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
}

// NewServer runs redis-server on a free loopback port until the test ends. It
// skips the test when redis-server is not installed.
func NewServer(t testing.TB, password string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("skipping: redis-server is not installed (scripts/test.sh installs it from Debian's packages)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	s := &Server{
		Addr: fmt.Sprintf("127.0.0.1:%d", port),
		t:    t,
		bin:  bin,
		args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")},
	}
	if password != "" {
		s.args = append(s.args, "--requirepass", password)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop, empty (nothing is saved), and
// waits until it accepts connections. It does nothing when it runs.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, s.args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	for range 200 {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not start on %s", s.Addr)
}

// Stop kills the server, as a crash would: connections are reset and new ones
// refused. It does nothing when the server is not running.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.Resume()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
