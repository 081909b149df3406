package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUpgradeFailures sends WebSocket handshakes to backends that misbehave:
// each is a forward error with API Management's reason, never a hang or a
// tunnel to something that is not WebSocket.
func TestUpgradeFailures(t *testing.T) {
	serve := func(t *testing.T, answer func(c net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					http.ReadRequest(bufio.NewReader(c))
					answer(c)
				}()
			}
		}()
		return "http://" + ln.Addr().String()
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name, url, reason string
		status            int
	}{
		{"nothing listens", closedURL, "BackendConnectionFailure", 500},
		{"another protocol", serve(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
		}), "BackendConnectionFailure", 502},
		{"no answer", serve(t, func(c net.Conn) { time.Sleep(2 * time.Second) }), "Timeout", 500},
		{"not HTTP", serve(t, func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH\r\n") }), "BackendConnectionFailure", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newX(t, "GET", tt.url+"/socket", nil, 0)
			x.WebSocket = true
			err := forwarder(t).Forward(context.Background(), x, Options{Timeout: 300 * time.Millisecond})
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason != tt.reason || pe.Status != tt.status {
				t.Fatalf("error %v, want %s %d", err, tt.reason, tt.status)
			}
		})
	}

	t.Run("a refusal is an ordinary response", func(t *testing.T) {
		url := serve(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\nnot you")
		})
		x := newX(t, "GET", url+"/socket", nil, 0)
		x.WebSocket = true
		if err := forwarder(t).Forward(context.Background(), x, opts()); err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(x.Response.Body.Reader())
		if x.Response.StatusCode != 403 || string(body) != "not you" || x.Response.Headers.Get("Connection") != "" {
			t.Errorf("%d %q %v", x.Response.StatusCode, body, x.Response.Headers)
		}
	})

	t.Run("the handshake the backend gets", func(t *testing.T) {
		handshake(t, "", "")
	})
	t.Run("a Host a policy set", func(t *testing.T) {
		handshake(t, "chat.internal", "chat.internal")
	})
}

// handshake forwards a WebSocket handshake whose Host header a policy set to
// setHost ("": left as the client sent it) and checks what the backend got;
// wantHost "" is the backend's own address.
func handshake(t *testing.T, setHost, wantHost string) {
	got := make(chan *http.Request, 1)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r, _ := http.ReadRequest(bufio.NewReader(c))
		got <- r
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n\r\nearly")
		time.Sleep(time.Second)
	}()
	x := newX(t, "GET", "http://"+ln.Addr().String()+"/socket?room=1", nil, 0)
	x.WebSocket = true
	x.Request.Headers["Sec-Websocket-Key"] = []string{"k"}
	x.Request.Headers["Upgrade"] = []string{"h2c"} // a client's own hop-by-hop header never reaches the backend
	if setHost != "" {
		x.Request.Headers.Set("Host", setHost)
	}
	if wantHost == "" {
		wantHost = ln.Addr().String() // the client's Host names the gateway, not the backend
	}
	if err := forwarder(t).Forward(context.Background(), x, opts()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	h := r.Header
	if r.URL.RequestURI() != "/socket?room=1" || r.Host != wantHost || h.Get("Upgrade") != "websocket" || h.Get("Connection") != "Upgrade" ||
		h.Get("Sec-Websocket-Key") != "k" || h.Get("X-Forwarded-For") != "203.0.113.9" || h.Get("User-Agent") != "" {
		t.Errorf("%s %s (want %s) %v", r.URL, r.Host, wantHost, h)
	}
	tun, ok := x.Response.Body.Source().(*Tunnel)
	if x.Response.StatusCode != 101 || !ok || x.Response.Headers.Get("Sec-Websocket-Accept") != "abc" {
		t.Fatalf("%d %T", x.Response.StatusCode, x.Response.Body.Source())
	}
	defer tun.Close()
	early := make([]byte, 5)
	if _, err := io.ReadFull(tun, early); err != nil || !strings.EqualFold(string(early), "early") {
		t.Errorf("%q %v, want what the backend sent with its 101", early, err)
	}
}
