package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnect drives connect against proxies that answer well and badly: it
// asks for the tunnel with the credentials, opens it only on a 2xx, reads
// nothing past the proxy's head, and never hangs or names the credentials.
func TestConnect(t *testing.T) {
	const auth = "Basic Z3c6c2VjcmV0"
	tests := []struct {
		name, answer string
		hang         bool
		want         string // "" for success
	}{
		{"200", "HTTP/1.1 200 Connection established\r\n\r\n", false, ""},
		{"200 with headers, LF only", "HTTP/1.0 200 OK\nVia: p\n\n", false, ""},
		{"407", "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", false, "407 Proxy Authentication Required"},
		{"403", "HTTP/1.1 403 Forbidden\r\n\r\n", false, "the proxy answered 403"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, "not HTTP"},
		{"a head that never ends", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 20<<10), false, "too long"},
		{"closed mid-head", "HTTP/1.1 200 OK\r\n", false, "reading the proxy's answer"},
		{"no answer", "", true, "the proxy did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			asked := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				asked <- string(buf[:n])
				if tt.hang {
					time.Sleep(2 * time.Second)
					return
				}
				io.WriteString(c, tt.answer)
				io.WriteString(c, "after the head") // must stay on the connection
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err = connect(ctx, nc, "backend.example:443", auth)
			if got := <-asked; got != "CONNECT backend.example:443 HTTP/1.1\r\nHost: backend.example:443\r\nProxy-Authorization: "+auth+"\r\n\r\n" {
				t.Errorf("asked %q", got)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("connect: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("connect: %v, want an error with %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "Z3c6"):
				t.Errorf("the error names the credentials: %v", err)
			}
			if tt.want == "" {
				rest := make([]byte, len("after the head"))
				if _, err := io.ReadFull(nc, rest); err != nil || string(rest) != "after the head" {
					t.Errorf("after the head: %q %v", rest, err)
				}
			}
			if tt.name == "407" && !errors.Is(err, ErrProxyAuth) {
				t.Errorf("407: %v is not ErrProxyAuth", err)
			}
		})
	}
}
