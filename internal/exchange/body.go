package exchange

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// DefaultBodyLimit is the most a policy may buffer of a request or response body.
const DefaultBodyLimit = 16 << 20

// ErrBodyTooLarge is returned when a policy reads a body larger than the limit.
var ErrBodyTooLarge = errors.New("body exceeds the buffering limit")

// ErrBuffersFull is returned when buffering a body would take the gateway's
// buffered bodies, all requests together, over their budget.
var ErrBuffersFull = errors.New("the gateway is buffering too many bodies at once")

// BodyError is a failure to buffer a body, saying whose body it was: a
// request body's failure is the client's (too large, badly framed, too slow), a
// response body's is the backend's.
type BodyError struct {
	Request bool
	Err     error
}

func (e *BodyError) Error() string {
	if e.Request {
		return "request body: " + e.Err.Error()
	}
	return "response body: " + e.Err.Error()
}

func (e *BodyError) Unwrap() error { return e.Err }

// BodyStatus is the status a caller gets when a body cannot be read or
// buffered: 503 when the gateway's buffers are full, 500 for a backend's body,
// and for the client's request body 413 over the limit, the status its reader
// gives (400 for bad framing, 408 for a body sent too slowly), else 400.
func BodyStatus(err error) int {
	var be *BodyError
	var hs interface{ HTTPStatus() int }
	switch {
	case errors.Is(err, ErrBuffersFull):
		return http.StatusServiceUnavailable
	case errors.As(err, &be) && !be.Request:
		return http.StatusInternalServerError
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &hs):
		return hs.HTTPStatus()
	}
	return http.StatusBadRequest
}

// Budget bounds the memory of every body the gateway buffers, all requests
// together, so that many large bodies at once cannot exhaust memory.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means no bound.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used returns the bytes currently held.
func (b *Budget) Used() int64 { return b.used.Load() }

// Buffers is one request's share of a Budget and its limit for each body. All
// bodies of an exchange charge it, and the gateway releases it in one call when
// the request ends, so nothing a policy keeps (a variable holding a response)
// can leak the budget.
type Buffers struct {
	budget *Budget
	limit  int64
	held   atomic.Int64
	// parent, when set, is the Buffers this one charges instead (a Fork's).
	parent *Buffers
}

// root returns the Buffers that a charge goes to.
func (a *Buffers) root() *Buffers {
	for a != nil && a.parent != nil {
		a = a.parent
	}
	return a
}

// Init sets the budget and the limit for each body (DefaultBodyLimit when
// limit <= 0).
func (a *Buffers) Init(b *Budget, limit int64) {
	a.budget, a.limit = b, limit
}

// Limit is the most one body may buffer.
func (a *Buffers) Limit() int64 { return a.bodyLimit() }

func (a *Buffers) bodyLimit() int64 {
	a = a.root()
	if a == nil || a.limit <= 0 {
		return DefaultBodyLimit
	}
	return a.limit
}

// take charges n bytes, or fails with ErrBuffersFull.
func (a *Buffers) take(n int64) error {
	a = a.root()
	if a == nil || a.budget == nil || a.budget.limit <= 0 || n <= 0 {
		return nil
	}
	if n > a.budget.limit {
		// It could never fit, so waiting would not help: not ErrBuffersFull,
		// whose 503 says to retry.
		return ErrBodyTooLarge
	}
	if a.budget.used.Add(n) > a.budget.limit {
		a.budget.used.Add(-n)
		return ErrBuffersFull
	}
	a.held.Add(n)
	return nil
}

// Take charges n more bytes that the request holds in memory (a copy of a
// body being cached, say), or fails with ErrBuffersFull; Release returns them
// with the rest when the request ends.
func (a *Buffers) Take(n int64) error { return a.take(n) }

// Release returns everything the request's bodies took.
func (a *Buffers) Release() {
	a = a.root()
	if a == nil || a.budget == nil {
		return
	}
	a.budget.used.Add(-a.held.Swap(0))
}

// ErrBodyConsumed is returned when a body was read without preserveContent and a
// later policy tries to read it again, as in API Management.
var ErrBodyConsumed = errors.New("body was already read without preserveContent")

// Body is a message body that streams by default and is buffered only when a policy
// reads or replaces it. Reading it consumes it unless the reader asks to preserve the
// content, as IMessageBody.As<T>(preserveContent) does in API Management.
type Body struct {
	stream   io.ReadCloser // the original stream, nil once buffered
	source   io.Closer     // the stream as made, before WrapStream
	size     int64         // the stream's length if known, else -1
	buf      []byte
	buffered bool
	consumed bool
	peeked   bool     // Empty read the stream's first byte: it is not empty
	request  bool     // the client's request body, not a response's
	bufs     *Buffers // what buffering it is charged to; nil: DefaultBodyLimit, no budget
	origin   *Body    // the body this one is a Fork of
}

// NewStreamBody returns a response body that reads from r, which is size bytes
// long (-1 if unknown). A nil r is an empty body. Buffering it is charged to
// bufs (nil: at most DefaultBodyLimit, no shared budget).
func NewStreamBody(r io.ReadCloser, size int64, bufs *Buffers) *Body {
	return newStreamBody(r, size, bufs, false)
}

// NewRequestBody is NewStreamBody for the client's request body, whose
// failures are the client's.
func NewRequestBody(r io.ReadCloser, size int64, bufs *Buffers) *Body {
	return newStreamBody(r, size, bufs, true)
}

func newStreamBody(r io.ReadCloser, size int64, bufs *Buffers, request bool) *Body {
	b := streamBody(r, size, bufs, request)
	return &b
}

func streamBody(r io.ReadCloser, size int64, bufs *Buffers, request bool) Body {
	if r == nil || r == http.NoBody || size == 0 {
		if r != nil {
			r.Close()
		}
		return Body{buffered: true, request: request}
	}
	return Body{stream: r, source: r, size: size, bufs: bufs, request: request}
}

// NewStreamResponse returns a response with the given status, reason and
// header whose body is NewStreamBody(r, size, bufs), both in one allocation.
func NewStreamResponse(status int, reason string, h http.Header, r io.ReadCloser, size int64, bufs *Buffers) *Response {
	m := &struct {
		resp Response
		body Body
	}{body: streamBody(r, size, bufs, false)}
	m.resp = Response{StatusCode: status, StatusReason: reason, Headers: h, Body: &m.body}
	return &m.resp
}

// SetRequestStream sets the request's body to NewRequestBody(r, size,
// &x.Buffers), kept in x itself.
func (x *Exchange) SetRequestStream(r io.ReadCloser, size int64) {
	x.own.reqBody = streamBody(r, size, &x.Buffers, true)
	x.Request.Body = &x.own.reqBody
}

// NewStreamResponse is the package's NewStreamResponse charged to x's
// buffers. The first response is kept in x itself; later ones (a retry's,
// another forward's) are allocated, since a variable may still hold the first.
func (x *Exchange) NewStreamResponse(status int, reason string, h http.Header, r io.ReadCloser, size int64) *Response {
	if x.own.respUsed {
		return NewStreamResponse(status, reason, h, r, size, &x.Buffers)
	}
	x.own.respUsed = true
	x.own.respBody = streamBody(r, size, &x.Buffers, false)
	x.own.resp = Response{StatusCode: status, StatusReason: reason, Headers: h, Body: &x.own.respBody}
	return &x.own.resp
}

// NewBytesBody returns a buffered body holding p.
func NewBytesBody(p []byte) *Body { return &Body{buf: p, buffered: true} }

// Buffered reports whether the body is in memory (read by a policy or set by one).
func (b *Body) Buffered() bool { return b == nil || b.buffered }

// Bytes buffers and returns the body. Unless preserve is true, the body counts as
// consumed afterwards: a later Bytes call fails and the body is not forwarded,
// as in API Management.
func (b *Body) Bytes(preserve bool) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	if b.consumed {
		return nil, ErrBodyConsumed
	}
	if err := b.buffer(); err != nil {
		return nil, err
	}
	if !preserve {
		b.consumed = true
	}
	return b.buf, nil
}

// buffer reads the stream into memory, charging every growth of the buffer to
// the request's share of the budget before it happens. A body that announced
// its length is refused before any of it is read when it is over the limit.
func (b *Body) buffer() error {
	if b.buffered {
		return nil
	}
	if err := b.readAll(); err != nil {
		b.stream.Close()
		b.stream, b.buffered, b.buf = nil, true, nil
		b.consumed = true // nothing is left to forward
		return &BodyError{Request: b.request, Err: err}
	}
	return nil
}

func (b *Body) readAll() error {
	limit := b.bufs.bodyLimit()
	if b.size > limit {
		return ErrBodyTooLarge
	}
	var data []byte
	for {
		if len(data) == cap(data) {
			var extra []byte
			if int64(len(data)) >= limit || b.size >= 0 && int64(len(data)) >= b.size {
				// At the limit or the announced length: the body should end here.
				var one [1]byte
				n, err := io.ReadFull(b.stream, one[:])
				if n == 0 {
					if err != nil && err != io.EOF {
						return fmt.Errorf("reading body: %w", err)
					}
					break
				}
				if int64(len(data)) >= limit {
					return ErrBodyTooLarge
				}
				extra = one[:]
			}
			// Grow to the announced length at once, otherwise by doubling, and
			// charge the budget before allocating.
			c := int64(cap(data))
			next := min(max(2*c, 512), limit)
			if b.size > c {
				next = b.size
			}
			if err := b.bufs.take(next - c); err != nil {
				return err
			}
			grown := make([]byte, len(data), next)
			copy(grown, data)
			data = append(grown, extra...)
		}
		n, err := b.stream.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
	}
	b.stream.Close()
	b.buf, b.buffered, b.stream = data, true, nil
	return nil
}

// WrapStream puts wrap around the body's stream when it has one that nobody
// has read yet, so that wrap's reader sees every byte, in order, whoever reads
// the body afterwards: a policy buffering it, or the gateway sending it on. It
// reports whether it did; a buffered body has no stream to wrap.
func (b *Body) WrapStream(wrap func(io.ReadCloser) io.ReadCloser) bool {
	if b == nil || b.buffered || b.stream == nil {
		return false
	}
	b.stream = wrap(b.stream)
	return true
}

// Set replaces the body's content (set-body, find-and-replace). The body is no
// longer consumed.
func (b *Body) Set(p []byte) {
	if b.stream != nil {
		b.stream.Close()
		b.stream = nil
	}
	b.buf, b.buffered, b.consumed = p, true, false
}

// Empty reports whether the message has no body: no content at all, as with a
// request without Content-Length or Transfer-Encoding, Content-Length: 0, or a
// body a policy set to nothing. A stream of unknown length (chunked, or
// delimited by the end of the connection) is empty if it ends before its first
// byte: Empty reads that byte to tell, and keeps it for whoever reads the body
// next. A consumed body is not empty: reading it again is the error to report.
func (b *Body) Empty() (bool, error) {
	switch {
	case b == nil:
		return true, nil
	case b.consumed, b.peeked:
		return false, nil
	case b.buffered:
		return len(b.buf) == 0, nil
	case b.size > 0:
		return false, nil
	}
	var first [1]byte
	n, err := io.ReadFull(b.stream, first[:])
	switch {
	case n == 1:
		b.stream = &prefixed{Reader: io.MultiReader(bytes.NewReader(first[:]), b.stream), Closer: b.stream}
		b.peeked = true
		return false, nil
	case errors.Is(err, io.EOF):
		b.stream.Close()
		b.stream, b.buf, b.buffered = nil, nil, true
		return true, nil
	}
	return false, &BodyError{Request: b.request, Err: fmt.Errorf("reading body: %w", err)}
}

// Exceeds reports whether the body is longer than n bytes. Of a stream of
// unknown length it reads at most n+1 bytes to tell, charged to the budget as
// any buffering is, and keeps them for whoever reads the body next; a body
// that ends within them is buffered. So a size check costs its limit, not the
// gateway's body limit. A consumed body is ErrBodyConsumed.
func (b *Body) Exceeds(n int64) (bool, error) {
	switch {
	case b == nil:
		return false, nil
	case b.consumed:
		return false, ErrBodyConsumed
	case b.buffered || b.size >= 0:
		return b.Len() > n, nil
	case n >= b.bufs.bodyLimit():
		// Reading n+1 bytes is buffering it all: buffer it once.
		if err := b.buffer(); err != nil {
			return false, err
		}
		return int64(len(b.buf)) > n, nil
	}
	if err := b.bufs.take(n + 1); err != nil {
		return false, &BodyError{Request: b.request, Err: err}
	}
	head := make([]byte, n+1)
	k, err := io.ReadFull(b.stream, head)
	switch {
	case k == len(head):
		b.stream = &prefixed{Reader: io.MultiReader(bytes.NewReader(head), b.stream), Closer: b.stream}
		b.peeked = true
		return true, nil
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		b.stream.Close()
		b.buf, b.buffered, b.stream = head[:k], true, nil
		return false, nil
	}
	b.stream.Close()
	b.stream, b.buffered, b.buf, b.consumed = nil, true, nil, true // nothing is left to forward
	return false, &BodyError{Request: b.request, Err: fmt.Errorf("reading body: %w", err)}
}

// prefixed is a stream with the bytes Empty read put back in front.
type prefixed struct {
	io.Reader
	io.Closer
}

// Fork returns a body that a concurrent reader can read, consume and
// preserve independently of b: for a buffered body, a copy that shares its
// bytes, which nothing changes in place; an unbuffered body is returned as it
// is and must not be read concurrently.
func (b *Body) Fork() *Body {
	if b == nil || !b.buffered {
		return b
	}
	c := *b
	c.origin = b
	return &c
}

// Join records on b that its fork f was read without preserving it.
func (b *Body) Join(f *Body) {
	if b != nil && f != nil && f != b && f.consumed {
		b.consumed = true
	}
}

// Consumed reports whether a policy read the body without preserving it.
func (b *Body) Consumed() bool { return b != nil && b.consumed }

// Len returns the body's length, or -1 if it is a stream of unknown length.
func (b *Body) Len() int64 {
	if b == nil {
		return 0
	}
	if !b.buffered {
		return b.size
	}
	if b.consumed {
		return 0
	}
	return int64(len(b.buf))
}

// Reader returns the body to send on: the stream if nobody read it, the buffer
// otherwise, or an empty reader if it was consumed. It hands the stream over, so
// call it once.
func (b *Body) Reader() io.ReadCloser {
	switch {
	case b == nil || b.consumed:
		return io.NopCloser(bytes.NewReader(nil))
	case !b.buffered:
		r := b.stream
		b.stream = nil
		b.buffered = true // the stream now belongs to the caller
		b.consumed = true
		return r
	default:
		return io.NopCloser(bytes.NewReader(b.buf))
	}
}

// Source returns the stream the body was made from, beneath what WrapStream
// put around it, or nil. Whoever sends the stream on closes it to end a read
// of it that is blocked in another goroutine: the source's Close must allow
// that, as the gateway's request bodies do.
func (b *Body) Source() io.Closer {
	if b == nil {
		return nil
	}
	return b.source
}

// Close releases an unread stream.
func (b *Body) Close() error {
	if b != nil && b.stream != nil {
		err := b.stream.Close()
		b.stream = nil
		return err
	}
	return nil
}

// CloseFunc returns r with fn called after r is closed, such as the cancel
// function of the request whose response r is: the request's resources are freed
// only when nobody reads its body any more.
func CloseFunc(r io.ReadCloser, fn func()) io.ReadCloser { return &closeFunc{r, fn} }

type closeFunc struct {
	io.ReadCloser
	fn func()
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.fn()
	return err
}
