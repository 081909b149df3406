// Package xpath is an immutable XML tree and an XPath 1.0 engine over it,
// with XSLT 1.0 patterns. It is the base of the xsl-transform policy.
//
// Trees come from Parse (request and response bodies, so hostile input: no
// DOCTYPE, bounded depth and size) or from a Builder (XSLT result tree
// fragments). Evaluation is bounded by a step budget (Context.Budget).
package xpath

import (
	"cmp"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Kind is a node's type in the XPath data model.
type Kind uint8

// The node kinds of the XPath data model.
const (
	DocumentNode Kind = iota + 1
	ElementNode
	AttributeNode
	TextNode
	CommentNode
	ProcessingInstructionNode
	NamespaceNode
)

// String names the kind as XPath's node tests do.
func (k Kind) String() string {
	switch k {
	case DocumentNode:
		return "document"
	case ElementNode:
		return "element"
	case AttributeNode:
		return "attribute"
	case TextNode:
		return "text"
	case CommentNode:
		return "comment"
	case ProcessingInstructionNode:
		return "processing-instruction"
	case NamespaceNode:
		return "namespace"
	}
	return "invalid"
}

// XMLNamespace is the namespace the xml prefix is always bound to.
const XMLNamespace = "http://www.w3.org/XML/1998/namespace"

// xmlnsNamespace is reserved for namespace declarations themselves.
const xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

// Node is a node of a parsed tree. A tree never changes after Parse (or after
// Builder.Document), so any number of goroutines may read it. Make trees with
// Parse, Builder or StripSpace: they number Order, which ordering relies on.
type Node struct {
	Kind   Kind
	Space  string // namespace URI of an element's or attribute's name; "" for none
	Prefix string // the prefix as written ("" for none); for a NamespaceNode, the prefix it binds ("" for the default namespace)
	Local  string // local name of an element or attribute; target of a processing instruction
	Data   string // text, comment, attribute value, processing instruction data; a NamespaceNode's URI
	Parent *Node  // nil for the document node; an attribute's or namespace node's parent is its element

	Children []*Node // document and element nodes: children in document order
	Attrs    []*Node // element nodes: attributes (namespace declarations are not attributes)
	Order    int     // document order, unique within a tree: an element, then its namespace nodes (see Namespaces), then its attributes, then its children

	// scope is an element's in-scope namespaces, shared with its parent when
	// it declares nothing; nsNodes are its namespace nodes, made on first
	// use: k declarations over n elements would otherwise be k×n nodes.
	scope   *nsScope
	nsNodes atomic.Pointer[[]*Node]

	// root is the tree's top node, set by Parse and Builder, so that ordering
	// nodes needs no walk up the Parent links; nil in hand-made nodes.
	root *Node
}

// Namespaces returns an element's namespace nodes: every namespace in scope
// (inherited and declared here, the xml prefix included, the default
// namespace only if non-empty), each with Parent = n, in a stable order; nil
// for other nodes. They are made on the first call, and every call returns
// the same nodes.
func (n *Node) Namespaces() []*Node {
	if n.scope == nil {
		return nil
	}
	if l := n.nsNodes.Load(); l != nil {
		return *l
	}
	nodes := make([]Node, 0, n.scope.nodes)
	list := make([]*Node, n.scope.nodes)
	for p, uri := range n.InScopeNamespaces() {
		// Parse and Builder reserved the Orders after the element's.
		nodes = append(nodes, Node{Kind: NamespaceNode, Prefix: p, Data: uri, Parent: n, Order: n.Order + 1 + len(nodes), root: n.root})
		list[len(nodes)-1] = &nodes[len(nodes)-1]
	}
	// Concurrent readers may race to make them: the first to store wins, so
	// that all see the same nodes.
	if !n.nsNodes.CompareAndSwap(nil, &list) {
		return *n.nsNodes.Load()
	}
	return list
}

// InScopeNamespaces yields the prefix and URI of each namespace node that
// Namespaces returns, in the same order, without making the nodes.
func (n *Node) InScopeNamespaces() iter.Seq2[string, string] {
	return func(yield func(prefix, uri string) bool) {
		if n.scope == nil {
			return
		}
		for _, b := range n.scope.bindings {
			if b.uri != "" && !yield(b.prefix, b.uri) {
				return
			}
		}
	}
}

// Root returns the top of n's tree: its document node for trees from Parse
// and Builder.
func (n *Node) Root() *Node {
	if n.root != nil {
		return n.root
	}
	for n.Parent != nil {
		n = n.Parent
	}
	return n
}

// Compare orders nodes in document order: negative if a comes before b, 0 if
// they are the same node. Nodes of different trees are ordered by tree, in an
// order that is consistent while the trees live but arbitrary.
func Compare(a, b *Node) int {
	if a == b {
		return 0
	}
	ra, rb := a.Root(), b.Root()
	if ra != rb {
		// Go's collector does not move heap objects, so the address of a
		// tree's root is a stable key for the tree.
		return cmp.Compare(uintptr(unsafe.Pointer(ra)), uintptr(unsafe.Pointer(rb)))
	}
	return cmp.Compare(a.Order, b.Order)
}

// Sort returns ns in document order without duplicates. It sorts in place
// unless ns is already in order, so pass a slice you own.
func Sort(ns NodeSet) NodeSet {
	if sorted(ns) {
		return ns
	}
	slices.SortFunc(ns, Compare)
	return slices.Compact(ns)
}

// sorted reports whether ns is strictly in document order.
func sorted(ns NodeSet) bool {
	for i := 1; i < len(ns); i++ {
		if Compare(ns[i-1], ns[i]) >= 0 {
			return false
		}
	}
	return true
}

// sortedCopy is Sort for a slice the caller does not own.
func sortedCopy(ns NodeSet) NodeSet {
	if sorted(ns) {
		return ns
	}
	return Sort(slices.Clone(ns))
}

// Union merges two node-sets in document order into a new one.
func Union(a, b NodeSet) NodeSet {
	out := make(NodeSet, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := Compare(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// StringValue is the XPath string-value of a node.
func StringValue(n *Node) string {
	s, _ := stringValue(n)
	return s
}

// stringValue also counts the nodes it visited, for the step budget.
func stringValue(n *Node) (string, int) {
	switch n.Kind {
	case DocumentNode, ElementNode:
	default:
		return n.Data, 1
	}
	if len(n.Children) == 1 && n.Children[0].Kind == TextNode {
		return n.Children[0].Data, 2
	}
	var b strings.Builder
	visited := 0
	walk(n, func(d *Node) bool {
		visited++
		if d.Kind == TextNode {
			b.WriteString(d.Data)
		}
		return true
	})
	return b.String(), visited
}

// walk visits n and its descendants in document order without recursion, so
// that deep trees cannot exhaust the stack; it stops when visit returns false.
func walk(n *Node, visit func(*Node) bool) bool {
	if !visit(n) {
		return false
	}
	type frame struct {
		kids []*Node
		i    int
	}
	stack := []frame{{kids: n.Children}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.i == len(top.kids) {
			stack = stack[:len(stack)-1]
			continue
		}
		d := top.kids[top.i]
		top.i++
		if !visit(d) {
			return false
		}
		if len(d.Children) > 0 {
			stack = append(stack, frame{kids: d.Children})
		}
	}
	return true
}

// childIndex finds n among its parent's children (children are sorted by
// Order); -1 for attributes, namespace nodes and the root.
func childIndex(n *Node) int {
	p := n.Parent
	if p == nil || n.Kind == AttributeNode || n.Kind == NamespaceNode {
		return -1
	}
	i, ok := slices.BinarySearchFunc(p.Children, n.Order, func(c *Node, o int) int { return cmp.Compare(c.Order, o) })
	if ok && p.Children[i] == n {
		return i
	}
	// A hand-made tree may not be numbered: fall back to a scan.
	return slices.Index(p.Children, n)
}

// binding is one in-scope namespace: prefix "" is the default namespace, and
// an empty uri undeclares it.
type binding struct{ prefix, uri string }

// nsScope is an element's in-scope namespaces, never changed once made, so
// that elements declaring nothing share their parent's.
type nsScope struct {
	bindings []binding         // one per prefix
	nodes    int               // bindings with a uri: each element's namespace nodes
	index    map[string]string // prefix to uri when there are many bindings, so that names resolve in constant time
}

func newScope(bindings []binding) *nsScope {
	s := &nsScope{bindings: bindings}
	for _, b := range bindings {
		if b.uri != "" {
			s.nodes++
		}
	}
	if len(bindings) > 16 {
		s.index = make(map[string]string, len(bindings))
		for _, b := range bindings {
			s.index[b.prefix] = b.uri
		}
	}
	return s
}

// lookup resolves a prefix in the scope.
func (s *nsScope) lookup(prefix string) (string, bool) {
	if s.index == nil {
		return lookup(s.bindings, prefix)
	}
	uri, ok := s.index[prefix]
	return uri, ok && uri != "" || prefix == ""
}

// xmlScope is what every element starts with: the xml prefix.
var xmlScope = newScope([]binding{{"xml", XMLNamespace}})

// lookup resolves a prefix in a scope.
func lookup(scope []binding, prefix string) (string, bool) {
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].prefix == prefix {
			return scope[i].uri, scope[i].uri != "" || prefix == ""
		}
	}
	return "", prefix == ""
}

// extend returns the scope with decls applied (the first of duplicate
// declarations counts); the parent's slice is shared when there is nothing
// to add. A set keeps it linear when an element declares many.
func extend(scope, decls []binding) []binding {
	if len(decls) == 0 {
		return scope
	}
	uniq := make([]binding, 0, len(decls))
	var seen map[string]bool
	if len(decls) > 16 {
		seen = make(map[string]bool, len(decls))
	}
	declared := func(prefix string) bool {
		if seen != nil {
			return seen[prefix]
		}
		return slices.ContainsFunc(uniq, func(b binding) bool { return b.prefix == prefix })
	}
	for _, d := range decls {
		if !declared(d.prefix) {
			uniq = append(uniq, d)
			if seen != nil {
				seen[d.prefix] = true
			}
		}
	}
	out := make([]binding, 0, len(scope)+len(uniq))
	for _, b := range scope {
		if !declared(b.prefix) {
			out = append(out, b)
		}
	}
	return append(out, uniq...)
}
