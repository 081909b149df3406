package http1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// pipeConn is a net.Conn over a byte slice, for driving the parser directly.
type pipeConn struct {
	net.Conn
	r io.Reader
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

func newTestConn(data []byte) *conn {
	c := &conn{srv: &Server{}, rwc: &pipeConn{r: bytes.NewReader(data)}, remoteAddr: "192.0.2.1:1"}
	c.cr.c = c
	c.br = bufio.NewReaderSize(&c.cr, 4096)
	c.bw = bufio.NewWriter(io.Discard)
	c.cancel = func() {}
	return c
}

// parse reads one request head the way the server does.
func parse(data []byte) (*http.Request, framing, *conn, error) {
	c := newTestConn(data)
	lines, err := c.readHead()
	if err != nil {
		return nil, framing{}, c, err
	}
	var req http.Request
	fr, err := c.parseHead(lines, &req, new(url.URL), nil, nil)
	if err != nil {
		return nil, fr, c, err
	}
	return &req, fr, c, err
}

// FuzzRequestHead checks that whatever this server accepts, net/http's own
// reader accepts too and reads the same way: the same method, target, host
// and body framing. A request two HTTP implementations read differently is
// how smuggling starts; this server may refuse more, never read differently.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: x:80\r\nContent-Length: 5\r\n\r\nhello",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: y\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\nX: a\tb\n\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nContent-Length: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 01\r\n\r\n1",
		"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX:\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, fr, _, err := parse(data)
		if err != nil {
			return
		}
		// RFC 9112 §2.2: this server ignores a few empty lines before the
		// request line, as a server should; net/http does not. Compare
		// what follows them.
		rest := data
		for {
			if r, ok := bytes.CutPrefix(rest, []byte("\r\n")); ok {
				rest = r
			} else if r, ok := bytes.CutPrefix(rest, []byte("\n")); ok {
				rest = r
			} else {
				break
			}
		}
		std, serr := http.ReadRequest(bufio.NewReader(bytes.NewReader(rest)))
		if serr != nil {
			t.Fatalf("accepted what net/http refuses (%v):\n%q", serr, data)
		}
		if std.Method != req.Method || std.RequestURI != req.RequestURI || std.Host != req.Host {
			t.Fatalf("read differently: %s %s host %q, net/http %s %s host %q\n%q", req.Method, req.RequestURI, req.Host, std.Method, std.RequestURI, std.Host, data)
		}
		stdChunked := len(std.TransferEncoding) == 1 && std.TransferEncoding[0] == "chunked"
		if fr.chunked != stdChunked || !fr.chunked && max(fr.length, 0) != std.ContentLength {
			t.Fatalf("framed differently: chunked %v length %d, net/http %v %d\n%q", fr.chunked, fr.length, std.TransferEncoding, std.ContentLength, data)
		}
		if fr.chunked && req.ContentLength != -1 || !fr.chunked && req.ContentLength != max(fr.length, 0) {
			t.Fatalf("ContentLength %d does not match the framing %+v", req.ContentLength, fr)
		}
	})
}

// FuzzChunkedBody checks the chunked decoder against net/http's: a body this
// server accepts decodes to the same bytes, and never reads past its end.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"1;a=b\r\nx\r\n0\r\nT: v\r\n\r\nNEXT",
		"zz\r\n",
		"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
		"A\r\n0123456789\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newTestConn(data)
		b := &body{c: c, chunked: true}
		c.body = b
		got, err := io.ReadAll(b)
		if err != nil {
			return
		}
		want, werr := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(data))))
		if werr != nil {
			t.Fatalf("accepted a body net/http refuses (%v):\n%q", werr, data)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, net/http %q, from %q", got, want, data)
		}
		// The empty line after the trailer section ends the body: nothing of
		// what follows (the next request) was read.
		rest, _ := io.ReadAll(c.br)
		if used := data[:len(data)-len(rest)]; !bytes.HasSuffix(used, []byte("\r\n\r\n")) {
			t.Fatalf("the body ended at %q, not at an empty line", used)
		}
	})
}

// FuzzOriginForm checks that the server's own reading of a request target in
// origin form gives exactly the URL url.ParseRequestURI gives.
func FuzzOriginForm(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a?b=c", "/a?", "/a??", "/a?b?", "/a%2Fb", "/a(b)", "/a b", "/a:b@c;d=e,f+g$h&i", "//x/y", "/a?#x", "/é", "*", "http://h/p", "/a/../b", "/~user/.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		var got url.URL
		if !originForm(target, &got) {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("originForm(%q) accepted what url.ParseRequestURI refuses: %v", target, err)
		}
		if got != *want {
			t.Fatalf("originForm(%q) = %#v, url.ParseRequestURI = %#v", target, got, *want)
		}
	})
}
