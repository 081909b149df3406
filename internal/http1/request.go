package http1

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// headError is a request head the server refuses before any handler sees it.
// The connection is always closed afterwards: after a framing error nothing
// that follows on it can be trusted.
type headError struct {
	status int
	reason string
}

func (e *headError) Error() string { return e.reason }

func badRequest(reason string) *headError { return &headError{400, reason} }

// framing is how a request's body is delimited.
type framing struct {
	length  int64 // Content-Length, or -1 with chunked
	chunked bool
	close   bool // the client or the framing asks to close after the response
	expect  bool // Expect: 100-continue
}

// readHead reads a request line and header fields into c.head and returns
// where each line starts. The caller has seen the request's first byte.
func (c *conn) readHead() ([]int, error) {
	s := c.srv
	c.head = c.head[:0]
	lines := c.lines[:0]
	limit := s.maxHeaderBytes()
	blank := 0
	for {
		start := len(c.head)
		line, err := c.readLine(limit - start)
		switch {
		case errors.Is(err, errLineTooLong) && len(lines) == 0:
			return nil, &headError{414, "request line too long"}
		case errors.Is(err, errLineTooLong):
			return nil, &headError{431, "request header fields too large"}
		case isTimeout(err):
			return nil, &headError{408, "request header not received in time"}
		case err != nil:
			return nil, badRequest("connection ended inside the request header")
		}
		if len(lines) == 0 {
			if len(line) == 0 {
				// RFC 9112 §2.2: ignore empty lines before the request
				// line, but not without bound.
				if blank++; blank > 4 {
					return nil, badRequest("empty lines before the request line")
				}
				continue
			}
			if len(line) > s.maxRequestLine() {
				return nil, &headError{414, "request line too long"}
			}
		}
		lines = append(lines, start)
		c.lines = lines
		if len(line) == 0 {
			return lines, nil
		}
		if len(lines) > s.maxHeaderCount()+1 {
			return nil, &headError{431, "too many request header fields"}
		}
	}
}

var errLineTooLong = httpfield.ErrLineTooLong

// readLine appends the next line to c.head without its terminator and returns
// it (see httpfield.ReadLine).
func (c *conn) readLine(max int) ([]byte, error) {
	start := len(c.head)
	var err error
	if c.head, err = httpfield.ReadLine(c.br, c.head, max); err != nil {
		return nil, err
	}
	return c.head[start:], nil
}

// parseHead turns the lines readHead collected into req. A target in origin
// form is parsed into u; the header fields into hdr (nil makes a map), with
// their values in fields when it is long enough.
func (c *conn) parseHead(lines []int, req *http.Request, u *url.URL, hdr http.Header, fields []string) (framing, error) {
	var fr framing
	// One string for the whole head: every field value is a substring of it.
	h := string(c.head)
	end := func(i int) int {
		if i+1 < len(lines) {
			return lines[i+1]
		}
		return len(h)
	}
	reqLine := h[lines[0]:end(0)]
	method, rest, ok1 := strings.Cut(reqLine, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !httpfield.ValidName(method) || target == "" {
		return fr, badRequest("malformed request line")
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return fr, badRequest("malformed HTTP version")
	}
	if major != 1 {
		return fr, &headError{505, "HTTP version not supported"}
	}
	if !validTarget(target) {
		return fr, badRequest("invalid character in the request target")
	}

	hdr, err := httpfield.ParseInto(hdr, fields, h, lines, 1)
	if err != nil {
		return fr, badRequest(err.Error())
	}

	*req = http.Request{
		Method:     method,
		Proto:      proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     hdr,
		RequestURI: target,
		RemoteAddr: c.remoteAddr,
		TLS:        c.tlsState,
	}
	switch {
	case method == http.MethodConnect:
		return fr, &headError{405, "CONNECT is not supported"}
	case target == "*":
		if method != http.MethodOptions {
			return fr, badRequest("asterisk-form is only allowed with OPTIONS")
		}
		req.URL = &url.URL{Path: "*"}
	case target[0] == '/':
		if originForm(target, u) {
			req.URL = u
		} else {
			req.URL, err = url.ParseRequestURI(target)
		}
	default:
		// absolute-form (RFC 9112 §3.2.2): its authority replaces Host.
		req.URL, err = url.ParseRequestURI(target)
		if err == nil && (req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" || req.URL.User != nil) {
			err = errors.New("bad absolute-form target")
		}
	}
	if err != nil {
		return fr, badRequest("malformed request target")
	}

	hosts := hdr["Host"]
	switch {
	case len(hosts) > 1:
		return fr, badRequest("more than one Host header")
	case len(hosts) == 0 && minor >= 1:
		return fr, badRequest("missing Host header")
	case len(hosts) == 1 && !validHost(hosts[0]):
		return fr, badRequest("malformed Host header")
	}
	if req.URL.Host != "" {
		req.Host = req.URL.Host
	} else if len(hosts) == 1 {
		req.Host = hosts[0]
	}
	delete(hdr, "Host") // as net/http does: it lives in req.Host

	if fr, err = framingOf(hdr, minor); err != nil {
		return fr, err
	}
	if fr.chunked {
		req.TransferEncoding = []string{"chunked"}
	}
	req.ContentLength = fr.length
	req.Close = fr.close
	return fr, nil
}

// originForm parses target, a request target in origin form, into u as
// url.ParseRequestURI would, when it is made only of characters that a path
// never escapes (most are): u.Path is then the target's path as it is, with
// no RawPath. It reports false, leaving the rest to url.ParseRequestURI, for
// anything else.
func originForm(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || hasQuery && query == "" {
		return false // an empty query is url.URL.ForceQuery
	}
	for i := 0; i < len(path); i++ {
		if !plainPath[path[i]] {
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if b := query[i]; b <= ' ' || b >= 0x7f {
			return false // refused before; checked again so that this stands alone
		}
	}
	*u = url.URL{Path: path, RawQuery: query}
	return true
}

// plainPath is the characters url.URL.EscapedPath leaves as they are:
// unreserved ones and the reserved ones a path may hold (RFC 3986 §3.3).
var plainPath = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// framingOf applies RFC 9112 §6 to a request's fields. It is strict where
// intermediaries disagree, because a disagreement is request smuggling:
//   - Transfer-Encoding together with Content-Length is refused (§6.1 allows it);
//   - Transfer-Encoding on HTTP/1.0 is refused (§6.1: the framing is faulty);
//   - the only transfer coding accepted is a single "chunked" (501 otherwise);
//   - Content-Length must be digits; repeated values must all be equal.
func framingOf(h http.Header, minor int) (framing, error) {
	fr := framing{}
	conn := h["Connection"]
	if minor == 0 {
		fr.close = !httpfield.HasToken(conn, "keep-alive")
	} else {
		fr.close = httpfield.HasToken(conn, "close")
	}
	if ex, ok := h["Expect"]; ok {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") {
			return fr, &headError{417, "unsupported expectation"}
		}
		fr.expect = minor >= 1
		delete(h, "Expect")
	}
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	if hasTE {
		if hasCL {
			return fr, badRequest("both Transfer-Encoding and Content-Length")
		}
		if minor == 0 {
			return fr, badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) != 1 || !strings.EqualFold(textproto.TrimString(te[0]), "chunked") {
			if httpfield.HasToken(te, "chunked") {
				return fr, badRequest("chunked must be the only transfer coding")
			}
			return fr, &headError{501, "unsupported transfer coding"}
		}
		delete(h, "Transfer-Encoding")
		fr.length, fr.chunked = -1, true
		return fr, nil
	}
	if hasCL {
		n, ok := parseLength(cl[0])
		for _, v := range cl[1:] {
			if v != cl[0] {
				ok = false
			}
		}
		if !ok {
			return fr, badRequest("invalid Content-Length")
		}
		h["Content-Length"] = cl[:1]
		fr.length = n
	}
	return fr, nil
}

func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func parseVersion(p string) (major, minor int, ok bool) {
	if len(p) != 8 || !strings.HasPrefix(p, "HTTP/") || p[6] != '.' {
		return 0, 0, false
	}
	ma, mi := p[5], p[7]
	if ma < '0' || ma > '9' || mi < '0' || mi > '9' {
		return 0, 0, false
	}
	return int(ma - '0'), int(mi - '0'), true
}

// validTarget reports whether a request target has only the bytes an HTTP/1.1
// request line may carry: printable ASCII, no space (RFC 9112 §3.2; clients
// escape the rest). A backend gets the target in its request line.
func validTarget(target string) bool {
	for i := 0; i < len(target); i++ {
		if b := target[i]; b <= ' ' || b >= 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a uri-host with an optional port: the characters of a
// reg-name, an IPv6 literal and percent-encodings; nothing that could split a
// URL or a header.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		b := h[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("-._~%!$&'()*+,;=:[]", b) >= 0:
		default:
			return false
		}
	}
	return true
}
