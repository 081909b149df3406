package xslt

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// output holds xsl:output's settings (XSLT 1.0 §16).
type output struct {
	method        string // xml, html, text, or "" to choose by the result's root element
	omitDecl      bool
	standalone    string // "", "yes" or "no"
	doctypePublic string
	doctypeSystem string
	indent        string // "", "yes" or "no"; the default depends on the method
	mediaType     string
	cdata         map[qname]bool
}

// resolvedMethod applies XSLT 1.0 §16's default: html when the first element
// of the result is an html element with no namespace and no text before it.
func (o *output) resolvedMethod(root *rnode) string {
	if o.method != "" {
		return o.method
	}
	for _, c := range root.children {
		switch c.kind {
		case rElem:
			if c.name.space == "" && strings.EqualFold(c.name.local, "html") {
				return "html"
			}
			return "xml"
		case rText:
			if strings.Trim(c.value, " \t\r\n") != "" {
				return "xml"
			}
		}
	}
	return "xml"
}

func (o *output) defaultMediaType(method string) string {
	if o.mediaType != "" {
		return o.mediaType
	}
	switch method {
	case "html":
		return "text/html"
	case "text":
		return "text/plain"
	}
	return "application/xml"
}

// serializer writes a result tree. It stops adding once the output passes max,
// and the caller reports the overflow.
type serializer struct {
	out    *output
	method string
	indent bool
	buf    []byte
	max    int64
}

func serialize(o *output, root *rnode, max int64) ([]byte, string, bool) {
	method := o.resolvedMethod(root)
	s := &serializer{out: o, method: method, max: max}
	s.indent = o.indent == "yes" || o.indent == "" && method == "html"
	switch method {
	case "text":
		s.textOnly(root)
	case "html":
		s.htmlDocument(root)
	default:
		s.xmlDocument(root)
	}
	return s.buf, o.defaultMediaType(method), int64(len(s.buf)) <= max
}

func (s *serializer) full() bool { return int64(len(s.buf)) > s.max }

func (s *serializer) textOnly(n *rnode) {
	for _, c := range n.children {
		if s.full() {
			return
		}
		switch c.kind {
		case rText:
			s.buf = append(s.buf, c.value...)
		case rElem:
			s.textOnly(c)
		}
	}
}

// outScope is one namespace declaration written on an element of the output.
type outScope struct {
	prefix, uri string
	next        *outScope
}

func (sc *outScope) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	for ; sc != nil; sc = sc.next {
		if sc.prefix == prefix {
			return sc.uri, true
		}
	}
	return "", prefix == ""
}

// prefixFor finds a non-empty prefix bound to uri that no nearer declaration
// hides.
func (sc *outScope) prefixFor(uri string) (string, bool) {
	for t := sc; t != nil; t = t.next {
		if t.uri == uri && t.prefix != "" {
			if u, _ := sc.lookup(t.prefix); u == uri {
				return t.prefix, true
			}
		}
	}
	return "", false
}

func (s *serializer) xmlDocument(root *rnode) {
	if !s.out.omitDecl {
		s.buf = append(s.buf, `<?xml version="1.0" encoding="utf-8"`...)
		if s.out.standalone != "" {
			s.buf = append(s.buf, ` standalone="`...)
			s.buf = append(s.buf, s.out.standalone...)
			s.buf = append(s.buf, '"')
		}
		s.buf = append(s.buf, "?>"...)
	}
	s.topLevel(root, s.xmlNode)
}

// topLevel writes the document's children, the doctype before the first
// element, each on a line of its own when indenting.
func (s *serializer) topLevel(root *rnode, write func(*rnode, *outScope, int, bool)) {
	doctype := s.out.doctypeSystem != "" || s.out.doctypePublic != "" && s.method == "html"
	mixed := !s.indent // as inside an element
	for _, c := range root.children {
		if s.full() {
			return
		}
		if c.kind == rElem && doctype {
			doctype = false
			if len(s.buf) > 0 {
				s.newline()
			}
			s.doctype(c)
			if mixed {
				s.newline()
			}
		}
		if c.kind == rText {
			mixed = true
		} else if !mixed && len(s.buf) > 0 {
			s.newline()
		}
		write(c, nil, 0, !mixed)
	}
}

func (s *serializer) newline() { s.buf = append(s.buf, '\n') }

func (s *serializer) doctype(root *rnode) {
	name := root.name.local
	if root.prefix != "" && s.method == "xml" {
		name = root.prefix + ":" + name
	}
	s.buf = append(s.buf, "<!DOCTYPE "...)
	s.buf = append(s.buf, name...)
	switch {
	case s.out.doctypePublic != "":
		s.buf = append(s.buf, ` PUBLIC "`...)
		s.buf = append(s.buf, s.out.doctypePublic...)
		s.buf = append(s.buf, '"')
		if s.out.doctypeSystem != "" {
			s.buf = append(s.buf, ` "`...)
			s.buf = append(s.buf, s.out.doctypeSystem...)
			s.buf = append(s.buf, '"')
		}
	case s.out.doctypeSystem != "":
		s.buf = append(s.buf, ` SYSTEM "`...)
		s.buf = append(s.buf, s.out.doctypeSystem...)
		s.buf = append(s.buf, '"')
	}
	s.buf = append(s.buf, '>')
}

func hasText(n *rnode) bool {
	for _, c := range n.children {
		if c.kind == rText {
			return true
		}
	}
	return false
}

func (s *serializer) indentTo(depth int) {
	s.newline()
	for range depth {
		s.buf = append(s.buf, "  "...)
	}
}

// xmlNode writes n. indent says whether n's siblings are indented, which
// an element's children inherit.
func (s *serializer) xmlNode(n *rnode, sc *outScope, depth int, indent bool) {
	if s.full() {
		return
	}
	switch n.kind {
	case rText:
		if n.raw {
			s.buf = append(s.buf, n.value...)
		} else {
			s.escapeText(n.value)
		}
	case rComment:
		s.comment(n.value)
	case rPI:
		s.pi(n.name.local, n.value, "?>")
	case rElem:
		s.xmlElement(n, sc, depth, indent)
	}
}

func (s *serializer) comment(v string) {
	// XML forbids "--" in a comment and a final "-".
	for strings.Contains(v, "--") {
		v = strings.ReplaceAll(v, "--", "- -")
	}
	if strings.HasSuffix(v, "-") {
		v += " "
	}
	s.buf = append(s.buf, "<!--"...)
	s.buf = append(s.buf, v...)
	s.buf = append(s.buf, "-->"...)
}

func (s *serializer) pi(target, data, end string) {
	for strings.Contains(data, "?>") {
		data = strings.ReplaceAll(data, "?>", "? >")
	}
	s.buf = append(s.buf, "<?"...)
	s.buf = append(s.buf, target...)
	if data != "" {
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, data...)
	}
	s.buf = append(s.buf, end...)
}

// declare fixes up the namespaces of element n (XSLT 1.0 §7.1.1 leaves the
// prefixes to the serializer): it returns the element's qualified name, the
// attributes' qualified names and the declarations to write, reusing what the
// enclosing elements declared.
func (s *serializer) declare(n *rnode, sc *outScope) (string, []string, *outScope, []nsBinding) {
	var decls []nsBinding
	declared := func(prefix string) (string, bool) {
		for _, d := range decls {
			if d.prefix == prefix {
				return d.uri, true
			}
		}
		return "", false
	}
	bind := func(prefix, uri string) {
		decls = append(decls, nsBinding{prefix, uri})
	}
	fresh := func() string {
		for i := 0; ; i++ {
			p := "ns" + strconv.Itoa(i)
			if _, ok := declared(p); ok {
				continue
			}
			if _, ok := sc.lookup(p); !ok {
				return p
			}
		}
	}
	// The element's own name first: it must not be hidden by a namespace node.
	var elemName string
	if n.name.space == "" {
		if u, _ := sc.lookup(""); u != "" {
			bind("", "")
		}
		elemName = n.name.local
	} else {
		p := n.prefix
		if u, ok := sc.lookup(p); !ok || u != n.name.space {
			bind(p, n.name.space)
		}
		elemName = qualify(p, n.name.local)
	}
	attrNames := make([]string, len(n.attrs))
	for i, a := range n.attrs {
		if a.name.space == "" {
			attrNames[i] = a.name.local
			continue
		}
		p := a.prefix
		if a.name.space == nsXML {
			p = "xml"
		}
		ok := false
		if p != "" {
			if u, isDecl := declared(p); isDecl {
				ok = u == a.name.space
			} else if u, inScope := sc.lookup(p); inScope && u == a.name.space {
				ok = true
			} else {
				bind(p, a.name.space)
				ok = true
			}
		}
		if !ok {
			p = ""
			for _, d := range decls {
				if d.uri == a.name.space && d.prefix != "" {
					p = d.prefix
				}
			}
			if p == "" {
				if q, found := sc.prefixFor(a.name.space); found {
					if _, hidden := declared(q); !hidden {
						p = q
					}
				}
			}
			if p == "" {
				p = fresh()
				bind(p, a.name.space)
			}
		}
		attrNames[i] = p + ":" + a.name.local
	}
	for _, ns := range n.ns {
		if _, ok := declared(ns.prefix); ok {
			continue
		}
		if u, ok := sc.lookup(ns.prefix); ok && u == ns.uri {
			continue
		}
		bind(ns.prefix, ns.uri)
	}
	inner := sc
	for _, d := range decls {
		inner = &outScope{d.prefix, d.uri, inner}
	}
	return elemName, attrNames, inner, orderDecls(decls, n.ns)
}

// orderDecls puts the declarations in the order of the element's namespace
// nodes (the stylesheet's order), the others after.
func orderDecls(decls []nsBinding, nodes []nsBinding) []nsBinding {
	out := make([]nsBinding, 0, len(decls))
	used := make([]bool, len(decls))
	for _, ns := range nodes {
		for i, d := range decls {
			if !used[i] && d == ns {
				used[i] = true
				out = append(out, d)
			}
		}
	}
	for i, d := range decls {
		if !used[i] {
			out = append(out, d)
		}
	}
	return out
}

func (s *serializer) xmlElement(n *rnode, sc *outScope, depth int, indent bool) {
	name, attrNames, inner, decls := s.declare(n, sc)
	s.buf = append(s.buf, '<')
	s.buf = append(s.buf, name...)
	for _, d := range decls {
		if d.prefix == "" {
			s.buf = append(s.buf, ` xmlns="`...)
		} else {
			s.buf = append(s.buf, ` xmlns:`...)
			s.buf = append(s.buf, d.prefix...)
			s.buf = append(s.buf, `="`...)
		}
		s.escapeAttr(d.uri)
		s.buf = append(s.buf, '"')
	}
	for i, a := range n.attrs {
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, attrNames[i]...)
		s.buf = append(s.buf, `="`...)
		s.escapeAttr(a.value)
		s.buf = append(s.buf, '"')
	}
	if len(n.children) == 0 {
		// XslCompiledTransform's writer puts a space before "/>".
		s.buf = append(s.buf, " />"...)
		return
	}
	s.buf = append(s.buf, '>')
	// XslCompiledTransform's rule: children start lines of their own until
	// the first text child; from there on nothing in this element is
	// indented, since that would change mixed content.
	mixed := !indent
	cdata := s.out.cdata[n.name]
	for _, c := range n.children {
		if c.kind == rText {
			mixed = true
		} else if !mixed {
			s.indentTo(depth + 1)
		}
		if cdata && c.kind == rText && !c.raw {
			s.cdataSection(c.value)
			continue
		}
		s.xmlNode(c, inner, depth+1, !mixed)
	}
	if !mixed {
		s.indentTo(depth)
	}
	s.buf = append(s.buf, "</"...)
	s.buf = append(s.buf, name...)
	s.buf = append(s.buf, '>')
}

func (s *serializer) cdataSection(v string) {
	s.buf = append(s.buf, "<![CDATA["...)
	s.buf = append(s.buf, strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>")...)
	s.buf = append(s.buf, "]]>"...)
}

func (s *serializer) escapeText(v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			s.buf = append(s.buf, "&amp;"...)
		case '<':
			s.buf = append(s.buf, "&lt;"...)
		case '>':
			s.buf = append(s.buf, "&gt;"...)
		case '\r':
			s.buf = append(s.buf, "&#xD;"...)
		default:
			s.buf = appendChar(s.buf, c)
		}
	}
}

func (s *serializer) escapeAttr(v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			s.buf = append(s.buf, "&amp;"...)
		case '<':
			s.buf = append(s.buf, "&lt;"...)
		case '>':
			s.buf = append(s.buf, "&gt;"...)
		case '"':
			s.buf = append(s.buf, "&quot;"...)
		case '\t':
			s.buf = append(s.buf, "&#x9;"...)
		case '\n':
			s.buf = append(s.buf, "&#xA;"...)
		case '\r':
			s.buf = append(s.buf, "&#xD;"...)
		default:
			s.buf = appendChar(s.buf, c)
		}
	}
}

// appendChar appends a byte of text, writing the control characters XML 1.0
// cannot hold as character references rather than breaking the document.
func appendChar(b []byte, c byte) []byte {
	if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
		return append(b, "&#x"+strconv.FormatInt(int64(c), 16)+";"...)
	}
	return append(b, c)
}

// HTML (XSLT 1.0 §16.2).

var htmlEmpty = map[string]bool{
	"area": true, "base": true, "basefont": true, "br": true, "col": true, "frame": true,
	"hr": true, "img": true, "input": true, "isindex": true, "link": true, "meta": true, "param": true,
}

var htmlBoolean = map[string]bool{
	"checked": true, "compact": true, "declare": true, "defer": true, "disabled": true,
	"ismap": true, "multiple": true, "nohref": true, "noresize": true, "noshade": true,
	"nowrap": true, "readonly": true, "selected": true,
}

var htmlURI = map[string]bool{
	"action": true, "archive": true, "background": true, "cite": true, "classid": true,
	"codebase": true, "data": true, "href": true, "longdesc": true, "profile": true,
	"src": true, "usemap": true,
}

func (s *serializer) htmlDocument(root *rnode) {
	s.topLevel(root, s.htmlNode)
}

func isHTML(n *rnode) bool { return n.kind == rElem && n.name.space == "" }

func (s *serializer) htmlNode(n *rnode, sc *outScope, depth int, indent bool) {
	if s.full() {
		return
	}
	switch n.kind {
	case rText:
		s.escapeHTMLText(n.value, n.raw)
	case rComment:
		s.comment(n.value)
	case rPI:
		s.pi(n.name.local, n.value, ">")
	case rElem:
		if !isHTML(n) {
			s.xmlElement(n, sc, depth, indent)
			return
		}
		s.htmlElement(n, sc, depth, indent)
	}
}

func (s *serializer) htmlElement(n *rnode, sc *outScope, depth int, indent bool) {
	lower := strings.ToLower(n.name.local)
	s.buf = append(s.buf, '<')
	s.buf = append(s.buf, n.name.local...)
	_, attrNames, inner, decls := s.declare(n, sc)
	for _, d := range decls {
		if d.uri == "" {
			continue
		}
		s.buf = append(s.buf, " xmlns"...)
		if d.prefix != "" {
			s.buf = append(s.buf, ':')
			s.buf = append(s.buf, d.prefix...)
		}
		s.buf = append(s.buf, `="`...)
		s.escapeAttr(d.uri)
		s.buf = append(s.buf, '"')
	}
	for i, a := range n.attrs {
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, attrNames[i]...)
		an := strings.ToLower(a.name.local)
		if a.name.space == "" && htmlBoolean[an] && strings.EqualFold(a.value, an) {
			continue
		}
		s.buf = append(s.buf, `="`...)
		v := a.value
		if a.name.space == "" && htmlURI[an] {
			v = escapeURI(v)
		}
		s.escapeHTMLAttr(v)
		s.buf = append(s.buf, '"')
	}
	s.buf = append(s.buf, '>')
	children := n.children
	if lower == "head" && !hasContentTypeMeta(n) {
		meta := &rnode{kind: rElem, name: qname{"", "META"}, attrs: []*rnode{
			{kind: rAttr, name: qname{"", "http-equiv"}, value: "Content-Type"},
			{kind: rAttr, name: qname{"", "content"}, value: "text/html; charset=utf-8"},
		}}
		children = append([]*rnode{meta}, children...)
	}
	if htmlEmpty[lower] && len(children) == 0 {
		return
	}
	inside := indent && !hasText(n)
	raw := lower == "script" || lower == "style"
	for _, c := range children {
		if inside {
			s.indentTo(depth + 1)
		}
		if raw && c.kind == rText {
			s.buf = append(s.buf, c.value...)
			continue
		}
		s.htmlNode(c, inner, depth+1, inside)
	}
	if inside && len(children) > 0 {
		s.indentTo(depth)
	}
	s.buf = append(s.buf, "</"...)
	s.buf = append(s.buf, n.name.local...)
	s.buf = append(s.buf, '>')
}

func hasContentTypeMeta(head *rnode) bool {
	for _, c := range head.children {
		if c.kind != rElem || !strings.EqualFold(c.name.local, "meta") {
			continue
		}
		for _, a := range c.attrs {
			if strings.EqualFold(a.name.local, "http-equiv") && strings.EqualFold(a.value, "content-type") {
				return true
			}
		}
	}
	return false
}

func (s *serializer) escapeHTMLText(v string, raw bool) {
	if raw {
		s.buf = append(s.buf, v...)
		return
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			s.buf = append(s.buf, "&amp;"...)
		case '<':
			s.buf = append(s.buf, "&lt;"...)
		case '>':
			s.buf = append(s.buf, "&gt;"...)
		default:
			s.buf = appendChar(s.buf, c)
		}
	}
}

// escapeHTMLAttr escapes an HTML attribute value: "<" stays, and "&{" stays
// for the benefit of script entities (XSLT 1.0 §16.2).
func (s *serializer) escapeHTMLAttr(v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			if i+1 < len(v) && v[i+1] == '{' {
				s.buf = append(s.buf, '&')
			} else {
				s.buf = append(s.buf, "&amp;"...)
			}
		case '"':
			s.buf = append(s.buf, "&quot;"...)
		default:
			s.buf = appendChar(s.buf, c)
		}
	}
}

// escapeURI %-escapes the non-ASCII characters of a URI attribute as UTF-8.
func escapeURI(v string) string {
	if isASCII(v) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteString(strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
