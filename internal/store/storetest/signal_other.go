//go:build !unix

package storetest

// Pause skips the test: pausing a process needs SIGSTOP.
func (s *Server) Pause() { s.t.Skip("skipping: pausing redis-server needs a Unix system") }

// Resume does nothing where Pause cannot pause.
func (s *Server) Resume() {}
