package apiops

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// xmlElem is an element of an XML specification (WSDL, WADL) with where it
// starts, so that the readers can say where a mistake is.
type xmlElem struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*xmlElem
	Pos      srcpos.Pos
	ns       map[string]string // prefix to namespace URI in scope ("" the default)
}

// attr returns the value of the attribute local (with no namespace), or "".
func (e *xmlElem) attr(local string) string {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Bounds on an XML specification: deeper nesting or more elements than any real
// description has are refused rather than read.
const (
	maxXMLSpecDepth    = 256
	maxXMLSpecElements = 1_000_000
)

// readXMLSpec reads an XML specification into its element tree; text is
// dropped, namespaces resolved. A DOCTYPE is refused, as it is in request
// bodies: nothing in a WSDL or WADL needs one. what names the format in
// errors ("WSDL").
func readXMLSpec(file, what string, src []byte) (*xmlElem, *Error) {
	src = bytes.TrimPrefix(src, bom)
	lines := srcpos.NewLines(src)
	errAt := func(off int64, format string, args ...any) *Error {
		p := lines.Pos(int(off))
		return &Error{File: file, Pos: srcpos.Pos{Line: p.Line, Col: p.Col}, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the specification is empty; export the API's %s into it or delete the file", what)}
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	var root *xmlElem
	var stack []*xmlElem
	elements := 0
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{File: file, Pos: srcpos.Pos{Line: se.Line}, Msg: fmt.Sprintf("the %s is not well-formed XML: %s", what, se.Msg)}
			}
			return nil, errAt(d.InputOffset(), "the %s is not well-formed XML: %v", what, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) {
				return nil, errAt(off, "the %s has a DOCTYPE, which lastmile does not read (it could define entities); remove it", what)
			}
		case xml.StartElement:
			if elements++; elements > maxXMLSpecElements {
				return nil, errAt(off, "the %s has more than %d elements", what, maxXMLSpecElements)
			}
			if len(stack) >= maxXMLSpecDepth {
				return nil, errAt(off, "the %s nests elements more than %d deep", what, maxXMLSpecDepth)
			}
			p := lines.Pos(int(off))
			e := &xmlElem{Name: t.Name, Pos: srcpos.Pos{Line: p.Line, Col: p.Col}}
			var parent map[string]string
			if len(stack) > 0 {
				parent = stack[len(stack)-1].ns
			}
			// Token resolves the names; the declarations stay attributes, and
			// are kept as a scope for QName values. A scope is copied only
			// where an element declares something.
			e.ns = parent
			copied := false
			for _, a := range t.Attr {
				prefix, isDecl := "", a.Name.Space == "" && a.Name.Local == "xmlns"
				if a.Name.Space == "xmlns" {
					prefix, isDecl = a.Name.Local, true
				}
				if !isDecl {
					e.Attr = append(e.Attr, a)
					continue
				}
				if !copied {
					e.ns, copied = make(map[string]string, len(parent)+1), true
					maps.Copy(e.ns, parent)
				}
				e.ns[prefix] = a.Value
			}
			switch {
			case len(stack) > 0:
				top := stack[len(stack)-1]
				top.Children = append(top.Children, e)
			case root != nil:
				return nil, errAt(off, "the %s has a second root element <%s>", what, t.Name.Local)
			default:
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	// An element left open is a syntax error of Token's ("unexpected EOF").
	if root == nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the %s has no root element", what)}
	}
	return root, nil
}

// qname resolves a QName value such as WSDL's binding="tns:Calc" with the
// namespace declarations in scope at e.
func (e *xmlElem) qname(v string) xml.Name {
	prefix, local, ok := strings.Cut(strings.TrimSpace(v), ":")
	if !ok {
		prefix, local = "", prefix
	}
	return xml.Name{Space: e.ns[prefix], Local: local}
}
