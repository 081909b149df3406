package policyxml

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// MaxDepth is how deeply elements may nest. Real policies nest a few levels (choose,
// when, send-request, set-body); the cap keeps a hostile file from costing more than
// its size.
const MaxDepth = 1000

// Parse reads a policy document. file is the name used in positions and errors.
// It returns the first problem as an *Error.
//
// Parse is tolerant in the way API Management is: inside @(...) and @{...}
// expressions in attribute values and text, raw quotes, '<', '>' and '&' are part of
// the C# code (valid entity references such as &quot; are still decoded, because
// exported policies write them). Everything else must be XML: one root element,
// quoted attribute values, matching end tags, comments without "--", and entity
// references only from XML's predefined five or by character number.
func Parse(file string, src []byte) (*Document, error) {
	d := &Document{File: file, Src: src, lines: srcpos.NewLines(src), src: string(src)}
	p := parser{doc: d, s: d.src, hint: bytes.Count(src, lt) - bytes.Count(src, endTag)}
	p.b.s = d.src
	p.stack, p.starts, p.kids = make([]*Element, 0, 16), make([]int, 0, 16), make([]Node, 0, 64)
	if err := p.parse(); err != nil {
		return nil, err
	}
	return d, nil
}

var lt, endTag = []byte("<"), []byte("</")

type parser struct {
	doc   *Document
	s     string
	i     int
	b     textBuilder
	x     exprScanner
	stack []*Element // the open elements, innermost last
	// starts[k] is where the children of stack[k] begin in kids, which holds the
	// children of all open elements until each is closed.
	starts []int
	kids   []Node
	attrs  []*Attr // attributes of the start tag being read

	// Nodes and their slices are carved out of chunks, so that a document costs a
	// few allocations rather than several per element. hint (the number of '<'
	// not starting an end tag: about the number of elements) sizes the chunks.
	hint      int
	elemSlab  []Element
	attrSlab  []Attr
	textSlab  []Text
	nodeSlab  []Node
	attrPSlab []*Attr

	attrOwner *Element         // the element attrIndex describes
	attrIndex map[string]*Attr // its attributes, once it has many
}

func (p *parser) pos(off int) Pos { return p.doc.Position(off) }

func (p *parser) errorf(off int, format string, args ...any) *Error {
	return &Error{File: p.doc.File, Pos: p.pos(off), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() *Error {
	s := p.s
	if srcpos.HasBOM(p.doc.Src) {
		p.i = 3
	}
	for p.i < len(s) {
		var err *Error
		if len(p.stack) > 0 {
			err = p.content()
		} else {
			err = p.misc()
		}
		if err != nil {
			return err
		}
		if p.i >= len(s) {
			break
		}
		// p.i is at the '<' of a start or end tag.
		if p.i+1 < len(s) && s[p.i+1] == '/' {
			err = p.endTag()
		} else {
			err = p.startTag()
		}
		if err != nil {
			return err
		}
	}
	if n := len(p.stack); n > 0 {
		el := p.stack[n-1]
		return p.errorf(el.Pos.Offset, "element <%s> is not closed: expected </%s> before the end of input", el.Name, el.Name)
	}
	if p.doc.Root == nil {
		return p.errorf(len(s), "empty document: expected a root element such as <policies> or <fragment>")
	}
	return nil
}

// misc skips white space, comments and processing instructions outside the root
// element, and stops at the '<' of a tag.
func (p *parser) misc() *Error {
	s := p.s
	for p.i < len(s) {
		c := s[p.i]
		if isSpace(c) {
			p.i++
			continue
		}
		if c != '<' {
			return p.textOutsideRoot()
		}
		rest := s[p.i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<?"):
			if err := p.procInst(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<![CDATA["):
			return p.errorf(p.i, "CDATA section outside the root element: text belongs inside an element")
		case strings.HasPrefix(rest, "<!DOCTYPE"):
			return p.errorf(p.i, "<!DOCTYPE> is not supported: a policy document has no document type declaration")
		case strings.HasPrefix(rest, "<!"):
			return p.errorf(p.i, `unexpected "<!": expected "<!--" to start a comment`)
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) textOutsideRoot() *Error {
	text := p.s[p.i:]
	if k := strings.IndexAny(text, "\r\n<"); k >= 0 {
		text = text[:k]
	}
	text = strings.TrimRight(shorten(text, 24), " \t")
	if root := p.doc.Root; root != nil {
		return p.errorf(p.i, "unexpected text %q after the root element <%s> closed at %s: a document has one root element and nothing else but comments", text, root.Name, root.End)
	}
	return p.errorf(p.i, "unexpected text %q before the root element: a policy document starts with <policies> or <fragment>", text)
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// comment skips a comment starting at p.i.
func (p *parser) comment() *Error {
	s := p.s
	start := p.i
	j := start + 4
	k := strings.Index(s[j:], "--")
	if k < 0 {
		return p.errorf(start, `unterminated comment: "<!--" has no matching "-->"`)
	}
	k += j
	if strings.HasPrefix(s[k:], "-->") {
		p.i = k + 3
		return nil
	}
	if k-2 >= j && s[k-2:k+2] == "<!--" {
		return p.errorf(k-2, `"<!--" inside the comment opened at %s: comments cannot nest; close the first comment with "-->"`, p.pos(start))
	}
	return p.errorf(k, `"--" inside the comment opened at %s: XML does not allow "--" in a comment except in the closing "-->"`, p.pos(start))
}

// procInst skips a processing instruction such as <?xml version="1.0"?>.
func (p *parser) procInst() *Error {
	k := strings.Index(p.s[p.i+2:], "?>")
	if k < 0 {
		return p.errorf(p.i, `unterminated processing instruction: "<?" has no matching "?>"`)
	}
	p.i += 2 + k + 2
	return nil
}

func (p *parser) startTag() *Error {
	s := p.s
	lt := p.i
	p.i++
	name, ok := p.name()
	if !ok {
		if p.i >= len(s) {
			return p.errorf(lt, `unexpected end of input after "<": expected an element name`)
		}
		if len(p.stack) == 0 {
			return p.errorf(lt, `expected an element name after "<", found %s`, describe(s, p.i))
		}
		return p.errorf(lt, `expected an element name after "<", found %s (write &lt; for a literal "<" in text)`, describe(s, p.i))
	}
	if len(p.stack) == 0 && p.doc.Root != nil {
		return p.errorf(lt, "second root element <%s>: the document already has the root element <%s> at %s, and a document has only one", name, p.doc.Root.Name, p.doc.Root.Pos)
	}
	if len(p.stack) >= MaxDepth {
		return p.errorf(lt, "element <%s> is nested more than %d levels deep", name, MaxDepth)
	}
	el := alloc(&p.elemSlab, p.hint)
	*el = Element{Name: name, Pos: p.pos(lt), doc: p.doc}
	p.attrs = p.attrs[:0]
	for {
		space := p.skipSpace()
		if p.i >= len(s) {
			return p.errorf(lt, `unexpected end of input in start tag <%s>: expected ">" or "/>"`, name)
		}
		c := s[p.i]
		switch {
		case c == '>':
			p.i++
			el.innerStart, el.innerEnd = p.i, p.i
			el.Attrs = take(&p.attrPSlab, p.attrs, p.hint)
			p.open(el)
			return nil
		case c == '/':
			if p.i+1 < len(s) && s[p.i+1] == '>' {
				p.i += 2
				el.innerStart, el.innerEnd = p.i, p.i
				el.End = p.pos(p.i)
				el.Attrs = take(&p.attrPSlab, p.attrs, p.hint)
				p.open(el)
				p.close()
				return nil
			}
			return p.errorf(p.i, `unexpected "/" in start tag <%s>: expected "/>"`, name)
		case isNameStart(c):
			if !space {
				return p.errorf(p.i, "expected white space before attribute %q in <%s>", attrNameAt(s, p.i), name)
			}
			if err := p.attr(el); err != nil {
				return err
			}
		default:
			return p.errorf(p.i, `unexpected %s in start tag <%s>: expected an attribute name, ">" or "/>"`, describe(s, p.i), name)
		}
	}
}

func attrNameAt(s string, i int) string {
	j := i
	for j < len(s) && isNameChar(s[j]) {
		j++
	}
	return s[i:j]
}

// open adds el to the tree and makes it the current element.
func (p *parser) open(el *Element) {
	if len(p.stack) > 0 {
		p.kids = append(p.kids, el)
	} else {
		p.doc.Root = el
	}
	p.stack = append(p.stack, el)
	p.starts = append(p.starts, len(p.kids))
}

// close ends the current element and gives it its children.
func (p *parser) close() {
	n := len(p.stack) - 1
	el, start := p.stack[n], p.starts[n]
	el.Children = take(&p.nodeSlab, p.kids[start:], 2*p.hint)
	clear(p.kids[start:])
	p.kids = p.kids[:start]
	p.stack[n] = nil
	p.stack, p.starts = p.stack[:n], p.starts[:n]
}

// alloc returns a new zero T from a chunk sized by hint.
func alloc[T any](slab *[]T, hint int) *T {
	if len(*slab) == 0 {
		*slab = make([]T, min(max(hint, 4), 256))
	}
	v := &(*slab)[0]
	*slab = (*slab)[1:]
	return v
}

// take returns a copy of items, with no room to grow into the chunk, or nil.
func take[T any](slab *[]T, items []T, hint int) []T {
	n := len(items)
	if n == 0 {
		return nil
	}
	if len(*slab) < n {
		*slab = make([]T, max(n, min(hint, 256)))
	}
	out := (*slab)[:n:n]
	copy(out, items)
	*slab = (*slab)[n:]
	return out
}

func (p *parser) attr(el *Element) *Error {
	s := p.s
	at := p.i
	name, _ := p.name()
	p.skipSpace()
	if p.i >= len(s) {
		return p.errorf(el.Pos.Offset, `unexpected end of input in start tag <%s>: expected "=" after attribute %q`, el.Name, name)
	}
	if s[p.i] != '=' {
		return p.errorf(p.i, `expected "=" after attribute name %q in <%s>, found %s`, name, el.Name, describe(s, p.i))
	}
	p.i++
	p.skipSpace()
	if p.i >= len(s) {
		return p.errorf(el.Pos.Offset, `unexpected end of input in start tag <%s>: expected a quoted value for attribute %q`, el.Name, name)
	}
	q := s[p.i]
	if q != '"' && q != '\'' {
		return p.errorf(p.i, `expected a quoted value for attribute %q, found %s: write %s="..."`, name, describe(s, p.i), name)
	}
	p.i++
	v, err := p.attrValue(q, at, name)
	if err != nil {
		return err
	}
	if prev := p.findAttr(el, name); prev != nil {
		return p.errorf(at, "duplicate attribute %q in <%s>: it is already set at %s", name, el.Name, prev.NamePos)
	}
	a := alloc(&p.attrSlab, p.hint)
	*a = Attr{Name: name, NamePos: p.pos(at), Value: v}
	p.attrs = append(p.attrs, a)
	if len(p.attrs) > attrScanLimit {
		if p.attrOwner == el {
			p.attrIndex[name] = a
		} else {
			p.indexAttrs(el)
		}
	}
	return nil
}

// attrScanLimit is how many attributes a start tag may have before duplicates are
// found with a map instead of a scan, so that a tag with a huge number of
// attributes costs linear time.
const attrScanLimit = 16

// findAttr returns the attribute name of el's start tag, being read, or nil.
func (p *parser) findAttr(el *Element, name string) *Attr {
	if len(p.attrs) <= attrScanLimit {
		for _, a := range p.attrs {
			if a.Name == name {
				return a
			}
		}
		return nil
	}
	if p.attrOwner != el {
		p.indexAttrs(el)
	}
	return p.attrIndex[name]
}

func (p *parser) indexAttrs(el *Element) {
	p.attrOwner = el
	if p.attrIndex == nil {
		p.attrIndex = make(map[string]*Attr, 2*attrScanLimit)
	}
	clear(p.attrIndex)
	for _, a := range p.attrs {
		p.attrIndex[a.Name] = a
	}
}

// attrValue reads an attribute value after its opening quote q, and the closing
// quote.
func (p *parser) attrValue(q byte, nameAt int, name string) (Value, *Error) {
	s := p.s
	open := p.i - 1
	p.b.begin(p.i)
	for p.i < len(s) {
		switch s[p.i] {
		case q:
			v := p.b.finish(p.i, p.doc)
			p.i++
			return v, nil
		case '<':
			return Value{}, p.errorf(p.i, `"<" in the value of attribute %q: write &lt;, or put it inside an @(...) expression`, name)
		case '&':
			if err := p.entity(); err != nil {
				return Value{}, err
			}
			continue
		case '\r':
			p.newline()
			continue
		case '@':
			if p.i+1 < len(s) && (s[p.i+1] == '(' || s[p.i+1] == '{') {
				if err := p.expression(); err != nil {
					return Value{}, err
				}
				continue
			}
		}
		p.i++
	}
	return Value{}, p.errorf(nameAt, "unexpected end of input in attribute value: the value of %q opened at %s has no closing %c", name, p.pos(open), q)
}

// content reads the text after a tag up to the next start or end tag, and adds it
// to the current element.
func (p *parser) content() *Error {
	s := p.s
	p.b.begin(p.i)
loop:
	for p.i < len(s) {
		switch s[p.i] {
		case '<':
			rest := s[p.i:]
			start := p.i
			switch {
			case strings.HasPrefix(rest, "<!--"):
				if err := p.comment(); err != nil {
					return err
				}
				p.b.gap(start, p.i)
			case strings.HasPrefix(rest, "<![CDATA["):
				if err := p.cdata(); err != nil {
					return err
				}
			case strings.HasPrefix(rest, "<?"):
				if err := p.procInst(); err != nil {
					return err
				}
				p.b.gap(start, p.i)
			case strings.HasPrefix(rest, "<!"):
				return p.errorf(p.i, `unexpected "<!": expected "<!--" to start a comment or "<![CDATA[" to start a CDATA section`)
			default:
				break loop // a start or end tag; startTag reports a bad name
			}
			continue
		case '&':
			if err := p.entity(); err != nil {
				return err
			}
			continue
		case '\r':
			p.newline()
			continue
		case '@':
			if p.i+1 < len(s) && (s[p.i+1] == '(' || s[p.i+1] == '{') {
				if err := p.expression(); err != nil {
					return err
				}
				continue
			}
		}
		p.i++
	}
	v := p.b.finish(p.i, p.doc)
	if v.Text != "" {
		t := alloc(&p.textSlab, p.hint)
		t.Value = v
		p.kids = append(p.kids, t)
	}
	return nil
}

// cdata adds the contents of a CDATA section at p.i to the text being built.
func (p *parser) cdata() *Error {
	s := p.s
	start := p.i
	from := start + len("<![CDATA[")
	k := strings.Index(s[from:], "]]>")
	if k < 0 {
		return p.errorf(start, `unterminated CDATA section: "<![CDATA[" has no matching "]]>"`)
	}
	to := from + k
	p.b.gap(start, from)
	for p.i = from; p.i < to; {
		if s[p.i] == '\r' {
			p.newline()
			continue
		}
		p.i++
	}
	p.b.gap(to, to+3)
	p.i = to + 3
	return nil
}

// newline adds the line ending "\r\n" or "\r" at p.i as "\n".
func (p *parser) newline() {
	n := 1
	if p.i+1 < len(p.s) && p.s[p.i+1] == '\n' {
		n = 2
	}
	p.b.decoded("\n", p.i, n)
	p.i += n
}

// entity decodes the reference at p.i, or reports why it is not one.
func (p *parser) entity() *Error {
	text, n, msg := decodeRef(p.s, p.i)
	if msg != "" {
		return p.errorf(p.i, "%s", msg)
	}
	p.b.decoded(text, p.i, n)
	p.i += n
	return nil
}

// expression reads the expression whose '@' is at p.i into the text being built.
// Valid entity references are decoded before the C# scanner sees them; a '&' that
// does not start one is C# code (&&, &).
func (p *parser) expression() *Error {
	s := p.s
	at := p.i
	p.x.start(at)
	p.i++
	for p.i < len(s) {
		if p.i = p.x.skip(s, p.i); p.i >= len(s) {
			break
		}
		c := s[p.i]
		switch c {
		case '&':
			if text, n, msg := decodeRef(s, p.i); msg == "" {
				off := p.i
				p.b.decoded(text, off, n)
				p.i += n
				for k := 0; k < len(text); k++ {
					if p.x.step(text[k], off) {
						return nil
					}
					if p.x.err.code != errNone {
						return p.exprError(at)
					}
				}
				continue
			}
		case '\r':
			off := p.i
			p.newline()
			if p.x.step('\n', off) {
				return nil
			}
			if p.x.err.code != errNone {
				return p.exprError(at)
			}
			continue
		}
		done := p.x.step(c, p.i)
		p.i++
		if done {
			return nil
		}
		if p.x.err.code != errNone {
			return p.exprError(at)
		}
	}
	p.x.eof(len(s))
	return p.exprError(at)
}

func (p *parser) exprError(at int) *Error {
	e := p.x.err
	return p.errorf(e.off, "%s", e.message(at, func(off int) string { return p.pos(off).String() }))
}

func (p *parser) endTag() *Error {
	s := p.s
	lt := p.i
	p.i += 2
	name, ok := p.name()
	if !ok {
		return p.errorf(lt, `expected an element name after "</", found %s`, describe(s, p.i))
	}
	p.skipSpace()
	if p.i >= len(s) {
		return p.errorf(lt, `unexpected end of input in end tag </%s>: expected ">"`, name)
	}
	if s[p.i] != '>' {
		return p.errorf(p.i, `unexpected %s in end tag </%s>: expected ">"`, describe(s, p.i), name)
	}
	p.i++
	n := len(p.stack)
	if n == 0 {
		if root := p.doc.Root; root != nil {
			return p.errorf(lt, "end tag </%s> after the root element <%s> was closed at %s", name, root.Name, root.End)
		}
		return p.errorf(lt, "end tag </%s> before any element was opened", name)
	}
	el := p.stack[n-1]
	if el.Name != name {
		return p.errorf(lt, "end tag </%s> does not match <%s> opened at %s (expected </%s>)", name, el.Name, el.Pos, el.Name)
	}
	el.innerEnd = lt
	el.End = p.pos(p.i)
	p.close()
	return nil
}

// name reads an XML name at p.i.
func (p *parser) name() (string, bool) {
	s := p.s
	start := p.i
	if p.i >= len(s) || !isNameStart(s[p.i]) {
		return "", false
	}
	p.i++
	for p.i < len(s) && isNameChar(s[p.i]) {
		p.i++
	}
	return s[start:p.i], true
}

// skipSpace skips XML white space and reports whether there was any.
func (p *parser) skipSpace() bool {
	start := p.i
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isNameStart and isNameChar accept XML's ASCII name characters and any non-ASCII
// byte, which is enough to find where a name ends.
func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':' || c >= 0x80
}

func isNameChar(c byte) bool {
	return isNameStart(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// describe names the character at s[i] for an error message.
func describe(s string, i int) string {
	if i >= len(s) {
		return "the end of input"
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == '\n' || r == '\r':
		return "a line break"
	case r == utf8.RuneError:
		return fmt.Sprintf("byte %#02x", s[i])
	}
	return strconv.QuoteRune(r)
}

// decodeRef decodes the entity or character reference at s[i] ('&'). It returns the
// decoded text and the length of the reference, or a message saying what is wrong.
func decodeRef(s string, i int) (text string, n int, msg string) {
	j := i + 1
	for j < len(s) && j-i <= 32 && s[j] != ';' && !isSpace(s[j]) && s[j] != '&' && s[j] != '<' {
		j++
	}
	if j >= len(s) || s[j] != ';' || j == i+1 {
		return "", 0, `"&" must start an entity reference such as &amp; or &lt; (write &amp; for a literal "&")`
	}
	ref := s[i+1 : j]
	n = j + 1 - i
	switch ref {
	case "lt":
		return "<", n, ""
	case "gt":
		return ">", n, ""
	case "amp":
		return "&", n, ""
	case "quot":
		return `"`, n, ""
	case "apos":
		return "'", n, ""
	}
	if ref[0] != '#' {
		return "", 0, fmt.Sprintf("unknown entity reference &%s;: XML defines only &lt; &gt; &amp; &quot; and &apos; (write other characters by number, such as &#160;)", ref)
	}
	digits, base := ref[1:], 10
	if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base = digits[1:], 16
	}
	r, err := strconv.ParseUint(digits, base, 32)
	if err != nil || !isXMLChar(rune(r)) || digits == "" || digits[0] == '+' || digits[0] == '-' {
		return "", 0, fmt.Sprintf("invalid character reference &%s;: it must name a character XML allows, such as &#10; or &#x41;", ref)
	}
	if r < utf8.RuneSelf {
		return asciiStrings[r : r+1], n, ""
	}
	return string(rune(r)), n, ""
}

// asciiStrings lets a decoded ASCII character be a substring instead of a new string.
const asciiStrings = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f" +
	" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\x7f"

func isXMLChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		0x20 <= r && r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
}

// textBuilder builds a Value from runs of the file, decoded pieces and gaps
// (comments, CDATA markers). When the result is one unchanged run of the file, the
// Value's text is a substring of the file and nothing is copied.
type textBuilder struct {
	s      string
	buf    []byte
	segs   []seg
	run    int // start of the current verbatim run
	start  int
	copied bool // something has been written to buf
}

func (b *textBuilder) begin(off int) {
	b.buf, b.segs = b.buf[:0], b.segs[:0]
	b.run, b.start, b.copied = off, off, false
}

// flush copies the current run, up to off, into buf.
func (b *textBuilder) flush(off int) {
	if off > b.run {
		b.segs = append(b.segs, seg{off: len(b.buf), src: b.run})
		b.buf = append(b.buf, b.s[b.run:off]...)
		b.copied = true
	}
	b.run = off
}

// decoded adds text that stands for the n bytes of the file at src.
func (b *textBuilder) decoded(text string, src, n int) {
	b.flush(src)
	b.segs = append(b.segs, seg{off: len(b.buf), src: src, srcLen: n, kind: segDecoded})
	b.buf = append(b.buf, text...)
	b.copied = true
	b.run = src + n
}

// gap leaves out the file's bytes from..to.
func (b *textBuilder) gap(from, to int) {
	b.flush(from)
	b.run = to
}

func (b *textBuilder) finish(end int, doc *Document) Value {
	if !b.copied {
		return Value{Text: b.s[b.run:end], doc: doc, start: b.run}
	}
	b.flush(end)
	if len(b.segs) == 1 && b.segs[0].kind == segVerbatim {
		src := b.segs[0].src
		return Value{Text: b.s[src : src+len(b.buf)], doc: doc, start: src}
	}
	return Value{Text: string(b.buf), doc: doc, segs: slices.Clone(b.segs)}
}
