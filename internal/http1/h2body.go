package http1

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// serveHTTP2Request is the HTTP/2 server's handler. The request head gets the
// limits of an HTTP/1.1 one (414, 431), and the request body the same minimum
// data rate (408 below it), through the stream's read deadline, since the
// streams share a connection whose deadline cannot be any one stream's.
func (s *Server) serveHTTP2Request(w http.ResponseWriter, r *http.Request) {
	if status, reason := s.checkHTTP2Head(r); status != 0 {
		ctype, body := s.errorBody(status, reason)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write(body)
		s.logger().Debug("refused a request", "remote", r.RemoteAddr, "status", status, "reason", reason)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if _, on := s.bodyDeadline(time.Time{}, 0); on {
			r.Body = &h2Body{body: r.Body, rc: http.NewResponseController(w), srv: s, start: time.Now()}
		}
	}
	s.Handler.ServeHTTP(w, r)
}

// checkHTTP2Head applies the HTTP/1.1 head's rules to an HTTP/2 request, as
// the same request sent as HTTP/1.1 would have them: a :method that is a token
// (a backend gets it in its request line), no CONNECT (405), '*' only with
// OPTIONS, a Host (the :authority) that is there and well-formed, a :path of
// printable ASCII without spaces
// (400; the query is forwarded as sent), the request line's length (414), and
// the fields with their Host, their bytes or how many there are (431). The
// HTTP/2 server decodes up to twice the byte limit (http2Server), so that a
// head just over it gets this answer rather than net/http's own.
func (s *Server) checkHTTP2Head(r *http.Request) (status int, reason string) {
	switch {
	case !httpfield.ValidName(r.Method):
		return http.StatusBadRequest, "malformed request line"
	case r.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "CONNECT is not supported"
	case r.RequestURI == "*" && r.Method != http.MethodOptions:
		return http.StatusBadRequest, "asterisk-form is only allowed with OPTIONS"
	case r.Host == "":
		return http.StatusBadRequest, "missing Host header"
	case !validHost(r.Host):
		return http.StatusBadRequest, "malformed Host header"
	case !validTarget(r.RequestURI):
		return http.StatusBadRequest, "invalid character in the request target"
	}
	line := len(r.Method) + 1 + len(r.RequestURI) + len(" HTTP/1.1")
	if line > s.maxRequestLine() {
		return http.StatusRequestURITooLong, "request line too long"
	}
	size, count := line+2+len("Host: ")+len(r.Host)+2, 1
	for k, vs := range r.Header {
		for _, v := range vs {
			size += len(k) + 2 + len(v) + 2
			count++
		}
	}
	switch {
	case count > s.maxHeaderCount():
		return http.StatusRequestHeaderFieldsTooLarge, "too many request header fields"
	case size+2 > s.maxHeaderBytes():
		return http.StatusRequestHeaderFieldsTooLarge, "request header fields too large"
	}
	return 0, ""
}

// deadlineSlack is how far behind the rule a stream's deadline may lag before
// it is moved: moving it is a message to the connection's goroutine, so not
// on every read of a fast body.
const deadlineSlack = 50 * time.Millisecond

// h2Body is an HTTP/2 request body under the minimum data rate.
type h2Body struct {
	mu       sync.Mutex
	body     io.ReadCloser
	rc       *http.ResponseController
	srv      *Server
	start    time.Time
	read     int64
	deadline time.Time
}

func (b *h2Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, _ := b.srv.bodyDeadline(b.start, b.read); d.After(b.deadline.Add(deadlineSlack)) { // also when none is set yet
		b.deadline = d
		b.rc.SetReadDeadline(d)
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	if isTimeout(err) {
		err = errSlowBody
	}
	return n, err
}

func (b *h2Body) Close() error { return b.body.Close() }
