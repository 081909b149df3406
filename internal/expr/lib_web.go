package expr

import (
	"encoding/binary"
	"fmt"
	"html"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Uri is a System.Uri: the parsed URL and the string it was made from.
type Uri struct {
	u        *url.URL
	original string
	absolute bool
}

func newUri(s string) *Uri {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Scheme != "file" && u.Scheme != "mailto" && u.Scheme != "urn") {
		return &Uri{original: s, u: &url.URL{Path: s}}
	}
	return &Uri{u: u, original: s, absolute: true}
}

func mustAbsUri(s string) *Uri {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'uriString')")
	}
	u := newUri(s)
	if !u.absolute {
		throw("UriFormatException", "Invalid URI: The format of the URI could not be determined.")
	}
	return u
}

func (u *Uri) requireAbs() {
	if !u.absolute {
		throw("InvalidOperationException", "This operation is not supported for a relative URI.")
	}
}

func (u *Uri) port() int32 {
	if p := u.u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return int32(n)
	}
	switch strings.ToLower(u.u.Scheme) {
	case "https", "wss":
		return 443
	case "http", "ws":
		return 80
	case "ftp":
		return 21
	}
	return -1
}

func (u *Uri) path() string {
	p := u.u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return p
}

func (u *Uri) query() string {
	if u.u.RawQuery == "" && !u.u.ForceQuery {
		return ""
	}
	return "?" + u.u.RawQuery
}

func (u *Uri) authority() string {
	h := strings.ToLower(u.u.Hostname())
	if p := u.u.Port(); p != "" && int32(mustAtoi(p)) != defaultPort(u.u.Scheme) {
		return h + ":" + p
	}
	return h
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func defaultPort(scheme string) int32 {
	switch strings.ToLower(scheme) {
	case "https", "wss":
		return 443
	case "http", "ws":
		return 80
	}
	return -1
}

// absoluteURI is Uri.AbsoluteUri: the canonical form.
func (u *Uri) absoluteURI() string {
	frag := ""
	if u.u.Fragment != "" {
		frag = "#" + u.u.EscapedFragment()
	}
	return strings.ToLower(u.u.Scheme) + "://" + u.userInfo() + u.authority() + u.path() + u.query() + frag
}

// userInfo is the user information with its "@" ("user:pass@"), which
// AbsoluteUri, ToString() and GetLeftPart keep and Authority and Host do not.
func (u *Uri) userInfo() string {
	if u.u.User == nil {
		return ""
	}
	return u.u.User.String() + "@"
}

// String is Uri.ToString(): the canonical form with escapes of characters that
// are not reserved decoded (%20 becomes a space, as in .NET), while escapes of
// reserved characters and of '%' stay.
func (u *Uri) String() string {
	if !u.absolute {
		return u.original
	}
	return unescapeUnreserved(u.absoluteURI())
}

func unescapeUnreserved(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' || i+2 >= len(s) || hexVal(s[i+1]) < 0 || hexVal(s[i+2]) < 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		c := byte(hexVal(s[i+1])<<4 | hexVal(s[i+2]))
		if c < 0x80 {
			if strings.IndexByte(":/?#[]@!$&'()*+,;=%", c) >= 0 || c < 0x20 {
				b.WriteString(s[i : i+3])
			} else {
				b.WriteByte(c)
			}
			i += 3
			continue
		}
		// a UTF-8 sequence of escapes decodes to its character
		var raw []byte
		j := i
		for j+2 < len(s)+1 && j+2 <= len(s)-1 && s[j] == '%' && hexVal(s[j+1]) >= 0 && hexVal(s[j+2]) >= 0 && len(raw) < 4 {
			raw = append(raw, byte(hexVal(s[j+1])<<4|hexVal(s[j+2])))
			j += 3
			if utf8.FullRune(raw) {
				break
			}
		}
		if utf8.Valid(raw) {
			b.Write(raw)
			i = j
			continue
		}
		b.WriteString(s[i : i+3])
		i += 3
	}
	return b.String()
}

// escapeDataString is Uri.EscapeDataString: everything but RFC 3986 unreserved
// characters is percent-encoded as UTF-8.
func escapeDataString(s string) string {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'stringToEscape')")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// escapeURIString is Uri.EscapeUriString: reserved characters are kept too.
func escapeURIString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~:/?#[]@!$&'()*+,;=", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// unescapeDataString is Uri.UnescapeDataString: %XX sequences that decode to
// valid UTF-8 are decoded; others are left as they are.
func unescapeDataString(s string) string {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'stringToUnescape')")
	}
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '%' {
			// collect a run of escapes that forms UTF-8
			var raw []byte
			j := i
			for j+2 < len(s)+0 && s[j] == '%' && hexVal(s[j+1]) >= 0 && hexVal(s[j+2]) >= 0 {
				raw = append(raw, byte(hexVal(s[j+1])<<4|hexVal(s[j+2])))
				j += 3
				if utf8.Valid(raw) {
					break
				}
				if len(raw) >= 4 {
					break
				}
			}
			if len(raw) > 0 && utf8.Valid(raw) {
				b.Write(raw)
				i = j
				continue
			}
			b.WriteByte('%')
			i++
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// urlEncode is WebUtility.UrlEncode: spaces become '+', letters, digits and
// -_.!*() stay, everything else is %XX with upper-case hex.
func urlEncode(s string) string {
	if isNull(s) {
		return nullStr
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('+')
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!*()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// urlDecode is WebUtility.UrlDecode.
func urlDecode(s string) string {
	if isNull(s) {
		return nullStr
	}
	return unescapeDataString(strings.ReplaceAll(s, "+", " "))
}

// htmlEncode is WebUtility.HtmlEncode.
func htmlEncode(s string) string {
	if isNull(s) {
		return nullStr
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&#39;")
		case r >= 160 && r < 256:
			fmt.Fprintf(&b, "&#%d;", r)
		case r >= 0x10000:
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func declWeb(u *universe) {
	d := u.decl("System.Uri", tkClass, "")
	d.is = func(v any) bool { _, ok := v.(*Uri); return ok }
	// parsing a URI and printing its parts copy it a few times
	uriCost := func(f *frame, n int) { f.allocN(n, 4) }
	d.ctor("(string uriString)", x1(func(f *frame, s string) *Uri { uriCost(f, len(s)); return mustAbsUri(s) }))
	d.ctor("(string uriString, UriKind uriKind)", x2(func(f *frame, s string, k int64) *Uri {
		mustNotNull(s, "uriString")
		uriCost(f, len(s))
		x := newUri(s)
		switch {
		case k == 1 && !x.absolute:
			throw("UriFormatException", "Invalid URI: The format of the URI could not be determined.")
		case k == 2 && x.absolute:
			throw("UriFormatException", "Invalid URI: A relative URI cannot be created because the 'uriString' parameter represents an absolute URI.")
		}
		return x
	}))
	d.ctor("(Uri baseUri, string relativeUri)", x2(func(f *frame, b *Uri, rel string) *Uri {
		if b == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'baseUri')")
		}
		uriCost(f, len(b.original)+len(rel))
		b.requireAbs()
		r, err := url.Parse(rel)
		if err != nil {
			throw("UriFormatException", "Invalid URI: The format of the URI could not be determined.")
		}
		res := b.u.ResolveReference(r)
		return &Uri{u: res, original: res.String(), absolute: true}
	}))
	d.smethod("EscapeDataString(string stringToEscape) string", x1(func(f *frame, s string) string { f.alloc(3 * len(s)); return escapeDataString(s) }))
	d.smethod("UnescapeDataString(string stringToUnescape) string", x1(func(f *frame, s string) string { f.alloc(len(s)); return unescapeDataString(s) }))
	d.smethod("EscapeUriString(string stringToEscape) string", x1(func(f *frame, s string) string { f.alloc(3 * len(s)); return escapeURIString(s) }))
	d.smethod("IsWellFormedUriString(string uriString, UriKind uriKind) bool", x2(func(f *frame, s string, k int64) bool {
		if isNull(s) {
			return false
		}
		uriCost(f, len(s))
		x := newUri(s)
		if strings.ContainsAny(s, " \\") {
			return false
		}
		switch k {
		case 1:
			return x.absolute
		case 2:
			return !x.absolute
		}
		return true
	}))
	d.smethod("TryCreate(string uriString, UriKind uriKind, out Uri result) bool", x3(func(f *frame, s string, k int64, out *outRef) bool {
		if isNull(s) {
			out.set(nil)
			return false
		}
		uriCost(f, len(s))
		x := newUri(s)
		if k == 1 && !x.absolute || k == 2 && x.absolute {
			out.set(nil)
			return false
		}
		out.set(x)
		return true
	}))
	uriPart := func(fn func(*Uri) string) implFn {
		return x1(func(f *frame, x *Uri) string { uriCost(f, len(x.original)); return fn(x) })
	}
	d.prop("AbsoluteUri string", uriPart(func(x *Uri) string { x.requireAbs(); return x.absoluteURI() }))
	d.prop("AbsolutePath string", uriPart(func(x *Uri) string { x.requireAbs(); return x.path() }))
	d.prop("PathAndQuery string", uriPart(func(x *Uri) string { x.requireAbs(); return x.path() + x.query() }))
	d.prop("Query string", uriPart(func(x *Uri) string { x.requireAbs(); return x.query() }))
	d.prop("Fragment string", uriPart(func(x *Uri) string {
		x.requireAbs()
		if x.u.Fragment == "" {
			return ""
		}
		return "#" + x.u.EscapedFragment()
	}))
	d.prop("Host string", uriPart(func(x *Uri) string { x.requireAbs(); return strings.ToLower(x.u.Hostname()) }))
	d.prop("DnsSafeHost string", uriPart(func(x *Uri) string { x.requireAbs(); return strings.ToLower(x.u.Hostname()) }))
	d.prop("Authority string", uriPart(func(x *Uri) string { x.requireAbs(); return x.authority() }))
	d.prop("Port int", f1(func(x *Uri) int32 { x.requireAbs(); return x.port() }))
	d.prop("IsDefaultPort bool", f1(func(x *Uri) bool { x.requireAbs(); return x.port() == defaultPort(x.u.Scheme) }))
	d.prop("Scheme string", f1(func(x *Uri) string { x.requireAbs(); return strings.ToLower(x.u.Scheme) }))
	d.prop("UserInfo string", uriPart(func(x *Uri) string {
		x.requireAbs()
		if x.u.User == nil {
			return ""
		}
		return x.u.User.String()
	}))
	d.prop("Segments string[]", x1(func(f *frame, x *Uri) []string {
		uriCost(f, len(x.original))
		x.requireAbs()
		p := x.path()
		var segs []string
		for p != "" {
			i := strings.IndexByte(p[1:], '/')
			if i < 0 {
				segs = append(segs, p)
				break
			}
			segs = append(segs, p[:i+2])
			p = p[i+2:]
		}
		if len(segs) > 0 && segs[0] != "/" && strings.HasPrefix(segs[0], "/") {
			segs = append([]string{"/"}, append([]string{segs[0][1:]}, segs[1:]...)...)
		}
		return segs
	}))
	d.prop("IsAbsoluteUri bool", f1(func(x *Uri) bool { return x.absolute }))
	d.prop("OriginalString string", f1(func(x *Uri) string { return x.original }))
	d.method("GetLeftPart(UriPartial part) string", x2(func(f *frame, x *Uri, p int64) string {
		uriCost(f, len(x.original))
		x.requireAbs()
		base := strings.ToLower(x.u.Scheme) + "://"
		switch p {
		case 0:
			return base
		case 1:
			return base + x.userInfo() + x.authority()
		case 2:
			return base + x.userInfo() + x.authority() + x.path()
		}
		return base + x.userInfo() + x.authority() + x.path() + x.query()
	}))
	d.method("ToString() string", uriPart((*Uri).String))

	w := u.decl("System.Net.WebUtility", tkClass, "")
	w.smethod("UrlEncode(string value) string", x1(func(f *frame, s string) string { f.alloc(3 * len(s)); return urlEncode(s) }))
	w.smethod("UrlDecode(string encodedValue) string", x1(func(f *frame, s string) string { f.alloc(len(s)); return urlDecode(s) }))
	w.smethod("HtmlEncode(string value) string", x1(func(f *frame, s string) string { f.alloc(6 * len(s)); return htmlEncode(s) }))
	w.smethod("HtmlDecode(string value) string", x1(func(f *frame, s string) string {
		if isNull(s) {
			return nullStr
		}
		f.alloc(2 * len(s))
		return html.UnescapeString(s)
	}))

	ip := u.decl("System.Net.IPAddress", tkClass, "")
	ip.is = func(v any) bool { _, ok := v.(net.IP); return ok }
	ip.smethod("Parse(string ipString) IPAddress", f1(func(s string) net.IP {
		mustNotNull(s, "ipString")
		a := net.ParseIP(strings.TrimSpace(s))
		if a == nil {
			throw("FormatException", "An invalid IP address was specified")
		}
		return a
	}))
	ip.smethod("TryParse(string ipString, out IPAddress address) bool", f2(func(s string, out *outRef) bool {
		a := net.ParseIP(strings.TrimSpace(s))
		if a == nil {
			out.set(nil)
			return false
		}
		out.set(a)
		return true
	}))
	ip.smethod("HostToNetworkOrder(int host) int", f1(func(v int32) int32 { return int32(swap32(uint32(v))) }))
	ip.smethod("HostToNetworkOrder(long host) long", f1(func(v int64) int64 { return int64(swap64(uint64(v))) }))
	ip.smethod("HostToNetworkOrder(short host) short", f1(func(v int32) int32 { return int32(int16(swap16(uint16(v)))) }))
	ip.smethod("NetworkToHostOrder(int network) int", f1(func(v int32) int32 { return int32(swap32(uint32(v))) }))
	ip.smethod("NetworkToHostOrder(long network) long", f1(func(v int64) int64 { return int64(swap64(uint64(v))) }))
	ip.smethod("NetworkToHostOrder(short network) short", f1(func(v int32) int32 { return int32(int16(swap16(uint16(v)))) }))
	ip.smethod("IsLoopback(IPAddress address) bool", f1(func(a net.IP) bool { return a.IsLoopback() }))
	ip.method("GetAddressBytes() byte[]", f1(func(a net.IP) []byte {
		if v4 := a.To4(); v4 != nil {
			return append([]byte(nil), v4...)
		}
		return append([]byte(nil), a...)
	}))
	ip.method("ToString() string", f1(func(a net.IP) string { return a.String() }))
	ip.method("Equals(object comparand) bool", f2(func(a net.IP, o any) bool { b, ok := o.(net.IP); return ok && a.Equal(b) }))
	ip.prop("AddressFamily AddressFamily", f1(func(a net.IP) int64 {
		if a.To4() != nil {
			return 2
		}
		return 23
	}))
	af := u.decl("System.Net.Sockets.AddressFamily", tkEnum, "")
	af.enumV(map[string]int64{"Unspecified": 0, "InterNetwork": 2, "InterNetworkV6": 23}, "Unspecified", "InterNetwork", "InterNetworkV6")

	sr := u.decl("System.IO.StringReader", tkClass, "")
	sr.is = func(v any) bool { _, ok := v.(*stringReader); return ok }
	sr.ctor("(string s)", f1(func(s string) *stringReader {
		mustNotNull(s, "s")
		return &stringReader{s: s}
	}))
	sr.method("ReadToEnd() string", f1(func(r *stringReader) string { s := r.s[r.i:]; r.i = len(r.s); return s }))
	sr.method("ReadLine() string", x1(func(f *frame, r *stringReader) string {
		if r.i >= len(r.s) {
			return nullStr
		}
		rest := r.s[r.i:]
		j := strings.IndexAny(rest, "\r\n")
		if j < 0 {
			f.work(len(rest))
		} else {
			f.work(j)
		}
		if j < 0 {
			r.i = len(r.s)
			return rest
		}
		line := rest[:j]
		r.i += j + 1
		if rest[j] == '\r' && j+1 < len(rest) && rest[j+1] == '\n' {
			r.i++
		}
		return line
	}))
	sr.method("Dispose() void", v1(func(*stringReader) {}))
	sw := u.decl("System.IO.StringWriter", tkClass, "")
	sw.is = func(v any) bool { _, ok := v.(*StringBuilder); return ok }
	sw.ctor("()", f0(func() *StringBuilder { return &StringBuilder{} }))
	sw.method("Write(string value) void", vx2(func(f *frame, s *StringBuilder, v string) { s.add(f, v) }))
	sw.method("WriteLine(string value) void", vx2(func(f *frame, s *StringBuilder, v string) { s.add(f, v).add(f, "\n") }))
	sw.method("ToString() string", x1(func(f *frame, s *StringBuilder) string { return f.str(s) }))
}

type stringReader struct {
	s string
	i int
}

func swap16(v uint16) uint16 { return v<<8 | v>>8 }
func swap32(v uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return binary.BigEndian.Uint32(b[:])
}
func swap64(v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return binary.BigEndian.Uint64(b[:])
}
