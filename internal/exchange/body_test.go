package exchange

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestBodyConsumption(t *testing.T) {
	b := NewStreamBody(io.NopCloser(strings.NewReader("hello")), 5, 0)
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
	b := NewStreamBody(io.NopCloser(strings.NewReader(strings.Repeat("x", 11))), -1, 10)
	if _, err := b.Bytes(true); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("over the limit: %v, want ErrBodyTooLarge", err)
	}
	if NewStreamBody(nil, -1, 0).Len() != 0 {
		t.Error("a nil stream is not empty")
	}
	var nilBody *Body
	if d, err := nilBody.Bytes(false); d != nil || err != nil || nilBody.Len() != 0 {
		t.Error("a nil body is not empty")
	}
}

func TestBodyStreamsUntouched(t *testing.T) {
	b := NewStreamBody(io.NopCloser(strings.NewReader("stream")), -1, 0)
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
	errStream := NewStreamBody(io.NopCloser(errReader{}), -1, 0)
	for _, tc := range []struct {
		name    string
		body    *Body
		want    bool
		wantErr bool
	}{
		{"nil", nilBody, true, false},
		{"no stream (a GET)", NewStreamBody(nil, 0, 0), true, false},
		{"Content-Length: 0", NewStreamBody(io.NopCloser(strings.NewReader("")), 0, 0), true, false},
		{"set to nothing", NewBytesBody(nil), true, false},
		{"set to text", NewBytesBody([]byte("x")), false, false},
		{"Content-Length: 5", NewStreamBody(io.NopCloser(strings.NewReader("hello")), 5, 0), false, false},
		{"chunked, empty", NewStreamBody(io.NopCloser(strings.NewReader("")), -1, 0), true, false},
		{"chunked, with content", NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, 0), false, false},
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
	b := NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, 0)
	for range 2 {
		if empty, err := b.Empty(); empty || err != nil {
			t.Fatalf("Empty() = %v, %v", empty, err)
		}
	}
	if data, _ := io.ReadAll(b.Reader()); string(data) != "hello" {
		t.Errorf("forwarded %q, want hello", data)
	}
	b = NewStreamBody(io.NopCloser(strings.NewReader("hello")), -1, 0)
	b.Empty()
	if data, err := b.Bytes(true); string(data) != "hello" || err != nil {
		t.Errorf("Bytes = %q, %v", data, err)
	}
	s := &closeRecorder{Reader: strings.NewReader("")}
	b = NewStreamBody(s, -1, 0)
	if empty, _ := b.Empty(); !empty || !s.closed {
		t.Errorf("an empty stream: empty %v, closed %v", empty, s.closed)
	}
	if data, _ := io.ReadAll(b.Reader()); len(data) != 0 {
		t.Errorf("an empty stream forwards %q", data)
	}
}
