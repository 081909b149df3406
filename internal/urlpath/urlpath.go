// Package urlpath owns the rules for the paths lastmile routes and forwards: the
// request path before routing, a backend's base path, and the path a rewrite-uri
// template produces. Every such path goes through Clean (or Check), so that no form
// of a path can climb out of the API it was routed to or out of the backend's base
// path, whatever a backend does with it later.
//
// The rules:
//   - Dot segments ("." and "..", also written %2e) are resolved as RFC 3986 §5.2.4
//     says (Clean); a ".." that would climb above the root is refused. In a path
//     computed from values, where a dot segment would come from data, they are
//     refused (Check).
//   - Nothing is decoded: the result keeps each escape the input had, %2F and %5C
//     included, so an encoded slash stays data within its segment. Bytes that may
//     not appear unescaped in a path (space, '\', '"', non-ASCII, ...) are escaped.
//   - A segment is refused when a backend that decodes it (once or twice), treats
//     '\' as '/', drops ";params" as Tomcat does, or maps overlong UTF-8 to ASCII
//     could read a "." or ".." segment in it: "..%2f", "%2e%2e%5c", "..\",
//     "..;", "%252e%252e%252f", "%c0%ae%c0%ae".
//   - Control characters, raw or escaped (%00 to %1F, %7F), and malformed escapes
//     are refused.
//   - Empty segments ("//") and trailing slashes are kept.
package urlpath

import (
	"errors"
	"net/url"
	"strings"
)

// The reasons Clean refuses a path. Their messages never repeat the path, so they
// can be shown to the client.
var (
	ErrEscape     = errors.New("the path has a malformed percent-encoding")
	ErrControl    = errors.New("the path has a control character")
	ErrAboveRoot  = errors.New("a \"..\" segment climbs above the root")
	ErrDotSegment = errors.New("a value put a \".\" or \"..\" segment into the path")
	ErrDotData    = errors.New("a segment would read as \".\" or \"..\" once decoded")
	ErrOverlong   = errors.New("the path has an overlong UTF-8 sequence")
)

// Clean returns p, an escaped path, with its dot segments resolved and the bytes
// that must be escaped in a path escaped, or an error saying why p is refused (see
// the package comment). A relative path (a rewrite-uri template such as "keys") is
// taken as relative to the root and made absolute. A clean path is returned
// unchanged, without allocating.
func Clean(p string) (string, error) { return clean(p, true) }

// Check is Clean for a path computed from values rather than written by an
// operator: a dot segment is refused (ErrDotSegment) instead of resolved, since
// its "..", when it comes from the request, would move the path.
func Check(p string) (string, error) { return clean(p, false) }

func clean(p string, resolveDots bool) (string, error) {
	if p != "" && p[0] != '/' {
		return clean("/"+p, resolveDots)
	}
	dirty := false
	for rest := p; ; {
		seg, tail, more := strings.Cut(rest, "/")
		switch kind, err := classify(seg); {
		case err != nil:
			return "", err
		case (kind == dot || kind == dotDot) && !resolveDots:
			return "", ErrDotSegment
		case kind != plain:
			dirty = true
		}
		if !more {
			break
		}
		rest = tail
	}
	if !dirty {
		return p, nil
	}
	return resolve(p)
}

type segKind int

const (
	plain    segKind = iota
	dot              // "." or its escaped forms
	dotDot           // ".." or its escaped forms
	toEscape         // a segment with bytes that must be escaped
)

// resolve is RFC 3986's remove_dot_segments over whole segments, for an absolute
// path whose segments classify accepted.
func resolve(p string) (string, error) {
	segs := strings.Split(p, "/")[1:]
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		kind, _ := classify(s)
		switch kind {
		case dot:
			if last {
				out = append(out, "") // "/a/." is "/a/"
			}
		case dotDot:
			if len(out) == 0 {
				return "", ErrAboveRoot
			}
			out = out[:len(out)-1]
			if last {
				out = append(out, "")
			}
		case toEscape:
			out = append(out, escape(s, true))
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

// classify checks one segment of an escaped path.
func classify(s string) (segKind, error) {
	needsDecode, needsEscape := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return 0, ErrControl
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return 0, ErrEscape
			}
			needsDecode = true
			i += 2
		case c == '\\' || c == ';' || c >= 0x80:
			needsDecode = true // pieces and UTF-8 to check below
			needsEscape = needsEscape || c != ';'
		case !isPathChar(c):
			needsEscape = true
		}
	}
	switch dotValue(s) {
	case 1:
		return dot, nil
	case 2:
		return dotDot, nil
	}
	if needsDecode {
		if err := checkDecoded(s); err != nil {
			return 0, err
		}
	}
	if needsEscape {
		return toEscape, nil
	}
	return plain, nil
}

// dotValue is 1 for a "." segment, 2 for "..", 0 otherwise; %2e counts as a dot,
// since '.' is unreserved and its escape is the same character (RFC 3986 §2.3).
func dotValue(s string) int {
	n := 0
	for s != "" {
		switch {
		case s[0] == '.':
			s = s[1:]
		case len(s) >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E'):
			s = s[3:]
		default:
			return 0
		}
		if n++; n > 2 {
			return 0
		}
	}
	return n
}

// checkDecoded refuses a segment that a backend could read as a dot segment, or
// as a control character, after decoding it once or twice.
func checkDecoded(s string) error {
	var buf [128]byte
	d1 := unescape(buf[:0], s)
	if err := checkBytes(d1); err != nil {
		return err
	}
	if !hasPercent(d1) {
		return nil
	}
	// Decoding twice is a bug, but a common one (a proxy or framework decodes,
	// then the application does): %252e%252e%252f must not become "../" there.
	// The second decoding is lenient, as such decoders are.
	var buf2 [128]byte
	return checkBytes(unescape(buf2[:0], string(d1)))
}

// checkBytes checks a decoded segment: no control characters, no overlong UTF-8,
// and no "." or ".." piece when split at '/' and '\' with ";params" cut off.
func checkBytes(d []byte) error {
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) {
			c := d[i]
			if c < 0x20 || c == 0x7f {
				return ErrControl
			}
			if overlong(d[i:]) {
				return ErrOverlong
			}
			if c != '/' && c != '\\' {
				continue
			}
		}
		piece := d[start:i]
		if j := indexByte(piece, ';'); j >= 0 {
			piece = piece[:j]
		}
		if string(piece) == "." || string(piece) == ".." {
			return ErrDotData
		}
		start = i + 1
	}
	return nil
}

// overlong reports whether b starts with an overlong UTF-8 encoding, which old
// decoders turned into ASCII ("%c0%ae" into '.', "%c0%af" into '/').
func overlong(b []byte) bool {
	if len(b) < 2 || b[1]&0xc0 != 0x80 {
		return false
	}
	switch b[0] {
	case 0xc0, 0xc1:
		return true
	case 0xe0:
		return b[1] < 0xa0
	case 0xf0:
		return b[1] < 0x90
	}
	return false
}

// unescape appends s with every valid %XX decoded; invalid escapes are kept.
func unescape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		dst = append(dst, s[i])
	}
	return dst
}

// escape percent-encodes the bytes of s that may not appear unescaped in a path
// segment. With keep, every existing escape is kept as it is; without, '%' is
// escaped too.
func escape(s string, keep bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && keep || isPathChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// isPathChar reports whether c may appear unescaped in a path segment: RFC 3986's
// pchar without pct-encoded (unreserved, sub-delims, ':' and '@').
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func hasPercent(b []byte) bool { return indexByte(b, '%') >= 0 }

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Segment escapes v, a decoded value such as a query parameter that rewrite-uri
// puts into a path, as one path segment: every byte that is not a path character
// is escaped, '/' and '%' included, and a value of path characters only is
// returned as it is. It refuses a value that would be a dot segment, since data
// must not move the path.
func Segment(v string) (string, error) {
	if v == "." || v == ".." {
		return "", ErrDotSegment
	}
	for i := 0; i < len(v); i++ {
		if !isPathChar(v[i]) {
			return escape(v, false), nil
		}
	}
	return v, nil
}

// Escaped returns u's path as it was written, escapes included. It differs from
// u.EscapedPath when u.RawPath holds bytes that Go would escape differently: then
// EscapedPath escapes the decoded path again and an encoded slash becomes a
// separator.
func Escaped(u *url.URL) string {
	if u.RawPath != "" {
		if p, err := url.PathUnescape(u.RawPath); err == nil && p == u.Path {
			return u.RawPath
		}
	}
	return u.EscapedPath()
}

// SetPath sets u's path to p, a path that Clean returned, keeping its escapes.
func SetPath(u *url.URL, p string) {
	dec, err := url.PathUnescape(p)
	if err != nil {
		dec = p // cannot happen for a clean path
	}
	u.Path, u.RawPath = dec, ""
	if u.EscapedPath() != p {
		u.RawPath = p
	}
}
