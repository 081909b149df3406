// Package expr compiles and evaluates API Management policy expressions: the C#
// subset that real policies use, in "@(expression)" and "@{ statements }" form.
//
// Compile lexes, parses, resolves every name against a declared model of the
// `context` object and the .NET types API Management allows, checks types, and
// compiles the typed syntax tree into a tree of Go closures specialised by static
// type, so that evaluation neither parses nor reflects. A Program is immutable and
// safe for concurrent use.
//
// Values in context.Variables are Go values; see docs/expressions.md for the
// mapping (string, bool, int32 for int, int64 for long, float64 for double,
// time.Time for DateTime, time.Duration for TimeSpan, []byte, []string,
// *exchange.Response for IResponse, *JObject/*JArray/*JValue for JSON, *Jwt, ...).
package expr

import (
	"fmt"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Limits bound the work of one evaluation and the size of one expression.
type Limits struct {
	// Steps is the number of loop iterations, statements, library calls,
	// lambda invocations, local function calls and units of library work (per
	// 256 bytes or 16 elements processed) an evaluation may perform.
	Steps int64
	// Alloc is the number of bytes an evaluation may allocate for strings,
	// arrays, collections and documents, counted before they are allocated.
	Alloc int64
	// Recursion is the deepest nesting of local function calls.
	Recursion int
	// Nodes is the largest expression, in syntax nodes, Compile accepts.
	Nodes int
}

// DefaultLimits are the limits used unless WithLimits says otherwise.
var DefaultLimits = Limits{Steps: 1_000_000, Alloc: 64 << 20, Recursion: 64, Nodes: 20000}

type config struct {
	limits    Limits
	maxNodes  int
	recursion int
	expect    string
}

// Option configures Compile.
type Option func(*config)

// WithLimits sets the evaluation budgets. Zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(c *config) {
		if l.Steps > 0 {
			c.limits.Steps = l.Steps
		}
		if l.Alloc > 0 {
			c.limits.Alloc = l.Alloc
		}
		if l.Recursion > 0 {
			c.limits.Recursion = l.Recursion
		}
		if l.Nodes > 0 {
			c.limits.Nodes = l.Nodes
		}
	}
}

// Expect makes Compile report an error unless the expression's result converts
// to the named C# type: Expect("bool") for conditions, Expect("int") for a status
// code. Results of static type object are accepted and checked when evaluated.
func Expect(csharpType string) Option {
	return func(c *config) { c.expect = csharpType }
}

// Program is a compiled expression. It is immutable and safe for concurrent use.
type Program struct {
	src    string
	result *Type
	limits Limits
	nslot  [6]int
	hasLoc bool

	// an @(...) expression
	expr *operand
	// an @{...} block
	block stmtFn

	anyFn  fnO
	strFn  fnS
	boolFn fnB

	pool sync.Pool
}

// Compile compiles one policy expression. src is the whole "@(...)" or "@{...}"
// text as it appears in the policy, named values already substituted. Errors are
// an ErrorList whose items carry byte offsets into src.
func Compile(src string, opts ...Option) (prog *Program, err error) {
	cfg := &config{limits: DefaultLimits}
	for _, o := range opts {
		o(cfg)
	}
	cfg.maxNodes = cfg.limits.Nodes
	cfg.recursion = cfg.limits.Recursion
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(tooManyErrors); ok {
				return
			}
			prog = nil
			err = ErrorList{{Msg: fmt.Sprintf("internal compiler error: %v", r)}}
		}
	}()
	root, isBlock, errs := parseSource(src)
	if len(errs) > 0 {
		return nil, errs
	}
	c := &checker{src: src, u: theUniverse(), cfg: cfg}
	top := &funcCtx{}
	c.fn = top
	c.scope = &scope{}
	p := &Program{src: src, limits: cfg.limits}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(tooManyErrors); !ok {
					panic(r)
				}
			}
		}()
		if isBlock {
			b := root.(*Block)
			p.block = c.checkBlockStmts(b.Stmts)
			reachable := c.endReachable(b)
			switch {
			case len(top.rets) == 0 && reachable:
				c.errorAt(b.Pos(), 2, "a policy expression block must return a value: add `return ...;`")
			case reachable:
				c.errorAt(b.End()-1, 1, "not all code paths return a value: add `return ...;` at the end of the block")
			}
			p.result = c.finishReturns(top, b)
			if p.result == tVoid {
				p.result = tObject // a block that only throws
			}
		} else {
			op := c.checkExpr(root)
			if op.tref != nil || op.ns != "" {
				c.errorf(root, "%s is a type, not a value", c.describe(root))
			} else if op.t.kind == tkLambda {
				c.errorf(root, "a lambda expression is not a value")
			} else if op.t.kind == tkNull {
				op = c.convert(op, tObject, false)
			}
			p.expr = op
			p.result = op.t
		}
		if cfg.expect != "" && len(c.errs) == 0 {
			c.checkExpect(p, cfg.expect, root)
		}
	}()
	if len(c.errs) > 0 {
		sortErrors(c.errs)
		return nil, c.errs
	}
	p.nslot = top.nslot
	for _, n := range p.nslot {
		if n > 0 {
			p.hasLoc = true
		}
	}
	p.finish(c)
	return p, nil
}

func sortErrors(errs ErrorList) {
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Pos.Offset < errs[j-1].Pos.Offset; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

func (c *checker) checkExpect(p *Program, want string, root Node) {
	te := mustType(want)
	t := c.resolveType(te, nil)
	if t.isError() || p.result == tObject || same(p.result, t) {
		return
	}
	if p.result == tVoid {
		c.errorf(root, "the expression returns nothing; a %s is needed here", t.Name)
		return
	}
	if c.convCost(&operand{t: p.result, k: constOf(p)}, t) < 0 {
		c.errorf(root, "the expression is %s %s; %s %s is needed here", article(p.result.Name), p.result.Name, article(t.Name), t.Name)
	}
}

func constOf(p *Program) any {
	if p.expr != nil {
		return p.expr.k
	}
	return nil
}

// finish builds the entry points from the result.
func (p *Program) finish(c *checker) {
	var res *operand
	if p.expr != nil {
		res = p.expr
	} else {
		// read the return slots
		t := p.result
		res = &operand{t: t}
		switch t.rep {
		case repBool:
			res.b = func(f *frame) bool { return f.rb }
		case repI32:
			res.i = func(f *frame) int32 { return f.ri }
		case repI64:
			res.l = func(f *frame) int64 { return f.rl }
		case repF64:
			res.d = func(f *frame) float64 { return f.rd }
		case repStr:
			res.s = func(f *frame) string { return f.rs }
		case repVoid:
			res.o = func(*frame) any { return nil }
		default:
			res.o = func(f *frame) any { return f.ro }
		}
	}
	if res.t.kind == tkVoid {
		if res.v != nil {
			v := res.v
			p.anyFn = func(f *frame) any { v(f); return nil }
		} else {
			p.anyFn = res.o
		}
		p.strFn = func(f *frame) string { p.anyFn(f); return "" }
		p.boolFn = nil
		return
	}
	p.anyFn = res.anyFn()
	if res.t.rep == repStr {
		g := res.s
		p.strFn = func(f *frame) string {
			s := g(f)
			if isNull(s) {
				return ""
			}
			return s
		}
	} else {
		p.strFn = c.toStr(res)
	}
	if res.t.rep == repBool {
		p.boolFn = res.b
	}
}

// ResultType is the static C# type of the result, e.g. "string", "bool", "int",
// "JObject" or "object" when it is only known at run time.
func (p *Program) ResultType() string {
	if p.result == nil {
		return "object"
	}
	return p.result.Name
}

// Source returns the source the program was compiled from.
func (p *Program) Source() string { return p.src }

func (p *Program) getFrame(x *exchange.Exchange) *frame {
	f, _ := p.pool.Get().(*frame)
	if f == nil {
		f = &frame{}
		if p.hasLoc {
			f.allocSlots(p.nslot)
		}
	}
	f.x, f.prog, f.root = x, p, f
	f.steps, f.allocLeft, f.ticks, f.depth = p.limits.Steps, p.limits.Alloc, 0, 0
	return f
}

func (p *Program) putFrame(f *frame) {
	f.x = nil
	f.ro, f.rs = nil, ""
	f.liftA, f.liftB = nil, nil
	f.u16s = [2]u16{}
	clear(f.o)
	for i := range f.s {
		f.s[i] = nullStr
	}
	p.pool.Put(f)
}

func (p *Program) run(f *frame) {
	if p.block != nil {
		p.block(f)
	}
}

// Eval evaluates the expression against x and returns its value as a Go value, as
// set-variable stores it in context.Variables (nil for C# null). A failure is a
// *RuntimeError.
func (p *Program) Eval(x *exchange.Exchange) (v any, err error) {
	f := p.getFrame(x)
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, p.errorFromPanic(r, f)
		}
		p.putFrame(f)
	}()
	p.run(f)
	return p.anyFn(f), nil
}

// EvalString evaluates the expression and converts the result the way API
// Management converts a value for an attribute or element text: C# ToString()
// with the invariant culture (True/False, shortest round-trip doubles), and ""
// for null.
func (p *Program) EvalString(x *exchange.Exchange) (string, error) {
	s, _, err := p.evalString(x)
	return s, err
}

// evalString is EvalString, also returning how many steps of its budget the
// evaluation took.
func (p *Program) evalString(x *exchange.Exchange) (s string, steps int64, err error) {
	f := p.getFrame(x)
	defer func() {
		if r := recover(); r != nil {
			s, err = "", p.errorFromPanic(r, f)
		}
		steps = p.limits.Steps - max(f.steps, 0)
		p.putFrame(f)
	}()
	p.run(f)
	return p.strFn(f), 0, nil
}

// EvalBool evaluates a condition. A result that is not a bool is an error.
func (p *Program) EvalBool(x *exchange.Exchange) (b bool, err error) {
	f := p.getFrame(x)
	defer func() {
		if r := recover(); r != nil {
			b, err = false, p.errorFromPanic(r, f)
		}
		p.putFrame(f)
	}()
	p.run(f)
	if p.boolFn != nil {
		return p.boolFn(f), nil
	}
	v := p.anyFn(f)
	if bv, ok := v.(bool); ok {
		return bv, nil
	}
	return false, p.runtimeError(0, "InvalidCastException", fmt.Sprintf("a condition must be a bool; the expression returned %s", describeValueType(v)), nil)
}

func describeValueType(v any) string {
	if v == nil {
		return "null"
	}
	return "a value of type " + dotnetTypeName(v)
}

// article is "an" before a vowel sound, else "a": "an int", "a bool".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}
