package gateway

import "net/http"

// RouteOf returns the IDs of the API and operation r is routed to, "" for
// none. The external tests need it: they build snapshots with package
// snapshot, which imports this one.
func (s *Snapshot) RouteOf(r *http.Request) (api, op string) {
	q := r.URL.Query()
	a, rest := s.route(r, splitPath(r.URL.EscapedPath()), q)
	if a == nil {
		return "", ""
	}
	if o := a.operation(r.Method, "", rest, q, new(map[string]string), nil); o != nil {
		return a.info.ID, o.info.ID
	}
	return a.info.ID, ""
}
