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
