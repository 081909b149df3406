// Package httpfield reads and writes HTTP/1.1 message heads for the data plane:
// the client's requests (internal/http1) and the backends' responses
// (internal/proxy). One set of rules for lines, field names and values, so that
// both sides of the gateway agree on what a head says, and no allocation for
// what need not be copied.
package httpfield

import (
	"bufio"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
)

// ErrLineTooLong is returned by ReadLine for a line over its limit.
var ErrLineTooLong = errors.New("line too long")

// ReadLine appends the next line from br to buf, without its terminator, and
// returns the grown buffer. Lines end in CRLF or a bare LF (RFC 9112 §2.2); a
// CR anywhere else stays in the line for the field checks to refuse. A line
// longer than max bytes fails with ErrLineTooLong.
func ReadLine(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	start := len(buf)
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)-start+len(frag) > max+2 {
			return buf, ErrLineTooLong
		}
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
	line := buf[start : len(buf)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		return buf, ErrLineTooLong
	}
	return buf[:start+len(line)], nil
}

// FieldError is a malformed header field.
type FieldError string

func (e FieldError) Error() string { return string(e) }

// Parse reads the header fields of a head: head holds the lines without their
// terminators, and starts[i] is where line i begins; lines from..len(starts)-1
// are fields, and the head ends at len(head). Every value is a substring of
// head, and all share one backing array, so a head costs a few allocations
// whatever its size. Obsolete line folding, a name that is not a token or
// whitespace before the colon, and control characters in a value (CR, LF,
// NUL...) are refused.
func Parse(head string, starts []int, from int) (http.Header, error) {
	return ParseInto(nil, nil, head, starts, from)
}

// headerPool holds emptied header maps for ParsePooled.
var headerPool sync.Pool

// ParsePooled is Parse into a map from a pool: give it back with Recycle once
// nothing uses it.
func ParsePooled(head string, starts []int, from int) (http.Header, error) {
	h, _ := headerPool.Get().(http.Header)
	return ParseInto(h, nil, head, starts, from)
}

// maxReusedFields is how many fields a map may have held and still be kept
// for another message: a larger one goes back to the collector rather than
// stay in a pool or with a connection.
const maxReusedFields = 32

// Emptied returns h emptied for another message, or nil when it is nil or
// grew past what is worth keeping. The caller promises that nothing uses h
// any more; the value slices are not reused.
func Emptied(h http.Header) http.Header {
	if len(h) > maxReusedFields {
		return nil
	}
	clear(h)
	return h
}

// Recycle empties h and gives it to ParsePooled's pool (Emptied).
func Recycle(h http.Header) {
	if h = Emptied(h); h != nil {
		headerPool.Put(h)
	}
}

// ParseInto is Parse into hdr, which must be empty (nil makes a map),
// keeping the values in scratch when it is long enough (one string per
// field): a caller that keeps a map and the scratch from one message to the
// next allocates nothing for them.
func ParseInto(hdr http.Header, scratch []string, head string, starts []int, from int) (http.Header, error) {
	n := len(starts) - from
	if hdr == nil {
		hdr = make(http.Header, max(n, 0))
	}
	if n <= 0 {
		return hdr, nil
	}
	var vals []string
	if len(scratch) >= n {
		vals = scratch[:n:n]
	} else {
		vals = make([]string, n)
	}
	for i := from; i < len(starts); i++ {
		end := len(head)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		line := head[starts[i]:end]
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, FieldError("obsolete line folding in a header field")
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !ValidName(name) {
			return nil, FieldError("malformed header field")
		}
		value = trimOWS(value) // OWS only: a CR is refused, not trimmed
		if !ValidValue(value) {
			return nil, FieldError("invalid character in a header field value")
		}
		key := CanonicalKey(name)
		if prior, ok := hdr[key]; ok {
			hdr[key] = append(prior, value) // rare: a repeated field
			continue
		}
		j := i - from
		vals[j] = value
		hdr[key] = vals[j : j+1 : j+1]
	}
	return hdr, nil
}

// tchar is RFC 9110's token character set.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// ValidName reports whether s is a token: a field name or a method.
func ValidName[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// ValidValue refuses control characters other than HTAB (CR, LF and NUL
// among them); obs-text (0x80-0xff) is allowed.
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// HasToken reports whether a comma-separated field contains tok, in any case.
func HasToken(values []string, tok string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(t), tok) {
				return true
			}
		}
	}
	return false
}

// Sanitize makes a value safe to write: CR, LF and NUL become spaces (RFC 9110
// §5.5; net/http does it for CR and LF), so that nothing a policy put in a
// header can split a message or end it early for a peer that reads C
// strings, and surrounding whitespace goes.
func Sanitize(v string) string {
	// The usual value needs nothing done, and this runs for every field of
	// every head the data plane writes (a bearer token is a kilobyte):
	// IndexByte is vectorised.
	if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, 0) >= 0 {
		return strings.TrimSpace(newlineToSpace.Replace(v))
	}
	if len(v) > 0 && (maybeSpace(v[0]) || maybeSpace(v[len(v)-1])) {
		return strings.TrimSpace(v)
	}
	return v
}

// WriteField writes the field "name: value" to w, with the value sanitised;
// nothing when the name is not a token. Both sides of the data plane write
// their heads with it, so nothing a policy or a peer sets can split one.
func WriteField(w *bufio.Writer, name, value string) {
	if !ValidName(name) {
		return
	}
	w.WriteString(name)
	w.WriteString(": ")
	w.WriteString(Sanitize(value))
	w.WriteString("\r\n")
}

// trimOWS removes spaces and tabs around v, as strings.Trim(v, " \t") does
// without building its set for every field.
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// maybeSpace reports whether c may be (part of) what strings.TrimSpace trims.
func maybeSpace(c byte) bool {
	return c <= ' ' || c >= 0x80
}

var newlineToSpace = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", " ")

// commonKeys holds canonical header names, so that the usual ones cost no
// allocation whatever case the peer wrote them in.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age",
		"Authorization", "Cache-Control", "Connection", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range", "Content-Type",
		"Cookie", "Date", "Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive",
		"Last-Modified", "Link", "Location", "Max-Forwards", "Origin", "Pragma",
		"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range", "Referer",
		"Retry-After", "Server", "Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"User-Agent", "Vary", "Via", "Warning", "Www-Authenticate",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
		"Traceparent", "Tracestate", "Ocp-Apim-Subscription-Key", "Ocp-Apim-Trace",
		"Access-Control-Request-Method", "Access-Control-Request-Headers",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest",
	} {
		m[k] = k
	}
	return m
}()

// CanonicalKey is textproto.CanonicalMIMEHeaderKey without an allocation for
// names that are already canonical (checked first: most are) or common in any
// case (canonicalised on the stack and found in commonKeys).
func CanonicalKey(name string) string {
	upper := true
	for i := 0; i < len(name); i++ {
		b := name[i]
		if upper && 'a' <= b && b <= 'z' || !upper && 'A' <= b && b <= 'Z' {
			return canonicalize(name)
		}
		upper = b == '-'
	}
	return name
}

// canonicalize is CanonicalKey for a name that is not canonical.
func canonicalize(name string) string {
	var buf [64]byte
	if len(name) > len(buf) || !ValidName(name) {
		return textproto.CanonicalMIMEHeaderKey(name) // which leaves an invalid name as it is
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if k, ok := commonKeys[string(b)]; ok {
		return k
	}
	return string(b)
}
