package xslt

import (
	"errors"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// The result tree is built in memory before it is written out: namespace
// fix-up, indentation (which must know whether an element has text children)
// and the choice between the xml and html methods all look at a whole element
// or the whole tree. Variables' result tree fragments are built as xpath
// trees instead (rtfSink), which XPath can read.

type rkind uint8

const (
	rRoot rkind = iota
	rElem
	rText
	rComment
	rPI
	rAttr
)

// rnode is a node of a result tree.
type rnode struct {
	kind     rkind
	name     qname  // element, attribute; PI target in name.local
	prefix   string // the prefix asked for; serialization may choose another
	value    string // text, comment, PI data, attribute value
	raw      bool   // text written without escaping (disable-output-escaping)
	attrs    []*rnode
	ns       []nsBinding // namespace nodes
	children []*rnode
}

// nodeCost is what a node costs the size budget beside its strings: enough that
// a flood of empty nodes is bounded too.
const nodeCost = 16

// builder builds a result tree. Its first error (the size budget) sticks and
// makes later calls do nothing; the executor checks it between instructions.
// Everything it does is linear in what it is given, however hostile the
// document: text is appended in a buffer, attributes are found by a map once
// an element has many, and namespace nodes already in scope cost nothing.
type builder struct {
	root  *rnode
	stack []*rnode
	used  *int64 // shared by every tree of one transform
	max   int64
	err   error
	ns    nsStack

	pending    strings.Builder // the text of the open element's last child, when that is text
	pendingFor *rnode

	attrs map[qname]*rnode // the open element's attributes, once it has many
}

func newBuilder(used *int64, max int64) *builder {
	r := &rnode{kind: rRoot}
	return &builder{root: r, stack: []*rnode{r}, used: used, max: max}
}

// errTooBig is the size error; Transform words it with the limit.
var errTooBig = errors.New("output too big")

// charge counts n bytes against the size limit; callers add nodeCost for
// each node they make.
func (b *builder) charge(n int) bool {
	if b.err != nil {
		return false
	}
	*b.used += int64(n)
	if *b.used > b.max {
		b.err = errTooBig
		return false
	}
	return true
}

func (b *builder) top() *rnode { return b.stack[len(b.stack)-1] }

// flush puts buffered text into its node.
func (b *builder) flush() {
	if b.pendingFor != nil {
		b.pendingFor.value = b.pending.String()
		b.pendingFor = nil
		b.pending.Reset()
	}
}

func (b *builder) add(n *rnode) {
	b.flush()
	p := b.top()
	p.children = append(p.children, n)
}

func (b *builder) startElement(name qname, prefix string) {
	if !b.charge(nodeCost + len(name.local) + len(name.space)) {
		return
	}
	n := &rnode{kind: rElem, name: name, prefix: prefix}
	b.add(n)
	b.stack = append(b.stack, n)
	b.attrs = nil
	b.ns.open()
	b.ns.bindName(prefix, name.space)
}

func (b *builder) endElement() {
	if len(b.stack) > 1 {
		b.flush()
		b.stack = b.stack[:len(b.stack)-1]
		b.attrs = nil
		b.ns.close()
	}
}

// attribute adds an attribute to the open element, replacing one of the same
// name. It refuses one after the element's children or outside an element
// (false), which XslCompiledTransform and libxslt report as errors.
func (b *builder) attribute(name qname, prefix, value string) bool {
	p := b.top()
	if p.kind != rElem || len(p.children) > 0 {
		return false
	}
	if !b.charge(nodeCost + len(name.local) + len(name.space) + len(value)) {
		return true
	}
	if b.attrs == nil && len(p.attrs) >= 8 {
		b.attrs = make(map[qname]*rnode, 2*len(p.attrs))
		for _, a := range p.attrs {
			b.attrs[a.name] = a
		}
	}
	var old *rnode
	if b.attrs != nil {
		old = b.attrs[name]
	} else {
		for _, a := range p.attrs {
			if a.name == name {
				old = a
			}
		}
	}
	if old != nil {
		old.value, old.prefix = value, prefix
		return true
	}
	a := &rnode{kind: rAttr, name: name, prefix: prefix, value: value}
	p.attrs = append(p.attrs, a)
	if b.attrs != nil {
		b.attrs[name] = a
	}
	if name.space != "" && prefix != "" {
		b.ns.bindName(prefix, name.space)
	}
	return true
}

// namespace adds a namespace node to the open element, unless the binding is
// in scope already (the serializer would not declare it again) or the
// element binds the prefix otherwise.
func (b *builder) namespace(prefix, uri string) {
	p := b.top()
	if p.kind != rElem || len(p.children) > 0 || uri == nsXML || uri == nsXSL || !b.ns.bind(prefix, uri) {
		return
	}
	if b.charge(nodeCost + len(prefix) + len(uri)) {
		p.ns = append(p.ns, nsBinding{prefix, uri})
	}
}

func (b *builder) text(s string, raw bool) {
	if s == "" {
		return
	}
	p := b.top()
	if k := len(p.children); k > 0 && p.children[k-1] == b.pendingFor && b.pendingFor.raw == raw {
		if b.charge(len(s)) {
			b.pending.WriteString(s)
		}
		return
	}
	if !b.charge(nodeCost + len(s)) {
		return
	}
	n := &rnode{kind: rText, raw: raw}
	b.add(n)
	b.pendingFor = n
	b.pending.WriteString(s)
}

func (b *builder) comment(s string) {
	if b.charge(nodeCost + len(s)) {
		b.add(&rnode{kind: rComment, value: s})
	}
}

func (b *builder) pi(target, data string) {
	if b.charge(nodeCost + len(target) + len(data)) {
		b.add(&rnode{kind: rPI, name: qname{"", target}, value: data})
	}
}

// result finishes the tree.
func (b *builder) result() *rnode {
	b.flush()
	return b.root
}

// nsStack follows the namespace bindings in scope while a tree is built, so
// that a namespace node already in scope is not added again: copying a
// document whose root declares many namespaces then costs nothing per
// element, and does not count against the size limit.
type nsStack struct {
	scopes map[string][]nsEntry // by prefix, innermost last
	opened [][]string           // per open element, the prefixes it bound
}

type nsEntry struct {
	uri    string
	depth  int
	byName bool // bound by a name, not (yet) by a namespace node
}

func (s *nsStack) open() { s.opened = append(s.opened, nil) }

func (s *nsStack) close() {
	k := len(s.opened) - 1
	if k < 0 {
		return
	}
	for _, p := range s.opened[k] {
		st := s.scopes[p]
		s.scopes[p] = st[:len(st)-1]
	}
	s.opened = s.opened[:k]
}

// lookup resolves a prefix; an unbound default namespace is "".
func (s *nsStack) lookup(prefix string) (nsEntry, bool) {
	st := s.scopes[prefix]
	if len(st) == 0 {
		return nsEntry{depth: -1}, prefix == ""
	}
	return st[len(st)-1], true
}

// bind binds prefix on the open element for a namespace node and reports
// whether the node is needed: not when the binding is inherited, nor when
// the element has bound the prefix otherwise or already has the node.
func (s *nsStack) bind(prefix, uri string) bool {
	return s.push(prefix, uri, false)
}

func (s *nsStack) push(prefix, uri string, byName bool) bool {
	depth := len(s.opened)
	if depth == 0 {
		return false
	}
	e, ok := s.lookup(prefix)
	switch {
	case ok && e.depth == depth:
		if e.uri == uri && e.byName && !byName {
			// The node for the name's own binding: kept, in its place.
			st := s.scopes[prefix]
			st[len(st)-1].byName = false
			return true
		}
		return false
	case ok && e.uri == uri:
		return false
	}
	if s.scopes == nil {
		s.scopes = map[string][]nsEntry{}
	}
	s.scopes[prefix] = append(s.scopes[prefix], nsEntry{uri, depth, byName})
	s.opened[depth-1] = append(s.opened[depth-1], prefix)
	return true
}

// bindName records the binding an element's or attribute's name needs, which
// the serializer will declare whatever the namespace nodes say.
func (s *nsStack) bindName(prefix, uri string) {
	if uri == "" && prefix != "" {
		return
	}
	s.push(prefix, uri, true)
}

// sink receives the nodes instructions make: the result tree, a result tree
// fragment, or the text of an attribute value.
type sink interface {
	startElement(name qname, prefix string)
	endElement()
	attribute(name qname, prefix, value string) bool // false: after children or outside an element
	namespace(prefix, uri string)
	text(s string, raw bool)
	comment(s string)
	pi(target, data string)
	failed() error
}

func (b *builder) failed() error { return b.err }

// rtfSink builds a result tree fragment as an xpath tree, which XPath can
// then read (string-value, msxsl:node-set()).
type rtfSink struct {
	b    *xpath.Builder
	kids []int8 // per open element (the document first): noKids, someKids or lastText
	ns   nsStack
	used *int64
	max  int64
	err  error

	prefixes int // prefixes made up so far
}

const (
	noKids int8 = iota
	someKids
	lastText // the last child is text, which more text extends
)

func newRTFSink(used *int64, max int64) *rtfSink {
	return &rtfSink{b: xpath.NewBuilder(), kids: []int8{someKids}, used: used, max: max}
}

// charge counts n bytes against the size limit; callers add nodeCost for
// each node they make.
func (r *rtfSink) charge(n int) bool {
	if r.err != nil {
		return false
	}
	*r.used += int64(n)
	if *r.used > r.max {
		r.err = errTooBig
		return false
	}
	return true
}

func (r *rtfSink) child(k int8) { r.kids[len(r.kids)-1] = k }

func (r *rtfSink) startElement(name qname, prefix string) {
	if !r.charge(nodeCost + len(name.space) + len(name.local)) {
		return
	}
	r.child(someKids)
	if name.space == "" {
		prefix = ""
	}
	r.b.StartElement(name.space, prefix, name.local)
	r.kids = append(r.kids, noKids)
	r.ns.open()
	r.ns.bindName(prefix, name.space)
}

func (r *rtfSink) endElement() {
	if len(r.kids) > 1 {
		r.kids = r.kids[:len(r.kids)-1]
		r.b.EndElement()
		r.ns.close()
	}
}

func (r *rtfSink) attribute(name qname, prefix, value string) bool {
	if r.kids[len(r.kids)-1] != noKids {
		return false
	}
	if !r.charge(nodeCost + len(name.space) + len(name.local) + len(value)) {
		return true
	}
	if name.space == "" {
		prefix = ""
	} else if prefix == "" {
		// A namespaced attribute needs a prefix; the Builder declares it.
		prefix = "ns" + strconv.Itoa(r.prefixes)
		r.prefixes++
	}
	r.b.Attr(name.space, prefix, name.local, value)
	return true
}

func (r *rtfSink) namespace(prefix, uri string) {
	if r.kids[len(r.kids)-1] != noKids || uri == nsXML || uri == nsXSL || !r.ns.bind(prefix, uri) ||
		!r.charge(nodeCost+len(prefix)+len(uri)) {
		return
	}
	r.b.Namespace(prefix, uri)
}

func (r *rtfSink) text(s string, _ bool) {
	cost := len(s)
	if r.kids[len(r.kids)-1] != lastText {
		cost += nodeCost
	}
	if s != "" && r.charge(cost) {
		r.child(lastText)
		r.b.Text(s)
	}
}

func (r *rtfSink) comment(s string) {
	if r.charge(nodeCost + len(s)) {
		r.child(someKids)
		r.b.Comment(s)
	}
}

func (r *rtfSink) pi(target, data string) {
	if r.charge(nodeCost + len(target) + len(data)) {
		r.child(someKids)
		r.b.ProcessingInstruction(target, data)
	}
}

func (r *rtfSink) failed() error { return r.err }

// textSink keeps the text made outside any element, for attribute values and
// the like (elements in them are an error XSLT lets a processor ignore).
type textSink struct {
	b     strings.Builder
	depth int
	used  *int64
	max   int64
	err   error
}

func (t *textSink) startElement(qname, string)           { t.depth++ }
func (t *textSink) endElement()                          { t.depth-- }
func (t *textSink) attribute(qname, string, string) bool { return true }
func (t *textSink) namespace(string, string)             {}
func (t *textSink) comment(string)                       {}
func (t *textSink) pi(string, string)                    {}
func (t *textSink) failed() error                        { return t.err }

func (t *textSink) text(s string, _ bool) {
	if t.depth > 0 || t.err != nil {
		return
	}
	*t.used += int64(len(s))
	if *t.used > t.max {
		t.err = errTooBig
		return
	}
	t.b.WriteString(s)
}
