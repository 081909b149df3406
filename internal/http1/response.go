package http1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// response is the http.ResponseWriter of one HTTP/1.x request.
type response struct {
	c   *conn
	req *http.Request
	hdr http.Header

	wroteHeader bool
	status      int
	cl          int64 // the declared Content-Length, or -1
	written     int64
	chunked     bool
	noBody      bool // HEAD, 1xx, 204 and 304 have no body
	closeAfter  bool
	hijacked    bool // Hijack took the connection
	werr        error
	reason      string // the status line's reason phrase, when not the standard one
	scratch     [20]byte
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// Hijack hands the connection to the handler for a protocol the request
// upgrades to (the gateway's WebSocket tunnels): only before the response
// began, and only for a request without a body, so that the request's
// framing is over. Bytes the client sent after the request, already read,
// come first from the returned connection. From then on the server neither
// reads, writes nor times the connection; the handler closes it. It stays
// counted as active, so Shutdown waits for it until its grace period ends,
// and Close closes it.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	switch {
	case w.hijacked:
		return nil, nil, errors.New("http1: the connection was already hijacked")
	case w.wroteHeader:
		return nil, nil, errors.New("http1: cannot hijack the connection after the response began")
	case c.body != nil:
		return nil, nil, errors.New("http1: cannot hijack the connection of a request with a body")
	}
	c.disarmWatch() // no background read may start now
	c.stopBackgroundRead()
	var pre []byte
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		pre = append(pre, b...)
	}
	if c.cr.pending {
		pre = append(pre, c.bgByte[0])
		c.cr.pending = false
	}
	c.rwc.SetDeadline(time.Time{})
	w.hijacked = true
	conn := &prefixConn{Conn: c.rwc, pre: pre}
	return conn, bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn)), nil
}

func (w *response) Header() http.Header { return w.hdr }

// ReleaseRequest tells the server that once the handler returns, nothing it
// started uses the request any more: not the *http.Request, its Header map
// or the slices in it, nor its URL. The server then parses the connection's
// next request into them rather than allocating new ones. The request's
// context and body are never reused, so they are free of this promise.
// Handlers that do not call it keep net/http's rules.
func (w *response) ReleaseRequest() { w.c.released = true }

// WriteHeader starts the response. 1xx statuses other than 100 and 101 are
// sent as informational responses (103 Early Hints); the server sends 100
// Continue itself, and protocol upgrades are not supported.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	if code < 200 {
		if code == 100 || code == 101 {
			return
		}
		w.c.wmu.Lock()
		defer w.c.wmu.Unlock()
		w.writeHead(code, false)
		w.werr = w.c.bw.Flush()
		return
	}
	w.wroteHeader, w.status = true, code
	w.c.wmu.Lock()
	w.c.respStarted = true
	w.c.wmu.Unlock()

	h := w.hdr
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if v, ok := h["Content-Length"]; ok {
		n, valid := int64(0), len(v) == 1
		if valid {
			n, valid = parseLength(strings.TrimSpace(v[0]))
		}
		switch {
		case !valid || code == http.StatusNoContent || code == http.StatusNotModified:
			delete(h, "Content-Length")
		case w.req.Method != http.MethodHead:
			w.cl = n
		}
	}
	delete(h, "Transfer-Encoding")
	if httpfield.HasToken(h["Connection"], "close") || w.c.srv.closing.Load() || w.c.bodyForcesClose() {
		w.closeAfter = true
	}
	delete(h, "Connection")
	if !w.noBody && w.cl < 0 {
		if w.req.ProtoMinor >= 1 {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the close ends the body
		}
	}
	w.writeHead(code, true)
}

// writeHead writes the status line and fields. Field names that are not tokens
// are dropped and CR or LF in values become spaces, as net/http does: nothing
// a policy or a backend puts in a header can split the response.
func (w *response) writeHead(code int, final bool) {
	b := w.c.bw
	b.WriteString("HTTP/1.1 ")
	if final && w.reason != "" {
		b.WriteString(strconv.Itoa(code))
		b.WriteByte(' ')
		b.WriteString(w.reason)
	} else {
		b.WriteString(statusLine(code))
	}
	b.WriteString("\r\n")
	for k, vs := range w.hdr {
		for _, v := range vs {
			httpfield.WriteField(b, k, v)
		}
	}
	if final {
		if _, ok := w.hdr["Date"]; !ok {
			b.WriteString("Date: ")
			b.WriteString(w.c.srv.date())
			b.WriteString("\r\n")
		}
		if w.chunked {
			b.WriteString("Transfer-Encoding: chunked\r\n")
		}
		switch {
		case w.closeAfter:
			b.WriteString("Connection: close\r\n")
		case w.req.ProtoMinor == 0:
			b.WriteString("Connection: keep-alive\r\n")
		}
	}
	b.WriteString("\r\n")
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.werr != nil {
		return 0, w.werr
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	var lenErr error
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		p, lenErr = p[:w.cl-w.written], http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, lenErr
	}
	b := w.c.bw
	if w.chunked {
		b.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		b.WriteString("\r\n")
	}
	n, err := b.Write(p)
	if w.chunked && err == nil {
		_, err = b.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.werr = err
		return n, err
	}
	return n, lenErr
}

// Flush sends what is buffered to the client.
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush returning the write error, for http.ResponseController.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.werr != nil {
		return w.werr
	}
	w.werr = w.c.bw.Flush()
	return w.werr
}

// finish completes the message after the handler returned.
func (w *response) finish() {
	if !w.wroteHeader {
		if _, ok := w.hdr["Content-Length"]; !ok {
			w.hdr["Content-Length"] = []string{"0"}
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.werr != nil {
		w.closeAfter = true
		return
	}
	if w.chunked {
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if w.cl >= 0 && w.written < w.cl {
		// The body is shorter than announced: only a close tells the client.
		w.closeAfter = true
	}
	if err := w.c.bw.Flush(); err != nil {
		w.werr = err
		w.closeAfter = true
	}
}

// statusLines holds "code reason" for every status, built once.
var statusLines = func() (t [1000]string) {
	for code := range t {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		} else {
			t[code] = strconv.Itoa(code) + " status code " + strconv.Itoa(code)
		}
	}
	return t
}()

func statusLine(code int) string { return statusLines[code] }

// SetStatusReason gives the final response's status line the reason phrase
// reason instead of the standard one (API Management sends set-status's
// reason), before WriteHeader. Bytes a reason phrase may not hold (RFC 9112
// §4: only tabs, spaces and visible characters) become spaces, so that it
// cannot end the status line; an empty or over-long one is not used.
func (w *response) SetStatusReason(reason string) {
	if reason == "" || len(reason) > 512 {
		return
	}
	b := []byte(reason)
	for i, c := range b {
		if c != '\t' && (c < ' ' || c == 0x7f) {
			b[i] = ' '
		}
	}
	w.reason = string(b)
}
