package policies

// LimitKeyForTest is where a limit of kind keeps the counter of parts under
// namespace.
func LimitKeyForTest(kind, namespace string, parts ...string) string {
	l := limiter{namespace: namespace}
	return l.key(kind, parts...)
}
