package xslt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// expr is a compiled XPath expression and where it came from, for errors.
type expr struct {
	x         *xpath.Expr
	attr      string
	line, col int
}

// pattern is a compiled match pattern: its alternatives (XSLT 1.0 §5.5).
type pattern struct {
	src  string
	alts []*xpath.Pattern
}

// static is what an expression in element n is compiled against: n's
// namespaces and the XSLT functions.
func (c *compiler) static(n *snode, attr string) xpath.Static {
	return xpath.Static{
		Namespace: func(prefix string) (string, bool) {
			uri, ok := n.scope.lookup(prefix)
			return uri, ok && uri != ""
		},
		Function: func(name xpath.QName, arity int) (xpath.Function, bool) {
			return c.function(n, attr, qname{name.Space, name.Local}, arity)
		},
	}
}

func (c *compiler) expr(n *snode, attr, src string) *expr {
	x, err := xpath.Compile(src, c.static(n, attr))
	if err != nil {
		c.xpathError(n, attr, src, err)
		return nil
	}
	c.checkVars(n, attr, src)
	return &expr{x: x, attr: attr, line: n.line, col: n.col}
}

// checkVars finds the variables src refers to that no local variable in
// scope defines; they must be globals, which resolve checks once all are
// known. XPath itself would find out only when the expression runs.
func (c *compiler) checkVars(n *snode, attr, src string) {
	for i := 0; i < len(src); i++ {
		switch ch := src[i]; ch {
		case '"', '\'':
			j := strings.IndexByte(src[i+1:], ch)
			if j < 0 {
				return
			}
			i += j + 1
		case '$':
			j := i + 1
			for j < len(src) && (isNameByte(src[j]) || src[j] == ':') {
				j++
			}
			name := src[i+1 : j]
			i = j - 1
			prefix, local, found := strings.Cut(name, ":")
			if !found {
				prefix, local = "", name
			}
			q := qname{"", local}
			if found {
				uri, ok := n.scope.lookup(prefix)
				if !ok {
					continue // XPath has reported the prefix
				}
				q.space = uri
			}
			rest := strings.TrimLeft(src[j:], " \t\r\n")
			ref := varRef{q, n, attr, strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "[")}
			switch v := innermost(c.locals, q); {
			case v == nil:
				c.pendingVars = append(c.pendingVars, ref)
			case ref.path && v.fragment():
				c.fragmentPath(ref)
			}
		}
	}
}

func isNameByte(b byte) bool {
	return b == '_' || b == '-' || b == '.' || b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= 0x80
}

type varRef struct {
	name qname
	n    *snode
	attr string
	path bool // followed by / or [: used as a node-set
}

// innermost is the local variable named q that hides the others.
func innermost(locals []*variable, q qname) *variable {
	for i := len(locals) - 1; i >= 0; i-- {
		if locals[i].name == q {
			return locals[i]
		}
	}
	return nil
}

func (c *compiler) pattern(n *snode, attr, src string) *pattern {
	alts, err := xpath.CompilePattern(src, c.static(n, attr))
	if err != nil {
		c.xpathError(n, attr, src, err)
		return nil
	}
	return &pattern{src: src, alts: alts}
}

func (c *compiler) xpathError(n *snode, attr, src string, err error) {
	msg := strings.TrimPrefix(err.Error(), "xpath: ")
	var se *xpath.SyntaxError
	if errors.As(err, &se) {
		msg = se.Msg
		if se.Offset > 0 && se.Offset <= len(src) {
			msg += fmt.Sprintf(" (at %q)", abbreviate(src[se.Offset:]))
		}
	}
	c.errorf(n, "%s=%q: %s", attr, abbreviate(src), msg)
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func rootPattern() *pattern {
	alts, _ := xpath.CompilePattern("/", xpath.Static{})
	return &pattern{src: "/", alts: alts}
}

// The XSLT functions (XSLT 1.0 §12) and the node-set extensions. They reach
// the transform through Context.Extra.

// xsltFunctions are the XSLT functions function-available() reports beside
// XPath's core library (document() is refused, so not among them).
var xsltFunctions = []string{
	"current", "key", "generate-id", "format-number", "system-property", "element-available",
	"function-available", "unparsed-entity-uri",
}

// instructions are the XSLT 1.0 instructions element-available() reports.
var instructions = []string{
	"apply-imports", "apply-templates", "attribute", "call-template", "choose", "comment", "copy",
	"copy-of", "element", "fallback", "for-each", "if", "message", "number", "processing-instruction",
	"text", "value-of", "variable",
}

// function resolves a function call that is not in XPath's core library.
func (c *compiler) function(n *snode, attr string, name qname, arity int) (xpath.Function, bool) {
	argc := func(lo, hi int) bool {
		if arity < lo || arity > hi {
			c.errorf(n, "%s: %s() takes %s arguments, not %d", attr, name.local, argRange(lo, hi), arity)
			return false
		}
		return true
	}
	failing := func(string) xpath.Function {
		return func(*xpath.Context, []xpath.Value) (xpath.Value, error) {
			return nil, errors.New("unsupported function")
		}
	}
	switch name {
	case qname{"", "current"}:
		if argc(0, 0) {
			return fnCurrent, true
		}
	case qname{"", "key"}:
		if argc(2, 2) {
			return func(ctx *xpath.Context, args []xpath.Value) (xpath.Value, error) {
				return fnKey(ctx, args, n.scope)
			}, true
		}
	case qname{"", "generate-id"}:
		if argc(0, 1) {
			return fnGenerateID, true
		}
	case qname{"", "format-number"}:
		if argc(2, 3) {
			return func(ctx *xpath.Context, args []xpath.Value) (xpath.Value, error) {
				return fnFormatNumber(ctx, args, n.scope)
			}, true
		}
	case qname{"", "system-property"}:
		if argc(1, 1) {
			return func(ctx *xpath.Context, args []xpath.Value) (xpath.Value, error) {
				return systemProperty(xpath.String(args[0]), n.scope), nil
			}, true
		}
	case qname{"", "element-available"}:
		if argc(1, 1) {
			return func(ctx *xpath.Context, args []xpath.Value) (xpath.Value, error) {
				q, ok := resolveQName(xpath.String(args[0]), n.scope, true)
				return ok && q.space == nsXSL && slices.Contains(instructions, q.local), nil
			}, true
		}
	case qname{"", "function-available"}:
		if argc(1, 1) {
			return func(ctx *xpath.Context, args []xpath.Value) (xpath.Value, error) {
				q, ok := resolveQName(xpath.String(args[0]), n.scope, false)
				if !ok {
					return false, nil
				}
				switch q.space {
				case "":
					return xpath.IsCoreFunction(q.local) || slices.Contains(xsltFunctions, q.local), nil
				case nsMSXSL, nsEXSL:
					return q.local == "node-set" || q.space == nsEXSL && q.local == "object-type", nil
				}
				return false, nil
			}, true
		}
	case qname{"", "unparsed-entity-uri"}:
		if argc(1, 1) {
			// Documents come without a DTD, so there are no unparsed entities.
			return func(*xpath.Context, []xpath.Value) (xpath.Value, error) { return "", nil }, true
		}
	case qname{"", "document"}:
		c.errorf(n, "%s: document() is not supported (the gateway reads no files or URLs): put the data in the stylesheet, in a variable", attr)
		return failing("document"), true
	case qname{nsMSXSL, "node-set"}, qname{nsEXSL, "node-set"}:
		if argc(1, 1) {
			return fnNodeSet, true
		}
	case qname{nsEXSL, "object-type"}:
		if argc(1, 1) {
			return fnObjectType, true
		}
	default:
		if name.space == "" {
			return nil, false // XPath reports the unknown function
		}
		c.errorf(n, "%s: the extension function {%s}%s() is not supported: only msxsl:node-set() and exsl:node-set() are", attr, name.space, name.local)
		return failing(name.local), true
	}
	return failing(name.local), true
}

func argRange(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
}

// resolveQName resolves a QName given as a string at run time in the
// namespaces of the expression's element.
func resolveQName(s string, sc *scope, elemDefault bool) (qname, bool) {
	s = strings.TrimSpace(s)
	prefix, local, found := strings.Cut(s, ":")
	if !found {
		prefix, local = "", s
	}
	if !isNCName(local) || found && !isNCName(prefix) {
		return qname{}, false
	}
	if prefix == "" && !elemDefault {
		return qname{"", local}, true
	}
	uri, ok := sc.lookup(prefix)
	return qname{uri, local}, ok
}

func systemProperty(name string, sc *scope) xpath.Value {
	q, ok := resolveQName(name, sc, false)
	if !ok || q.space != nsXSL {
		return ""
	}
	switch q.local {
	case "version":
		return 1.0
	case "vendor":
		return "lastmile"
	case "vendor-url":
		return "https://github.com/lastmile-gw/lastmile"
	}
	return ""
}

func state(c *xpath.Context) *exec { return c.Extra.(*exec) }

func fnCurrent(c *xpath.Context, _ []xpath.Value) (xpath.Value, error) {
	return xpath.NodeSet{state(c).current}, nil
}

func fnNodeSet(c *xpath.Context, args []xpath.Value) (xpath.Value, error) {
	if ns, ok := args[0].(xpath.NodeSet); ok {
		return ns, nil
	}
	// A string (or number, boolean) becomes a text node of a tree of its own.
	b := xpath.NewBuilder()
	b.Text(xpath.String(args[0]))
	doc := b.Document()
	if len(doc.Children) == 0 {
		return xpath.NodeSet{}, nil
	}
	return xpath.NodeSet{doc.Children[0]}, nil
}

// fnObjectType is exsl:object-type(); a result tree fragment is a tree here,
// so it says "node-set" rather than "RTF".
func fnObjectType(_ *xpath.Context, args []xpath.Value) (xpath.Value, error) {
	switch args[0].(type) {
	case string:
		return "string", nil
	case float64:
		return "number", nil
	case bool:
		return "boolean", nil
	}
	return "node-set", nil
}

func fnGenerateID(c *xpath.Context, args []xpath.Value) (xpath.Value, error) {
	n := c.Node
	if len(args) == 1 {
		ns, ok := args[0].(xpath.NodeSet)
		if !ok {
			return nil, errors.New("generate-id() takes a node-set")
		}
		if len(ns) == 0 {
			return "", nil
		}
		n = ns[0]
	}
	if n == nil {
		return "", nil
	}
	x := state(c)
	if x.trees == nil {
		x.trees = map[*xpath.Node]int{}
	}
	root := n.Root()
	t, ok := x.trees[root]
	if !ok {
		t = len(x.trees)
		x.trees[root] = t
	}
	return "id" + strconv.Itoa(t) + "n" + strconv.Itoa(n.Order), nil
}

func fnFormatNumber(c *xpath.Context, args []xpath.Value, sc *scope) (xpath.Value, error) {
	df := state(c).s.formats[qname{}]
	if len(args) == 3 {
		name := xpath.String(args[2])
		q, ok := resolveQName(name, sc, false)
		if ok {
			df, ok = state(c).s.formats[q]
		}
		if !ok {
			return nil, errors.New("format-number(): no xsl:decimal-format has the name given")
		}
	}
	return df.formatNumber(xpath.Number(args[0]), xpath.String(args[1]))
}

// fnKey is key() (XSLT 1.0 §12.2). Each key is indexed for a tree on first
// use: every node is matched against the key's patterns once.
func fnKey(c *xpath.Context, args []xpath.Value, sc *scope) (xpath.Value, error) {
	x := state(c)
	name := xpath.String(args[0])
	q, ok := resolveQName(name, sc, false)
	defs := x.s.keys[q]
	if !ok || len(defs) == 0 {
		return nil, errors.New("key(): no xsl:key has the name given")
	}
	if c.Node == nil {
		return xpath.NodeSet{}, nil
	}
	idx, err := x.keyIndex(q, defs, c.Node.Root())
	if err != nil {
		return nil, err
	}
	ns, isSet := args[1].(xpath.NodeSet)
	if !isSet {
		return idx[xpath.String(args[1])], nil
	}
	var out xpath.NodeSet
	for _, n := range ns {
		found := idx[xpath.StringValue(n)]
		if err := c.Spend(1 + len(found)); err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return xpath.Sort(out), nil
}

func (x *exec) keyIndex(q qname, defs []*keyDef, root *xpath.Node) (map[string]xpath.NodeSet, error) {
	k := keyIndex{q, root}
	if idx, ok := x.keys[k]; ok {
		if idx == nil {
			return nil, errors.New("key(): the key " + q.String() + " is used while it is being indexed")
		}
		return idx, nil
	}
	if x.keys == nil {
		x.keys = map[keyIndex]map[string]xpath.NodeSet{}
	}
	x.keys[k] = nil
	idx := map[string]xpath.NodeSet{}
	add := func(v string, n *xpath.Node) {
		list := idx[v]
		if len(list) == 0 || list[len(list)-1] != n {
			idx[v] = append(list, n)
		}
	}
	var err error
	visit := func(n *xpath.Node) bool {
		for _, d := range defs {
			for _, alt := range d.match.alts {
				ok, e := x.match(alt, n)
				if e != nil {
					err = e
					return false
				}
				if !ok {
					continue
				}
				v, e := x.eval(d.use, focus{node: n, pos: 1, size: 1})
				if e != nil {
					err = e
					return false
				}
				if ns, isSet := v.(xpath.NodeSet); isSet {
					for _, m := range ns {
						add(xpath.StringValue(m), n)
					}
				} else {
					add(xpath.String(v), n)
				}
				break
			}
		}
		return true
	}
	walkAll(root, visit)
	if err != nil {
		delete(x.keys, k)
		return nil, err
	}
	x.keys[k] = idx
	return idx, nil
}

// walkAll visits a tree's nodes in document order, attributes included,
// without recursion.
func walkAll(n *xpath.Node, visit func(*xpath.Node) bool) {
	stack := []*xpath.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !visit(n) {
			return
		}
		for _, a := range n.Attrs {
			if !visit(a) {
				return
			}
		}
		for i := len(n.Children) - 1; i >= 0; i-- {
			stack = append(stack, n.Children[i])
		}
	}
}

// context returns an XPath context for node n, from the free list when it
// can: evaluations nest (a key() indexing, a global's first use), so each
// takes its own and gives it back.
func (x *exec) context(n *xpath.Node) *xpath.Context {
	if k := len(x.free); k > 0 {
		c := x.free[k-1]
		x.free = x.free[:k-1]
		*c = xpath.Context{Node: n, Variable: x.lookup, Budget: &x.budget, Extra: x}
		return c
	}
	return &xpath.Context{Node: n, Variable: x.lookup, Budget: &x.budget, Extra: x}
}

// eval evaluates an expression where f says.
func (x *exec) eval(e *expr, f focus) (xpath.Value, error) {
	savedCur, savedVars := x.current, x.vars
	x.current, x.vars = f.node, f.vars
	c := x.context(f.node)
	c.Position, c.Size = f.pos, f.size
	v, err := e.x.Evaluate(c)
	x.free = append(x.free, c)
	x.current, x.vars = savedCur, savedVars
	if err == nil && x.varErr != nil {
		err, x.varErr = x.varErr, nil
	}
	if err != nil {
		return nil, x.exprErr(e, err)
	}
	return v, nil
}

func (x *exec) exprErr(e *expr, err error) error {
	var xe *Error
	if errors.As(err, &xe) || errors.Is(err, xpath.ErrBudget) || errors.Is(err, errSteps) ||
		errors.Is(err, errTooBig) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return x.runtimeErr(e.line, e.col, "%s=%q: %s", e.attr, abbreviate(e.x.String()), strings.TrimPrefix(err.Error(), "xpath: "))
}

func (x *exec) str(e *expr, f focus) (string, error) {
	v, err := x.eval(e, f)
	if err != nil {
		return "", err
	}
	return xpath.String(v), nil
}

func (x *exec) boolean(e *expr, f focus) (bool, error) {
	v, err := x.eval(e, f)
	if err != nil {
		return false, err
	}
	return xpath.Boolean(v), nil
}

func (x *exec) number(e *expr, f focus) (float64, error) {
	v, err := x.eval(e, f)
	if err != nil {
		return math.NaN(), err
	}
	return xpath.Number(v), nil
}

func (x *exec) nodes(e *expr, f focus) (xpath.NodeSet, error) {
	v, err := x.eval(e, f)
	if err != nil {
		return nil, err
	}
	ns, ok := v.(xpath.NodeSet)
	if !ok {
		return nil, x.runtimeErr(e.line, e.col, "%s=%q must select nodes, but gives a %s", e.attr, abbreviate(e.x.String()), xpath.TypeName(v))
	}
	return ns, nil
}

// match reports whether n matches a pattern alternative; its predicates see
// only global variables, and current() is n.
func (x *exec) match(p *xpath.Pattern, n *xpath.Node) (bool, error) {
	savedCur, savedVars := x.current, x.vars
	x.current, x.vars = n, nil
	c := x.context(n)
	ok, err := p.Match(c, n)
	x.free = append(x.free, c)
	x.current, x.vars = savedCur, savedVars
	if err == nil && x.varErr != nil {
		err, x.varErr = x.varErr, nil
	}
	return ok, err
}

func (x *exec) matchAny(p *pattern, n *xpath.Node) (bool, error) {
	for _, alt := range p.alts {
		if ok, err := x.match(alt, n); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
