package http1_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/http1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seen is what the handler observed of one request.
type seen struct {
	Method, Target, Host string
	Header               http.Header
	Body                 string
	BodyErr              string
	ContentLength        int64
}

// recorder is a handler that reads the whole body and echoes what it saw.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seen{Method: r.Method, Target: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), ContentLength: r.ContentLength}
	data, err := io.ReadAll(r.Body)
	s.Body = string(data)
	if err != nil {
		s.BodyErr = err.Error()
		var hs interface{ HTTPStatus() int }
		code := 500
		if errors.As(err, &hs) {
			code = hs.HTTPStatus()
		}
		rc.add(s)
		w.WriteHeader(code)
		fmt.Fprintf(w, "body error: %v", err)
		return
	}
	rc.add(s)
	out := fmt.Sprintf("%s %s %q", r.Method, r.RequestURI, data)
	w.Header().Set("Content-Length", fmt.Sprint(len(out)))
	io.WriteString(w, out)
}

func (rc *recorder) add(s seen) {
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, s)
	rc.mu.Unlock()
}

func (rc *recorder) all() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seen(nil), rc.reqs...)
}

func serve(t *testing.T, s *http1.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

// roundTrip writes raw to a new connection and reads every response until the
// server closes the connection (or 5 s pass). It reports whether the server
// closed the connection.
func roundTrip(t *testing.T, addr, raw string) (resps []*http.Response, bodies []string, closed bool) {
	return roundTripHalf(t, addr, raw, false)
}

// dialFor opens a connection to addr that gives up after d, closed when the
// test ends.
func dialFor(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(d))
	return c
}

// readToClose writes raw to a new connection and reads until the server closes
// it (or 5 s pass).
func readToClose(t *testing.T, addr, raw string) (string, error) {
	t.Helper()
	c := dialFor(t, addr, 5*time.Second)
	io.WriteString(c, raw)
	data, err := io.ReadAll(c)
	return string(data), err
}

// roundTripHalf is roundTrip that, with halfClose, shuts the connection's
// sending side after the request, as a client that sent all it had does.
func roundTripHalf(t *testing.T, addr, raw string, halfClose bool) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c := dialFor(t, addr, 5*time.Second)
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return resps, bodies, !(errors.As(err, &ne) && ne.Timeout())
		}
		data, _ := io.ReadAll(resp.Body)
		resps, bodies = append(resps, resp), append(bodies, string(data))
		if resp.Close {
			// The server said it closes: check that it does.
			_, err := br.ReadByte()
			return resps, bodies, err == io.EOF
		}
		// Keep-alive: stop after a short wait for more responses.
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	}
}

func TestFraming(t *testing.T) {
	rec := &recorder{}
	addr := serve(t, &http1.Server{Handler: rec})
	tests := []struct {
		name       string
		raw        string
		halfClose  bool
		wantStatus []int
		wantClosed bool
		wantBodies []string // what the handler read, per request it saw
	}{
		{
			name:       "content-length body, keep-alive",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			wantStatus: []int{200}, wantBodies: []string{"hello"},
		},
		{
			name:       "chunked body with extensions and a trailer",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6 ; q=\"v\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
			wantStatus: []int{200}, wantBodies: []string{"hello world"},
		},
		{
			name:       "both Content-Length and Transfer-Encoding are refused and the connection closed",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true,
		},
		{
			name:       "Transfer-Encoding on HTTP/1.0",
			raw:        "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true,
		},
		{
			name:       "an unknown transfer coding",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			wantStatus: []int{501}, wantClosed: true,
		},
		{
			name:       "chunked twice",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true,
		},
		{
			name:       "chunked not last",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true,
		},
		{
			name:       "a transfer coding that only looks like chunked",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
			wantStatus: []int{501}, wantClosed: true,
		},
		{
			name:       "two different Content-Lengths",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			wantStatus: []int{400}, wantClosed: true,
		},
		{
			name:       "two equal Content-Lengths are one",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
			wantStatus: []int{200}, wantBodies: []string{"abc"},
		},
		{name: "a signed Content-Length", raw: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", wantStatus: []int{400}, wantClosed: true},
		{name: "a hex Content-Length", raw: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", wantStatus: []int{400}, wantClosed: true},
		{name: "a Content-Length list", raw: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", wantStatus: []int{400}, wantClosed: true},
		{name: "a huge Content-Length", raw: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{
			name:       "a malformed chunk size is the client's error, and nothing of the body reaches the handler",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{""},
		},
		{
			name:       "a chunk size that overflows",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{""},
		},
		{
			name:       "chunk data longer than its size",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{""},
		},
		{
			name:       "a bare LF after a chunk size",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{""},
		},
		{
			name:       "a negative chunk size",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{""},
		},
		{
			name:      "a body cut short by the client",
			raw:       "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
			halfClose: true,
			// The handler reads what came, then the error: nothing says the
			// body ended, so a proxy never completes the message it forwards.
			wantStatus: []int{400}, wantClosed: true, wantBodies: []string{"abc"},
		},
		{
			name:       "pipelined requests are answered in order",
			raw:        "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			wantStatus: []int{200, 200, 200}, wantClosed: true, wantBodies: []string{"", "hi", ""},
		},
		{name: "HTTP/1.0 closes by default", raw: "GET /a HTTP/1.0\r\n\r\n", wantStatus: []int{200}, wantClosed: true, wantBodies: []string{""}},
		{name: "HTTP/1.0 keep-alive", raw: "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantStatus: []int{200}, wantBodies: []string{""}},
		{name: "missing Host", raw: "GET /a HTTP/1.1\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "two Hosts", raw: "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a Host with a path", raw: "GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "obsolete line folding", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "whitespace before the colon", raw: "GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a CR inside a value", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a NUL inside a value", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a field without a colon", raw: "GET /a HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a space in the target", raw: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a non-ASCII target", raw: "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "a bad escape in the target", raw: "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "HTTP/2.0 on an HTTP/1 line", raw: "GET /a HTTP/2.0\r\nHost: x\r\n\r\n", wantStatus: []int{505}, wantClosed: true},
		{name: "HTTP/1.1 in lower case", raw: "GET /a http/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "CONNECT", raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", wantStatus: []int{405}, wantClosed: true},
		{name: "an unknown expectation", raw: "GET /a HTTP/1.1\r\nHost: x\r\nExpect: nothing\r\n\r\n", wantStatus: []int{417}, wantClosed: true},
		{
			name:       "absolute-form: the authority replaces Host",
			raw:        "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
			wantStatus: []int{200}, wantBodies: []string{""},
		},
		{name: "absolute-form with user info", raw: "GET http://u:p@example.com/p HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{400}, wantClosed: true},
		{name: "LF line endings are accepted", raw: "GET /lf HTTP/1.1\nHost: x\n\n", wantStatus: []int{200}, wantBodies: []string{""}},
		{name: "empty lines before a request are skipped", raw: "\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: []int{200}, wantBodies: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.all())
			resps, _, closed := roundTripHalf(t, addr, tc.raw, tc.halfClose)
			var got []int
			for _, r := range resps {
				got = append(got, r.StatusCode)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantStatus) {
				t.Errorf("statuses %v, want %v", got, tc.wantStatus)
			}
			if closed != tc.wantClosed {
				t.Errorf("connection closed: %v, want %v", closed, tc.wantClosed)
			}
			var bodies []string
			for _, s := range rec.all()[before:] {
				bodies = append(bodies, s.Body)
			}
			if fmt.Sprint(bodies) != fmt.Sprint(tc.wantBodies) {
				t.Errorf("the handler read %q, want %q", bodies, tc.wantBodies)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	addr := serve(t, &http1.Server{Handler: &recorder{}, MaxRequestLine: 100, MaxHeaderBytes: 1024, MaxHeaderCount: 5})
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"request line too long", "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"header section too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n\r\n", 431},
		{"a header line longer than the read buffer", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 900) + "\r\n\r\n", 200},
		{"too many empty lines first", strings.Repeat("\r\n", 10) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"a chunk extension that floods", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 40) + "0\r\n\r\n", 400},
		{"a trailer section too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX: " + strings.Repeat("t", 2000) + "\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, closed := roundTrip(t, addr, tc.raw)
			if len(resps) == 0 || resps[0].StatusCode != tc.want {
				t.Fatalf("responses %v %q, want %d", resps, bodies, tc.want)
			}
			if tc.want != 200 && !closed {
				t.Error("the connection stayed open after a refused request")
			}
		})
	}
}

// TestLimitsOverHTTP2: an HTTP/2 request head has the limits of the same
// request sent as HTTP/1.1, answered by the server's own error body. Go's
// client adds two fields (User-Agent, Accept-Encoding) to Host and the test's.
func TestLimitsOverHTTP2(t *testing.T) {
	addr := serve(t, &http1.Server{Handler: &recorder{}, HTTP2: true, MaxRequestLine: 100, MaxHeaderBytes: 1024, MaxHeaderCount: 5,
		ErrorBody: func(status int, msg string) (string, []byte) { return "text/x-test", []byte(msg) }})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}}
	defer client.CloseIdleConnections()
	tests := []struct {
		name    string
		path    string
		headers int
		value   int // bytes of one more header's value
		want    int
		body    string
	}{
		{"within the limits", "/", 1, 900, 200, ""},
		{"request line too long", "/" + strings.Repeat("a", 200), 0, 0, 414, "request line too long"},
		{"header section too large", "/", 0, 1100, 431, "request header fields too large"},
		{"too many fields", "/", 3, 0, 431, "too many request header fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
			for i := range tc.headers {
				req.Header.Set(fmt.Sprint("X-", i), "1")
			}
			if tc.value > 0 {
				req.Header.Set("X-Big", strings.Repeat("v", tc.value))
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.want {
				t.Fatalf("%s %d %q, want %d over HTTP/2", resp.Proto, resp.StatusCode, data, tc.want)
			}
			if tc.body != "" && (string(data) != tc.body || resp.Header.Get("Content-Type") != "text/x-test") {
				t.Errorf("body %q (%s), want the server's error body %q", data, resp.Header.Get("Content-Type"), tc.body)
			}
		})
	}
}

func TestSlowClients(t *testing.T) {
	rec := &recorder{}
	addr := serve(t, &http1.Server{Handler: rec, ReadHeaderTimeout: 300 * time.Millisecond,
		MinBodyRate: 1000, BodyGrace: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})

	t.Run("a header sent too slowly gets 408", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 408 {
			t.Fatalf("response %v, %v; want 408", resp, err)
		}
	})
	t.Run("a partial HTTP/2 preface has the header timeout, not the idle one", func(t *testing.T) {
		addr := serve(t, &http1.Server{Handler: rec, HTTP2: true, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute})
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		io.WriteString(c, "PRI * HTTP/2.0\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection is still open")
		}
	})
	t.Run("a body sent a byte at a time gets 408", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 408 {
			t.Fatalf("response %v, %v; want the handler's 408", resp, err)
		}
	})
	t.Run("an idle connection is closed", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %v, want EOF when the idle timeout closes the connection", err)
		}
	})
}

// TestSlowBodyOverHTTP2: an HTTP/2 request body gets the same minimum data
// rate as an HTTP/1.1 one, through the stream's read deadline, while a body
// that keeps up passes.
func TestSlowBodyOverHTTP2(t *testing.T) {
	addr := serve(t, &http1.Server{Handler: &recorder{}, HTTP2: true, MinBodyRate: 1000, BodyGrace: 300 * time.Millisecond})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	send := func(every time.Duration, n int, piece string) (*http.Response, string) {
		pr, pw := io.Pipe()
		go func() {
			for range n {
				time.Sleep(every)
				if _, err := io.WriteString(pw, piece); err != nil {
					return
				}
			}
			pw.Close()
		}()
		resp, err := client.Post("http://"+addr+"/", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		pw.CloseWithError(errors.New("done"))
		return resp, string(body)
	}
	t.Run("a byte every 50 ms gets 408", func(t *testing.T) {
		resp, body := send(50*time.Millisecond, 100, "x")
		if resp.ProtoMajor != 2 || resp.StatusCode != 408 {
			t.Fatalf("%s %d %q; want 408 over HTTP/2", resp.Proto, resp.StatusCode, body)
		}
	})
	t.Run("a body above the rate passes", func(t *testing.T) {
		resp, body := send(20*time.Millisecond, 20, strings.Repeat("x", 100)) // 5,000 bytes/s
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(body, strings.Repeat("x", 2000)) {
			t.Fatalf("%s %d %.60q; want 200 with the whole body", resp.Proto, resp.StatusCode, body)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	t.Run("the handler reads the body: 100 first", func(t *testing.T) {
		addr := serve(t, &http1.Server{Handler: &recorder{}})
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		if line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q, want 100 Continue", line)
		}
		br.ReadString('\n')
		io.WriteString(c, "hi")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("final response %v, %v", resp, err)
		}
	})
	t.Run("the handler answers without reading: no 100, and the connection closes", func(t *testing.T) {
		addr := serve(t, &http1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
		})})
		resps, _, closed := roundTrip(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode != 401 || !closed {
			t.Fatalf("responses %v, closed %v; want one 401 and a close", resps, closed)
		}
	})
}

func TestResponses(t *testing.T) {
	addr := serve(t, &http1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/inject":
			w.Header().Set("X-A", "1\r\nSet-Cookie: evil=1")
			w.Header()["Bad Name"] = []string{"x"}
			io.WriteString(w, "ok")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/stream":
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/nocontent":
			w.WriteHeader(204)
			io.WriteString(w, "ignored")
		case "/panic":
			panic("boom")
		case "/abort":
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
			io.WriteString(w, "buffered")
			panic(http.ErrAbortHandler)
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(103)
			w.WriteHeader(200)
			io.WriteString(w, "final")
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})})

	t.Run("CR and LF in a header value cannot split the response", func(t *testing.T) {
		resps, _, _ := roundTrip(t, addr, "GET /inject HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || resps[0].Header.Get("Set-Cookie") != "" || resps[0].Header.Get("X-A") != "1 Set-Cookie: evil=1" {
			t.Fatalf("headers %v", resps[0].Header)
		}
	})
	t.Run("a body shorter than its Content-Length closes the connection", func(t *testing.T) {
		data, err := readToClose(t, addr, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil || !strings.HasSuffix(data, "\r\n\r\nabc") {
			t.Fatalf("read %q, %v; want the short body and EOF", data, err)
		}
	})
	t.Run("a streamed body is chunked", func(t *testing.T) {
		resps, bodies, _ := roundTrip(t, addr, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if len(resps) != 1 || fmt.Sprint(resps[0].TransferEncoding) != "[chunked]" || bodies[0] != "part0;part1;part2;" {
			t.Fatalf("got %v %q", resps, bodies)
		}
	})
	t.Run("HEAD and 204 have no body", func(t *testing.T) {
		resps, bodies, closed := roundTrip(t, addr, "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\nHEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if len(resps) != 2 || resps[0].StatusCode != 204 || bodies[0] != "" || resps[1].ContentLength != 5 || bodies[1] != "" || !closed {
			t.Fatalf("got %v %q closed %v", resps, bodies, closed)
		}
	})
	t.Run("a handler that panics gets 500 and a close", func(t *testing.T) {
		resps, _, closed := roundTrip(t, addr, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(resps) != 1 || resps[0].StatusCode != 500 || !closed {
			t.Fatalf("got %v closed %v", resps, closed)
		}
	})
	t.Run("a handler that aborts cuts the response short", func(t *testing.T) {
		data, err := readToClose(t, addr, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
		// What it wrote goes out, then the close, without the last chunk.
		if err != nil || !strings.HasSuffix(data, "\r\n\r\n4\r\npart\r\n8\r\nbuffered\r\n") {
			t.Fatalf("read %q, %v; want the chunks written and EOF, no last chunk", data, err)
		}
	})
	t.Run("103 Early Hints before the response", func(t *testing.T) {
		data, _ := readToClose(t, addr, "GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(data, "HTTP/1.1 103 Early Hints\r\n") || !strings.Contains(data, "HTTP/1.1 200 OK\r\n") {
			t.Fatalf("got %q", data)
		}
	})
}

func TestClientGoneCancelsTheRequest(t *testing.T) {
	canceled := make(chan error, 1)
	started := make(chan struct{})
	addr := serve(t, &http1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			canceled <- r.Context().Err()
		case <-time.After(5 * time.Second):
			canceled <- nil
		}
	})})
	c, _ := net.Dial("tcp", addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	c.Close()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Fatalf("the request's context: %v, want canceled when the client went away", err)
	}
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := &http1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	})}
	addr := serve(t, s)
	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	result := make(chan string, 1)
	go func() {
		resps, bodies, closed := roundTrip(t, addr, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(resps) != 1 {
			result <- "no response"
			return
		}
		result <- fmt.Sprintf("%d %s close=%v closed=%v", resps[0].StatusCode, bodies[0], resps[0].Close, closed)
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("an idle connection during shutdown: %v, want EOF", err)
	}
	close(release)
	if got, want := <-result, "200 done close=true closed=true"; got != want {
		t.Errorf("the request in flight: %s, want %s", got, want)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestHTTP2(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s tls=%t %s %s", r.Proto, r.TLS != nil, r.URL.Path, data)
	})
	s := &http1.Server{Handler: h, HTTP2: true}

	t.Run("h2c with prior knowledge", func(t *testing.T) {
		addr := serve(t, s)
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p}
		resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/p", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		if string(data) != "HTTP/2.0 tls=false /p body" {
			t.Errorf("got %q", data)
		}
	})
	t.Run("h2 over TLS, and HTTP/1.1 over TLS", func(t *testing.T) {
		tlsSrv := httptest.NewTLSServer(h) // only for its test certificate
		pool := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		tlsCfg := &tls.Config{Certificates: tlsSrv.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
		tlsSrv.Close()
		ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		s2 := &http1.Server{Handler: h, HTTP2: true}
		go s2.Serve(ln)
		defer s2.Close()
		for _, proto := range []string{"h2", "http/1.1"} {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{proto}}, ForceAttemptHTTP2: proto == "h2"}
			resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/t")
			if err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			data, _ := io.ReadAll(resp.Body)
			want := map[string]string{"h2": "HTTP/2.0 tls=true /t ", "http/1.1": "HTTP/1.1 tls=true /t "}[proto]
			if string(data) != want {
				t.Errorf("%s: got %q, want %q", proto, data, want)
			}
		}
	})
}

// TestSlowReaderOverHTTP2: over HTTP/2 a client that stops reading (it never
// opens its flow-control window again) has its stream reset once a write has
// waited longer than the minimum response rate allows (5 s, plus the write's
// size at the rate), as over HTTP/1.1; a stream that is only quiet for longer
// than that, between writes, is not cut.
func TestSlowReaderOverHTTP2(t *testing.T) {
	addr := serve(t, &http1.Server{HTTP2: true, MinResponseRate: 1 << 20, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quiet" {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			time.Sleep(6 * time.Second)
			io.WriteString(w, "b")
			return
		}
		chunk := make([]byte, 32<<10)
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})})
	t.Run("a client that stops reading", func(t *testing.T) {
		t.Parallel()
		c := dialFor(t, addr, 20*time.Second)
		io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, c)
		fr.WriteSettings()
		var head bytes.Buffer
		enc := hpack.NewEncoder(&head)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/big"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head.Bytes(), EndHeaders: true, EndStream: true})
		start, got := time.Now(), 0
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("after %d bytes and %v: %v; want the stream reset", got, time.Since(start), err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck() // and never a WINDOW_UPDATE
				}
			case *http2.DataFrame:
				got += len(f.Data())
			case *http2.RSTStreamFrame:
				if got > 1<<16 {
					t.Errorf("%d bytes went past the flow-control window", got)
				}
				return
			}
		}
	})
	t.Run("a quiet stream", func(t *testing.T) {
		t.Parallel()
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 15 * time.Second}
		defer client.CloseIdleConnections()
		resp, err := client.Get("http://" + addr + "/quiet")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if string(body) != "ab" || err != nil {
			t.Fatalf("%q %v; want the whole stream", body, err)
		}
	})
}

// TestIdleConnectionsPark: a keep-alive connection idle for a while gives its
// buffers and goroutine back, and serves its next request as before; shutdown
// and the idle timeout close parked connections.
func TestIdleConnectionsPark(t *testing.T) {
	s := &http1.Server{Handler: &recorder{}, IdleTimeout: 4 * time.Second}
	addr := serve(t, s)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	get := func(c net.Conn, br *bufio.Reader, path string) string {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		data, _ := io.ReadAll(resp.Body)
		return string(data)
	}
	c, br := dial()
	if got := get(c, br, "/first"); got != `GET /first ""` {
		t.Fatalf("first: %q", got)
	}
	time.Sleep(1500 * time.Millisecond) // parked after a second idle
	if got := get(c, br, "/after-parking"); got != `GET /after-parking ""` {
		t.Fatalf("after parking: %q", got)
	}
	time.Sleep(1500 * time.Millisecond)
	// A request split across the wake-up: the first bytes wake it, the rest follow.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /split HT")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(c, "TP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("split request: %v %v", resp, err)
	}
	io.ReadAll(resp.Body)

	// The idle timeout (4 s) closes a parked connection.
	c2, br2 := dial()
	get(c2, br2, "/x")
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Errorf("a connection idle past the timeout: %v, want EOF", err)
	}
}

// TestChunkedBodyInPieces sends a chunked body split at every byte, with a
// pause between the pieces so that the server reads each one before the next
// arrives: the body's reader must resume wherever a read left it (after the
// data, after the CRLF, inside a size line or the trailer).
func TestChunkedBodyInPieces(t *testing.T) {
	addr := serve(t, &http1.Server{Handler: &recorder{}})
	const body = "5;e=1\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
	const want = `POST /a "hello, world"`
	send := func(t *testing.T, pieces []string) {
		c := dialFor(t, addr, 10*time.Second)
		io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
		for _, p := range pieces {
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, p)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(got) != want {
			t.Errorf("pieces %q: %d %q, want 200 %q", pieces, resp.StatusCode, got, want)
		}
	}
	for i := 1; i < len(body); i++ {
		t.Run(fmt.Sprintf("split at %d", i), func(t *testing.T) {
			t.Parallel()
			send(t, []string{body[:i], body[i:]})
		})
	}
	t.Run("a byte at a time", func(t *testing.T) {
		t.Parallel()
		send(t, strings.Split(body, ""))
	})
	t.Run("a line at a time", func(t *testing.T) {
		t.Parallel()
		send(t, strings.SplitAfter(body, "\n"))
	})
}

// TestAnswerBeforeTheRestOfTheBody: a client that sent part of its body and
// waits gets the answer of a handler that did not read the body at once. The
// rest, when it comes and is at most maxDrain, is read afterwards and the
// connection kept; a larger rest closes the connection, and the answer says
// so.
func TestAnswerBeforeTheRestOfTheBody(t *testing.T) {
	// The body's deadline is far beyond the client's: only an answer that
	// does not wait for the body's rest arrives in time.
	addr := serve(t, &http1.Server{BodyGrace: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "no") // the body is never read
	})})
	for _, tc := range []struct {
		name   string
		length int
		keep   bool
	}{
		{"a small rest is read after the answer", 64 << 10, true},
		{"a large rest closes the connection", 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFor(t, addr, 10*time.Second)
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", tc.length)
			c.Write(make([]byte, 1<<10)) // then waits
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body's rest was not sent: %v", err)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != "no" || resp.Close == tc.keep {
				t.Fatalf("answer %q, Connection: close %v; want %q, %v", got, resp.Close, "no", !tc.keep)
			}
			if !tc.keep {
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("read %v, want the connection closed", err)
				}
				return
			}
			c.Write(make([]byte, tc.length-1<<10))
			io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("the connection was not kept after the body's rest: %v", err)
			}
			got, _ = io.ReadAll(resp.Body)
			if string(got) != "no" {
				t.Fatalf("second answer %q", got)
			}
		})
	}
}

// TestCloseEndsABlockedRead: closing a request body ends a read of it that
// another goroutine is blocked in (a backend transport's writer whose backend
// answered early), and the connection is closed after the answer.
func TestCloseEndsABlockedRead(t *testing.T) {
	readErr := make(chan error, 1)
	addr := serve(t, &http1.Server{BodyGrace: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := make(chan struct{})
		go func() {
			buf := make([]byte, 4<<10)
			for {
				if _, err := r.Body.Read(buf); err != nil {
					readErr <- err
					return
				}
				select {
				case <-started:
				default:
					close(started)
				}
			}
		}()
		<-started
		time.Sleep(50 * time.Millisecond) // the reader is blocked now: the client sends nothing more
		r.Body.Close()
		if err := <-readErr; err == nil {
			t.Error("the read ended without an error")
		}
		io.WriteString(w, "early")
	})})
	c := dialFor(t, addr, 10*time.Second)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: the blocked read was not ended: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if string(got) != "early" || !resp.Close {
		t.Fatalf("answer %q, Connection: close %v; want %q and a close", got, resp.Close, "early")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read %v, want the connection closed after the answer", err)
	}
}
