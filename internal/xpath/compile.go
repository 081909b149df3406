package xpath

import (
	"fmt"
	"slices"
)

// QName is an expanded name.
type QName struct{ Space, Local string }

// Function is a function beyond XPath's core library (XSLT's current(),
// key(), generate-id()...). It gets its arguments evaluated, and c is the
// context of the call (c.Node the context node).
type Function func(c *Context, args []Value) (Value, error)

// Static is what an expression is compiled against.
type Static struct {
	// Namespace resolves a prefix used in a QName (name tests, variable
	// references, function names). nil: no prefixes are declared. The xml
	// prefix is always bound.
	Namespace func(prefix string) (uri string, ok bool)
	// Function returns an extension function for a name and number of
	// arguments; it is asked only for names that are not in XPath's core
	// library. nil: only the core library.
	Function func(name QName, arity int) (Function, bool)
}

// Expr is a compiled XPath expression; it is immutable and safe for
// concurrent use.
type Expr struct {
	src  string
	root expr
}

// String returns the source.
func (e *Expr) String() string { return e.src }

// maxNesting bounds parentheses, predicates and arguments inside each
// other, so that neither compiling nor evaluating recurses without limit.
const maxNesting = 100

// Compile compiles an XPath 1.0 expression. Unknown functions (or wrong arity
// for core functions), undeclared prefixes and syntax errors are *SyntaxError
// with the Offset.
func Compile(src string, st Static) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &xparser{toks: toks, st: st}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return &Expr{src: src, root: e}, nil
}

// The expression tree. Chains of operators of one precedence are flat lists,
// so that a long "a or b or c ..." costs no recursion depth.
type (
	expr interface {
		eval(c *Context) (Value, error)
	}
	literal  struct{ v Value } // a string or a number, boxed once at compile time
	varExpr  QName
	callExpr struct {
		name string // as written, for errors
		core coreFn
		ext  Function
		args []expr
	}
	logicExpr struct {
		and  bool
		list []expr
	}
	chainExpr struct { // comparisons and arithmetic, left to right
		first expr
		ops   []string
		rest  []expr
	}
	negExpr struct {
		e   expr
		odd bool // "--x" is number(x)
	}
	unionExpr  struct{ list []expr }
	filterExpr struct {
		e     expr
		preds []expr
	}
	pathExpr struct {
		filter expr // nil: a location path
		abs    bool
		steps  []*step
	}
)

// axis names the 13 axes of XPath 1.0.
type axis uint8

const (
	axAncestor axis = iota
	axAncestorOrSelf
	axAttribute
	axChild
	axDescendant
	axDescendantOrSelf
	axFollowing
	axFollowingSibling
	axNamespace
	axParent
	axPreceding
	axPrecedingSibling
	axSelf
)

func axisByName(s string) (axis, bool) {
	names := [...]string{"ancestor", "ancestor-or-self", "attribute", "child", "descendant", "descendant-or-self", "following", "following-sibling", "namespace", "parent", "preceding", "preceding-sibling", "self"}
	for i, n := range names {
		if n == s {
			return axis(i), true
		}
	}
	return 0, false
}

func (a axis) reverse() bool {
	return a == axAncestor || a == axAncestorOrSelf || a == axPreceding || a == axPrecedingSibling
}

// principal is the node kind a name test selects on the axis.
func (a axis) principal() Kind {
	switch a {
	case axAttribute:
		return AttributeNode
	case axNamespace:
		return NamespaceNode
	}
	return ElementNode
}

type testKind uint8

const (
	testName       testKind = iota // space, local
	testNSWildcard                 // prefix:*, space
	testAny                        // *
	testNode                       // node()
	testText
	testComment
	testPI // local is the target if hasTarget
)

type nodeTest struct {
	kind         testKind
	space, local string
	hasTarget    bool
}

func (t nodeTest) match(n *Node, principal Kind) bool {
	switch t.kind {
	case testName:
		if n.Kind != principal {
			return false
		}
		if principal == NamespaceNode {
			return t.space == "" && n.Prefix == t.local
		}
		return n.Local == t.local && n.Space == t.space
	case testNSWildcard:
		return n.Kind == principal && principal != NamespaceNode && n.Space == t.space
	case testAny:
		return n.Kind == principal
	case testNode:
		return true
	case testText:
		return n.Kind == TextNode
	case testComment:
		return n.Kind == CommentNode
	case testPI:
		return n.Kind == ProcessingInstructionNode && (!t.hasTarget || n.Local == t.local)
	}
	return false
}

type step struct {
	axis  axis
	test  nodeTest
	preds []expr
}

type xparser struct {
	toks  []token
	i     int
	st    Static
	depth int
}

func (p *xparser) peek() token { return p.toks[p.i] }

func (p *xparser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *xparser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.s == s
}

func errAt(t token, format string, args ...any) error {
	return &SyntaxError{Offset: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *xparser) unexpected(t token) error {
	if t.kind == tEOF {
		return errAt(t, "unexpected end of expression")
	}
	return errAt(t, "unexpected %s", describe(t))
}

func describe(t token) string {
	switch t.kind {
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tLBrack:
		return "'['"
	case tRBrack:
		return "']'"
	case tDot:
		return "'.'"
	case tDotDot:
		return "'..'"
	case tAt:
		return "'@'"
	case tComma:
		return "','"
	case tColonColon:
		return "'::'"
	case tLiteral:
		return "string literal"
	case tNumber:
		return "number"
	case tVar:
		return "variable reference"
	case tOp:
		return "operator " + t.s
	}
	if t.prefix != "" {
		return "name " + t.prefix + ":" + t.s
	}
	return "name " + t.s
}

func (p *xparser) expect(k tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		if t.kind == tEOF {
			return t, errAt(t, "expected %s, found the end of the expression", what)
		}
		return t, errAt(t, "expected %s, found %s", what, describe(t))
	}
	return t, nil
}

// resolve maps a prefix to its namespace URI.
func (p *xparser) resolve(t token) (string, error) {
	if t.prefix == "" {
		return "", nil
	}
	if p.st.Namespace != nil {
		if uri, ok := p.st.Namespace(t.prefix); ok {
			return uri, nil
		}
	}
	if t.prefix == "xml" {
		return XMLNamespace, nil
	}
	return "", errAt(t, "namespace prefix %s is not declared", t.prefix)
}

func (p *xparser) expr() (expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, errAt(p.peek(), "the expression is nested more than %d deep", maxNesting)
	}
	return p.logic(false)
}

// logic parses an OrExpr, or an AndExpr if and is set.
func (p *xparser) logic(and bool) (expr, error) {
	op, sub := "or", func() (expr, error) { return p.logic(true) }
	if and {
		op, sub = "and", func() (expr, error) { return p.chain(0) }
	}
	first, err := sub()
	if err != nil || !p.isOp(op) {
		return first, err
	}
	list := []expr{first}
	for p.isOp(op) {
		p.next()
		e, err := sub()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	return &logicExpr{and: and, list: list}, nil
}

// levels is how many precedence levels of binary operators there are
// below and; levelOps lists each level's operators, loosest first.
const levels = 4

func levelOps(level int) []string {
	switch level {
	case 0:
		return []string{"=", "!="}
	case 1:
		return []string{"<", "<=", ">", ">="}
	case 2:
		return []string{"+", "-"}
	}
	return []string{"*", "div", "mod"}
}

func (p *xparser) chain(level int) (expr, error) {
	if level == levels {
		return p.unary()
	}
	first, err := p.chain(level + 1)
	if err != nil {
		return nil, err
	}
	var c *chainExpr
	for {
		t := p.peek()
		if t.kind != tOp || !slices.Contains(levelOps(level), t.s) {
			break
		}
		p.next()
		e, err := p.chain(level + 1)
		if err != nil {
			return nil, err
		}
		if c == nil {
			c = &chainExpr{first: first}
		}
		c.ops = append(c.ops, t.s)
		c.rest = append(c.rest, e)
	}
	if c == nil {
		return first, nil
	}
	return c, nil
}

func (p *xparser) unary() (expr, error) {
	n := 0
	for p.isOp("-") {
		p.next()
		n++
	}
	e, err := p.union()
	if err != nil || n == 0 {
		return e, err
	}
	return &negExpr{e: e, odd: n%2 == 1}, nil
}

func (p *xparser) union() (expr, error) {
	first, err := p.path()
	if err != nil || !p.isOp("|") {
		return first, err
	}
	list := []expr{first}
	for p.isOp("|") {
		p.next()
		e, err := p.path()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	return &unionExpr{list: list}, nil
}

func (p *xparser) path() (expr, error) {
	switch p.peek().kind {
	case tVar, tLParen, tLiteral, tNumber, tFunc:
		f, err := p.filter()
		if err != nil || !p.isOp("/") && !p.isOp("//") {
			return f, err
		}
		steps, err := p.relative()
		if err != nil {
			return nil, err
		}
		return &pathExpr{filter: f, steps: steps}, nil
	}
	abs := false
	if p.isOp("/") {
		p.next()
		abs = true
		if !canStartStep(p.peek()) {
			return &pathExpr{abs: true}, nil
		}
	} else if p.isOp("//") {
		abs = true
	}
	steps, err := p.relative()
	if err != nil {
		return nil, err
	}
	return &pathExpr{abs: abs, steps: steps}, nil
}

func canStartStep(t token) bool {
	switch t.kind {
	case tNameTest, tNodeType, tAxis, tAt, tDot, tDotDot:
		return true
	}
	return false
}

func descendantOrSelf() *step {
	return &step{axis: axDescendantOrSelf, test: nodeTest{kind: testNode}}
}

// relative parses steps separated by / and //; a leading / or // (after a
// filter expression or at the start of an absolute path) is consumed too.
func (p *xparser) relative() ([]*step, error) {
	var steps []*step
	if p.isOp("/") {
		p.next()
	} else if p.isOp("//") {
		p.next()
		steps = append(steps, descendantOrSelf())
	}
	for sep := true; sep; {
		s, err := p.step()
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
		switch {
		case p.isOp("/"):
			p.next()
		case p.isOp("//"):
			p.next()
			steps = append(steps, descendantOrSelf())
		default:
			sep = false
		}
	}
	return optimize(steps), nil
}

// optimize turns descendant-or-self::node()/child::x into descendant::x when
// x's predicates do not look at positions (they would count differently):
// "//x" is the commonest path and this saves a pass over every node.
func optimize(steps []*step) []*step {
	out := steps[:0]
	for i := 0; i < len(steps); i++ {
		s := steps[i]
		if i+1 < len(steps) && s.axis == axDescendantOrSelf && s.test.kind == testNode && len(s.preds) == 0 {
			if n := steps[i+1]; n.axis == axChild && !anyNeedsPos(n.preds) {
				out = append(out, &step{axis: axDescendant, test: n.test, preds: n.preds})
				i++
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func (p *xparser) step() (*step, error) {
	t := p.next()
	switch t.kind {
	case tDot:
		return &step{axis: axSelf, test: nodeTest{kind: testNode}}, nil
	case tDotDot:
		return &step{axis: axParent, test: nodeTest{kind: testNode}}, nil
	}
	s := &step{axis: axChild}
	switch t.kind {
	case tAt:
		s.axis = axAttribute
		t = p.next()
	case tAxis:
		a, ok := axisByName(t.s)
		if !ok {
			return nil, errAt(t, "unknown axis %s", t.s)
		}
		s.axis = a
		p.next() // the lexer saw the ::
		t = p.next()
	}
	test, err := p.nodeTest(t)
	if err != nil {
		return nil, err
	}
	s.test = test
	s.preds, err = p.predicates()
	return s, err
}

func (p *xparser) nodeTest(t token) (nodeTest, error) {
	switch t.kind {
	case tNameTest:
		if t.s == "*" && t.prefix == "" {
			return nodeTest{kind: testAny}, nil
		}
		uri, err := p.resolve(t)
		if err != nil {
			return nodeTest{}, err
		}
		if t.s == "*" {
			return nodeTest{kind: testNSWildcard, space: uri}, nil
		}
		return nodeTest{kind: testName, space: uri, local: t.s}, nil
	case tNodeType:
		p.next() // the lexer saw the (
		nt := nodeTest{kind: testNode}
		switch t.s {
		case "text":
			nt.kind = testText
		case "comment":
			nt.kind = testComment
		case "processing-instruction":
			nt.kind = testPI
		}
		if nt.kind == testPI && p.peek().kind == tLiteral {
			nt.local, nt.hasTarget = p.next().s, true
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nodeTest{}, err
		}
		return nt, nil
	}
	if t.kind == tEOF {
		return nodeTest{}, errAt(t, "expected a node test, found the end of the expression")
	}
	return nodeTest{}, errAt(t, "expected a node test, found %s", describe(t))
}

func (p *xparser) predicates() ([]expr, error) {
	var preds []expr
	for p.peek().kind == tLBrack {
		p.next()
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRBrack, "']'"); err != nil {
			return nil, err
		}
		preds = append(preds, e)
	}
	return preds, nil
}

func (p *xparser) filter() (expr, error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	preds, err := p.predicates()
	if err != nil || len(preds) == 0 {
		return e, err
	}
	return &filterExpr{e: e, preds: preds}, nil
}

func (p *xparser) primary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tVar:
		uri, err := p.resolve(t)
		if err != nil {
			return nil, err
		}
		return varExpr{Space: uri, Local: t.s}, nil
	case tLParen:
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		_, err = p.expect(tRParen, "')'")
		return e, err
	case tLiteral:
		return literal{t.s}, nil
	case tNumber:
		return literal{t.num}, nil
	case tFunc:
		return p.call(t)
	}
	return nil, p.unexpected(t)
}

func (p *xparser) call(name token) (expr, error) {
	p.next() // the lexer saw the (
	var args []expr
	if p.peek().kind != tRParen {
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			args = append(args, e)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if _, err := p.expect(tRParen, "')' or ','"); err != nil {
		return nil, err
	}
	if name.prefix == "" {
		if f, lo, hi, ok := core(name.s); ok {
			if len(args) < lo || hi >= 0 && len(args) > hi {
				return nil, errAt(name, "%s() takes %s, not %d", name.s, arity(lo, hi), len(args))
			}
			return &callExpr{name: name.s, core: f, args: args}, nil
		}
	}
	uri, err := p.resolve(name)
	if err != nil {
		return nil, err
	}
	full := name.s
	if name.prefix != "" {
		full = name.prefix + ":" + name.s
	}
	if p.st.Function != nil {
		if f, ok := p.st.Function(QName{uri, name.s}, len(args)); ok && f != nil {
			return &callExpr{name: full, ext: f, args: args}, nil
		}
	}
	return nil, errAt(name, "unknown function %s() with %d arguments", full, len(args))
}

func arity(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d arguments", lo)
	case lo == hi && lo == 1:
		return "1 argument"
	case lo == hi:
		return fmt.Sprintf("%d arguments", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}

// valueType is what static analysis knows of an expression's result.
type valueType uint8

const (
	typeAny valueType = iota
	typeNodeSet
	typeString
	typeNumber
	typeBool
)

func typeOf(e expr) valueType {
	switch e := e.(type) {
	case literal:
		if _, ok := e.v.(string); ok {
			return typeString
		}
		return typeNumber
	case *negExpr:
		return typeNumber
	case *logicExpr:
		return typeBool
	case *chainExpr:
		if slices.Contains(levelOps(0), e.ops[0]) || slices.Contains(levelOps(1), e.ops[0]) {
			return typeBool
		}
		return typeNumber
	case *unionExpr, *pathExpr, *filterExpr:
		return typeNodeSet
	case *callExpr:
		if e.ext == nil {
			return coreType(e.name)
		}
	}
	return typeAny
}

// anyNeedsPos reports whether some predicate may depend on the proximity
// position or size: a number (or what may be one), or a use of position(),
// last() or an extension function, which might read them.
func anyNeedsPos(preds []expr) bool {
	for _, e := range preds {
		if t := typeOf(e); t == typeAny || t == typeNumber || usesPos(e) {
			return true
		}
	}
	return false
}

func usesPos(e expr) bool {
	switch e := e.(type) {
	case *callExpr:
		if e.ext != nil || e.name == "position" || e.name == "last" {
			return true
		}
		return anyUsesPos(e.args)
	case *logicExpr:
		return anyUsesPos(e.list)
	case *chainExpr:
		return usesPos(e.first) || anyUsesPos(e.rest)
	case *negExpr:
		return usesPos(e.e)
	case *unionExpr:
		return anyUsesPos(e.list)
	case *filterExpr:
		return usesPos(e.e) // predicates have a context of their own
	case *pathExpr:
		return e.filter != nil && usesPos(e.filter)
	}
	return false
}

func anyUsesPos(list []expr) bool {
	for _, e := range list {
		if usesPos(e) {
			return true
		}
	}
	return false
}
