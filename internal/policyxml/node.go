package policyxml

import (
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Document is a parsed policy file. Once Parse and, if it is used,
// SubstituteNamedValues have returned, nothing changes it, so any number of
// goroutines may read it.
type Document struct {
	File string   // the file name used in errors, as given to Parse
	Src  []byte   // the original bytes, kept by Parse: the caller must not change them
	Root *Element // <policies> or <fragment>, or anything else: the caller checks

	lines srcpos.Lines
	src   string // Src as a string; values and names are substrings of it

	// named holds the named values that SubstituteNamedValues put in the tree, so
	// that InnerXML can show payloads as the tree sees them.
	named map[string]string
}

// Position returns the position of a byte offset in the file.
func (d *Document) Position(offset int) Pos { return d.lines.Pos(offset) }

// Errorf returns an error at pos in the document's file.
func (d *Document) Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{File: d.File, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Node is an *Element or a *Text.
type Node interface {
	node() // sealed: only this package's types are nodes
}

// Element is an XML element.
type Element struct {
	Name     string
	Attrs    []*Attr
	Children []Node // *Element and *Text in document order; comments and processing instructions are dropped
	Pos      Pos    // of '<'
	End      Pos    // just after the end tag, or after "/>"

	doc        *Document
	innerStart int // offset just after the start tag's '>'
	innerEnd   int // offset of the end tag's '<'; innerStart for an empty element
}

func (*Element) node() {}

// Attr returns the attribute with the given name, or nil if the element has none.
func (e *Element) Attr(name string) *Attr {
	for _, a := range e.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Elements returns the child elements, without text.
func (e *Element) Elements() []*Element {
	n := 0
	for _, c := range e.Children {
		if _, ok := c.(*Element); ok {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	els := make([]*Element, 0, n)
	for _, c := range e.Children {
		if el, ok := c.(*Element); ok {
			els = append(els, el)
		}
	}
	return els
}

// Text returns all the element's direct text children joined, CDATA sections
// included, and white space between child elements too. It returns the zero Value
// if the element has no text. Positions inside the result still point into the
// file.
func (e *Element) Text() Value {
	var first *Text
	n := 0
	for _, c := range e.Children {
		if t, ok := c.(*Text); ok {
			if first == nil {
				first = t
			}
			n++
		}
	}
	switch n {
	case 0:
		return Value{}
	case 1:
		return first.Value
	}
	var b valueJoiner
	for _, c := range e.Children {
		if t, ok := c.(*Text); ok {
			b.add(t.Value)
		}
	}
	return b.value(e.doc)
}

// InnerXML returns the exact source between the start and the end tag: comments,
// CDATA sections and entity references are kept as written. It is "" for an empty
// element. After SubstituteNamedValues, every {{name}} it put in the tree is
// replaced here too, escaped so that the result is still XML with the same meaning.
func (e *Element) InnerXML() string {
	if e.doc == nil || e.innerEnd <= e.innerStart {
		return ""
	}
	inner := e.doc.src[e.innerStart:e.innerEnd]
	if len(e.doc.named) == 0 || !strings.Contains(inner, "{{") {
		return inner
	}
	return substituteInner(inner, e.doc.named)
}

// OuterXML returns the element's source exactly as written in its file, from
// its start tag to the end of its end tag. Unlike InnerXML it shows {{name}}
// references to named values as written, never their values (a named value
// may be a secret): what a console shows as the policy's origin.
func (e *Element) OuterXML() string {
	if e.doc == nil || e.End.Offset <= e.Pos.Offset || e.End.Offset > len(e.doc.src) {
		return ""
	}
	return e.doc.src[e.Pos.Offset:e.End.Offset]
}

// XML returns the element's source from its start tag to the end of its end
// tag, with named values substituted as InnerXML substitutes them: the
// element as a policy that embeds another XML language (a stylesheet) reads it.
func (e *Element) XML() string {
	if e.doc == nil || e.End.Offset <= e.Pos.Offset || e.End.Offset > len(e.doc.src) {
		return ""
	}
	src := e.doc.src[e.Pos.Offset:e.End.Offset]
	if len(e.doc.named) == 0 || !strings.Contains(src, "{{") {
		return src
	}
	return substituteInner(src, e.doc.named)
}

// InnerPos returns the position just after the start tag, where InnerXML begins.
func (e *Element) InnerPos() Pos {
	if e.doc == nil {
		return Pos{}
	}
	return e.doc.Position(e.innerStart)
}

// Attr is an attribute of an element.
type Attr struct {
	Name    string
	NamePos Pos
	Value   Value
}

// Text is character data: text, CDATA sections and entity references between two
// tags, with comments and processing instructions removed. White space between
// elements is kept as Text too, because a payload such as a set-body template may
// need it; callers that do not care skip Text whose value is all white space.
type Text struct {
	Value Value
}

func (*Text) node() {}
