package xpath

// StripSpace returns a copy of doc's tree without the whitespace-only text
// nodes whose parent element strip approves (XSLT's xsl:strip-space and
// xsl:preserve-space, xml:space included, are the caller's to decide), or
// doc itself when no node goes. Trees never change, so this is how a
// stylesheet's stripping happens before its templates see the document.
// Orders are kept: gaps are harmless, since only their order counts.
func StripSpace(doc *Node, strip func(parent *Node) bool) *Node {
	if !walk(doc, func(n *Node) bool { return !stripped(n, strip) }) {
		return copyTree(doc, strip)
	}
	return doc
}

func stripped(n *Node, strip func(*Node) bool) bool {
	if n.Kind != TextNode || n.Parent == nil || n.Parent.Kind != ElementNode {
		return false
	}
	for i := 0; i < len(n.Data); i++ {
		if !isSpace(n.Data[i]) {
			return false
		}
	}
	return strip(n.Parent)
}

func copyTree(doc *Node, strip func(*Node) bool) *Node {
	var s slab
	var rec func(n, parent, root *Node) *Node
	rec = func(n, parent, root *Node) *Node {
		c := s.clone(n, parent, root)
		if root == nil {
			c.root = c
			root = c
		}
		if n.Attrs != nil {
			c.Attrs = make([]*Node, len(n.Attrs))
			for i, a := range n.Attrs {
				c.Attrs[i] = s.clone(a, c, root)
			}
		}
		for _, k := range n.Children {
			if !stripped(k, strip) {
				c.Children = append(c.Children, rec(k, c, root))
			}
		}
		return c
	}
	return rec(doc, nil, nil)
}

// slab hands out nodes from chunks: far fewer allocations than one per node.
// Chunks double up to 256 nodes, so that a small tree wastes little.
type slab struct {
	free []Node
	size int
}

func (s *slab) new() *Node {
	if len(s.free) == 0 {
		s.size = min(max(2*s.size, 16), 256)
		s.free = make([]Node, s.size)
	}
	n := &s.free[0]
	s.free = s.free[1:]
	return n
}

// clone copies n but not its children or its namespace nodes (a copy makes
// its own: theirs have the wrong parent).
func (s *slab) clone(n, parent, root *Node) *Node {
	c := s.new()
	c.Kind, c.Space, c.Prefix, c.Local, c.Data = n.Kind, n.Space, n.Prefix, n.Local, n.Data
	c.Order, c.scope = n.Order, n.scope
	c.Parent, c.root = parent, root
	return c
}
