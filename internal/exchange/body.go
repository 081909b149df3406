package exchange

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultBodyLimit is the most a policy may buffer of a request or response body.
const DefaultBodyLimit = 16 << 20

// ErrBodyTooLarge is returned when a policy reads a body larger than the limit.
var ErrBodyTooLarge = errors.New("body exceeds the buffering limit")

// ErrBodyConsumed is returned when a body was read without preserveContent and a
// later policy tries to read it again, as in API Management.
var ErrBodyConsumed = errors.New("body was already read without preserveContent")

// Body is a message body that streams by default and is buffered only when a policy
// reads or replaces it. Reading it consumes it unless the reader asks to preserve the
// content, as IMessageBody.As<T>(preserveContent) does in API Management.
type Body struct {
	stream   io.ReadCloser // the original stream, nil once buffered
	size     int64         // the stream's length if known, else -1
	buf      []byte
	buffered bool
	consumed bool
	peeked   bool // Empty read the stream's first byte: it is not empty
	limit    int64
}

// NewStreamBody returns a body that reads from r, which is size bytes long (-1 if
// unknown). A nil r is an empty body. Policies may buffer at most limit bytes of it
// (DefaultBodyLimit when limit <= 0).
func NewStreamBody(r io.ReadCloser, size, limit int64) *Body {
	if r == nil || r == http.NoBody || size == 0 {
		if r != nil {
			r.Close()
		}
		return &Body{buffered: true, limit: limit}
	}
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	return &Body{stream: r, size: size, limit: limit}
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

func (b *Body) buffer() error {
	if b.buffered {
		return nil
	}
	defer b.stream.Close()
	data, err := io.ReadAll(io.LimitReader(b.stream, b.limit+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(len(data)) > b.limit {
		return ErrBodyTooLarge
	}
	b.buf, b.buffered, b.stream = data, true, nil
	return nil
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
	return false, fmt.Errorf("reading body: %w", err)
}

// prefixed is a stream with the bytes Empty read put back in front.
type prefixed struct {
	io.Reader
	io.Closer
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
