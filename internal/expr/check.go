package expr

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/spelling"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// checker resolves names and types and compiles the syntax tree into closures in
// one pass: every check function returns an operand holding both the static type
// and the code.
type checker struct {
	src   string
	u     *universe
	errs  ErrorList
	scope *scope
	fn    *funcCtx
	cfg   *config
	// checked is true inside checked(...) / checked { }.
	checked bool
	nodes   int
	// subst replaces the receiver of a null-conditional access by a temporary.
	subst map[Node]*operand
	// noNullCond lists ?. and ?[ nodes already handled by a rewriting.
	noNullCond map[Node]bool
	// argCache holds arguments checked during overload resolution.
	argCache map[Node]*operand
	depth    int
	// catchVar is the exception variable of the innermost catch clause, for throw;
	catchVar *local
}

type scope struct {
	parent *scope
	names  map[string]*local
	funcs  map[string]*localFunc
}

// local is a local variable, parameter, lambda parameter or constant.
type local struct {
	name string
	t    *Type
	fn   *funcCtx
	slot int
	k    any // value of a const local
	pos  int
	// readonly locals are foreach and using variables.
	readonly bool
}

// funcCtx is the function being compiled: the top-level block, a local function
// or (sharing its parent's frame) a lambda.
type funcCtx struct {
	parent *funcCtx
	level  int    // frame nesting level: 0 for the top-level block
	nslot  [6]int // slots used, by rep
	ret    *Type  // declared return type; nil when inferred
	rets   []*retSite
	lambda bool // a lambda shares the frame of the function it is in
	name   string
}

// retSite is a return statement whose store is built once the function's return
// type is known.
type retSite struct {
	op    *operand
	store fnV
	pos   int
}

// localFunc is a local function declaration.
type localFunc struct {
	decl   *FuncDecl
	fn     *funcCtx
	params []*local
	ret    *Type
	body   stmtFn
	defFn  *funcCtx // the function it is declared in
}

func (c *checker) errorf(n Node, format string, args ...any) {
	pos, end := 0, 0
	if n != nil {
		pos, end = n.Pos(), n.End()
	}
	c.errorAt(pos, end-pos, fmt.Sprintf(format, args...))
}

func (c *checker) errorAt(pos, n int, msg string) {
	for _, e := range c.errs {
		if e.Pos.Offset == pos && e.Msg == msg {
			return
		}
	}
	if n <= 0 {
		n = 1
	}
	c.errs = append(c.errs, &Error{Pos: srcpos.Pos{Offset: pos}, Msg: msg})
	if len(c.errs) >= maxErrors {
		panic(tooManyErrors{})
	}
}

func (c *checker) push() { c.scope = &scope{parent: c.scope} }
func (c *checker) pop()  { c.scope = c.scope.parent }

// declare adds a local in the current scope and gives it a frame slot.
func (c *checker) declare(name string, t *Type, pos int, n Node) *local {
	for s := c.scope; s != nil; s = s.parent {
		if l, ok := s.names[name]; ok {
			if s == c.scope || l.fn == c.fn {
				c.errorAt(pos, len(name), fmt.Sprintf("a local variable named %q is already defined in this scope", name))
				break
			}
		}
	}
	if c.scope.names == nil {
		c.scope.names = map[string]*local{}
	}
	fn := c.frameFn()
	r := t.rep
	if r == repVoid {
		r = repAny
	}
	l := &local{name: name, t: t, fn: fn, slot: fn.nslot[r], pos: pos}
	fn.nslot[r]++
	c.scope.names[name] = l
	return l
}

// frameFn is the function whose frame holds the current function's locals:
// lambdas use their enclosing function's frame.
func (c *checker) frameFn() *funcCtx {
	fn := c.fn
	for fn.lambda {
		fn = fn.parent
	}
	return fn
}

func (c *checker) lookupLocal(name string) *local {
	for s := c.scope; s != nil; s = s.parent {
		if l, ok := s.names[name]; ok {
			return l
		}
	}
	return nil
}

func (c *checker) lookupFunc(name string) *localFunc {
	for s := c.scope; s != nil; s = s.parent {
		if f, ok := s.funcs[name]; ok {
			return f
		}
	}
	return nil
}

// allNames lists the names in scope, for suggestions.
func (c *checker) allNames() []string {
	var names []string
	for s := c.scope; s != nil; s = s.parent {
		for n := range s.names {
			names = append(names, n)
		}
		for n := range s.funcs {
			names = append(names, n)
		}
	}
	return names
}

// ---- type resolution ----

// resolveType turns a written type into a Type. bind maps generic parameter names
// (in library signatures) to types.
func (c *checker) resolveType(te *TypeExpr, bind map[string]*Type) *Type {
	t := c.resolveTypeOpt(te, bind, true)
	if t == nil {
		return tErr
	}
	return t
}

func (c *checker) resolveTypeOpt(te *TypeExpr, bind map[string]*Type, report bool) *Type {
	if te == nil {
		return nil
	}
	var t *Type
	name := te.Name
	if len(te.Tuple) > 0 {
		if report {
			c.errorf(te, "tuple types are not supported in policy expressions")
		}
		return tErr
	}
	if bt, ok := bind[name]; ok && len(te.Args) == 0 {
		t = bt
	} else if kt, ok := keywordTypes[name]; ok {
		t = kt
	} else {
		short := strings.TrimPrefix(name, "System.")
		if kw, ok := systemTypeNames[short]; ok && len(te.Args) == 0 {
			t = keywordTypes[kw]
		} else if name == "Nullable" && len(te.Args) == 1 || name == "System.Nullable" && len(te.Args) == 1 {
			a := c.resolveTypeOpt(te.Args[0], bind, report)
			if a == nil {
				return nil
			}
			t = nullableOf(a)
		} else {
			d := c.u.lookupDef(name, len(te.Args))
			if d == nil {
				if !report {
					return nil
				}
				if d2 := c.u.lookupDef(name, 0); d2 != nil && len(te.Args) > 0 {
					c.errorf(te, "%s is not generic", name)
				} else if len(te.Args) == 0 && c.u.anyArity(name) > 0 {
					c.errorf(te, "%s needs %d type arguments", name, c.u.anyArity(name))
				} else {
					c.errorf(te, "unknown type %q%s", name, suggest(lastSegment(name), c.u.typeNames()))
				}
				return tErr
			}
			var args []*Type
			for _, a := range te.Args {
				at := c.resolveTypeOpt(a, bind, report)
				if at == nil {
					return nil
				}
				args = append(args, at)
			}
			t = d.instance(args...)
		}
	}
	if te.Nullable {
		if t.value {
			t = nullableOf(t)
		}
		// string? and other nullable reference types are the type itself
	}
	for range te.Arrays {
		t = arrayOf(t)
	}
	return t
}

func (u *universe) anyArity(name string) int {
	for k := 1; k <= 3; k++ {
		if u.lookupDef(name, k) != nil {
			return k
		}
	}
	return 0
}

func (u *universe) typeNames() []string {
	var names []string
	for k := range u.defs {
		if i := strings.IndexByte(k, '`'); i >= 0 {
			k = k[:i]
		}
		names = append(names, k)
	}
	for k := range keywordTypes {
		names = append(names, k)
	}
	return names
}

func lastSegment(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ---- suggestions ----

// suggest returns `; did you mean "X"?` for the nearest candidate by edit distance
// (case-insensitive), or "" if none is close.
func suggest(name string, candidates []string) string {
	best, bestD := "", 1<<30
	ln := strings.ToLower(name)
	sort.Strings(candidates)
	for _, cand := range candidates {
		if cand == name {
			continue
		}
		d := spelling.Distance(ln, strings.ToLower(cand))
		if strings.EqualFold(cand, name) {
			d = 0
		}
		if d < bestD {
			best, bestD = cand, d
		}
	}
	limit := max(1, len(name)/3)
	if best == "" || bestD > limit {
		// a prefix (preserve -> preserveContent) is a good guess too
		for _, cand := range candidates {
			if len(name) >= 4 && cand != name && strings.HasPrefix(strings.ToLower(cand), ln) {
				return fmt.Sprintf("; did you mean %q?", cand)
			}
		}
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// describe renders an expression for messages: member chains and indexers with
// their keys. Other literals are elided, since a named value substituted into the
// expression could be a secret.
func (c *checker) describe(n Node) string {
	var b strings.Builder
	c.describeTo(&b, n)
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func (c *checker) describeTo(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *Ident:
		b.WriteString(n.Name)
	case *Member:
		c.describeTo(b, n.X)
		if n.NullCond {
			b.WriteString("?.")
		} else {
			b.WriteByte('.')
		}
		b.WriteString(n.Name)
		if len(n.TypeArgs) > 0 {
			prTypeArgs(b, n.TypeArgs)
		}
	case *Index:
		c.describeTo(b, n.X)
		b.WriteByte('[')
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			if l, ok := a.X.(*Literal); ok && (l.Kind == LitString || l.Kind == LitInt) && len(l.Raw) <= 64 {
				b.WriteString(l.Raw)
			} else {
				c.describeTo(b, a.X)
			}
		}
		b.WriteByte(']')
	case *Call:
		c.describeTo(b, n.Fun)
		b.WriteString("(")
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			if l, ok := a.X.(*Literal); ok && l.Kind == LitString && len(l.Raw) <= 64 {
				if m, ok := n.Fun.(*Member); ok && strings.HasPrefix(m.Name, "GetValueOrDefault") || i == 0 && isNameArgMethod(n.Fun) {
					b.WriteString(l.Raw)
					continue
				}
			}
			b.WriteString("...")
		}
		b.WriteString(")")
	case *Paren:
		b.WriteByte('(')
		c.describeTo(b, n.X)
		b.WriteByte(')')
	case *Cast:
		b.WriteByte('(')
		prType(b, n.Type)
		b.WriteByte(')')
		c.describeTo(b, n.X)
	case *Literal:
		if n.Kind == LitString {
			b.WriteString(`"..."`)
		} else {
			b.WriteString(n.Raw)
		}
	default:
		b.WriteString("(expression)")
	}
}

// isNameArgMethod reports calls whose first string argument is a name (a header,
// variable or property), safe to show.
func isNameArgMethod(fun Node) bool {
	m, ok := fun.(*Member)
	if !ok {
		return false
	}
	switch m.Name {
	case "SelectToken", "Property", "GetValue", "ContainsKey", "TryGetValue", "Value":
		return true
	}
	return false
}
