package xslt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The stylesheet is read into a tree of its own rather than xpath's, because
// compiling needs what xpath's tree need not keep: each element's line and
// column for errors, and the prefixes as written (exclude-result-prefixes and
// the result's namespace declarations are about prefixes).

// Namespaces that mean something to the compiler.
const (
	nsXSL   = "http://www.w3.org/1999/XSL/Transform"
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsMSXSL = "urn:schemas-microsoft-com:xslt"
	nsEXSL  = "http://exslt.org/common"
)

// maxStylesheetDepth bounds element nesting in a stylesheet, so that compiling
// (which recurses) cannot overflow the stack.
const maxStylesheetDepth = 500

// scope is one namespace declaration; the declarations in scope at an element
// are its scope and the scopes it links to. The xml prefix is implicit.
type scope struct {
	prefix, uri string
	next        *scope
}

func (s *scope) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	for ; s != nil; s = s.next {
		if s.prefix == prefix {
			return s.uri, s.uri != "" || prefix == ""
		}
	}
	return "", prefix == ""
}

// bindings lists the namespaces in scope, innermost declaration of each prefix
// first, without undeclared defaults (xmlns="").
func (s *scope) bindings() []nsBinding {
	var out []nsBinding
	seen := map[string]bool{}
	for ; s != nil; s = s.next {
		if seen[s.prefix] {
			continue
		}
		seen[s.prefix] = true
		if s.uri != "" {
			out = append(out, nsBinding{s.prefix, s.uri})
		}
	}
	return out
}

type nsBinding struct{ prefix, uri string }

type qname struct{ space, local string }

func (q qname) String() string {
	if q.space == "" {
		return q.local
	}
	return "{" + q.space + "}" + q.local
}

// sattr is an attribute of a stylesheet element.
type sattr struct {
	name   qname
	prefix string
	value  string
}

// snode is a stylesheet element or text node (text when name.local is empty).
type snode struct {
	name     qname
	prefix   string
	attrs    []sattr
	scope    *scope
	children []*snode
	text     string
	line     int
	col      int
}

func (n *snode) isText() bool { return n.name.local == "" }

func (n *snode) is(space, local string) bool {
	return n.name.space == space && n.name.local == local
}

// attr returns the value of the attribute with no namespace named local.
func (n *snode) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.name.space == "" && a.name.local == local {
			return a.value, true
		}
	}
	return "", false
}

// displayName is the element's name as written.
func (n *snode) displayName() string {
	if n.prefix == "" {
		return n.name.local
	}
	return n.prefix + ":" + n.name.local
}

// parseStylesheet reads src into a tree and returns its root element.
// Whitespace-only text is dropped except inside xsl:text and where
// xml:space="preserve" asks to keep it (XSLT 1.0 §3.4).
func parseStylesheet(src []byte) (*snode, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	d.CharsetReader = charsetReader
	var (
		stack    []*snode
		preserve []bool
		root     *snode
		text     strings.Builder
		textLine int
		textCol  int
	)
	flush := func() {
		if text.Len() == 0 {
			return
		}
		s := text.String()
		text.Reset()
		if len(stack) == 0 {
			return
		}
		parent := stack[len(stack)-1]
		if strings.TrimLeft(s, " \t\r\n") == "" && !preserve[len(preserve)-1] && !parent.is(nsXSL, "text") {
			return
		}
		parent.children = append(parent.children, &snode{text: s, line: textLine, col: textCol})
	}
	for {
		line, col := d.InputPos()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				l, c := d.InputPos()
				if se.Line != l {
					c = 0
				}
				return nil, &Error{Line: se.Line, Col: c, Msg: "the stylesheet is not well-formed XML: " + se.Msg}
			}
			return nil, &Error{Line: line, Col: col, Msg: "the stylesheet cannot be read: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			flush()
			if root != nil && len(stack) == 0 {
				return nil, &Error{Line: line, Col: col, Msg: "the stylesheet has more than one root element"}
			}
			if len(stack) >= maxStylesheetDepth {
				return nil, &Error{Line: line, Col: col, Msg: "the stylesheet nests elements too deeply"}
			}
			var sc *scope
			keep := false
			if len(stack) > 0 {
				sc = stack[len(stack)-1].scope
				keep = preserve[len(preserve)-1]
			}
			// Declarations are linked last to first, so that bindings lists
			// them in document order (as libxslt copies them).
			for i := len(t.Attr) - 1; i >= 0; i-- {
				a := t.Attr[i]
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					sc = &scope{"", a.Value, sc}
				case a.Name.Space == "xmlns":
					if a.Value == "" {
						return nil, &Error{Line: line, Col: col, Msg: "xmlns:" + a.Name.Local + `="" is not allowed in XML 1.0: remove it`}
					}
					sc = &scope{a.Name.Local, a.Value, sc}
				}
			}
			n := &snode{prefix: t.Name.Space, scope: sc, line: line, col: col}
			uri, ok := sc.lookup(t.Name.Space)
			if !ok {
				return nil, &Error{Line: line, Col: col, Msg: "the prefix " + t.Name.Space + " is not declared: add xmlns:" + t.Name.Space + `="..."`}
			}
			n.name = qname{uri, t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Local == "xmlns" && a.Name.Space == "" || a.Name.Space == "xmlns" {
					continue
				}
				an := qname{"", a.Name.Local}
				if a.Name.Space != "" {
					u, ok := sc.lookup(a.Name.Space)
					if !ok {
						return nil, &Error{Line: line, Col: col, Msg: "the prefix " + a.Name.Space + " is not declared: add xmlns:" + a.Name.Space + `="..."`}
					}
					an.space = u
				}
				for _, b := range n.attrs {
					if b.name == an {
						return nil, &Error{Line: line, Col: col, Msg: "attribute " + a.Name.Local + " appears twice"}
					}
				}
				n.attrs = append(n.attrs, sattr{an, a.Name.Space, a.Value})
				if an == (qname{nsXML, "space"}) {
					keep = a.Value == "preserve"
				}
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
			preserve = append(preserve, keep)
		case xml.EndElement:
			flush()
			if len(stack) == 0 {
				return nil, &Error{Line: line, Col: col, Msg: "the stylesheet has an unexpected end tag"}
			}
			top := stack[len(stack)-1]
			if top.prefix != t.Name.Space || top.name.local != t.Name.Local {
				return nil, &Error{Line: line, Col: col, Msg: "the end tag </" + qualify(t.Name.Space, t.Name.Local) + "> does not match <" + top.displayName() + "> at line " + strconv.Itoa(top.line)}
			}
			stack = stack[:len(stack)-1]
			preserve = preserve[:len(preserve)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, &Error{Line: line, Col: col, Msg: "the stylesheet has text outside its root element"}
				}
				continue
			}
			if text.Len() == 0 {
				textLine, textCol = line, col
			}
			text.Write(t)
		case xml.Comment, xml.ProcInst:
			// Comments and processing instructions do not take part, but they
			// do not split text either (xsl:text may hold a comment).
		case xml.Directive:
			if len(stack) == 0 && bytes.Contains(t, []byte("[")) {
				return nil, &Error{Line: line, Col: col, Msg: "the stylesheet's DOCTYPE has an internal subset, which is not supported: remove it and write entities as characters"}
			}
		}
	}
	if len(stack) > 0 {
		return nil, &Error{Line: stack[len(stack)-1].line, Col: stack[len(stack)-1].col, Msg: "<" + stack[len(stack)-1].displayName() + "> is not closed"}
	}
	if root == nil {
		return nil, &Error{Line: 1, Col: 1, Msg: "the stylesheet is empty: it needs an xsl:stylesheet element"}
	}
	return root, nil
}

// charsetReader lets the stylesheet declare the encodings that need no tables.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "iso_8859-1":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, errors.New("encoding " + label + " is not supported: save the stylesheet as UTF-8")
}

func qualify(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}
