package exchange

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBodyConsumption(t *testing.T) {
	b := NewStreamBody(io.NopCloser(strings.NewReader("hello")), 5, nil)
	if b.Buffered() || b.Len() != 5 {
		t.Fatalf("a new stream body: buffered %v len %d", b.Buffered(), b.Len())
	}
	got, err := b.Bytes(true) // As<string>(preserveContent: true)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Bytes(true) = %q, %v", got, err)
	}
	if got, _ = b.Bytes(false); string(got) != "hello" { // As<string>()
		t.Errorf("second read = %q", got)
	}
	if _, err := b.Bytes(false); !errors.Is(err, ErrBodyConsumed) {
		t.Errorf("read after consumption: %v, want ErrBodyConsumed", err)
	}
	if data, _ := io.ReadAll(b.Reader()); len(data) != 0 {
		t.Errorf("a consumed body is forwarded: %q", data)
	}
	b.Set([]byte("new"))
	if data, _ := io.ReadAll(b.Reader()); string(data) != "new" || b.Len() != 3 {
		t.Errorf("after Set: %q len %d", data, b.Len())
	}
}

func TestBodyLimit(t *testing.T) {
	budget := NewBudget(100)
	tests := []struct {
		name    string
		size    int64 // announced; -1 for unknown
		data    string
		limit   int64
		want    error
		request bool
		others  int64 // what other requests hold of the budget meanwhile
	}{
		{name: "unknown length under the limit", size: -1, data: "0123456789", limit: 10},
		{name: "unknown length over the limit", size: -1, data: "0123456789a", limit: 10, want: ErrBodyTooLarge, request: true},
		{name: "announced length over the limit is refused unread", size: 11, data: "", limit: 10, want: ErrBodyTooLarge},
		{name: "announced length at the limit", size: 10, data: "0123456789", limit: 10},
		{name: "longer than announced still bounded", size: 3, data: "0123456789abc", limit: 10, want: ErrBodyTooLarge},
		// A body larger than the whole budget could never fit: too large, not
		// a 503 that says to retry.
		{name: "larger than the shared budget", size: 101, data: strings.Repeat("x", 101), limit: 1000, want: ErrBodyTooLarge},
		{name: "over the shared budget while others hold it", size: 60, data: strings.Repeat("x", 60), limit: 1000, others: 50, want: ErrBuffersFull},
		{name: "unknown length larger than the shared budget", size: -1, data: strings.Repeat("x", 150), limit: 1000, want: ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var others, bufs Buffers
			others.Init(budget, 1000)
			if err := others.Take(tc.others); err != nil {
				t.Fatal(err)
			}
			defer others.Release()
			bufs.Init(budget, tc.limit)
			defer bufs.Release()
			r := &countingReader{r: strings.NewReader(tc.data)}
			var b *Body
			if tc.request {
				b = NewRequestBody(io.NopCloser(r), tc.size, &bufs)
			} else {
				b = NewStreamBody(io.NopCloser(r), tc.size, &bufs)
			}
			got, err := b.Bytes(true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Bytes: %v, want %v", err, tc.want)
			}
			if tc.want == nil && string(got) != tc.data {
				t.Errorf("Bytes = %q, want %q", got, tc.data)
			}
			var be *BodyError
			if tc.want != nil && (!errors.As(err, &be) || be.Request != tc.request) {
				t.Errorf("error %v: want a BodyError with Request %v", err, tc.request)
			}
			if tc.want != nil && tc.size > tc.limit && r.n > 0 {
				t.Errorf("read %d bytes of a body announced over the limit", r.n)
			}
			if used := budget.Used(); used > 100 {
				t.Errorf("budget used %d, over its 100", used)
			}
		})
	}
	if used := budget.Used(); used != 0 {
		t.Errorf("after every request released, the budget holds %d bytes", used)
	}
	if NewStreamBody(nil, -1, nil).Len() != 0 {
		t.Error("a nil stream is not empty")
	}
	var nilBody *Body
	if d, err := nilBody.Bytes(false); d != nil || err != nil || nilBody.Len() != 0 {
		t.Error("a nil body is not empty")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestBodyStreamsUntouched(t *testing.T) {
	b := NewStreamBody(io.NopCloser(strings.NewReader("stream")), -1, nil)
	data, _ := io.ReadAll(b.Reader())
	if string(data) != "stream" {
		t.Errorf("forwarded %q", data)
	}
}

// closeRecorder is a stream that records whether it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestBodyEmpty(t *testing.T) {
	var nilBody *Body
	consumed := NewBytesBody([]byte("x"))
	consumed.Bytes(false)
	errStream := NewStreamBody(io.NopCloser(errReader{}), -1, nil)
	for _, tc := range []struct {
		name    string
		body    *Body
		want    bool
		wantErr bool
	}{
		{"nil", nilBody, true, false},
		{"no stream (a GET)", NewStreamBody(nil, 0, nil), true, false},
		{"Content-Length: 0", NewStreamBody(io.NopCloser(strings.NewReader("")), 0, nil), true, false},
		{"set to nothing", NewBytesBody(nil), true, false},
		{"set to text", NewBytesBody([]byte("x")), false, false},
		{"Content-Length: 5", NewStreamBody(io.NopCloser(strings.NewReader("hello")), 5, nil), false, false},
		{"chunked, empty", NewStreamBody(io.NopCloser(strings.NewReader("")), -1, nil), true, false},
		{"chunked, with content", NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, nil), false, false},
		{"consumed", consumed, false, false},
		{"a broken stream", errStream, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.body.Empty()
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("Empty() = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("malformed chunk") }

// TestBodyEmptyKeepsContent checks that the byte Empty reads ahead of a stream
// of unknown length is forwarded and read with the rest, and that an empty
// stream is closed.
func TestBodyEmptyKeepsContent(t *testing.T) {
	b := NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, nil)
	for range 2 {
		if empty, err := b.Empty(); empty || err != nil {
			t.Fatalf("Empty() = %v, %v", empty, err)
		}
	}
	if data, _ := io.ReadAll(b.Reader()); string(data) != "hello" {
		t.Errorf("forwarded %q, want hello", data)
	}
	b = NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, nil)
	b.Empty()
	if data, err := b.Bytes(true); string(data) != "hello" || err != nil {
		t.Errorf("Bytes = %q, %v", data, err)
	}
	s := &closeRecorder{Reader: strings.NewReader("")}
	b = NewStreamBody(s, -1, nil)
	if empty, _ := b.Empty(); !empty || !s.closed {
		t.Errorf("an empty stream: empty %v, closed %v", empty, s.closed)
	}
	if data, _ := io.ReadAll(b.Reader()); len(data) != 0 {
		t.Errorf("an empty stream forwards %q", data)
	}
}

// TestBodyExceeds: a size check reads a chunked body only up to its limit
// plus one byte, and whatever it read still reaches whoever reads next.
func TestBodyExceeds(t *testing.T) {
	tests := []struct {
		name       string
		size       int64 // announced; -1 for unknown
		data       string
		n          int64
		want       bool
		wantRead   int // at most, from the stream
		bodyLimit  int64
		wantErr    error
		thenBuffer bool // read it with Bytes afterwards, else forward it
	}{
		{name: "chunked, over", size: -1, data: strings.Repeat("x", 1000), n: 10, want: true, wantRead: 11},
		{name: "chunked, over, then buffered", size: -1, data: strings.Repeat("x", 1000), n: 10, want: true, wantRead: 11, thenBuffer: true},
		{name: "chunked, exactly the limit", size: -1, data: "0123456789", n: 10, want: false, wantRead: 10},
		{name: "chunked, under", size: -1, data: "abc", n: 10, want: false, wantRead: 3, thenBuffer: true},
		{name: "chunked, empty", size: -1, data: "", n: 10, want: false},
		{name: "announced length is not read", size: 1000, data: strings.Repeat("x", 1000), n: 10, want: true},
		{name: "a limit at the body limit buffers once", size: -1, data: strings.Repeat("x", 50), n: 100, bodyLimit: 100, want: false, wantRead: 50},
		{name: "a limit over the body limit", size: -1, data: strings.Repeat("x", 150), n: 200, bodyLimit: 100, wantErr: ErrBodyTooLarge, wantRead: 101},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var bufs Buffers
			limit := tc.bodyLimit
			if limit == 0 {
				limit = 1 << 10
			}
			bufs.Init(NewBudget(1<<20), limit)
			defer bufs.Release()
			r := &countingReader{r: strings.NewReader(tc.data)}
			b := NewRequestBody(io.NopCloser(r), tc.size, &bufs)
			got, err := b.Exceeds(tc.n)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("Exceeds(%d) = %v, %v; want %v, %v", tc.n, got, err, tc.want, tc.wantErr)
			}
			if r.n > tc.wantRead {
				t.Errorf("read %d bytes of the stream, want at most %d", r.n, tc.wantRead)
			}
			if tc.wantErr != nil {
				return
			}
			var rest []byte
			if tc.thenBuffer {
				rest, err = b.Bytes(true)
			} else {
				rest, err = io.ReadAll(b.Reader())
			}
			if err != nil || string(rest) != tc.data {
				t.Errorf("after the check the body reads %d bytes (%v), want all %d", len(rest), err, len(tc.data))
			}
		})
	}
	var consumed Body
	consumed.consumed = true
	if _, err := consumed.Exceeds(1); !errors.Is(err, ErrBodyConsumed) {
		t.Errorf("a consumed body: %v", err)
	}
}

// TestExchangeOwnBodies: the request body and the first backend response live
// in the exchange; a second response (a retry's) does not overwrite the first,
// which a variable may hold.
func TestExchangeOwnBodies(t *testing.T) {
	x := &Exchange{}
	x.SetRequestStream(io.NopCloser(strings.NewReader("req")), 3)
	if got, err := x.Request.Body.Bytes(true); err != nil || string(got) != "req" {
		t.Fatalf("request body = %q, %v", got, err)
	}
	first := x.NewStreamResponse(200, "OK", http.Header{"A": {"1"}}, io.NopCloser(strings.NewReader("one")), 3)
	x.SetVar("kept", first)
	second := x.NewStreamResponse(503, "Service Unavailable", http.Header{"A": {"2"}}, io.NopCloser(strings.NewReader("two")), 3)
	if first == second || first.Body == second.Body {
		t.Fatal("the second response reused the first's room")
	}
	for _, tc := range []struct {
		r            *Response
		status       int
		header, want string
	}{{first, 200, "1", "one"}, {second, 503, "2", "two"}} {
		got, err := tc.r.Body.Bytes(true)
		if err != nil || string(got) != tc.want || tc.r.StatusCode != tc.status || tc.r.Headers.Get("A") != tc.header {
			t.Errorf("response %d = %d %q %q, %v; want %d %q %q", tc.status, tc.r.StatusCode, tc.r.Headers.Get("A"), got, err, tc.status, tc.header, tc.want)
		}
	}
}
