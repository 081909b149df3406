package xpath

import "strings"

// Builder builds a tree node by node, for trees that do not come from text:
// XSLT result tree fragments. Misuse (an attribute with no element open, an
// end with nothing open) is ignored rather than a panic.
type Builder struct {
	doc  *Node
	cur  *Node           // the open element, or the document
	text *Node           // the text node still being written, if it is cur's last child
	buf  strings.Builder // its text, so that many small Text calls stay linear
	done bool
}

// NewBuilder starts a document node.
func NewBuilder() *Builder {
	d := &Node{Kind: DocumentNode}
	d.root = d
	return &Builder{doc: d, cur: d}
}

func (b *Builder) add(n *Node) *Node {
	b.flush()
	n.Parent, n.root = b.cur, b.doc
	b.cur.Children = append(b.cur.Children, n)
	return n
}

func (b *Builder) flush() {
	if b.text != nil {
		b.text.Data = b.buf.String()
		b.text = nil
		b.buf.Reset()
	}
}

// StartElement opens an element as the next child.
func (b *Builder) StartElement(space, prefix, local string) {
	if b.done {
		return
	}
	b.cur = b.add(&Node{Kind: ElementNode, Space: space, Prefix: prefix, Local: local})
}

// Attr adds an attribute to the element just started, before any child; an
// attribute of the same expanded name is replaced, as XSLT's xsl:attribute
// requires.
func (b *Builder) Attr(space, prefix, local, value string) {
	e := b.cur
	if b.done || e.Kind != ElementNode {
		return
	}
	for _, a := range e.Attrs {
		if a.Space == space && a.Local == local {
			a.Prefix, a.Data = prefix, value
			return
		}
	}
	e.Attrs = append(e.Attrs, &Node{Kind: AttributeNode, Space: space, Prefix: prefix, Local: local, Data: value, Parent: e, root: b.doc})
}

// Namespace declares a namespace on the element just started; uri "" with
// prefix "" undeclares the default namespace.
func (b *Builder) Namespace(prefix, uri string) {
	e := b.cur
	if b.done || e.Kind != ElementNode {
		return
	}
	// Until Document, an element's scope holds only its own declarations.
	if e.scope == nil {
		e.scope = &nsScope{}
	}
	for i, d := range e.scope.bindings {
		if d.prefix == prefix {
			e.scope.bindings[i].uri = uri
			return
		}
	}
	e.scope.bindings = append(e.scope.bindings, binding{prefix, uri})
}

// Text adds text, merged with a preceding text node; empty text adds nothing.
func (b *Builder) Text(s string) {
	if b.done || s == "" {
		return
	}
	if b.text == nil {
		if k := b.cur.Children; len(k) > 0 && k[len(k)-1].Kind == TextNode {
			b.text = k[len(k)-1]
			b.buf.WriteString(b.text.Data)
		} else {
			b.text = b.add(&Node{Kind: TextNode})
		}
	}
	b.buf.WriteString(s)
}

// Comment adds a comment.
func (b *Builder) Comment(s string) {
	if !b.done {
		b.add(&Node{Kind: CommentNode, Data: s})
	}
}

// ProcessingInstruction adds a processing instruction.
func (b *Builder) ProcessingInstruction(target, data string) {
	if !b.done {
		b.add(&Node{Kind: ProcessingInstructionNode, Local: target, Data: data})
	}
}

// EndElement closes the open element.
func (b *Builder) EndElement() {
	if b.done || b.cur == b.doc {
		return
	}
	b.flush()
	b.cur = b.cur.Parent
}

// Document finishes the tree (closing what is open) and returns its document
// node: it numbers the nodes and gives each element its in-scope namespaces.
// Those include, beyond the declared ones, a binding for any element
// or prefixed attribute name whose prefix is not bound to its namespace, so
// that the tree is namespace-well-formed. Later calls return the same node
// and the Builder ignores further building.
func (b *Builder) Document() *Node {
	if !b.done {
		b.flush()
		b.done = true
		order := 0
		finish(b.doc, xmlScope, &order)
	}
	return b.doc
}

func finish(n *Node, parent *nsScope, order *int) {
	n.Order = *order
	*order++
	if n.Kind == ElementNode {
		scope, changed := parent.bindings, false
		if n.scope != nil {
			scope, changed = extend(scope, n.scope.bindings), true
		}
		fix := func(prefix, space string) {
			uri, ok := parent.lookup(prefix) // indexed, for the usual element that declares nothing
			if changed {
				uri, ok = lookup(scope, prefix)
			}
			if (ok || space != "") && uri != space {
				scope, changed = extend(scope, []binding{{prefix, space}}), true
			}
		}
		fix(n.Prefix, n.Space)
		for _, a := range n.Attrs {
			if a.Prefix != "" && a.Space != "" {
				fix(a.Prefix, a.Space)
			}
		}
		n.scope = parent
		if changed {
			n.scope = newScope(scope)
		}
		*order += n.scope.nodes // for the namespace nodes, made only if asked for
		for _, a := range n.Attrs {
			a.Order = *order
			*order++
		}
		parent = n.scope
	}
	for _, c := range n.Children {
		finish(c, parent, order)
	}
}
