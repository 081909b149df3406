package http1_test

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/http1"
)

// BenchmarkServer is the data plane's server stage alone: one keep-alive
// connection, a request head of the size a gateway sees parsed into an
// *http.Request, a handler writing 16 bytes, the response framed and flushed.
// With BenchmarkClient (proxy), BenchmarkRoute and BenchmarkDataPlane
// (gateway), it splits a proxied request's cost by stage.
func BenchmarkServer(b *testing.B) {
	for _, tc := range []struct {
		name    string
		srv     func(http.Handler) interface{ Serve(net.Listener) error }
		release bool // the handler releases the request, as the gateway does
	}{
		{"http1", func(h http.Handler) interface{ Serve(net.Listener) error } { return &http1.Server{Handler: h} }, false},
		{"http1-released", func(h http.Handler) interface{ Serve(net.Listener) error } { return &http1.Server{Handler: h} }, true},
		{"net-http", func(h http.Handler) interface{ Serve(net.Listener) error } { return &http.Server{Handler: h} }, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// As the gateway does: it always knows the length it sends.
				w.Header()["Content-Type"] = []string{"text/plain"}
				w.Header()["Content-Length"] = []string{"16"}
				w.Write([]byte("0123456789abcdef"))
				if tc.release {
					w.(interface{ ReleaseRequest() }).ReleaseRequest()
				}
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go tc.srv(h).Serve(ln)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /orders/42?x=1 HTTP/1.1\r\nHost: gateway.example\r\nUser-Agent: bench/1.0\r\n" +
				"Accept: application/json\r\nOcp-Apim-Subscription-Key: 0123456789abcdef0123456789abcdef\r\n" +
				"Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n")
			br := bufio.NewReader(c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readResponse(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readResponse reads one response with a Content-Length body, allocating
// nothing, so that the benchmark's allocations are the server's.
func readResponse(br *bufio.Reader) error {
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return err
			}
		}
	}
	_, err := br.Discard(length)
	return err
}
