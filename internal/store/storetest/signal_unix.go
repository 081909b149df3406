//go:build unix

package storetest

import "syscall"

// Pause stops the server's process without closing its socket (SIGSTOP), as a
// hung or unreachable Redis looks: connections open, but nothing answers.
func (s *Server) Pause() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}
