package http1

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// serveHTTP2Request is the HTTP/2 server's handler: the request body gets the
// same minimum data rate as an HTTP/1.1 body (408 below it), through the
// stream's read deadline, since the streams share a connection whose deadline
// cannot be any one stream's.
func (s *Server) serveHTTP2Request(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		if _, on := s.bodyDeadline(time.Time{}, 0); on {
			r.Body = &h2Body{body: r.Body, rc: http.NewResponseController(w), srv: s, start: time.Now()}
		}
	}
	s.Handler.ServeHTTP(w, r)
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
