package gateway

import (
	"testing"
	"unsafe"
)

// TestExchangeStateSizeClass keeps a request's largest allocation in the
// 1152-byte size class. An object with pointers larger than 512 bytes carries
// an 8-byte header, so the exchange must stay at or below 1144 bytes. Most
// requests reuse a finished request's exchange (Handler.states), so the size
// is paid per pooled exchange rather than per request; a traced request, a
// preflight and an empty pool still allocate one. It holds the backend URL,
// the request body and the first response, which would otherwise be three
// allocations per request. A field that pushes it over belongs behind a
// pointer made on first use, as the exchange's hooks are.
func TestExchangeStateSizeClass(t *testing.T) {
	if got, want := unsafe.Sizeof(exchangeState{}), uintptr(1144); got > want {
		t.Errorf("exchangeState is %d bytes, want at most %d", got, want)
	}
}
