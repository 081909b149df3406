package xpath

// StripSpace returns a copy of doc's tree without the whitespace-only text
// nodes whose parent element strip approves (XSLT's xsl:strip-space and
// xsl:preserve-space, xml:space included, are the caller's to decide), or
// doc itself when no node goes. Trees never change, so this is how a
// stylesheet's stripping happens before its templates see the document.
// Orders are kept: gaps are harmless, since only their order counts.
func StripSpace(doc *Node, strip func(parent *Node) bool) *Node {
	if !walk(doc, func(n *Node) bool { return !stripped(n, strip) }) {
		return copyTree(doc, nil, nil, strip)
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

func copyTree(n, parent, root *Node, strip func(*Node) bool) *Node {
	c := *n
	c.Parent = parent
	if root == nil {
		root = &c
	}
	c.root = root
	c.Namespaces = copyList(n.Namespaces, &c, root)
	c.Attrs = copyList(n.Attrs, &c, root)
	c.Children = nil
	for _, k := range n.Children {
		if !stripped(k, strip) {
			c.Children = append(c.Children, copyTree(k, &c, root, strip))
		}
	}
	return &c
}

func copyList(list []*Node, parent, root *Node) []*Node {
	if list == nil {
		return nil
	}
	out := make([]*Node, len(list))
	for i, n := range list {
		c := *n
		c.Parent, c.root = parent, root
		out[i] = &c
	}
	return out
}
