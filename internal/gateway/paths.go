package gateway

import (
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/urlpath"
)

// refusePath applies the path rules (internal/urlpath) to the path the client
// sent, before routing. A clean path replaces r.URL's, so that routing,
// context.Request.OriginalUrl and the backend URL all start from it; a path the
// rules refuse gets 400 and refusePath reports true.
func (h *Handler) refusePath(w http.ResponseWriter, r *http.Request, o *outcome) bool {
	raw := requestPath(r)
	if raw == "*" { // OPTIONS *: no path to clean
		return false
	}
	p, err := urlpath.Clean(raw)
	if err != nil {
		h.log.Debug("request path refused", "request_id", o.requestID, "reason", err)
		writeResponse(w, r, pipeline.ErrorResponse(http.StatusBadRequest, "Invalid request path: "+err.Error()+".", o.requestID), nil, h.log)
		o.status = http.StatusBadRequest
		h.finish(r, o)
		return true
	}
	if p != r.URL.EscapedPath() {
		urlpath.SetPath(r.URL, p)
	}
	return false
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
