package gateway

import (
	"io"
	"net/http"
	"strings"
)

// grpcProblem says why r is not a gRPC call the gateway can pass to a gRPC
// API's backend, or "" when it is one: gRPC runs over HTTP/2 only.
func grpcProblem(r *http.Request) string {
	switch {
	case r.ProtoMajor != 2:
		return "a gRPC API takes gRPC calls over HTTP/2 (h2 with TLS, or h2c)"
	case r.Method != http.MethodPost:
		return "a gRPC call is a POST request"
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"):
		return "a gRPC call's Content-Type is application/grpc"
	}
	return ""
}

// exemptFromMinRate takes a gRPC call's body out of the server's minimum
// body rate, when the server offers that: a client or bidirectional stream
// may pause for as long as its peers like (ASP.NET Core's gRPC does the same
// with Kestrel's rate).
func exemptFromMinRate(body io.Reader) {
	if b, ok := body.(interface{ ExemptFromMinRate() }); ok {
		b.ExemptFromMinRate()
	}
}

// trailered is a response body whose message ends with trailers (a gRPC
// backend's grpc-status), known once the body was read to its end.
type trailered interface{ Trailer() http.Header }

// addTrailers sends the backend's trailers after the body, as HTTP/2
// trailers.
func addTrailers(w http.ResponseWriter, src any) {
	t, ok := src.(trailered)
	if !ok {
		return
	}
	h := w.Header()
	for k, v := range t.Trailer() {
		h[http.TrailerPrefix+k] = v
	}
}
