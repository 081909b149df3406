package jsonxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Element is an XML element read by ParseXML.
type Element struct {
	Prefix, Local string
	Attrs         []Attr
	Children      []*Element
	// Text is the element's character data (CDATA included) joined; whitespace
	// between child elements is left out.
	Text string
}

// Attr is an attribute of an Element; an xmlns declaration has Prefix "xmlns"
// (or Local "xmlns" for the default namespace).
type Attr struct {
	Prefix, Local, Value string
}

// Document is a parsed XML document.
type Document struct {
	// Declaration holds the XML declaration's pseudo-attributes (version,
	// encoding, standalone) in order; empty without a declaration.
	Declaration []Attr
	Root        *Element
}

// Nil reports whether the element is marked xsi:nil="true".
func (e *Element) Nil() bool {
	for _, a := range e.Attrs {
		if a.Local == "nil" && a.Prefix != "" && a.Prefix != "xmlns" && strings.TrimSpace(a.Value) == "true" {
			return true
		}
	}
	return false
}

// ParseXML reads an XML document within l's depth and node limits. Document
// type declarations are refused (as .NET refuses them by default), so entity
// bombs never expand; only XML's own entities and character references are
// read. The document must be UTF-8.
func ParseXML(data []byte, l Limits) (*Document, error) {
	l = l.orDefault()
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "us-ascii") || strings.EqualFold(charset, "ascii") {
			return r, nil // a subset of UTF-8
		}
		return nil, fmt.Errorf("encoding %q is not supported; send UTF-8", charset)
	}
	doc := &Document{}
	var stack []*Element
	nodes := 0
	var text [][]byte // the character data of each open element
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if nodes++; nodes > l.Nodes {
				return nil, nodesError(l.Nodes)
			}
			if err := l.charge(nodes); err != nil {
				return nil, err
			}
			if len(stack) >= l.Depth {
				return nil, depthError(l.Depth)
			}
			e := &Element{Prefix: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				e.Attrs = append(e.Attrs, Attr{Prefix: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			if len(stack) == 0 {
				if doc.Root != nil {
					return nil, errors.New("invalid XML: more than one root element")
				}
				doc.Root = e
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			}
			stack = append(stack, e)
			text = append(text, nil)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, errors.New("invalid XML: an end tag without a start tag")
			}
			e := stack[len(stack)-1]
			if t.Name.Space != e.Prefix || t.Name.Local != e.Local {
				return nil, fmt.Errorf("invalid XML: element <%s> closed by </%s>", e.name(), qname(t.Name.Space, t.Name.Local))
			}
			s := string(text[len(text)-1])
			if len(e.Children) == 0 || strings.TrimSpace(s) != "" {
				e.Text = s
			}
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("invalid XML: text outside the root element")
				}
				continue
			}
			b := &text[len(text)-1]
			if len(*b)+len(t) > l.Output {
				return nil, outputError(l.Output)
			}
			*b = append(*b, t...)
		case xml.Directive:
			return nil, errors.New("invalid XML: document type declarations (<!DOCTYPE ...>) are not accepted")
		case xml.ProcInst:
			if t.Target == "xml" && doc.Root == nil && len(doc.Declaration) == 0 {
				doc.Declaration = declaration(string(t.Inst))
			}
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("invalid XML: element <%s> is not closed", stack[len(stack)-1].name())
	}
	if doc.Root == nil {
		return nil, errors.New("invalid XML: no root element")
	}
	return doc, nil
}

func (e *Element) name() string { return qname(e.Prefix, e.Local) }

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// declaration reads the pseudo-attributes of <?xml ...?>.
func declaration(inst string) []Attr {
	var out []Attr
	for _, name := range []string{"version", "encoding", "standalone"} {
		i := strings.Index(inst, name)
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(inst[i+len(name):], " \t\r\n")
		rest, ok := strings.CutPrefix(rest, "=")
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" || rest[0] != '"' && rest[0] != '\'' {
			continue
		}
		if end := strings.IndexByte(rest[1:], rest[0]); end >= 0 {
			out = append(out, Attr{Local: name, Value: rest[1 : end+1]})
		}
	}
	return out
}

// JSONKind is xml-to-json's kind attribute.
type JSONKind uint8

// The kinds of JSON xml-to-json writes.
const (
	// Direct reflects the XML document's structure: the declaration's
	// pseudo-attributes, prefixes (with $ for the colon) and attributes
	// (prefixed @) are kept.
	Direct JSONKind = iota
	// JavaScriptFriendly leaves out the declaration, namespace prefixes and
	// declarations, and names attributes without @ unless that would clash
	// with a child element.
	JavaScriptFriendly
)

// ToJSONOptions are xml-to-json's attributes.
type ToJSONOptions struct {
	Kind JSONKind
	// AlwaysArray makes every child element an array, even a single one
	// (always-array-child-elements).
	AlwaysArray bool
	Limits      Limits
}

// ToJSON converts an XML document to JSON as xml-to-json does: an element
// holding only text becomes a string, an empty one null, any other an object
// of its attributes, its child elements (an array for a name that repeats)
// and its text as "#text". The JSON is indented with two spaces.
func ToJSON(data []byte, o ToJSONOptions) ([]byte, error) {
	o.Limits = o.Limits.orDefault()
	doc, err := ParseXML(data, o.Limits)
	if err != nil {
		return nil, err
	}
	w := &jsonWriter{out: outBuf{limit: o.Limits.Output}}
	c := converter{o: o, w: w}
	w.out.byte('{')
	n := 0
	if o.Kind == Direct {
		for _, a := range doc.Declaration {
			c.key(n, a.Local, 1)
			w.string(a.Value)
			n++
		}
	}
	c.key(n, c.elementName(doc.Root), 1)
	c.element(doc.Root, 1)
	w.out.indent(0)
	w.out.byte('}')
	if w.out.err != nil {
		return nil, w.out.err
	}
	return w.out.b, nil
}

type converter struct {
	o ToJSONOptions
	w *jsonWriter
}

func (c *converter) elementName(e *Element) string {
	if c.o.Kind == JavaScriptFriendly || e.Prefix == "" {
		return e.Local
	}
	return e.Prefix + "$" + e.Local
}

// key writes the n-th key of an object at depth.
func (c *converter) key(n int, name string, depth int) {
	if n > 0 {
		c.w.out.byte(',')
	}
	c.w.out.indent(depth)
	c.w.string(name)
	c.w.out.str(": ")
}

type jsonField struct {
	name  string
	attr  string // an attribute's value, when elems is nil
	elems []*Element
	text  bool
}

func (c *converter) fields(e *Element) []jsonField {
	var out []jsonField
	kidNames := map[string]int{}
	var kids []jsonField
	for _, k := range e.Children {
		name := c.elementName(k)
		if i, ok := kidNames[name]; ok {
			kids[i].elems = append(kids[i].elems, k)
			continue
		}
		kidNames[name] = len(kids)
		kids = append(kids, jsonField{name: name, elems: []*Element{k}})
	}
	for _, a := range e.Attrs {
		var name string
		if c.o.Kind == Direct {
			name = "@" + strings.ReplaceAll(qname(a.Prefix, a.Local), ":", "$")
		} else {
			if a.Prefix == "xmlns" || a.Prefix == "" && a.Local == "xmlns" {
				continue
			}
			name = a.Local
			if _, clash := kidNames[name]; clash || name == "#text" {
				name = "@" + name
			}
		}
		out = append(out, jsonField{name: name, attr: a.Value})
	}
	out = append(out, kids...)
	if strings.TrimSpace(e.Text) != "" {
		out = append(out, jsonField{name: "#text", attr: e.Text, text: true})
	}
	return out
}

func (c *converter) element(e *Element, depth int) {
	fields := c.fields(e)
	if len(e.Attrs) == 0 && len(e.Children) == 0 {
		if e.Text == "" {
			c.w.out.str("null")
		} else {
			c.w.string(e.Text)
		}
		return
	}
	if c.o.Kind == JavaScriptFriendly && len(e.Children) == 0 && len(fields) == 1 && fields[0].text {
		c.w.string(e.Text) // only namespace declarations beside the text
		return
	}
	if len(fields) == 0 {
		c.w.out.str("null")
		return
	}
	c.w.out.byte('{')
	for i, f := range fields {
		c.key(i, f.name, depth+1)
		switch {
		case f.elems == nil:
			c.w.string(f.attr)
		case len(f.elems) == 1 && !c.o.AlwaysArray:
			c.element(f.elems[0], depth+1)
		default:
			c.w.out.byte('[')
			for j, k := range f.elems {
				if j > 0 {
					c.w.out.byte(',')
				}
				c.w.out.indent(depth + 2)
				c.element(k, depth+2)
			}
			c.w.out.indent(depth + 1)
			c.w.out.byte(']')
		}
		if c.w.out.err != nil {
			return
		}
	}
	c.w.out.indent(depth)
	c.w.out.byte('}')
}
