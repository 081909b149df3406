package http1_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/http1"
)

// TestHijack takes connections over as the gateway's WebSocket tunnels do:
// bytes the client sent right after the request reach the handler first, the
// server's timeouts no longer apply, and a request with a body, or one whose
// response began, cannot be taken.
func TestHijack(t *testing.T) {
	s := &http1.Server{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			w.WriteHeader(http.StatusOK)
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, err.Error())
			return
		}
		defer conn.Close()
		if _, _, err := w.(http.Hijacker).Hijack(); err == nil {
			t.Error("a second Hijack succeeded")
		}
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		// Echo lines until "bye", slower than the server's timeouts.
		for {
			line, err := rw.ReadString('\n')
			if err != nil || line == "bye\n" {
				return
			}
			time.Sleep(300 * time.Millisecond)
			io.WriteString(conn, "echo "+line)
		}
	})}
	addr := serve(t, s)

	c := dialFor(t, addr, 5*time.Second)
	// The first line travels with the request, in the same write.
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	for _, line := range []string{"", "second\n", "third\n"} {
		if line != "" {
			io.WriteString(c, line)
		} else {
			line = "first\n"
		}
		got, err := br.ReadString('\n')
		if err != nil || got != "echo "+line {
			t.Fatalf("got %q %v, want the echo of %q", got, err, line)
		}
	}
	io.WriteString(c, "bye\n")
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after bye: %v, want the handler's close", err)
	}

	for _, tt := range []struct{ name, raw, want string }{
		{"a request with a body", "POST /tunnel HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", "cannot hijack the connection of a request with a body"},
		{"a response that began", "GET /late HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resps, bodies, _ := roundTrip(t, addr, tt.raw)
			if len(resps) != 1 || !strings.Contains(bodies[0], tt.want) {
				t.Fatalf("%v %q", resps, bodies)
			}
			if tt.want != "" && resps[0].StatusCode != http.StatusConflict {
				t.Errorf("status %d", resps[0].StatusCode)
			}
		})
	}
}
