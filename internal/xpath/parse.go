package xpath

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits bound what Parse accepts. Zero fields take the defaults.
type Limits struct {
	MaxDepth int // element nesting; default 256
	MaxNodes int // all nodes together (attribute nodes included); each element that declares namespaces adds the number then in scope; default 1,000,000
}

// SyntaxError is a malformed document (Line and Col, 1-based, in bytes) or a
// malformed expression or pattern (Offset, 0-based byte offset).
type SyntaxError struct {
	Line, Col int // for Parse; 0 for Compile
	Offset    int // for Compile and CompilePattern: byte offset in the expression
	Msg       string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("xml syntax error at line %d, column %d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("xpath syntax error at offset %d: %s", e.Offset, e.Msg)
}

// Parse reads a whole XML document (UTF-8; an encoding declaration other than
// UTF-8/US-ASCII is an error) and returns its document node.
//
// DOCTYPE is refused, so no entity is ever expanded beyond XML's five. CDATA
// becomes text; adjacent text is one text node; whitespace-only text nodes
// are kept (the XSLT layer strips them per xsl:strip-space). Comments and
// processing instructions are kept (not the XML declaration). Namespaces are
// resolved (an undeclared prefix is an error). Errors are *SyntaxError.
func Parse(data []byte, lim Limits) (*Node, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = 256
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = 1_000_000
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "us-ascii") || strings.EqualFold(label, "ascii") {
			return r, nil // a subset of UTF-8; the decoder still checks every byte
		}
		return nil, encodingError(label)
	}
	p := &parser{lim: lim, d: d}
	p.doc = p.node(DocumentNode)
	p.doc.root = p.doc
	p.cur = p.doc
	p.scopes = []*nsScope{xmlScope}
	if err := p.run(); err != nil {
		if se, ok := err.(*SyntaxError); ok {
			return nil, se
		}
		// After reading past a newline and backing up, encoding/xml can
		// report column 0: clamp to the 1-based range.
		line, col := d.InputPos()
		line, col = max(line, 1), max(col, 1)
		msg := err.Error()
		var xe *xml.SyntaxError
		var ee encodingError
		switch {
		case errors.As(err, &xe):
			msg = xe.Msg
		case errors.As(err, &ee):
			msg = ee.Error()
		}
		return nil, &SyntaxError{Line: line, Col: col, Msg: strings.TrimPrefix(msg, "xml: ")}
	}
	return p.doc, nil
}

// encodingError refuses a declared encoding other than UTF-8 or US-ASCII:
// converting bodies is the policy author's business, not the parser's.
type encodingError string

func (e encodingError) Error() string {
	return fmt.Sprintf("encoding %q is not supported: send UTF-8", string(e))
}

// parser builds a tree from encoding/xml's raw tokens; it does the namespace
// processing itself to keep prefixes and refuse undeclared ones.
type parser struct {
	lim     Limits
	d       *xml.Decoder
	doc     *Node
	cur     *Node      // the open element, or the document
	scopes  []*nsScope // in-scope namespaces, one entry per open element and the document
	nodes   int
	order   int
	slab    slab
	ptrSlab []*Node
	text    []byte // text not yet made a node, so that adjacent runs and CDATA merge in linear time
	line    int    // where the current token starts
	col     int
}

// errorf is a syntax error at the start of the current token.
func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

// ptrs returns an empty slice with room for n pointers, cut from a shared
// chunk: element after element, attribute lists then cost no
// allocation of their own. The capacity is exact, so appending past it
// cannot reach a neighbour's list.
func (p *parser) ptrs(n int) []*Node {
	if n > 64 {
		return make([]*Node, 0, n)
	}
	if len(p.ptrSlab) < n {
		p.ptrSlab = make([]*Node, 1024)
	}
	s := p.ptrSlab[:0:n]
	p.ptrSlab = p.ptrSlab[n:]
	return s
}

// node allocates from a slab: far fewer allocations than one per node.
func (p *parser) node(k Kind) *Node {
	n := p.slab.new()
	n.Kind = k
	n.Order = p.order
	n.root = p.doc
	p.order++
	p.nodes++
	return n
}

func (p *parser) run() error {
	first, rootSeen := true, false
	for {
		p.line, p.col = p.d.InputPos()
		if p.nodes > p.lim.MaxNodes {
			return p.errorf("the document has more than %d nodes", p.lim.MaxNodes)
		}
		tok, err := p.d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		wasFirst := first
		first = false
		if _, ok := tok.(xml.CharData); !ok {
			p.flushText()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if p.cur == p.doc {
				if rootSeen {
					return p.errorf("a second root element <%s>", qname(t.Name))
				}
				rootSeen = true
			}
			if err := p.start(t); err != nil {
				return err
			}
		case xml.EndElement:
			if p.cur == p.doc {
				return p.errorf("end tag </%s> without a start tag", qname(t.Name))
			}
			if t.Name.Space != p.cur.Prefix || t.Name.Local != p.cur.Local {
				return p.errorf("end tag </%s> does not close <%s>", qname(t.Name), qname(xml.Name{Space: p.cur.Prefix, Local: p.cur.Local}))
			}
			p.cur = p.cur.Parent
			p.scopes = p.scopes[:len(p.scopes)-1]
		case xml.CharData:
			if p.cur == p.doc {
				if len(bytes.Trim(t, " \t\r\n")) > 0 {
					return p.errorf("text outside the root element")
				}
				continue
			}
			p.text = append(p.text, t...)
		case xml.Comment:
			p.add(p.node(CommentNode)).Data = string(t)
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				if !wasFirst || t.Target != "xml" {
					return p.errorf("an XML declaration is allowed only at the very start")
				}
				continue
			}
			n := p.add(p.node(ProcessingInstructionNode))
			n.Local, n.Data = t.Target, string(t.Inst)
		case xml.Directive:
			return p.errorf("DOCTYPE and other declarations are not accepted")
		}
	}
	if p.nodes > p.lim.MaxNodes {
		return p.errorf("the document has more than %d nodes", p.lim.MaxNodes)
	}
	if p.cur != p.doc {
		return p.errorf("the document ends inside <%s>", qname(xml.Name{Space: p.cur.Prefix, Local: p.cur.Local}))
	}
	if !rootSeen {
		return p.errorf("no root element")
	}
	return nil
}

// add appends a child to the open element or document.
func (p *parser) add(n *Node) *Node {
	n.Parent = p.cur
	p.cur.Children = append(p.cur.Children, n)
	return n
}

func (p *parser) flushText() {
	if len(p.text) == 0 {
		return
	}
	p.add(p.node(TextNode)).Data = string(p.text)
	p.text = p.text[:0]
}

func (p *parser) start(t xml.StartElement) error {
	if len(p.scopes) > p.lim.MaxDepth {
		return p.errorf("elements are nested more than %d deep", p.lim.MaxDepth)
	}
	var decls []binding
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns":
			switch {
			case a.Name.Local == "xmlns" || a.Value == xmlnsNamespace:
				return p.errorf("the xmlns prefix and namespace are reserved")
			case (a.Name.Local == "xml") != (a.Value == XMLNamespace):
				return p.errorf("the xml prefix is bound to %s and only it", XMLNamespace)
			case a.Value == "":
				return p.errorf("prefix %s cannot be undeclared", a.Name.Local)
			}
			decls = append(decls, binding{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value == XMLNamespace || a.Value == xmlnsNamespace {
				return p.errorf("namespace %s cannot be the default", a.Value)
			}
			decls = append(decls, binding{"", a.Value})
		}
	}
	scope := p.scopes[len(p.scopes)-1]
	if len(decls) > 0 {
		scope = newScope(extend(scope.bindings, decls))
		// A new scope holds every binding in it: counting them bounds
		// elements that redeclare one prefix under thousands.
		p.nodes += len(scope.bindings)
	}
	e := p.add(p.node(ElementNode))
	if err := p.name(e, t.Name, scope, true); err != nil {
		return err
	}
	e.scope = scope
	p.order += scope.nodes // for the namespace nodes, made only if asked for
	e.Attrs = p.ptrs(len(t.Attr) - len(decls))
	var seen map[QName]bool
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		n := p.node(AttributeNode)
		if err := p.name(n, a.Name, scope, false); err != nil {
			return err
		}
		n.Data, n.Parent = a.Value, e
		// Linear checks are fine for a few attributes; a map keeps many cheap.
		dup := false
		if len(e.Attrs) < 8 {
			for _, o := range e.Attrs {
				dup = dup || o.Space == n.Space && o.Local == n.Local
			}
		} else {
			if seen == nil {
				seen = map[QName]bool{}
				for _, o := range e.Attrs {
					seen[QName{o.Space, o.Local}] = true
				}
			}
			q := QName{n.Space, n.Local}
			dup = seen[q]
			seen[q] = true
		}
		if dup {
			return p.errorf("attribute %s appears twice on <%s>", qname(a.Name), qname(t.Name))
		}
		e.Attrs = append(e.Attrs, n)
	}
	p.cur = e
	p.scopes = append(p.scopes, scope)
	return nil
}

// name resolves a raw name (prefix in Space) into n; unprefixed attributes
// are in no namespace, unprefixed elements in the default one.
func (p *parser) name(n *Node, name xml.Name, scope *nsScope, elem bool) error {
	if name.Local == "" || strings.Contains(name.Local, ":") || name.Space == "xmlns" {
		return p.errorf("%q is not a valid name", qname(name))
	}
	n.Prefix, n.Local = name.Space, name.Local
	if name.Space == "" && !elem {
		return nil
	}
	uri, ok := scope.lookup(name.Space)
	if !ok {
		return p.errorf("prefix %s is not declared", name.Space)
	}
	n.Space = uri
	return nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}
