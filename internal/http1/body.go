package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// BodyError is a failure of a client's request body: bad chunked framing, a body
// shorter than its Content-Length, or a client sending it too slowly. It is the
// client's fault, never the backend's; HTTPStatus says how to answer it.
type BodyError struct {
	Status int    // 400 or 408
	Reason string // what was wrong, safe to show to the client
}

func (e *BodyError) Error() string { return "request body: " + e.Reason }

// HTTPStatus is the status a server answers the failure with.
func (e *BodyError) HTTPStatus() int { return e.Status }

// Errors a request body's reader returns. Once a body fails, the connection's
// framing is lost: the server closes it after the response.
var (
	errShortBody     = &BodyError{Status: 400, Reason: "the connection ended before the body's Content-Length was read"}
	errBadChunk      = &BodyError{Status: 400, Reason: "malformed chunked encoding"}
	errChunkOverhead = &BodyError{Status: 400, Reason: "too much chunked-encoding overhead"}
	errBadTrailer    = &BodyError{Status: 400, Reason: "malformed or oversized trailer section"}
	errSlowBody      = &BodyError{Status: 408, Reason: "the body was sent too slowly"}
)

// errBodyClosed is returned by a body read after the handler returned.
var errBodyClosed = errors.New("http1: read on a closed request body")

// maxChunkLine bounds a chunk-size line with its extensions, as net/http does.
const maxChunkLine = 4096

// body reads a request body from the connection, enforcing its framing and the
// minimum data rate. Exactly one of length (>= 0) and chunked describes it.
type body struct {
	mu      sync.Mutex // a backend transport may read it from its own goroutine
	c       *conn
	remain  int64 // Content-Length bytes left; for chunked, bytes left of the current chunk
	chunked bool
	crlfDue bool // the CRLF after a chunk's data is still to be read
	eof     bool
	err     error // sticky: the first failure
	closed  bool
	cut     bool // Close interrupted a read: the connection's deadline is spent

	read     int64 // payload bytes delivered, for the data rate
	excess   int64 // chunked framing beyond what the data justifies
	deadline time.Time
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	c := b.c
	c.continue100()
	n, err := b.read1(p)
	if n > 0 {
		b.read += int64(n)
	}
	if err != nil && err != io.EOF {
		n, b.err = 0, err
		c.bodyFailed()
		return 0, err
	}
	if err == io.EOF {
		b.eof = true
		c.bodyDone()
	}
	return n, err
}

// read1 returns payload bytes, reading from the network only when nothing is
// buffered. For chunked bodies it decodes every complete chunk already in the
// buffer, so that a framing error in bytes the client has already sent is
// reported before any of them is handed on.
func (b *body) read1(p []byte) (int, error) {
	if !b.chunked {
		if b.remain == 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		if err := b.fill(); err != nil {
			return 0, err
		}
		n, _ := b.c.br.Read(p) // buffered: cannot fail
		b.remain -= int64(n)
		if b.remain == 0 {
			return n, io.EOF
		}
		return n, nil
	}
	n := 0
	for n < len(p) {
		if b.remain == 0 {
			// Each step is recorded as it completes: a read may return
			// between the CRLF and the next size line, when the client has
			// sent one but not yet the other.
			if b.crlfDue {
				if err := b.crlf(n == 0); err != nil {
					if err == errWouldBlock {
						return n, nil
					}
					return n, err
				}
				b.crlfDue = false
			}
			size, err := b.chunkSize(n == 0)
			if err == errWouldBlock {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if size == 0 {
				if err := b.trailer(); err != nil {
					return n, err
				}
				return n, io.EOF
			}
			b.remain, b.crlfDue = size, true
		}
		if b.c.br.Buffered() == 0 {
			if n > 0 {
				return n, nil
			}
			if err := b.fill(); err != nil {
				return n, err
			}
		}
		q := p[n:]
		if int64(len(q)) > b.remain {
			q = q[:b.remain]
		}
		if bn := b.c.br.Buffered(); len(q) > bn {
			q = q[:bn]
		}
		m, _ := b.c.br.Read(q)
		n += m
		b.remain -= int64(m)
	}
	return n, nil
}

// errWouldBlock says the next framing element is not fully buffered and the
// caller already has data to return.
var errWouldBlock = errors.New("would block")

// fill waits for at least one buffered byte, under the data-rate deadline.
func (b *body) fill() error {
	if b.c.br.Buffered() > 0 {
		return nil
	}
	b.setDeadline()
	_, err := b.c.br.Peek(1)
	return b.netErr(err)
}

// peekLine returns the next line, CRLF included, without consuming it. When
// block is false and the line is not fully buffered, it returns errWouldBlock.
func (b *body) peekLine(block bool, max int) ([]byte, error) {
	for {
		buf, _ := b.c.br.Peek(b.c.br.Buffered())
		for i, ch := range buf {
			if ch == '\n' {
				return buf[:i+1], nil
			}
			if i+1 >= max {
				return nil, errBadChunk
			}
		}
		if len(buf) >= max {
			return nil, errBadChunk
		}
		if !block {
			return nil, errWouldBlock
		}
		b.setDeadline()
		if _, err := b.c.br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errBadChunk
			}
			return nil, b.netErr(err)
		}
	}
}

// crlf consumes the CRLF that ends a chunk's data.
func (b *body) crlf(block bool) error {
	line, err := b.peekLine(block, 2)
	if err != nil {
		return err
	}
	if len(line) != 2 || line[0] != '\r' {
		return errBadChunk
	}
	b.c.br.Discard(2)
	return nil
}

// chunkSize reads a chunk-size line: 1*HEXDIG, optional extensions, CRLF.
func (b *body) chunkSize(block bool) (int64, error) {
	line, err := b.peekLine(block, maxChunkLine)
	if err != nil {
		return 0, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, errBadChunk
	}
	s := line[:len(line)-2]
	var size int64
	i := 0
	for ; i < len(s); i++ {
		d := unhex(s[i])
		if d < 0 {
			break
		}
		if i >= 15 { // 16 hex digits would overflow int64's sign
			return 0, errBadChunk
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, errBadChunk
	}
	if err := checkChunkExt(s[i:]); err != nil {
		return 0, err
	}
	// As net/http does: 16 bytes of framing per chunk plus twice its data are
	// fine (one byte per chunk is a legitimate stream); extensions that carry
	// much more than the data are not.
	b.excess = max(b.excess+int64(len(line))-16-2*size, 0)
	if b.excess > 16<<10 {
		return 0, errChunkOverhead
	}
	b.c.br.Discard(len(line))
	return size, nil
}

// checkChunkExt accepts chunk extensions (RFC 9112 §7.1.1), which are ignored,
// and refuses anything else after the size, such as bare CR or control bytes.
func checkChunkExt(s []byte) error {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i == len(s) {
		return nil
	}
	if s[i] != ';' {
		return errBadChunk
	}
	for _, ch := range s[i:] {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return errBadChunk
		}
	}
	return nil
}

// trailer reads and discards the trailer section after the last chunk. Trailers
// are not forwarded (documented): they are bounded like headers.
func (b *body) trailer() error {
	total := 0
	for {
		line, err := b.peekLine(true, maxChunkLine)
		if err == errBadChunk {
			return errBadTrailer
		}
		if err != nil {
			return err
		}
		total += len(line)
		if total > b.c.srv.maxHeaderBytes() {
			return errBadTrailer
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return errBadTrailer
		}
		b.c.br.Discard(len(line))
		if len(line) == 2 {
			return nil
		}
		if i := indexByte(line, ':'); i <= 0 || !httpfield.ValidName(line[:i]) {
			return errBadTrailer
		}
	}
}

// setDeadline gives the client until the minimum data rate says it should have
// sent what it sent so far, after a grace period, as Kestrel (the server under
// API Management's self-hosted gateway) does.
func (b *body) setDeadline() {
	d, ok := b.c.srv.bodyDeadline(b.c.bodyStart, b.read)
	if ok && !d.Equal(b.deadline) {
		b.deadline = d
		b.c.setReadDeadline(d)
	}
}

// bodyDeadline is when a body that started at start and has delivered read
// bytes must have sent its next byte; false when the check is off.
func (s *Server) bodyDeadline(start time.Time, read int64) (time.Time, bool) {
	rate := s.MinBodyRate
	if rate < 0 {
		return time.Time{}, false
	}
	if rate == 0 {
		rate = DefaultMinBodyRate
	}
	return start.Add(s.bodyGrace() + time.Duration(float64(read)/float64(rate)*float64(time.Second))), true
}

func (b *body) netErr(err error) error {
	if err == nil {
		return nil
	}
	if isTimeout(err) {
		return errSlowBody
	}
	if b.chunked {
		return errBadChunk // the connection ended inside the chunked framing
	}
	return errShortBody
}

// Close marks the body as done for the handler: later reads fail. A read
// blocked in another goroutine (a backend transport's writer, after the
// backend answered early) is interrupted. The server still reads what is
// left of the body once the handler returns, to keep the connection, unless a
// read had to be interrupted.
func (b *body) Close() error {
	if !b.mu.TryLock() {
		b.c.rwc.SetReadDeadline(aLongTimeAgo)
		b.mu.Lock()
		b.cut = true
	}
	b.closed = true
	b.mu.Unlock()
	return nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
