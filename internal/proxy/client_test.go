package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each connection with handle, which reads the request
// itself; it counts the connections it accepted.
func rawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func TestWriteRequestURI(t *testing.T) {
	for _, raw := range []string{
		"http://h/", "http://h", "http://h/a%2Fb/c?x=1&y=%20", "http://h/p?", "http://h/?q", "http://h/a b",
		"http://h/p?x=1#frag", "mailto:someone@example.com?subject=hi", "http:////double?x",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		w := bufio.NewWriter(&b)
		writeRequestURI(w, u)
		w.Flush()
		if got, want := b.String(), u.RequestURI(); got != want {
			t.Errorf("writeRequestURI(%q) = %q, want %q", raw, got, want)
		}
	}
	u := &url.URL{Scheme: "http", Host: "h", Opaque: "//h/o", RawQuery: "a=b"}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	writeRequestURI(w, u)
	w.Flush()
	if got, want := b.String(), u.RequestURI(); got != want {
		t.Errorf("writeRequestURI(opaque //) = %q, want %q", got, want)
	}
}

// TestWriteRequestURIQuery: a query url.Parse kept with bytes a request line
// cannot carry (from a policy's base-url expression) goes out escaped, so the
// backend's request line stays three tokens.
func TestWriteRequestURIQuery(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"a=1&b=%20", "/p?a=1&b=%20"},
		{"a=1 HTTP/1.1", "/p?a=1%20HTTP/1.1"},
		{"q=caf\xc3\xa9", "/p?q=caf%C3%A9"},
		{"x=\x01\x7f", "/p?x=%01%7F"},
		{" ", "/p?%20"},
	} {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		writeRequestURI(w, &url.URL{Scheme: "http", Host: "h", Path: "/p", RawQuery: tc.query})
		w.Flush()
		if got := b.String(); got != tc.want {
			t.Errorf("query %q: got %q, want %q", tc.query, got, tc.want)
		}
	}
}

// readRequestHead reads one request head and returns its lines.
func readRequestHead(br *bufio.Reader) ([]string, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return lines, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return lines, nil
		}
		lines = append(lines, l)
	}
}

func get(t *testing.T, c *Client, url string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.Request != req {
		t.Errorf("the response's Request is %p, want the request sent (%p), as http.RoundTripper's callers expect", resp.Request, req)
	}
	data, err := io.ReadAll(resp.Body)
	return resp, string(data), err
}

func TestClientResponses(t *testing.T) {
	tests := []struct {
		name     string
		response string // what the backend writes after reading the request head
		method   string
		want     string // body
		wantErr  string
		reused   bool // the connection is reused for a second request
		close    bool // the backend closes the connection after the response
	}{
		{name: "content-length", response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", want: "hello", reused: true},
		{name: "chunked with a trailer", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", want: "hello!", reused: true},
		{name: "interim responses are skipped", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", want: "ok", reused: true},
		{name: "204 has no body", response: "HTTP/1.1 204 No Content\r\n\r\n", want: "", reused: true},
		{name: "HEAD has no body", method: "HEAD", response: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", want: "", reused: true},
		{name: "until the connection closes", response: "HTTP/1.1 200 OK\r\n\r\nstreamed", want: "streamed"},
		{name: "Connection: close", response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", want: "ok"},
		{name: "HTTP/1.0 without keep-alive", response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", want: "ok"},
		{name: "both Content-Length and chunked: chunked, and never reused", response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", want: "ok"},
		{name: "two different Content-Lengths", response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", wantErr: "invalid Content-Length"},
		{name: "a negative Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "invalid Content-Length"},
		{name: "a malformed status line", response: "HTTP/1.1 OK\r\n\r\n", wantErr: "malformed status line"},
		{name: "HTTP/2 on an HTTP/1 connection", response: "HTTP/2.0 200 OK\r\n\r\n", wantErr: "not HTTP/1.x"},
		{name: "a switch of protocols", response: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", wantErr: "switched protocols"},
		{name: "a body cut short", response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: "unexpected EOF", close: true},
		{name: "a bad chunk", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: "invalid byte in chunk length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					io.WriteString(c, tc.response)
					if tc.close {
						return
					}
					if !strings.Contains(tc.response, "Content-Length") && !strings.Contains(tc.response, "chunked") && !strings.HasPrefix(tc.response, "HTTP/1.1 204") && tc.method != "HEAD" {
						return // a close-delimited body ends with the connection
					}
				}
			})
			c := &Client{}
			req, _ := http.NewRequest(cmpOr(tc.method, "GET"), "http://"+addr+"/x", nil)
			resp, err := c.RoundTrip(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(body) != tc.want {
				t.Fatalf("body %q, %v; want %q", body, err, tc.want)
			}
			if !tc.reused {
				return
			}
			req, _ = http.NewRequest(cmpOr(tc.method, "GET"), "http://"+addr+"/y", nil)
			if resp, err = c.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for two requests, want the first reused", n)
			}
		})
	}
}

// TestClientNeverReadsUnframedBytes: bytes a backend sends beyond the message
// it framed must never be read as the next request's answer, which may be
// another client's.
func TestClientNeverReadsUnframedBytes(t *testing.T) {
	const leak = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED"
	tests := []struct {
		name, method, response string
	}{
		{"a Content-Length too small", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + leak},
		{"a body on a 204", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + leak},
		{"a body on a 304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n" + leak},
		{"a body on a HEAD answer", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED" + leak},
		{"bytes after the last chunk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + leak},
		{"an empty line too many", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var first atomic.Bool
			addr, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					if first.CompareAndSwap(false, true) {
						io.WriteString(c, tc.response) // one write: it all arrives together
						continue
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
				}
			})
			c := &Client{}
			req, _ := http.NewRequest(tc.method, "http://"+addr+"/first", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			for i := range 2 {
				if resp, body, err := get(t, c, "http://"+addr+"/next"); err != nil || resp.StatusCode != 200 || body != "real" {
					t.Fatalf("request %d after it: %q, %v; want the backend's answer to it", i+2, body, err)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2: the first closed, the second reused", n)
			}
		})
	}
}

// TestClientChecksALongIdleConnection: a connection idle for over a second is
// checked before it is used. What the backend sent on it meanwhile (a 408 as
// it gave up on the connection) is not taken for the next answer, and one it
// closed is not tried, so that even a request that cannot be retried goes out
// on a new connection.
func TestClientChecksALongIdleConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		idle   func(c net.Conn) // what the backend does after its first answer
	}{
		{"a 408 on the idle connection", "GET", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
		}},
		{"the backend closed it", "POST", func(c net.Conn) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first atomic.Bool
			addr, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					if _, err := readRequestHead(br); err != nil {
						return
					}
					if tc.method == "POST" {
						br.Discard(1) // the body, "x"
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
					if first.CompareAndSwap(false, true) {
						tc.idle(c)
					}
				}
			})
			c := &Client{}
			for i := range 2 {
				if i == 1 {
					time.Sleep(checkIdleAfter + 100*time.Millisecond)
				}
				req, _ := http.NewRequest(tc.method, "http://"+addr+"/", strings.NewReader("x"))
				if tc.method == "GET" {
					req.Body = nil
				}
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != "real" {
					t.Fatalf("request %d: %d %q, %v; want the backend's answer to it", i+1, resp.StatusCode, body, err)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// TestClientKeepsALongIdleTLSConnection: over TLS 1.3 the server sends session
// tickets after the handshake; they must not make an idle connection look
// stale, or every request after a pause would pay for a new handshake.
func TestClientKeepsALongIdleTLSConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	c := &Client{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	for i := range 2 {
		if i == 1 {
			time.Sleep(checkIdleAfter + 100*time.Millisecond)
		}
		if _, body, err := get(t, c, srv.URL+"/"); err != nil || body != "ok" {
			t.Fatalf("request %d: %q, %v", i+1, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want the first reused after its pause", n)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestClientRequestHead(t *testing.T) {
	got := make(chan []string, 1)
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		lines, _ := readRequestHead(br)
		got <- lines
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	req, _ := http.NewRequest("POST", "http://"+addr+"/a%2Fb/c?q=1", nil)
	req.Host = "virtual.example"
	req.Header = http.Header{
		"X-Injected":        {"a\r\nX-Evil: 1"},
		"Bad Name":          {"x"},
		"User-Agent":        {""},
		"Transfer-Encoding": {"chunked"},
		"Connection":        {"close"},
		"Content-Length":    {"99"},
		"Host":              {"ignored.example"},
	}
	resp, err := (&Client{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines := <-got
	want := map[string]bool{
		"POST /a%2Fb/c?q=1 HTTP/1.1": true, "Host: virtual.example": true,
		"X-Injected: a X-Evil: 1": true, "Content-Length: 0": true,
	}
	for _, l := range lines {
		if !want[l] {
			t.Errorf("unexpected request line %q", l)
		}
		delete(want, l)
	}
	for l := range want {
		t.Errorf("missing request line %q", l)
	}
}

func TestClientRetriesAClosedIdleConnection(t *testing.T) {
	var served atomic.Int32
	addr, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		// Each connection serves one request, then closes without saying
		// so, as a backend with a short keep-alive timeout does.
		if _, err := readRequestHead(br); err != nil {
			return
		}
		served.Add(1)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := &Client{}
	for i := range 3 {
		if _, body, err := get(t, c, "http://"+addr+"/"); err != nil || body != "ok" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if served.Load() != 3 || conns.Load() < 3 {
		t.Errorf("served %d on %d connections", served.Load(), conns.Load())
	}

	// A POST is not replayed on a new connection: it fails.
	t.Run("not for a POST", func(t *testing.T) {
		c := &Client{}
		req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("x"))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		time.Sleep(20 * time.Millisecond)
		req, _ = http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("x"))
		if _, err := c.RoundTrip(req); err == nil {
			t.Error("a POST on a connection the backend closed succeeded: was it sent twice?")
		}
	})
}

// TestClientInterimThenPause: a final answer that comes a while after an
// interim one (103 Early Hints sent as soon as the backend knows them) is
// waited for under the header timeout, not the short first-byte wait.
func TestClientInterimThenPause(t *testing.T) {
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequestHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
			time.Sleep(3 * slowAnswer)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, timeout := range []time.Duration{0, 10 * time.Second} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		resp, err := (&Client{}).roundTrip(context.Background(), req, timeout, nil, nil)
		if err != nil {
			t.Fatalf("header timeout %v: %v", timeout, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" || err != nil {
			t.Errorf("header timeout %v: %d %q, %v", timeout, resp.StatusCode, body, err)
		}
	}

}

// TestClientResponsesInPieces has the backend send each answer in two pieces,
// split at every byte, with a pause longer than the first-byte wait between
// them: reading must resume wherever the first piece left it (inside the
// status line, a field, the body, a chunk or the trailer, or between an
// interim answer and the final one).
func TestClientResponsesInPieces(t *testing.T) {
	for _, tc := range []struct{ name, method, response, want string }{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", "hello"},
		{"chunked with a trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-T: 1\r\n\r\n", "hello"},
		{"interim answers first", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello"},
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				for {
					head, err := readRequestHead(br)
					if err != nil {
						return
					}
					var i int
					fmt.Sscanf(strings.Fields(head[0])[1], "/%d", &i)
					io.WriteString(c, tc.response[:i])
					time.Sleep(3 * slowAnswer)
					io.WriteString(c, tc.response[i:])
				}
			})
			c := &Client{}
			var wg sync.WaitGroup // every split at once: each waits for its pause
			for i := 1; i < len(tc.response); i++ {
				wg.Go(func() {
					req, _ := http.NewRequest(tc.method, fmt.Sprintf("http://%s/%d", addr, i), nil)
					resp, err := c.roundTrip(context.Background(), req, 10*time.Second, nil, nil)
					if err != nil {
						t.Errorf("split at %d: %v", i, err)
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != tc.want || err != nil {
						t.Errorf("split at %d: %d %q, %v; want 200 %q", i, resp.StatusCode, body, err, tc.want)
					}
				})
			}
			wg.Wait()
		})
	}
}

// upload is a request body that never ends on its own: it gives data without
// end (a client that keeps sending), or, with stall, blocks after its first
// read (a client that stopped sending), until it is closed.
type upload struct {
	stall  bool
	reads  atomic.Int32
	closed chan struct{}
	once   sync.Once
}

func (u *upload) Read(p []byte) (int, error) {
	if u.stall && u.reads.Add(1) > 1 {
		<-u.closed
	}
	select {
	case <-u.closed:
		return 0, errors.New("closed")
	default:
	}
	clear(p)
	return len(p), nil
}

func (u *upload) Close() error { u.once.Do(func() { close(u.closed) }); return nil }

func newUpload(stall bool) *upload { return &upload{stall: stall, closed: make(chan struct{})} }

// earlyBackend answers 413 as soon as it has a request's head, then neither
// reads the body nor closes, and returns its address.
func earlyBackend(t *testing.T) string {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequestHead(br)
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")
		<-release
	})
	return addr
}

// TestClientEarlyAnswer: a backend that answers before it has read the
// request body (a 413 to a large upload) and then stops reading must not hold
// its answer back, whether the client keeps sending or stopped: the answer is
// delivered whole, and the body's writer has stopped once it ended.
func TestClientEarlyAnswer(t *testing.T) {
	addr := earlyBackend(t)
	for _, stall := range []bool{false, true} {
		for _, length := range []int64{-1, 1 << 30} { // chunked, and a length
			t.Run(fmt.Sprintf("stall=%v/%d", stall, length), func(t *testing.T) { earlyAnswer(t, addr, length, stall) })
		}
	}
}

func earlyAnswer(t *testing.T, addr string, length int64, stall bool) {
	body := newUpload(stall)
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+addr+"/", body)
		req.ContentLength = length
		resp, err := (&Client{}).RoundTrip(req)
		if err != nil {
			done <- err.Error()
			return
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %s %v", resp.StatusCode, data, err)
	}()
	select {
	case got := <-done:
		if got != "413 too big! <nil>" {
			t.Fatalf("got %q, want the backend's 413 whole", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the answer was held back while the request body could not be written")
	}
	select {
	case <-body.closed:
	default:
		t.Fatal("the request body was not closed when the answer ended")
	}
}

// TestClientHeaderTimeout: the header timeout bounds the wait for the final
// answer, also after an interim one.
func TestClientHeaderTimeout(t *testing.T) {
	for _, first := range []string{"", "HTTP/1.1 100 Continue\r\n\r\n"} {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			readRequestHead(br)
			io.WriteString(c, first)
			<-release
		})
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		_, err := (&Client{}).roundTrip(context.Background(), req, 50*time.Millisecond, nil, nil)
		if !errors.Is(err, errHeaderTimeout) {
			t.Fatalf("after %q: err %v, want the header timeout", first, err)
		}
	}
}

func TestClientCanceled(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequestHead(br)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := (&Client{}).RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestClientResponseHeaderLimit(t *testing.T) {
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequestHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		for range 1000 {
			fmt.Fprintf(c, "X-Big: %s\r\n", strings.Repeat("a", 1000))
		}
	})
	_, _, err := get(t, &Client{MaxResponseHeaderBytes: 64 << 10}, "http://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err %v, want the header refused as too large", err)
	}
}

// TestClientStreamsRequestBodies sends a body of unknown length while the
// backend answers early, and one whose source fails half-way: the backend
// then sees the message cut short and the caller gets the source's error.
func TestClientStreamsRequestBodies(t *testing.T) {
	t.Run("an early answer", func(t *testing.T) {
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(413)
		}))
		defer be.Close()
		pr, pw := io.Pipe()
		go func() {
			for range 100 {
				if _, err := pw.Write(make([]byte, 32<<10)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", be.URL, pr)
		req.ContentLength = -1
		resp, err := (&Client{}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr.Close()
		if resp.StatusCode != 413 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("a failing source", func(t *testing.T) {
		var mu sync.Mutex
		var backendErr error
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			mu.Lock()
			backendErr = err
			mu.Unlock()
		}))
		defer be.Close()
		src := io.MultiReader(strings.NewReader(strings.Repeat("x", 100<<10)), &failing{})
		req, _ := http.NewRequest("POST", be.URL, src)
		req.ContentLength = -1
		done := make(chan error, 1)
		go func() {
			_, err := (&Client{}).RoundTrip(req)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a request whose body failed succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the request hung after its body failed")
		}
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if backendErr == nil {
			t.Error("the backend read a complete body")
		}
	})
}

type failing struct{}

func (*failing) Read([]byte) (int, error) { return 0, errors.New("source failed") }

func BenchmarkClient(b *testing.B) {
	url := "http://" + rawBackend(b, "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef") + "/x"
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"Client", &Client{}},
		{"http.Transport", &http.Transport{MaxIdleConnsPerHost: 64}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", url, nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestClientRefusesAnInvalidMethod: a method is the request line's first
// token; one that is not a token never reaches the backend.
func TestClientRefusesAnInvalidMethod(t *testing.T) {
	addr, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {})
	for _, m := range []string{"G ET", "GET /admin?", "GET\r\nX: y", ""} {
		req := &http.Request{Method: m, URL: &url.URL{Scheme: "http", Host: addr, Path: "/"}, Header: http.Header{}}
		if resp, err := (&Client{}).RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("method %q was sent", m)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the backend, want none", n)
	}
}

// TestClientSendsInsideTheWait: a plain connection sends a bodiless request
// from inside the wait for its answer (bconn.wait). The answer wakes the wait
// however late it comes; a wait whose deadline passed before it began still
// sends the request; a backend that closed the connection meanwhile is
// noticed (its reset wakes the wait) and the request retried.
func TestClientSendsInsideTheWait(t *testing.T) {
	got := make(chan string, 4)
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			head, err := readRequestHead(br)
			if err != nil {
				return
			}
			got <- head[0]
			if strings.Contains(head[0], "/late") {
				time.Sleep(3 * slowAnswer / 2) // past the first wait
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	c := &Client{}
	for _, path := range []string{"/now", "/late"} {
		if _, body, err := get(t, c, "http://"+addr+path); err != nil || body != "ok" {
			t.Fatalf("%s: %q, %v", path, body, err)
		}
		if line := <-got; !strings.Contains(line, path) {
			t.Fatalf("backend got %q, want %s", line, path)
		}
	}

	key := poolKey{scheme: "http", host: "127.0.0.1", port: addr[strings.LastIndexByte(addr, ':')+1:]}
	bc, err := c.conn(context.Background(), key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if bc.raw == nil {
		t.Fatal("a plain TCP connection has no raw socket: its requests are sent before the wait")
	}
	io.WriteString(bc.bw, "GET /expired HTTP/1.1\r\nHost: x\r\n\r\n")
	bc.SetReadDeadline(time.Now().Add(-time.Second))
	waitErr, sendErr := bc.sendWaiting()
	if waitErr != nil || sendErr != nil {
		t.Fatalf("wait %v, send %v; want both nil when the deadline passed before the wait", waitErr, sendErr)
	}
	select {
	case line := <-got:
		if !strings.Contains(line, "/expired") {
			t.Fatalf("backend got %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request was not sent when the wait's deadline had already passed")
	}
}
