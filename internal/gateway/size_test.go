package gateway

import (
	"testing"
	"unsafe"
)

// TestExchangeStateSizeClass keeps a request's largest allocation in the
// 768-byte size class. An object with pointers larger than 512 bytes carries
// an 8-byte header, so the exchange must stay at or below 760 bytes; the
// next class, 896, costs every request 128 more bytes of garbage. A field
// that pushes it over belongs behind a pointer made on first use, as the
// exchange's hooks are.
func TestExchangeStateSizeClass(t *testing.T) {
	if got, want := unsafe.Sizeof(exchangeState{}), uintptr(760); got > want {
		t.Errorf("exchangeState is %d bytes, want at most %d", got, want)
	}
}
