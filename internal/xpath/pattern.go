package xpath

import (
	"slices"
	"strings"
)

// Pattern is one alternative of an XSLT 1.0 pattern (XSLT 1.0 §5.2): "a|b"
// compiles to two. It is immutable and safe for concurrent use.
type Pattern struct {
	src    string
	anchor anchorKind
	key    expr       // the id() or key() call of an anchorKey pattern
	steps  []*patStep // left to right
	prio   float64
}

type anchorKind uint8

const (
	anchorNone anchorKind = iota // a relative pattern: "a/b"
	anchorRoot                   // "/", "/a", "//a"
	anchorKey                    // "id('x')/a", "key('k', 'v')//a"
)

type patStep struct {
	sep     string // what joins it to the step (or anchor) on its left: "/", "//" or "" for none
	axis    axis   // axChild or axAttribute
	test    nodeTest
	preds   []expr
	needPos bool // a predicate needs the siblings to count positions
}

// CompilePattern compiles an XSLT 1.0 pattern into its alternatives. What
// is not a pattern ("ancestor::a", "1+1", "..") is a *SyntaxError with the
// Offset.
func CompilePattern(src string, st Static) ([]*Pattern, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &xparser{toks: toks, st: st}
	var out []*Pattern
	for {
		start := p.peek().pos
		pat, err := p.pattern()
		if err != nil {
			return nil, err
		}
		t := p.peek()
		pat.src = strings.TrimSpace(src[start:t.pos])
		out = append(out, pat)
		if t.kind == tEOF {
			return out, nil
		}
		if !p.isOp("|") {
			return nil, p.unexpected(t)
		}
		p.next()
	}
}

func (p *xparser) pattern() (*Pattern, error) {
	pat := &Pattern{prio: 0.5}
	sep := ""
	t := p.peek()
	switch {
	case p.isOp("/"):
		p.next()
		pat.anchor, sep = anchorRoot, "/"
		if !canStartStep(p.peek()) {
			return pat, nil
		}
	case p.isOp("//"):
		p.next()
		pat.anchor, sep = anchorRoot, "//"
	case t.kind == tFunc && t.prefix == "" && (t.s == "id" || t.s == "key"):
		key, err := p.keyCall()
		if err != nil {
			return nil, err
		}
		pat.anchor, pat.key = anchorKey, key
		if !p.isOp("/") && !p.isOp("//") {
			return pat, nil
		}
		sep = p.next().s
	}
	for {
		s, err := p.stepPattern()
		if err != nil {
			return nil, err
		}
		s.sep = sep
		pat.steps = append(pat.steps, s)
		if !p.isOp("/") && !p.isOp("//") {
			break
		}
		sep = p.next().s
	}
	if s := pat.steps[0]; pat.anchor == anchorNone && len(pat.steps) == 1 && len(s.preds) == 0 {
		switch {
		case s.test.kind == testName || s.test.kind == testPI && s.test.hasTarget:
			pat.prio = 0
		case s.test.kind == testNSWildcard:
			pat.prio = -0.25
		default:
			pat.prio = -0.5
		}
	}
	return pat, nil
}

// keyCall parses id(Literal) or key(Literal, Literal), the only calls a
// pattern may start with.
func (p *xparser) keyCall() (expr, error) {
	name := p.next()
	p.next() // the lexer saw the (
	var args []expr
	n := 1
	if name.s == "key" {
		n = 2
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			if _, err := p.expect(tComma, "','"); err != nil {
				return nil, err
			}
		}
		lit, err := p.expect(tLiteral, "a string literal")
		if err != nil {
			return nil, err
		}
		args = append(args, literal{lit.s})
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return nil, err
	}
	if name.s == "id" {
		return &callExpr{name: "id", core: fnID, args: args}, nil
	}
	if p.st.Function != nil {
		if f, ok := p.st.Function(QName{Local: "key"}, 2); ok && f != nil {
			return &callExpr{name: "key", ext: f, args: args}, nil
		}
	}
	return nil, errAt(name, "unknown function key() with 2 arguments")
}

func (p *xparser) stepPattern() (*patStep, error) {
	s := &patStep{axis: axChild}
	t := p.next()
	switch t.kind {
	case tAt:
		s.axis = axAttribute
		t = p.next()
	case tAxis:
		switch t.s {
		case "child":
		case "attribute":
			s.axis = axAttribute
		default:
			return nil, errAt(t, "a pattern allows only the child and attribute axes, not %s", t.s)
		}
		p.next() // the lexer saw the ::
		t = p.next()
	}
	test, err := p.nodeTest(t)
	if err != nil {
		return nil, err
	}
	s.test = test
	if s.preds, err = p.predicates(); err != nil {
		return nil, err
	}
	s.needPos = anyNeedsPos(s.preds)
	return s, nil
}

// DefaultPriority is the priority of a template rule whose match pattern
// this is, without a priority attribute (XSLT 1.0 §5.5).
func (p *Pattern) DefaultPriority() float64 { return p.prio }

// String returns the alternative's source.
func (p *Pattern) String() string { return p.src }

// Match reports whether n matches; c (nil for none) gives Variable, Budget
// and Extra for predicates and for key() and id().
func (p *Pattern) Match(c *Context, n *Node) (bool, error) {
	if c == nil {
		c = &Context{}
	}
	if n == nil || len(p.steps) == 0 && p.anchor == anchorNone {
		return false, nil // no node, or a Pattern that was not compiled
	}
	if len(p.steps) == 0 {
		if p.anchor == anchorRoot {
			return n.Kind == DocumentNode && n.Parent == nil, nil
		}
		ns, err := p.keyNodes(c, n)
		return slices.Contains(ns, n), err
	}
	return p.matchFrom(c, len(p.steps)-1, n)
}

// matchFrom matches steps[:i+1] against n and its ancestors, right to left,
// trying every ancestor for a "//".
func (p *Pattern) matchFrom(c *Context, i int, n *Node) (bool, error) {
	for {
		s := p.steps[i]
		if ok, err := p.stepMatch(c, s, n); !ok || err != nil {
			return false, err
		}
		if i == 0 {
			return p.anchorMatch(c, s.sep, n)
		}
		if s.sep == "/" {
			if n = n.Parent; n == nil {
				return false, nil
			}
			i--
			continue
		}
		for a := n.Parent; a != nil; a = a.Parent {
			if ok, err := p.matchFrom(c, i-1, a); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
}

// anchorMatch checks what is left of the first step, which n matched.
func (p *Pattern) anchorMatch(c *Context, sep string, n *Node) (bool, error) {
	switch p.anchor {
	case anchorRoot:
		if sep == "/" {
			return n.Parent != nil && n.Parent.Kind == DocumentNode && n.Parent.Parent == nil, nil
		}
		return n.Root().Kind == DocumentNode, nil
	case anchorKey:
		if n.Parent == nil {
			return false, nil
		}
		ns, err := p.keyNodes(c, n)
		if err != nil || sep == "/" {
			return slices.Contains(ns, n.Parent), err
		}
		for a := n.Parent; a != nil; a = a.Parent {
			if slices.Contains(ns, a) {
				return true, nil
			}
		}
		return false, nil
	}
	return p.anchor == anchorNone, nil
}

// keyNodes evaluates the id() or key() call in n's document.
func (p *Pattern) keyNodes(c *Context, n *Node) (NodeSet, error) {
	sub := *c
	sub.Node, sub.Position, sub.Size = n, 1, 1
	v, err := p.key.eval(&sub)
	if err != nil {
		return nil, err
	}
	ns, _ := v.(NodeSet)
	return ns, c.Spend(len(ns))
}

func (p *Pattern) stepMatch(c *Context, s *patStep, n *Node) (bool, error) {
	if err := c.Spend(1); err != nil {
		return false, err
	}
	var sibs []*Node
	switch s.axis {
	case axChild:
		if n.Parent == nil || n.Kind == AttributeNode || n.Kind == NamespaceNode || !s.test.match(n, ElementNode) {
			return false, nil
		}
		sibs = n.Parent.Children
	default:
		if n.Kind != AttributeNode || !s.test.match(n, AttributeNode) {
			return false, nil
		}
		if n.Parent != nil {
			sibs = n.Parent.Attrs
		}
	}
	if len(s.preds) == 0 {
		return true, nil
	}
	if !s.needPos {
		sub := *c
		sub.Node, sub.Position, sub.Size = n, 1, 1
		for _, pred := range s.preds {
			v, err := pred.eval(&sub)
			if err != nil || !Boolean(v) {
				return false, err
			}
		}
		return true, nil
	}
	// Positions count among the siblings that pass the node test, as the
	// step would select them from the parent.
	w := walker{c: c, test: s.test, principal: s.axis.principal()}
	if !w.all(sibs) {
		return false, w.err
	}
	kept, err := c.filter(w.out, s.preds)
	if err != nil {
		return false, err
	}
	for _, m := range kept {
		if m == n {
			return true, nil
		}
	}
	return false, nil
}
