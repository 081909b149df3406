//go:build !unix

package proxy

// stale cannot look at the socket here: a stale connection shows when it is
// used (a reused connection that fails before an answer is retried).
func (bc *bconn) stale() bool { return false }
