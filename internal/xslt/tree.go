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
// or the whole tree. Variables' result tree fragments are built the same way.

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
type builder struct {
	root  *rnode
	stack []*rnode
	used  *int64 // shared by every tree of one transform
	max   int64
	err   error
}

func newBuilder(used *int64, max int64) *builder {
	r := &rnode{kind: rRoot}
	return &builder{root: r, stack: []*rnode{r}, used: used, max: max}
}

// errTooBig is the size error; Transform words it with the limit.
var errTooBig = errors.New("output too big")

func (b *builder) charge(n int) bool {
	if b.err != nil {
		return false
	}
	*b.used += int64(n) + nodeCost
	if *b.used > b.max {
		b.err = errTooBig
		return false
	}
	return true
}

func (b *builder) top() *rnode { return b.stack[len(b.stack)-1] }

func (b *builder) add(n *rnode) {
	p := b.top()
	p.children = append(p.children, n)
}

func (b *builder) startElement(name qname, prefix string) {
	if !b.charge(len(name.local) + len(name.space)) {
		return
	}
	n := &rnode{kind: rElem, name: name, prefix: prefix}
	b.add(n)
	b.stack = append(b.stack, n)
}

func (b *builder) endElement() {
	if len(b.stack) > 1 {
		b.stack = b.stack[:len(b.stack)-1]
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
	if !b.charge(len(name.local) + len(name.space) + len(value)) {
		return true
	}
	for _, a := range p.attrs {
		if a.name == name {
			a.value, a.prefix = value, prefix
			return true
		}
	}
	p.attrs = append(p.attrs, &rnode{kind: rAttr, name: name, prefix: prefix, value: value})
	return true
}

// namespace adds a namespace node to the open element; a second binding of a
// prefix is ignored.
func (b *builder) namespace(prefix, uri string) {
	p := b.top()
	if p.kind != rElem || len(p.children) > 0 || uri == nsXML || uri == nsXSL {
		return
	}
	for _, ns := range p.ns {
		if ns.prefix == prefix {
			return
		}
	}
	if !b.charge(len(prefix) + len(uri)) {
		return
	}
	p.ns = append(p.ns, nsBinding{prefix, uri})
}

func (b *builder) text(s string, raw bool) {
	if s == "" || !b.charge(len(s)) {
		return
	}
	p := b.top()
	if k := len(p.children); k > 0 {
		if last := p.children[k-1]; last.kind == rText && last.raw == raw {
			last.value += s
			return
		}
	}
	b.add(&rnode{kind: rText, value: s, raw: raw})
}

func (b *builder) comment(s string) {
	if b.charge(len(s)) {
		b.add(&rnode{kind: rComment, value: s})
	}
}

func (b *builder) pi(target, data string) {
	if b.charge(len(target) + len(data)) {
		b.add(&rnode{kind: rPI, name: qname{"", target}, value: data})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

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
	kids []bool // per open element: whether it has children yet
	used *int64
	max  int64
	err  error
}

func newRTFSink(used *int64, max int64) *rtfSink {
	return &rtfSink{b: xpath.NewBuilder(), kids: []bool{true}, used: used, max: max}
}

func (r *rtfSink) charge(n int) bool {
	if r.err != nil {
		return false
	}
	*r.used += int64(n) + nodeCost
	if *r.used > r.max {
		r.err = errTooBig
		return false
	}
	return true
}

func (r *rtfSink) child() { r.kids[len(r.kids)-1] = true }

func (r *rtfSink) startElement(name qname, prefix string) {
	if !r.charge(len(name.space) + len(name.local)) {
		return
	}
	r.child()
	if name.space == "" {
		prefix = ""
	}
	r.b.StartElement(name.space, prefix, name.local)
	r.kids = append(r.kids, false)
}

func (r *rtfSink) endElement() {
	if len(r.kids) > 1 {
		r.kids = r.kids[:len(r.kids)-1]
		r.b.EndElement()
	}
}

func (r *rtfSink) attribute(name qname, prefix, value string) bool {
	if r.kids[len(r.kids)-1] {
		return false
	}
	if !r.charge(len(name.space) + len(name.local) + len(value)) {
		return true
	}
	if name.space == "" {
		prefix = ""
	} else if prefix == "" {
		prefix = "ns0" // a namespaced attribute needs a prefix; the Builder fixes up its binding
	}
	r.b.Attr(name.space, prefix, name.local, value)
	return true
}

func (r *rtfSink) namespace(prefix, uri string) {
	if r.kids[len(r.kids)-1] || uri == nsXML || uri == nsXSL || !r.charge(len(prefix)+len(uri)) {
		return
	}
	r.b.Namespace(prefix, uri)
}

func (r *rtfSink) text(s string, _ bool) {
	if s != "" && r.charge(len(s)) {
		r.child()
		r.b.Text(s)
	}
}

func (r *rtfSink) comment(s string) {
	if r.charge(len(s)) {
		r.child()
		r.b.Comment(s)
	}
}

func (r *rtfSink) pi(target, data string) {
	if r.charge(len(target) + len(data)) {
		r.child()
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
