package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/urlpath"
)

// refusePath refuses a request target with a fragment and applies the path
// rules (internal/urlpath) to the path the client sent, before routing. A
// clean path replaces r.URL's, so that routing, context.Request.OriginalUrl
// and the backend URL all start from it; a target the rules refuse gets 400
// and refusePath reports true.
func (h *Handler) refusePath(w http.ResponseWriter, r *http.Request, o *outcome) bool {
	// A request target has no fragment (RFC 9112 §3.2), and backends disagree
	// on a '#' in one: many URL parsers (Node's, Python's) cut the target
	// there, so the backend would see another path or query than the
	// policies did. Envoy refuses it too.
	if strings.IndexByte(r.RequestURI, '#') >= 0 || strings.IndexByte(r.URL.RawQuery, '#') >= 0 {
		return h.refuse(w, r, o, "Invalid request target: it may not hold a '#' (a fragment).", errFragment)
	}
	raw := requestPath(r)
	if raw == "*" { // OPTIONS *: no path to clean
		return false
	}
	p, err := urlpath.Clean(raw)
	if err != nil {
		return h.refuse(w, r, o, "Invalid request path: "+err.Error()+".", err)
	}
	if p != r.URL.EscapedPath() {
		urlpath.SetPath(r.URL, p)
	}
	return false
}

var errFragment = errors.New("a '#' in the request target")

// refuse answers 400 with message, before routing.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, o *outcome, message string, reason error) bool {
	h.log.Debug("request target refused", "request_id", o.requestID, "reason", reason)
	writeResponse(w, r, pipeline.ErrorResponse(http.StatusBadRequest, message, o.requestID), nil, h.log)
	o.status = http.StatusBadRequest
	h.finish(r, o)
	return true
}

// requestPath is the path exactly as the client wrote it. r.URL.EscapedPath is not:
// when the path has a byte Go escapes (such as '{' or '\'), it escapes the decoded
// path again, and an encoded slash becomes a separator.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") { // origin-form
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return urlpath.Escaped(r.URL) // absolute-form, or a request built in a test
}
