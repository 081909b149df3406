package xslt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// exec is the state of one transform.
type exec struct {
	ctx     context.Context
	s       *Stylesheet
	lim     Limits
	budget  int64 // steps left, shared with XPath (Context.Budget)
	used    int64 // bytes held: the result tree, and what variables in scope hold
	depth   int   // template instantiations
	nesting int   // instruction sequences, templates included
	ticks   int
	params  map[string]string
	globals []global
	out     sink
	root    *xpath.Node

	// XPath evaluation state, saved and restored around nested evaluations.
	current *xpath.Node // XSLT's current(): the node the instruction runs on
	vars    *binding    // the local variables in scope
	varErr  error       // a failure inside the Variable callback, which cannot return one
	lookup  func(xpath.QName) (xpath.Value, bool)
	free    []*xpath.Context // contexts to reuse

	keys  map[keyIndex]map[string]xpath.NodeSet
	trees map[*xpath.Node]int // tree numbers for generate-id
}

type global struct {
	state int8 // 0 not evaluated, 1 being evaluated, 2 done
	val   xpath.Value
}

type keyIndex struct {
	name qname
	root *xpath.Node
}

// binding is a local variable; a chain of them is a scope.
type binding struct {
	name qname
	val  xpath.Value
	next *binding
}

// focus is where an instruction runs: XSLT's current node and context
// position and size, the variables in scope, and the template rule being
// applied and its mode (for xsl:apply-imports; nil in xsl:for-each).
type focus struct {
	node      *xpath.Node
	pos, size int
	vars      *binding
	rule      *rule
	mode      qname
}

// Transform applies the stylesheet to doc, a document node from xpath.Parse.
// params are string values for top-level xsl:param by local name; unknown
// names are ignored, and a param without a value keeps its default. Errors
// say what failed in the stylesheet's terms and never quote the document,
// except what the stylesheet itself puts into xsl:message terminate="yes".
func (s *Stylesheet) Transform(ctx context.Context, doc *xpath.Node, params map[string]string, lim Limits) (res *Result, err error) {
	if doc == nil {
		return nil, &Error{Msg: "no document"}
	}
	lim = lim.withDefaults()
	x := &exec{ctx: ctx, s: s, lim: lim, budget: lim.MaxSteps, params: params,
		globals: make([]global, len(s.globals))}
	x.lookup = x.variable
	// A bug here must fail the transform, not the gateway.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &Error{Msg: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	x.root = x.stripSpace(doc.Root())
	b := newBuilder(&x.used, lim.MaxOutput)
	x.out = b
	f := focus{node: x.root, pos: 1, size: 1}
	if err := x.applyOne(f, qname{}, nil); err != nil {
		return nil, x.wrap(err)
	}
	if b.err != nil {
		return nil, x.wrap(b.err)
	}
	body, mediaType, ok := serialize(&s.out, b.result(), lim.MaxOutput)
	if !ok {
		return nil, x.wrap(errTooBig)
	}
	return &Result{Body: body, MediaType: mediaType}, nil
}

// wrap words the limits' errors with their limits.
func (x *exec) wrap(err error) error {
	var e *Error
	switch {
	case errors.Is(err, errTooBig):
		return &Error{Msg: fmt.Sprintf("the output exceeds %d bytes (result tree fragments count too)", x.lim.MaxOutput)}
	case errors.Is(err, xpath.ErrBudget), errors.Is(err, errSteps):
		return &Error{Msg: fmt.Sprintf("the transform needs more than %d steps", x.lim.MaxSteps)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the transform stopped: %w", err)
	case errors.As(err, &e):
		return e
	}
	return &Error{Msg: err.Error()}
}

var (
	errSteps    = errors.New("too many steps")
	errLateAttr = errors.New("an attribute can be added only to an element, before its children")
)

// tick pays a step for an instruction.
func (x *exec) tick() error {
	if err := x.spend(1); err != nil {
		return err
	}
	return x.out.failed()
}

// spend pays k steps and now and then looks at the context.
func (x *exec) spend(k int) error {
	x.budget -= int64(k)
	if x.budget < 0 {
		return errSteps
	}
	x.ticks++
	if x.ticks&1023 == 0 {
		return x.ctx.Err()
	}
	return nil
}

// at places errLateAttr, which copying cannot.
func (x *exec) at(err error, line, col int, what string) error {
	if errors.Is(err, errLateAttr) {
		return x.runtimeErr(line, col, "%s: %v", what, err)
	}
	return err
}

// runtimeErr is a failure of the instruction at line:col of the stylesheet.
func (x *exec) runtimeErr(line, col int, format string, args ...any) error {
	return &Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// applyOne applies the best template rule for f.node in mode, or the built-in
// rule (XSLT 1.0 §5.8).
func (x *exec) applyOne(f focus, mode qname, params []arg) error {
	n := f.node
	for _, r := range x.s.rules[mode] {
		ok, err := x.match(r.alt, n)
		if err != nil {
			return err
		}
		if ok {
			f.rule, f.mode = r, mode
			return x.instantiate(r.t, f, params)
		}
	}
	return x.builtIn(f, mode)
}

func (x *exec) builtIn(f focus, mode qname) error {
	n := f.node
	switch n.Kind {
	case xpath.DocumentNode, xpath.ElementNode:
		if err := x.enter(); err != nil {
			return err
		}
		defer x.leave()
		kids := n.Children
		for i, k := range kids {
			if err := x.tick(); err != nil {
				return err
			}
			if err := x.applyOne(focus{node: k, pos: i + 1, size: len(kids)}, mode, nil); err != nil {
				return err
			}
		}
	case xpath.TextNode, xpath.AttributeNode:
		x.out.text(n.Data, false)
	}
	return nil
}

func (x *exec) enter() error {
	x.depth++
	if x.depth > x.lim.MaxDepth {
		return &Error{Msg: fmt.Sprintf("templates nest more than %d deep (endless recursion?)", x.lim.MaxDepth)}
	}
	return nil
}

func (x *exec) leave() { x.depth-- }

// arg is a parameter passed by xsl:with-param.
type arg struct {
	name qname
	val  xpath.Value
}

// instantiate runs a template with its parameters bound.
func (x *exec) instantiate(t *template, f focus, params []arg) error {
	if err := x.enter(); err != nil {
		return err
	}
	defer x.leave()
	f.vars = nil
	var live int64 // what the defaults hold, until the template ends
	defer func() { x.used -= live }()
	for _, p := range t.params {
		var v xpath.Value
		found := false
		for _, a := range params {
			if a.name == p.name {
				v, found = a.val, true
				break
			}
		}
		if !found {
			var cost int64
			var err error
			if v, cost, err = x.varValue(p, f); err != nil {
				return err
			}
			live += cost
		}
		f.vars = &binding{p.name, v, f.vars}
	}
	return x.run(t.body, f)
}

// run runs a sequence of instructions; a variable is in scope for the
// instructions after it.
func (x *exec) run(body []instr, f focus) error {
	x.nesting++
	defer func() { x.nesting-- }()
	if x.nesting > maxNesting {
		return &Error{Msg: fmt.Sprintf("instructions nest more than %d deep", maxNesting)}
	}
	var live int64 // what this body's variables hold, until it ends
	defer func() { x.used -= live }()
	for _, in := range body {
		if err := x.tick(); err != nil {
			return err
		}
		if v, ok := in.(*variable); ok {
			val, cost, err := x.varValue(v, f)
			if err != nil {
				return err
			}
			live += cost
			f.vars = &binding{v.name, val, f.vars}
			continue
		}
		if err := x.instr(in, f); err != nil {
			return err
		}
	}
	return nil
}

// varValue evaluates a variable's select, or builds its content as a result
// tree fragment: a document node, which XPath sees as a node-set of one.
// What the value holds (a string's bytes, a fragment's) counts against the
// size limit while the variable lives, so that a recursion doubling a string
// cannot exhaust memory; cost is what the caller gives back when the
// variable goes out of scope.
func (x *exec) varValue(v *variable, f focus) (val xpath.Value, cost int64, err error) {
	before := x.used
	if v.sel != nil {
		val, err = x.eval(v.sel, f)
		if s, ok := val.(string); ok && err == nil {
			x.used += int64(len(s))
			if x.used > x.lim.MaxOutput {
				err = errTooBig
			}
		}
	} else if len(v.body) == 0 {
		val = ""
	} else {
		var doc *xpath.Node
		if doc, err = x.fragment(v.body, f); err == nil {
			val = xpath.NodeSet{doc}
		}
	}
	return val, x.used - before, err
}

// fragment builds a result tree fragment.
func (x *exec) fragment(body []instr, f focus) (*xpath.Node, error) {
	rs := newRTFSink(&x.used, x.lim.MaxOutput)
	saved := x.out
	x.out = rs
	err := x.run(body, f)
	x.out = saved
	if err == nil {
		err = rs.failed()
	}
	if err != nil {
		return nil, err
	}
	return rs.b.Document(), nil
}

// text runs body and returns the text it makes (for attribute values,
// comments, processing instructions and messages); other nodes are ignored,
// the recovery XSLT 1.0 §7.1.3 allows.
func (x *exec) text(body []instr, f focus) (string, error) {
	if len(body) == 1 {
		if t, ok := body[0].(*textInstr); ok {
			return t.text, nil
		}
	}
	ts := &textSink{used: &x.used, max: x.lim.MaxOutput}
	saved, before := x.out, x.used
	x.out = ts
	err := x.run(body, f)
	x.out = saved
	if err == nil {
		err = ts.failed()
	}
	x.used = before // the caller counts the text where it goes
	return ts.b.String(), err
}

// variable is the XPath engine's Variable callback: locals, then globals
// (evaluated on first use), then top-level params.
func (x *exec) variable(name xpath.QName) (xpath.Value, bool) {
	q := qname{name.Space, name.Local}
	for b := x.vars; b != nil; b = b.next {
		if b.name == q {
			return b.val, true
		}
	}
	g, ok := x.s.global[q]
	if !ok {
		return nil, false
	}
	v, err := x.globalValue(g)
	if err != nil {
		if x.varErr == nil {
			x.varErr = err
		}
		return "", true
	}
	return v, true
}

func (x *exec) globalValue(g *variable) (xpath.Value, error) {
	st := &x.globals[g.index]
	switch st.state {
	case 2:
		return st.val, nil
	case 1:
		return nil, x.runtimeErr(g.line, g.col, "the global variable %s depends on itself", g.name)
	}
	st.state = 1
	var v xpath.Value
	var err error
	if val, ok := x.params[g.name.local]; ok && g.param {
		v = val
	} else {
		// Globals see no local variables and have the root as context.
		saved := x.vars
		x.vars = nil
		v, _, err = x.varValue(g, focus{node: x.root, pos: 1, size: 1}) // globals live on
		x.vars = saved
	}
	if err != nil {
		st.state = 0
		return nil, err
	}
	st.state, st.val = 2, v
	return v, nil
}

func (x *exec) instr(in instr, f focus) error {
	switch in := in.(type) {
	case *textInstr:
		x.out.text(in.text, in.raw)
	case *literalElement:
		x.out.startElement(in.name, in.prefix)
		for _, ns := range in.ns {
			x.out.namespace(ns.prefix, ns.uri)
		}
		if err := x.useSets(in.sets, f); err != nil {
			return err
		}
		for _, a := range in.attrs {
			v, err := x.avt(a.value, f)
			if err != nil {
				return err
			}
			x.out.attribute(a.name, a.prefix, v)
		}
		if err := x.run(in.body, f); err != nil {
			return err
		}
		x.out.endElement()
	case *applyTemplates:
		return x.applyTemplates(in, f)
	case *callTemplate:
		t := x.s.named[in.name]
		args, cost, err := x.args(in.params, f)
		defer func() { x.used -= cost }()
		if err != nil {
			return err
		}
		return x.instantiate(t, f, args)
	case *applyImports:
		if f.rule == nil {
			return nil // XSLT 1.0 §5.6: an error; doing nothing is the recovery
		}
		// One stylesheet imports nothing, so only the built-in rules remain.
		return x.builtIn(f, f.mode)
	case *forEach:
		nodes, err := x.nodes(in.sel, f)
		if err != nil {
			return err
		}
		if nodes, err = x.sort(nodes, in.sorts, f); err != nil {
			return err
		}
		for i, n := range nodes {
			g := f
			g.node, g.pos, g.size, g.rule = n, i+1, len(nodes), nil
			if err := x.run(in.body, g); err != nil {
				return err
			}
		}
	case *valueOf:
		s, err := x.str(in.sel, f)
		if err != nil {
			return err
		}
		x.out.text(s, in.raw)
	case *copyOf:
		v, err := x.eval(in.sel, f)
		if err != nil {
			return err
		}
		if ns, ok := v.(xpath.NodeSet); ok {
			for _, n := range ns {
				if err := x.copyNode(n); err != nil {
					return x.at(err, in.sel.line, in.sel.col, "xsl:copy-of")
				}
			}
			return nil
		}
		x.out.text(xpath.String(v), false)
	case *choose:
		for _, w := range in.whens {
			ok, err := x.boolean(w.test, f)
			if err != nil {
				return err
			}
			if ok {
				return x.run(w.body, f)
			}
		}
		return x.run(in.otherwise, f)
	case *ifInstr:
		ok, err := x.boolean(in.test, f)
		if err != nil || !ok {
			return err
		}
		return x.run(in.body, f)
	case *copyInstr:
		return x.at(x.copy(in, f), in.line, in.col, "xsl:copy")
	case *message:
		s, err := x.text(in.body, f)
		if err != nil {
			return err
		}
		if in.terminate {
			if len(s) > 1000 {
				s = s[:1000] + "..."
			}
			return x.runtimeErr(in.line, in.col, "xsl:message terminated the transform: %s", strings.ToValidUTF8(s, "?"))
		}
	case *elementInstr:
		return x.element(in, f)
	case *attributeInstr:
		return x.attribute(in, f)
	case *commentInstr:
		s, err := x.text(in.body, f)
		if err != nil {
			return err
		}
		x.out.comment(s)
	case *piInstr:
		name, err := x.avt(in.name, f)
		if err != nil {
			return err
		}
		name = strings.TrimSpace(name)
		if !isNCName(name) || strings.EqualFold(name, "xml") {
			return x.runtimeErr(in.line, in.col, "xsl:processing-instruction: the name it computes is not a valid target")
		}
		s, err := x.text(in.body, f)
		if err != nil {
			return err
		}
		x.out.pi(name, strings.TrimLeft(s, " \t\r\n"))
	case *numberInstr:
		return x.numberInstr(in, f)
	case *fallback:
		if !in.has {
			return x.runtimeErr(in.line, in.col, "%s is not supported by this processor and has no xsl:fallback", in.what)
		}
		return x.run(in.body, f)
	default:
		return fmt.Errorf("unknown instruction %T", in)
	}
	return nil
}

// args evaluates xsl:with-param; cost is what the values hold, for the
// caller to give back after the call.
func (x *exec) args(params []*variable, f focus) (out []arg, cost int64, err error) {
	if len(params) == 0 {
		return nil, 0, nil
	}
	out = make([]arg, len(params))
	for i, p := range params {
		v, c, err := x.varValue(p, f)
		cost += c
		if err != nil {
			return nil, cost, err
		}
		out[i] = arg{p.name, v}
	}
	return out, cost, nil
}

func (x *exec) applyTemplates(in *applyTemplates, f focus) error {
	var nodes xpath.NodeSet
	if in.sel == nil {
		nodes = f.node.Children
	} else {
		var err error
		if nodes, err = x.nodes(in.sel, f); err != nil {
			return err
		}
	}
	args, cost, err := x.args(in.params, f)
	defer func() { x.used -= cost }()
	if err != nil {
		return err
	}
	if nodes, err = x.sort(nodes, in.sorts, f); err != nil {
		return err
	}
	for i, n := range nodes {
		if err := x.tick(); err != nil {
			return err
		}
		g := focus{node: n, pos: i + 1, size: len(nodes)}
		if err := x.applyOne(g, in.mode, args); err != nil {
			return err
		}
	}
	return nil
}

func (x *exec) useSets(sets []qname, f focus) error {
	for _, q := range sets {
		set := x.s.attrSets[q]
		if err := x.useSets(set.uses, f); err != nil {
			return err
		}
		// Attribute sets see only global variables.
		g := f
		g.vars = nil
		for _, a := range set.attrs {
			if err := x.attribute(a, g); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *exec) copy(in *copyInstr, f focus) error {
	n := f.node
	switch n.Kind {
	case xpath.DocumentNode:
		return x.run(in.body, f)
	case xpath.ElementNode:
		x.out.startElement(qname{n.Space, n.Local}, n.Prefix)
		if err := x.copyNamespaces(n); err != nil {
			return err
		}
		if err := x.useSets(in.sets, f); err != nil {
			return err
		}
		if err := x.run(in.body, f); err != nil {
			return err
		}
		x.out.endElement()
		return nil
	}
	return x.copyNode(n)
}

// copyNamespaces copies an element's namespaces without making its namespace
// nodes, which would stay with the source tree, and pays a step for each: a
// document may declare thousands on its root.
func (x *exec) copyNamespaces(n *xpath.Node) error {
	k := 0
	for prefix, uri := range n.InScopeNamespaces() {
		x.out.namespace(prefix, uri)
		k++
	}
	return x.spend(k)
}

// copyNode copies a node and its subtree (xsl:copy-of).
func (x *exec) copyNode(n *xpath.Node) error {
	if err := x.tick(); err != nil {
		return err
	}
	switch n.Kind {
	case xpath.DocumentNode:
		for _, k := range n.Children {
			if err := x.copyNode(k); err != nil {
				return err
			}
		}
	case xpath.ElementNode:
		x.out.startElement(qname{n.Space, n.Local}, n.Prefix)
		if err := x.copyNamespaces(n); err != nil {
			return err
		}
		for _, a := range n.Attrs {
			x.out.attribute(qname{a.Space, a.Local}, a.Prefix, a.Data)
		}
		for _, k := range n.Children {
			if err := x.copyNode(k); err != nil {
				return err
			}
		}
		x.out.endElement()
	case xpath.AttributeNode:
		if !x.out.attribute(qname{n.Space, n.Local}, n.Prefix, n.Data) {
			return errLateAttr
		}
	case xpath.TextNode:
		x.out.text(n.Data, false)
	case xpath.CommentNode:
		x.out.comment(n.Data)
	case xpath.ProcessingInstructionNode:
		x.out.pi(n.Local, n.Data)
	case xpath.NamespaceNode:
		x.out.namespace(n.Prefix, n.Data)
	}
	return nil
}

// name evaluates the name AVT of xsl:element or xsl:attribute, and its
// namespace AVT, into a name and a prefix for the serializer to prefer. An
// element's unprefixed name takes the default namespace; an attribute's not.
func (x *exec) name(nameAVT, nsAVT *avt, sc *scope, elem bool, f focus) (qname, string, error) {
	name, err := x.avt(nameAVT, f)
	if err != nil {
		return qname{}, "", err
	}
	name = strings.TrimSpace(name)
	prefix, local, found := strings.Cut(name, ":")
	if !found {
		prefix, local = "", name
	}
	if !isNCName(local) || found && !isNCName(prefix) {
		return qname{}, "", errors.New("the name it computes is not a valid QName")
	}
	if nsAVT != nil {
		uri, err := x.avt(nsAVT, f)
		if err != nil {
			return qname{}, "", err
		}
		if uri == "" {
			prefix = ""
		}
		return qname{uri, local}, prefix, nil
	}
	if prefix == "" && !elem {
		return qname{"", local}, "", nil
	}
	uri, ok := sc.lookup(prefix)
	if !ok {
		return qname{}, "", errors.New("the prefix of the name it computes is not declared in the stylesheet: add a namespace attribute")
	}
	return qname{uri, local}, prefix, nil
}

func (x *exec) element(in *elementInstr, f focus) error {
	name, prefix, err := x.name(in.name, in.ns, in.scope, true, f)
	if err != nil {
		return x.runtimeErr(in.line, in.col, "xsl:element: %v", err)
	}
	x.out.startElement(name, prefix)
	if err := x.useSets(in.sets, f); err != nil {
		return err
	}
	if err := x.run(in.body, f); err != nil {
		return err
	}
	x.out.endElement()
	return nil
}

func (x *exec) attribute(in *attributeInstr, f focus) error {
	name, prefix, err := x.name(in.name, in.ns, in.scope, false, f)
	if err == nil && name == (qname{"", "xmlns"}) {
		err = errors.New("xmlns is not an attribute name: namespaces are declared by the names that use them")
	}
	if err != nil {
		return x.runtimeErr(in.line, in.col, "xsl:attribute: %v", err)
	}
	v, err := x.text(in.body, f)
	if err != nil {
		return err
	}
	if prefix == "xmlns" {
		prefix = ""
	}
	if !x.out.attribute(name, prefix, v) {
		return x.runtimeErr(in.line, in.col, "xsl:attribute: %v", errLateAttr)
	}
	return nil
}

func (x *exec) avt(a *avt, f focus) (string, error) {
	if s, ok := a.constant(); ok {
		return s, nil
	}
	var b strings.Builder
	for _, p := range a.parts {
		if p.e == nil {
			b.WriteString(p.text)
			continue
		}
		s, err := x.str(p.e, f)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// stripSpace removes the whitespace-only text nodes that xsl:strip-space
// asks to strip (XSLT 1.0 §3.4), in a copy of the tree.
func (x *exec) stripSpace(doc *xpath.Node) *xpath.Node {
	if len(x.s.strip) == 0 {
		return doc
	}
	return xpath.StripSpace(doc, func(e *xpath.Node) bool {
		return x.strips(e) && !preserved(e)
	})
}

// strips reports whether xsl:strip-space or xsl:preserve-space (the best
// match) strips whitespace text in element e.
func (x *exec) strips(e *xpath.Node) bool {
	for _, r := range x.s.strip {
		if (r.space == "*" || r.space == e.Space) && (r.local == "*" || r.local == e.Local) {
			return r.strip
		}
	}
	return false
}

// preserved reports whether the nearest xml:space of e or its ancestors is
// "preserve".
func preserved(e *xpath.Node) bool {
	for ; e != nil; e = e.Parent {
		for _, a := range e.Attrs {
			if a.Space == xpath.XMLNamespace && a.Local == "space" {
				switch a.Data {
				case "preserve":
					return true
				case "default":
					return false
				}
			}
		}
	}
	return false
}
