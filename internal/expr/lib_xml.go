package expr

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// A small XML DOM behind System.Xml.Linq (XDocument, XElement), System.Xml
// (XmlDocument with simple XPath) and XmlReader.

// XName is an expanded XML name.
type XName struct{ Space, Local string }

// String returns "{namespace}local", or "local" without a namespace.
func (n XName) String() string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// xnameFrom parses "{ns}local" or "local".
func xnameFrom(s string) XName {
	if strings.HasPrefix(s, "{") {
		if i := strings.IndexByte(s, '}'); i > 0 {
			return XName{Space: s[1:i], Local: s[i+1:]}
		}
	}
	return XName{Local: s}
}

// XNamespace is an XML namespace.
type XNamespace struct{ URI string }

// XAttribute is an attribute.
type XAttribute struct {
	Name   XName
	Prefix string
	Value  string
	parent *XElement
}

// XText is character data.
type XText struct {
	Value  string
	cdata  bool
	parent *XElement
}

// XElement is an element.
type XElement struct {
	Name   XName
	Prefix string
	Attrs  []*XAttribute
	Nodes  []any // *XElement, *XText
	parent *XElement
	doc    *XDocument
}

// XDocument is a document.
type XDocument struct {
	Root *XElement
}

// xmlNodeBytes is what an element, an attribute or a text node costs the
// allocation budget: the node, its slot in its parent and the decoder's copies
// of its name and text.
const xmlNodeBytes = 256

// parseXML parses a document, charging f for each node as it makes it.
func parseXML(f *frame, s string) (*XDocument, error) {
	f.work(len(s))
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	doc := &XDocument{}
	type scope struct{ ns map[string]string }
	scopes := []scope{{ns: map[string]string{"xml": "http://www.w3.org/XML/1998/namespace"}}}
	resolve := func(prefix string) string {
		for i := len(scopes) - 1; i >= 0; i-- {
			if u, ok := scopes[i].ns[prefix]; ok {
				return u
			}
		}
		return ""
	}
	var cur *XElement
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			f.allocN(1+len(t.Attr), xmlNodeBytes)
			f.tick()
			depth++
			if depth > 256 {
				return nil, errors.New("XML nesting is too deep")
			}
			sc := scope{ns: map[string]string{}}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					sc.ns[a.Name.Local] = a.Value
				} else if a.Name.Space == "" && a.Name.Local == "xmlns" {
					sc.ns[""] = a.Value
				}
			}
			scopes = append(scopes, sc)
			el := &XElement{Name: XName{Space: resolve(t.Name.Space), Local: t.Name.Local}, Prefix: t.Name.Space, parent: cur}
			for _, a := range t.Attr {
				an := XName{Local: a.Name.Local}
				switch {
				case a.Name.Space == "xmlns":
					an.Space = "http://www.w3.org/2000/xmlns/"
				case a.Name.Space == "" && a.Name.Local == "xmlns":
				case a.Name.Space != "":
					an.Space = resolve(a.Name.Space)
				}
				el.Attrs = append(el.Attrs, &XAttribute{Name: an, Prefix: a.Name.Space, Value: a.Value, parent: el})
			}
			if cur == nil {
				if doc.Root != nil {
					return nil, errors.New("there are multiple root elements")
				}
				doc.Root = el
				el.doc = doc
			} else {
				cur.Nodes = append(cur.Nodes, el)
			}
			cur = el
		case xml.EndElement:
			if cur == nil || t.Name.Space != cur.Prefix || t.Name.Local != cur.Name.Local {
				return nil, errors.New("the end tag </" + qname(t.Name.Space, t.Name.Local) + "> does not match the start tag")
			}
			depth--
			scopes = scopes[:len(scopes)-1]
			cur = cur.parent
		case xml.CharData:
			f.alloc(xmlNodeBytes + 2*len(t))
			if cur != nil {
				cur.Nodes = append(cur.Nodes, &XText{Value: string(t), parent: cur})
			} else if strings.TrimSpace(string(t)) != "" {
				return nil, errors.New("data at the root level is invalid")
			}
		}
	}
	if doc.Root == nil {
		return nil, errors.New("root element is missing")
	}
	if cur != nil {
		return nil, errors.New("unexpected end of file: <" + qname(cur.Prefix, cur.Name.Local) + "> is not closed")
	}
	return doc, nil
}

func parseXMLOrThrow(f *frame, s string) *XDocument {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'text')")
	}
	d, err := parseXML(f, s)
	if err != nil {
		msg, syntax := strings.CutPrefix(err.Error(), "XML syntax error on ")
		if !syntax {
			msg = strings.ToUpper(msg[:1]) + msg[1:] // .NET's messages start with a capital
		}
		panic(&exception{typ: "XmlException", msg: msg, pos: -1, err: err})
	}
	return d
}

func parseXMLBody(f *frame, s, kind string) any {
	d := parseXMLOrThrow(f, s)
	if kind == "XDocument" {
		return d
	}
	return d.Root
}

// value is XElement.Value: all descendant text.
func (e *XElement) value(f *frame) string {
	b := sink{f: f}
	var walk func(*XElement)
	walk = func(x *XElement) {
		for _, n := range x.Nodes {
			f.tick()
			switch c := n.(type) {
			case *XText:
				b.WriteString(c.Value)
			case *XElement:
				walk(c)
			}
		}
	}
	walk(e)
	return b.String()
}

func (e *XElement) elements(f *frame) []*XElement {
	f.elems(len(e.Nodes))
	var out []*XElement
	for _, n := range e.Nodes {
		if c, ok := n.(*XElement); ok {
			f.alloc(2 * slotBytes)
			out = append(out, c)
		}
	}
	return out
}

// descendants appends the descendant elements of e (and e itself if self), in
// document order, to out.
func (e *XElement) descendants(f *frame, self bool, out []*XElement) []*XElement {
	if self {
		f.alloc(2 * slotBytes)
		out = append(out, e)
	}
	for _, n := range e.Nodes {
		f.tick()
		if c, ok := n.(*XElement); ok {
			out = c.descendants(f, true, out)
		}
	}
	return out
}

func (e *XElement) attr(n XName) *XAttribute {
	for _, a := range e.Attrs {
		if a.Name == n {
			return a
		}
	}
	return nil
}

// clone copies e, charging f for each node copied.
func (e *XElement) clone(f *frame) *XElement {
	f.allocN(1+len(e.Attrs), xmlNodeBytes)
	f.tick()
	c := &XElement{Name: e.Name, Prefix: e.Prefix}
	for _, a := range e.Attrs {
		c.Attrs = append(c.Attrs, &XAttribute{Name: a.Name, Prefix: a.Prefix, Value: a.Value, parent: c})
	}
	for _, n := range e.Nodes {
		switch x := n.(type) {
		case *XElement:
			cc := x.clone(f)
			cc.parent = c
			c.Nodes = append(c.Nodes, cc)
		case *XText:
			f.alloc(xmlNodeBytes)
			c.Nodes = append(c.Nodes, &XText{Value: x.Value, cdata: x.cdata, parent: c})
		}
	}
	return c
}

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// writeXML writes an element as .NET's XElement.ToString() does: indented by two
// spaces unless the element has mixed content.
func writeXML(b *sink, e *XElement, indent bool, depth int) {
	b.WriteByte('<')
	b.WriteString(qname(e.Prefix, e.Name.Local))
	for _, a := range e.Attrs {
		b.WriteByte(' ')
		b.WriteString(qname(a.Prefix, a.Name.Local))
		b.WriteString(`="`)
		xmlEscape(b, a.Value, true)
		b.WriteByte('"')
	}
	if len(e.Nodes) == 0 {
		b.WriteString(" />")
		return
	}
	b.WriteByte('>')
	hasText := false
	for _, n := range e.Nodes {
		if t, ok := n.(*XText); ok && (strings.TrimSpace(t.Value) != "" || len(e.Nodes) == 1) {
			hasText = true
		}
	}
	for _, n := range e.Nodes {
		switch x := n.(type) {
		case *XText:
			if !hasText && indent {
				continue // whitespace between elements is re-indented
			}
			xmlEscape(b, x.Value, false)
		case *XElement:
			if indent && !hasText {
				b.WriteString("\n")
				for range depth + 1 {
					b.WriteString("  ")
				}
			}
			writeXML(b, x, indent && !hasText, depth+1)
		}
	}
	if indent && !hasText {
		b.WriteString("\n")
		for range depth {
			b.WriteString("  ")
		}
	}
	b.WriteString("</")
	b.WriteString(qname(e.Prefix, e.Name.Local))
	b.WriteByte('>')
}

var (
	xmlTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

// xmlEscape writes s escaped for element text or, if attr, an attribute value.
func xmlEscape(b *sink, s string, attr bool) {
	r := xmlTextEscaper
	if attr {
		r = xmlAttrEscaper
	}
	r.WriteString(b, s)
}

// xmlString is XElement.ToString(); f is charged for the text as it is written.
func xmlString(f *frame, e *XElement, indent bool) string {
	b := sink{f: f}
	writeXML(&b, e, indent, 0)
	return b.String()
}

// xattrString is XAttribute.ToString().
func xattrString(f *frame, a *XAttribute) string {
	b := sink{f: f}
	b.WriteString(qname(a.Prefix, a.Name.Local))
	b.WriteString(`="`)
	xmlEscape(&b, a.Value, true)
	b.WriteString(`"`)
	return b.String()
}

// ---- XPath (the subset XmlDocument.SelectSingleNode needs) ----

type xpathStep struct {
	desc  bool // preceded by //
	name  string
	attr  bool
	text  bool
	index int // 1-based, 0 for none
	pred  *xpathPred
}

type xpathPred struct {
	attr  string
	child string
	value string
}

func parseXPath(p string) ([]xpathStep, bool, string) {
	abs := strings.HasPrefix(p, "/")
	var steps []xpathStep
	i := 0
	for i < len(p) {
		st := xpathStep{}
		if strings.HasPrefix(p[i:], "//") {
			st.desc = true
			i += 2
		} else if p[i] == '/' {
			i++
		}
		j := i
		for j < len(p) && p[j] != '/' && p[j] != '[' {
			j++
		}
		name := p[i:j]
		i = j
		switch {
		case name == "text()":
			st.text = true
		case strings.HasPrefix(name, "@"):
			st.attr, st.name = true, name[1:]
		case name == ".":
			continue
		default:
			st.name = name
		}
		for i < len(p) && p[i] == '[' {
			k := strings.IndexByte(p[i:], ']')
			if k < 0 {
				return nil, false, "unterminated predicate in XPath"
			}
			pr := strings.TrimSpace(p[i+1 : i+k])
			i += k + 1
			if n, err := strconv.Atoi(pr); err == nil {
				st.index = n
				continue
			}
			l, r, ok := strings.Cut(pr, "=")
			if !ok {
				return nil, false, "unsupported XPath predicate [" + pr + "]"
			}
			l, r = strings.TrimSpace(l), strings.Trim(strings.TrimSpace(r), `'"`)
			if strings.HasPrefix(l, "@") {
				st.pred = &xpathPred{attr: l[1:], value: r}
			} else {
				st.pred = &xpathPred{child: l, value: r}
			}
		}
		if name == "" && !st.text {
			return nil, false, "invalid XPath " + p
		}
		steps = append(steps, st)
	}
	return steps, abs, ""
}

func nameMatch(e *XElement, name string) bool {
	if name == "*" {
		return true
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return e.Prefix == name[:i] && e.Name.Local == name[i+1:]
	}
	return qname(e.Prefix, e.Name.Local) == name || e.Prefix == "" && e.Name.Local == name
}

// xpathSelect evaluates a path from an element (or from the document root for
// absolute paths). Results are *XElement, *XAttribute or *XText.
func xpathSelect(f *frame, ctx *XElement, doc *XDocument, path string) []any {
	steps, abs, err := parseXPath(path)
	if err != "" {
		throw("XPathException", "%s", err)
	}
	var cur []*XElement
	virtualRoot := &XElement{}
	if abs {
		if doc == nil {
			for r := ctx; r != nil; r = r.parent {
				doc = r.doc
			}
		}
		if doc != nil {
			virtualRoot.Nodes = []any{doc.Root}
		}
		cur = []*XElement{virtualRoot}
	} else {
		cur = []*XElement{ctx}
	}
	var out []any
	for si, st := range steps {
		last := si == len(steps)-1
		var next []*XElement
		for _, c := range cur {
			if st.attr {
				if last {
					for _, a := range c.Attrs {
						f.tick()
						if st.name == "*" || a.Name.Local == st.name {
							out = push(f, out, a)
						}
					}
				}
				continue
			}
			if st.text {
				if last {
					for _, n := range c.Nodes {
						f.tick()
						if t, ok := n.(*XText); ok {
							out = push(f, out, t)
						}
					}
				}
				continue
			}
			var cands []*XElement
			if st.desc {
				cands = c.descendants(f, false, nil)
			} else {
				cands = c.elements(f)
			}
			var matched []*XElement
			for _, e := range cands {
				f.tick()
				if !nameMatch(e, st.name) {
					continue
				}
				if st.pred != nil {
					if st.pred.attr != "" {
						a := e.attr(XName{Local: st.pred.attr})
						if a == nil || a.Value != st.pred.value {
							continue
						}
					} else {
						ok := false
						for _, ch := range e.elements(f) {
							if nameMatch(ch, st.pred.child) && ch.value(f) == st.pred.value {
								ok = true
							}
						}
						if !ok {
							continue
						}
					}
				}
				f.alloc(2 * slotBytes)
				matched = append(matched, e)
			}
			if st.index > 0 {
				if st.index <= len(matched) {
					matched = matched[st.index-1 : st.index]
				} else {
					matched = nil
				}
			}
			f.allocN(len(matched), 2*slotBytes)
			next = append(next, matched...)
		}
		if (st.attr || st.text) && last {
			return out
		}
		cur = next
	}
	for _, e := range cur {
		if e != virtualRoot {
			out = push(f, out, e)
		}
	}
	return out
}

// xmlDocument is an XmlDocument.
type xmlDocument struct{ doc *XDocument }

// ---- XmlReader ----

type xmlEvent struct {
	kind  int64 // XmlNodeType
	el    *XElement
	text  string
	depth int
	empty bool
}

// XmlNodeType values.
const (
	xntNone       = 0
	xntElement    = 1
	xntText       = 3
	xntCDATA      = 4
	xntWhitespace = 13
	xntEndElement = 15
)

type xmlReader struct {
	events []xmlEvent
	i      int // -1 before the first Read
}

// xmlEventBytes is an xmlEvent in a growing slice, amortised.
const xmlEventBytes = 96

func newXMLReader(f *frame, s string) *xmlReader {
	d := parseXMLOrThrow(f, s)
	r := &xmlReader{i: -1}
	var walk func(e *XElement, depth int)
	walk = func(e *XElement, depth int) {
		f.alloc(2 * xmlEventBytes)
		r.events = append(r.events, xmlEvent{kind: xntElement, el: e, depth: depth, empty: len(e.Nodes) == 0})
		for _, n := range e.Nodes {
			switch c := n.(type) {
			case *XElement:
				walk(c, depth+1)
			case *XText:
				k := int64(xntText)
				if strings.TrimSpace(c.Value) == "" {
					k = xntWhitespace
				}
				f.alloc(xmlEventBytes)
				r.events = append(r.events, xmlEvent{kind: k, text: c.Value, depth: depth + 1})
			}
		}
		if len(e.Nodes) > 0 {
			r.events = append(r.events, xmlEvent{kind: xntEndElement, el: e, depth: depth})
		}
	}
	walk(d.Root, 0)
	return r
}

func (r *xmlReader) cur() *xmlEvent {
	if r.i < 0 || r.i >= len(r.events) {
		return nil
	}
	return &r.events[r.i]
}

func (r *xmlReader) read() bool {
	if r.i < len(r.events) {
		r.i++
	}
	return r.i < len(r.events)
}

func (r *xmlReader) eof() bool { return r.i >= len(r.events) }

// skipSubtree moves past the current element and its end tag.
func (r *xmlReader) skipSubtree() {
	ev := r.cur()
	if ev == nil || ev.kind != xntElement {
		r.read()
		return
	}
	if ev.empty {
		r.read()
		return
	}
	for r.read() {
		if e := r.cur(); e.kind == xntEndElement && e.el == ev.el {
			r.read()
			return
		}
	}
}

func declXML(u *universe) {
	ns := "System.Xml.Linq."
	xn := u.decl(ns+"XName", tkClass, "")
	xn.is = func(v any) bool { _, ok := v.(XName); return ok }
	xns := u.decl(ns+"XNamespace", tkClass, "")
	xns.is = func(v any) bool { _, ok := v.(XNamespace); return ok }
	xobj := u.decl(ns+"XObject", tkClass, "")
	xobj.is = func(v any) bool {
		switch v.(type) {
		case *XElement, *XDocument, *XAttribute, *XText:
			return true
		}
		return false
	}
	xnode := u.decl(ns+"XNode", tkClass, "XObject")
	xnode.is = func(v any) bool {
		switch v.(type) {
		case *XElement, *XDocument, *XText:
			return true
		}
		return false
	}
	xcont := u.decl(ns+"XContainer", tkClass, "XNode")
	xcont.is = func(v any) bool {
		switch v.(type) {
		case *XElement, *XDocument:
			return true
		}
		return false
	}
	xel := u.decl(ns+"XElement", tkClass, "XContainer")
	xel.is = func(v any) bool { _, ok := v.(*XElement); return ok }
	xdoc := u.decl(ns+"XDocument", tkClass, "XContainer")
	xdoc.is = func(v any) bool { _, ok := v.(*XDocument); return ok }
	xat := u.decl(ns+"XAttribute", tkClass, "XObject")
	xat.is = func(v any) bool { _, ok := v.(*XAttribute); return ok }
	xtext := u.decl(ns+"XText", tkClass, "XNode")
	xtext.is = func(v any) bool { _, ok := v.(*XText); return ok }

	xn.prop("LocalName string", f1(func(n XName) string { return n.Local }))
	xn.prop("NamespaceName string", f1(func(n XName) string { return n.Space }))
	xn.prop("Namespace XNamespace", f1(func(n XName) XNamespace { return XNamespace{n.Space} }))
	xn.method("ToString() string", f1(XName.String))
	xn.smethod("Get(string expandedName) XName", f1(xnameFrom))
	xns.prop("NamespaceName string", f1(func(n XNamespace) string { return n.URI }))
	xns.smethod("Get(string namespaceName) XNamespace", f1(func(s string) XNamespace { return XNamespace{s} }))
	xns.method("GetName(string localName) XName", f2(func(n XNamespace, l string) XName { return XName{Space: n.URI, Local: l} }))
	xns.method("ToString() string", f1(func(n XNamespace) string { return n.URI }))
	xns.sprop("None XNamespace", f0(func() XNamespace { return XNamespace{} }))

	elemsOf := func(v any) *XElement {
		switch x := v.(type) {
		case *XElement:
			return x
		case *XDocument:
			return &XElement{Nodes: []any{x.Root}}
		}
		return nil
	}
	toAny := func(es []*XElement) []any {
		out := make([]any, len(es))
		for i, e := range es {
			out[i] = e
		}
		return out
	}
	filter := func(es []*XElement, n XName) []*XElement {
		var out []*XElement
		for _, e := range es {
			if e.Name == n {
				out = append(out, e)
			}
		}
		return out
	}
	xcont.method("Descendants() IEnumerable<XElement>", x1(func(f *frame, v any) []any { return toAny(elemsOf(v).descendants(f, false, nil)) }))
	xcont.method("Descendants(XName name) IEnumerable<XElement>", x2(func(f *frame, v any, n XName) []any {
		return toAny(filter(elemsOf(v).descendants(f, false, nil), n))
	}))
	xcont.method("Elements() IEnumerable<XElement>", x1(func(f *frame, v any) []any { return toAny(elemsOf(v).elements(f)) }))
	xcont.method("Elements(XName name) IEnumerable<XElement>", x2(func(f *frame, v any, n XName) []any { return toAny(filter(elemsOf(v).elements(f), n)) }))
	xcont.method("Element(XName name) XElement", x2(func(f *frame, v any, n XName) *XElement {
		e := elemsOf(v)
		f.elems(len(e.Nodes))
		for _, c := range e.Nodes {
			if c, ok := c.(*XElement); ok && c.Name == n {
				return c
			}
		}
		return nil
	}))
	xcont.method("Nodes() IEnumerable<XNode>", x1(func(f *frame, v any) []any {
		e := elemsOf(v)
		f.allocN(len(e.Nodes), slotBytes)
		return append([]any(nil), e.Nodes...)
	}))
	xcont.method("Add(object content) void", vx2(func(f *frame, v any, c any) { xmlAdd(f, elemsOf(v), c) }))

	xdoc.smethod("Parse(string text) XDocument", x1(parseXMLOrThrow))
	xdoc.prop("Root XElement", f1(func(d *XDocument) *XElement { return d.Root }))
	xdoc.method("ToString() string", x1(func(f *frame, d *XDocument) string { return xmlString(f, d.Root, true) }))

	xel.smethod("Parse(string text) XElement", x1(func(f *frame, s string) *XElement { return parseXMLOrThrow(f, s).Root }))
	xel.ctor("(XName name, params object[] content)", x2(func(f *frame, n XName, content []any) *XElement {
		f.alloc(xmlNodeBytes)
		e := &XElement{Name: n}
		for _, c := range content {
			xmlAdd(f, e, c)
		}
		return e
	}))
	xel.prop("Name XName", f1(func(e *XElement) XName { return e.Name }))
	m := xel.prop("Value string", x1(func(f *frame, e *XElement) string { return e.value(f) }))
	m.set = v2(func(e *XElement, s string) { e.Nodes = []any{&XText{Value: s, parent: e}} })
	xel.prop("Parent XElement", f1(func(e *XElement) *XElement { return e.parent }))
	xel.prop("HasElements bool", x1(func(f *frame, e *XElement) bool {
		f.elems(len(e.Nodes))
		for _, n := range e.Nodes {
			if _, ok := n.(*XElement); ok {
				return true
			}
		}
		return false
	}))
	xel.prop("HasAttributes bool", f1(func(e *XElement) bool { return len(e.Attrs) > 0 }))
	xel.prop("IsEmpty bool", f1(func(e *XElement) bool { return len(e.Nodes) == 0 }))
	xel.method("Attribute(XName name) XAttribute", f2(func(e *XElement, n XName) *XAttribute { return e.attr(n) }))
	xel.method("Attributes() IEnumerable<XAttribute>", x1(func(f *frame, e *XElement) []any {
		f.allocN(len(e.Attrs), slotBytes)
		out := make([]any, len(e.Attrs))
		for i, a := range e.Attrs {
			out[i] = a
		}
		return out
	}))
	xel.method("DescendantsAndSelf() IEnumerable<XElement>", x1(func(f *frame, e *XElement) []any { return toAny(e.descendants(f, true, nil)) }))
	xel.method("SetValue(object value) void", vx2(func(f *frame, e *XElement, v any) { e.Nodes = []any{&XText{Value: f.str(v), parent: e}} }))
	xel.method("SetAttributeValue(XName name, object value) void", vx3(func(f *frame, e *XElement, n XName, v any) {
		f.elems(len(e.Attrs))
		if a := e.attr(n); a != nil {
			if v == nil {
				for i, x := range e.Attrs {
					if x == a {
						e.Attrs = append(e.Attrs[:i:i], e.Attrs[i+1:]...)
					}
				}
				return
			}
			a.Value = f.str(v)
			return
		}
		if v != nil {
			f.alloc(xmlNodeBytes)
			e.Attrs = append(e.Attrs, &XAttribute{Name: n, Value: f.str(v), parent: e})
		}
	}))
	xel.method("Remove() void", vx1(func(f *frame, e *XElement) {
		if e.parent == nil {
			throw("InvalidOperationException", "The parent is missing.")
		}
		p := e.parent
		f.elems(len(p.Nodes))
		for i, n := range p.Nodes {
			if n == any(e) {
				p.Nodes = append(p.Nodes[:i:i], p.Nodes[i+1:]...)
			}
		}
		e.parent = nil
	}))
	xel.method("ToString() string", x1(func(f *frame, e *XElement) string { return xmlString(f, e, true) }))
	xnode.smethod("ReadFrom(XmlReader reader) XNode", x1(func(f *frame, r *xmlReader) any {
		ev := r.cur()
		if ev == nil {
			throw("InvalidOperationException", "The XmlReader state should be Interactive.")
		}
		switch ev.kind {
		case xntElement:
			el := ev.el.clone(f)
			r.skipSubtree()
			return el
		case xntText, xntWhitespace, xntCDATA:
			r.read()
			return &XText{Value: ev.text}
		}
		throw("InvalidOperationException", "The XmlReader should not be on a node of type %d.", ev.kind)
		return nil
	}))
	xat.prop("Name XName", f1(func(a *XAttribute) XName { return a.Name }))
	m = xat.prop("Value string", f1(func(a *XAttribute) string { return a.Value }))
	m.set = v2(func(a *XAttribute, s string) { a.Value = s })
	xat.ctor("(XName name, object value)", x2(func(f *frame, n XName, v any) *XAttribute { return &XAttribute{Name: n, Value: f.str(v)} }))
	xat.method("ToString() string", x1(xattrString))
	xtext.prop("Value string", f1(func(t *XText) string { return t.Value }))

	// System.Xml
	xml := "System.Xml."
	xnt := u.decl(xml+"XmlNodeType", tkEnum, "")
	xnt.enumV(map[string]int64{"None": 0, "Element": 1, "Attribute": 2, "Text": 3, "CDATA": 4, "EntityReference": 5, "Entity": 6,
		"ProcessingInstruction": 7, "Comment": 8, "Document": 9, "DocumentType": 10, "DocumentFragment": 11, "Notation": 12,
		"Whitespace": 13, "SignificantWhitespace": 14, "EndElement": 15, "EndEntity": 16, "XmlDeclaration": 17},
		"None", "Element", "Attribute", "Text", "CDATA", "EntityReference", "Entity", "ProcessingInstruction", "Comment", "Document",
		"DocumentType", "DocumentFragment", "Notation", "Whitespace", "SignificantWhitespace", "EndElement", "EndEntity", "XmlDeclaration")
	node := u.decl(xml+"XmlNode", tkClass, "")
	node.is = func(v any) bool {
		switch v.(type) {
		case *XElement, *xmlDocument, *XAttribute, *XText:
			return true
		}
		return false
	}
	node.elem = func(*Type) *Type { return node.typ() }
	xe := u.decl(xml+"XmlElement", tkClass, "XmlNode")
	xe.is = func(v any) bool { _, ok := v.(*XElement); return ok }
	xd := u.decl(xml+"XmlDocument", tkClass, "XmlNode")
	xd.is = func(v any) bool { _, ok := v.(*xmlDocument); return ok }
	nl := u.decl(xml+"XmlNodeList", tkClass, "")
	nl.is = func(v any) bool { _, ok := v.([]any); return ok }
	nl.elem = func(*Type) *Type { return node.typ() }
	nl.prop("Count int", f1(func(l []any) int32 { return int32(len(l)) }))
	nl.index("this[int i] XmlNode", f2(func(l []any, i int32) any {
		if i < 0 || int(i) >= len(l) {
			return nil
		}
		return l[i]
	}), nil)
	xd.ctor("()", f0(func() *xmlDocument { return &xmlDocument{} }))
	xd.method("LoadXml(string xml) void", vx2(func(f *frame, d *xmlDocument, s string) { d.doc = parseXMLOrThrow(f, s) }))
	xd.prop("DocumentElement XmlElement", f1(func(d *xmlDocument) *XElement {
		if d.doc == nil {
			return nil
		}
		return d.doc.Root
	}))
	ctxOf := func(v any) (*XElement, *XDocument) {
		switch x := v.(type) {
		case *xmlDocument:
			if x.doc == nil {
				return &XElement{}, nil
			}
			return &XElement{Nodes: []any{x.doc.Root}}, x.doc
		case *XElement:
			return x, nil
		}
		return &XElement{}, nil
	}
	node.method("SelectSingleNode(string xpath) XmlNode", x2(func(f *frame, v any, p string) any {
		ctx, doc := ctxOf(v)
		if r := xpathSelect(f, ctx, doc, p); len(r) > 0 {
			return r[0]
		}
		return nil
	}))
	node.method("SelectNodes(string xpath) XmlNodeList", x2(func(f *frame, v any, p string) []any {
		ctx, doc := ctxOf(v)
		return xpathSelect(f, ctx, doc, p)
	}))
	nodeText := func(f *frame, v any) string {
		switch x := v.(type) {
		case *XElement:
			return x.value(f)
		case *XAttribute:
			return x.Value
		case *XText:
			return x.Value
		case *xmlDocument:
			if x.doc != nil {
				return x.doc.Root.value(f)
			}
		}
		return ""
	}
	node.prop("InnerText string", x1(nodeText))
	node.prop("Value string", f1(func(v any) string {
		switch x := v.(type) {
		case *XAttribute:
			return x.Value
		case *XText:
			return x.Value
		}
		return nullStr
	}))
	node.prop("Name string", f1(func(v any) string {
		switch x := v.(type) {
		case *XElement:
			return qname(x.Prefix, x.Name.Local)
		case *XAttribute:
			return qname(x.Prefix, x.Name.Local)
		case *XText:
			return "#text"
		}
		return "#document"
	}))
	node.prop("LocalName string", f1(func(v any) string {
		switch x := v.(type) {
		case *XElement:
			return x.Name.Local
		case *XAttribute:
			return x.Name.Local
		}
		return "#text"
	}))
	node.prop("OuterXml string", x1(func(f *frame, v any) string {
		if e, ok := v.(*XElement); ok {
			return xmlString(f, e, false)
		}
		return nodeText(f, v)
	}))
	node.prop("InnerXml string", x1(func(f *frame, v any) string {
		e, ok := v.(*XElement)
		if !ok {
			return nodeText(f, v)
		}
		b := sink{f: f}
		for _, n := range e.Nodes {
			switch x := n.(type) {
			case *XElement:
				writeXML(&b, x, false, 0)
			case *XText:
				xmlEscape(&b, x.Value, false)
			}
		}
		return b.String()
	}))
	node.prop("ChildNodes XmlNodeList", x1(func(f *frame, v any) []any {
		if e, ok := v.(*XElement); ok {
			f.allocN(len(e.Nodes), slotBytes)
			return append([]any{}, e.Nodes...)
		}
		return []any{}
	}))
	xe.method("GetAttribute(string name) string", f2(func(e *XElement, n string) string {
		for _, a := range e.Attrs {
			if qname(a.Prefix, a.Name.Local) == n {
				return a.Value
			}
		}
		return ""
	}))
	xe.method("GetElementsByTagName(string name) XmlNodeList", x2(func(f *frame, e *XElement, n string) []any {
		var out []any
		for _, d := range e.descendants(f, false, nil) {
			if nameMatch(d, n) {
				out = push(f, out, d)
			}
		}
		return out
	}))

	xr := u.decl(xml+"XmlReader", tkClass, "")
	xr.is = func(v any) bool { _, ok := v.(*xmlReader); return ok }
	xr.smethod("Create(StringReader input) XmlReader", x1(func(f *frame, r *stringReader) *xmlReader {
		if r == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
		}
		return newXMLReader(f, r.s[r.i:])
	}))
	xr.method("Read() bool", x1(func(f *frame, r *xmlReader) bool { f.stepN(1); return r.read() }))
	xr.method("MoveToContent() XmlNodeType", f1(func(r *xmlReader) int64 {
		if r.i < 0 {
			r.read()
		}
		for ev := r.cur(); ev != nil && ev.kind == xntWhitespace; ev = r.cur() {
			r.read()
		}
		if ev := r.cur(); ev != nil {
			return ev.kind
		}
		return xntNone
	}))
	xr.prop("EOF bool", f1((*xmlReader).eof))
	xr.prop("NodeType XmlNodeType", f1(func(r *xmlReader) int64 {
		if ev := r.cur(); ev != nil {
			return ev.kind
		}
		return xntNone
	}))
	xr.prop("Name string", f1(func(r *xmlReader) string {
		if ev := r.cur(); ev != nil && ev.el != nil {
			return qname(ev.el.Prefix, ev.el.Name.Local)
		}
		return ""
	}))
	xr.prop("LocalName string", f1(func(r *xmlReader) string {
		if ev := r.cur(); ev != nil && ev.el != nil {
			return ev.el.Name.Local
		}
		return ""
	}))
	xr.prop("Value string", f1(func(r *xmlReader) string {
		if ev := r.cur(); ev != nil {
			return ev.text
		}
		return ""
	}))
	xr.prop("Depth int", f1(func(r *xmlReader) int32 {
		if ev := r.cur(); ev != nil {
			return int32(ev.depth)
		}
		return 0
	}))
	xr.prop("IsEmptyElement bool", f1(func(r *xmlReader) bool {
		ev := r.cur()
		return ev != nil && ev.kind == xntElement && ev.empty
	}))
	xr.method("GetAttribute(string name) string", f2(func(r *xmlReader, n string) string {
		if ev := r.cur(); ev != nil && ev.el != nil {
			for _, a := range ev.el.Attrs {
				if qname(a.Prefix, a.Name.Local) == n {
					return a.Value
				}
			}
		}
		return nullStr
	}))
	xr.method("ReadElementContentAsString() string", x1(func(f *frame, r *xmlReader) string {
		ev := r.cur()
		if ev == nil || ev.kind != xntElement {
			throw("XmlException", "ReadElementContentAsString method is not supported on node type %d.", r.cur().kind)
		}
		s := ev.el.value(f)
		r.skipSubtree()
		return s
	}))
	xr.method("Skip() void", v1((*xmlReader).skipSubtree))
	xr.method("Dispose() void", v1(func(*xmlReader) {}))
	xr.method("Close() void", v1(func(*xmlReader) {}))
}

// xmlAdd is XContainer.Add(content). An element that already has a parent, or
// that is the root of e's tree (adding it would make a cycle), is copied, as
// .NET does.
func xmlAdd(f *frame, e *XElement, c any) {
	switch x := c.(type) {
	case nil:
	case *XElement:
		copyIt := x.parent != nil
		for p := e; p != nil && !copyIt; p = p.parent {
			f.tick()
			copyIt = p == x
		}
		if copyIt {
			x = x.clone(f)
		}
		f.alloc(2 * slotBytes)
		x.parent = e
		e.Nodes = append(e.Nodes, x)
	case *XAttribute:
		f.alloc(xmlNodeBytes)
		e.Attrs = append(e.Attrs, &XAttribute{Name: x.Name, Prefix: x.Prefix, Value: x.Value, parent: e})
	case *XText:
		f.alloc(xmlNodeBytes)
		e.Nodes = append(e.Nodes, &XText{Value: x.Value, parent: e})
	case string:
		f.alloc(xmlNodeBytes)
		e.Nodes = append(e.Nodes, &XText{Value: x, parent: e})
	case []any:
		for _, v := range x {
			xmlAdd(f, e, v)
		}
	default:
		if isIterable(c) {
			iterate(f, c, func(v any) bool { xmlAdd(f, e, v); return true })
			return
		}
		f.alloc(xmlNodeBytes)
		e.Nodes = append(e.Nodes, &XText{Value: f.str(c), parent: e})
	}
}

// xmlConvertible reports whether XElement and XAttribute have an explicit
// operator to t (or to t?).
func xmlConvertible(t *Type) bool {
	switch {
	case t == tString || t == tBool:
		return true
	case t.isNumeric():
		switch t.num {
		case nkInt, nkUInt, nkLong, nkULong, nkFloat, nkDouble, nkDecimal:
			return true
		}
		return false
	}
	switch defName(t) {
	case "DateTime", "DateTimeOffset", "TimeSpan", "Guid":
		return true
	}
	return false
}

// xmlConvert converts the text of an element or attribute to t as the
// explicit operators do: XmlConvert.ToBoolean of the lower-cased text,
// XmlConvert.ToInt32 and the like for numbers (white space and a sign, no
// thousands separators; INF and -INF for floating point), DateTime.Parse with
// DateTimeStyles.RoundtripKind, xsd:duration for TimeSpan.
func xmlConvert(s string, t *Type) (any, *exception) {
	format := func(msg string) (any, *exception) {
		return nil, &exception{typ: "FormatException", msg: msg, pos: -1}
	}
	overflow := func() (any, *exception) {
		return nil, &exception{typ: "OverflowException", msg: overflowMsg(clrName(t)), pos: -1}
	}
	trimmed := strings.Trim(s, " \t\n\r")
	switch {
	case t == tString:
		return s, nil
	case t == tBool:
		switch strings.ToLower(trimmed) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return format("The string is not a valid Boolean value.")
	case t.isIntegral():
		bits := 32
		if t.num == nkLong || t.num == nkULong {
			bits = 64
		}
		v, err := parseIntStr(s, bits, t.num == nkUInt || t.num == nkULong, clrName(t))
		switch err {
		case "format", "null":
			return format(fmtErr)
		case "overflow":
			return overflow()
		}
		return boxedNum(t, v), nil
	case t.num == nkDecimal:
		// XmlConvert.ToDecimal: a leading sign and a point, no thousands
		// separators, trailing sign or exponent
		if strings.ContainsAny(trimmed, ",") || strings.HasSuffix(trimmed, "-") || strings.HasSuffix(trimmed, "+") {
			return format(fmtErr)
		}
		switch d, err := parseDecimalStr(trimmed, false); err {
		case "":
			return d, nil
		case "overflow":
			return overflow()
		}
		return format(fmtErr)
	case t.isNumeric():
		var v float64
		switch trimmed {
		case "INF":
			v = math.Inf(1)
		case "-INF":
			v = math.Inf(-1)
		default:
			ok := trimmed != "" && !strings.ContainsAny(trimmed, ",∞") && !strings.Contains(trimmed, "Infinity")
			if ok {
				v, ok = parseFloatStr(trimmed)
			}
			if !ok {
				return format(fmtErr)
			}
			if v == 0 && strings.HasPrefix(trimmed, "-") {
				v = math.Copysign(0, -1)
			}
		}
		if t.num == nkFloat {
			return float32(v), nil
		}
		return v, nil
	}
	switch defName(t) {
	case "DateTime":
		v, err := parseDateTime(s, false)
		if err != "" {
			return format("String was not recognized as a valid DateTime.")
		}
		if strings.HasSuffix(trimmed, "Z") || strings.HasSuffix(trimmed, "z") {
			v = withKind(v.UTC(), 1) // RoundtripKind keeps a Z as Kind Utc
		}
		return v, nil
	case "DateTimeOffset":
		v, err := parseDateTime(s, true)
		if err != "" {
			return format("String was not recognized as a valid DateTime.")
		}
		return DateTimeOffset{v}, nil
	case "TimeSpan":
		d, ok := parseXsdDuration(trimmed)
		if !ok {
			return format("The string is not a valid TimeSpan value.")
		}
		return d, nil
	case "Guid":
		g, err := parseGuid(s, "")
		if err != "" {
			return format(err)
		}
		return g, nil
	}
	return nil, &exception{typ: "InvalidCastException", msg: "no conversion to " + t.Name, pos: -1}
}

// parseXsdDuration parses an xsd:duration, -PnYnMnDTnHnMn.nS, as
// XmlConvert.ToTimeSpan does: a year is 365 days and a month 30.
func parseXsdDuration(s string) (time.Duration, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, false
	}
	s = s[1:]
	var days, secs, nanos int64
	inTime, seen, order := false, false, 0
	for s != "" {
		if s[0] == 'T' {
			if inTime || len(s) == 1 {
				return 0, false
			}
			inTime, order = true, 0
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 || i == len(s) {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		frac := ""
		if s[i] == '.' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if !inTime || j == i+1 || j == len(s) || s[j] != 'S' {
				return 0, false
			}
			frac, i = s[i+1:j], j
		}
		unit := s[i]
		s = s[i+1:]
		units := "YMD"
		if inTime {
			units = "HMS"
		}
		k := strings.IndexByte(units, unit)
		if k < order {
			return 0, false
		}
		order, seen = k+1, true
		switch {
		case !inTime && unit == 'Y':
			days += n * 365
		case !inTime && unit == 'M':
			days += n/12*365 + n%12*30
		case !inTime && unit == 'D':
			days += n
		case unit == 'H':
			secs += n * 3600
		case unit == 'M':
			secs += n * 60
		case unit == 'S':
			secs += n
			for len(frac) < 9 {
				frac += "0"
			}
			nanos, _ = strconv.ParseInt(frac[:9], 10, 64)
		}
	}
	if !seen {
		return 0, false
	}
	total := days*86400 + secs
	if total > math.MaxInt64/int64(time.Second)-1 {
		return 0, false
	}
	d := time.Duration(total)*time.Second + time.Duration(nanos/100*100)
	if neg {
		d = -d
	}
	return d, true
}
