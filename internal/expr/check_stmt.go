package expr

import (
	"fmt"
)

// checkBlockStmts compiles statements in a new scope.
func (c *checker) checkBlockStmts(stmts []Node) stmtFn {
	c.push()
	defer c.pop()
	c.declareLocalFuncs(stmts)
	var fns []stmtFn
	for _, s := range stmts {
		if f := c.checkStmt(s); f != nil {
			fns = append(fns, stepped(f, s.Pos()))
		}
	}
	return seqStmts(fns)
}

// stepped charges a step for each execution of a statement of a block, so that
// the step budget bounds the work of a loop whatever the size of its body.
func stepped(s stmtFn, pos int) stmtFn {
	return func(f *frame) ctl {
		f.step(pos)
		return s(f)
	}
}

func seqStmts(fns []stmtFn) stmtFn {
	switch len(fns) {
	case 0:
		return func(*frame) ctl { return ctlNext }
	case 1:
		return fns[0]
	case 2:
		a, b := fns[0], fns[1]
		return func(f *frame) ctl {
			if r := a(f); r != ctlNext {
				return r
			}
			return b(f)
		}
	}
	return func(f *frame) ctl {
		for _, s := range fns {
			if r := s(f); r != ctlNext {
				return r
			}
		}
		return ctlNext
	}
}

// checkEmbedded compiles the body of if/while/for: a block or a single
// statement (in its own scope, as C# does).
func (c *checker) checkEmbedded(s Node) stmtFn {
	if b, ok := s.(*Block); ok {
		return c.checkBlockStmts(b.Stmts)
	}
	if d, ok := s.(*VarDecl); ok {
		c.errorf(d, "a declaration is not allowed here: put it in a block { }")
	}
	return c.checkBlockStmts([]Node{s})
}

func (c *checker) checkStmt(s Node) stmtFn {
	c.nodes++
	switch s := s.(type) {
	case *Block:
		return c.checkBlockStmts(s.Stmts)
	case *Empty:
		return nil
	case *VarDecl:
		return c.checkVarDecl(s)
	case *FuncDecl:
		if lf := c.scope.funcs[s.Name]; lf != nil && lf.decl == s && lf.fn == nil {
			c.compileLocalFunc(lf)
		}
		return nil
	case *ExprStmt:
		return c.exprStmt(s.X)
	case *If:
		cond := c.convert(c.checkExpr(s.C), tBool, false)
		then := c.checkEmbedded(s.Then)
		g := cond.b
		if g == nil {
			g = func(*frame) bool { return false }
		}
		if s.Else == nil {
			return func(f *frame) ctl {
				if g(f) {
					return then(f)
				}
				return ctlNext
			}
		}
		els := c.checkEmbedded(s.Else)
		return func(f *frame) ctl {
			if g(f) {
				return then(f)
			}
			return els(f)
		}
	case *While:
		cond := c.convert(c.checkExpr(s.C), tBool, false)
		body := c.checkEmbedded(s.Body)
		g := cond.b
		if g == nil {
			g = func(*frame) bool { return false }
		}
		pos := s.Pos()
		if s.Do {
			return func(f *frame) ctl {
				for {
					f.step(pos)
					switch body(f) {
					case ctlBreak:
						return ctlNext
					case ctlReturn:
						return ctlReturn
					}
					if !g(f) {
						return ctlNext
					}
				}
			}
		}
		return func(f *frame) ctl {
			for g(f) {
				f.step(pos)
				switch body(f) {
				case ctlBreak:
					return ctlNext
				case ctlReturn:
					return ctlReturn
				}
			}
			return ctlNext
		}
	case *For:
		c.push()
		defer c.pop()
		var inits []stmtFn
		for _, in := range s.Init {
			if f := c.checkStmt(in); f != nil {
				inits = append(inits, f)
			}
		}
		init := seqStmts(inits)
		var g fnB = func(*frame) bool { return true }
		if s.C != nil {
			cond := c.convert(c.checkExpr(s.C), tBool, false)
			if cond.b != nil {
				g = cond.b
			}
		}
		var posts []stmtFn
		for _, p := range s.Post {
			if f := c.checkStmt(p); f != nil {
				posts = append(posts, f)
			}
		}
		post := seqStmts(posts)
		body := c.checkEmbedded(s.Body)
		pos := s.Pos()
		return func(f *frame) ctl {
			init(f)
			for g(f) {
				f.step(pos)
				switch body(f) {
				case ctlBreak:
					return ctlNext
				case ctlReturn:
					return ctlReturn
				}
				post(f)
			}
			return ctlNext
		}
	case *Foreach:
		return c.checkForeach(s)
	case *Return:
		return c.checkReturn(s)
	case *Break:
		return func(*frame) ctl { return ctlBreak }
	case *Continue:
		return func(*frame) ctl { return ctlContinue }
	case *Throw:
		return c.checkThrowStmt(s)
	case *Try:
		return c.checkTry(s)
	case *Using:
		c.push()
		defer c.pop()
		var pre stmtFn
		if s.Decl != nil {
			pre = c.checkVarDecl(s.Decl)
		} else {
			pre = c.exprStmt(s.X)
		}
		body := c.checkEmbedded(s.Body)
		if pre == nil {
			return body
		}
		return func(f *frame) ctl {
			pre(f)
			return body(f)
		}
	case *CheckedStmt:
		saved := c.checked
		c.checked = s.Checked
		body := c.checkBlockStmts(s.Body.Stmts)
		c.checked = saved
		return body
	case *Switch:
		return c.checkSwitch(s)
	}
	c.errorf(s, "unsupported statement")
	return nil
}

// exprStmt compiles an expression evaluated for its effect.
func (c *checker) exprStmt(x Node) stmtFn {
	switch x.(type) {
	case *Assign, *Call, *Unary, *New:
	default:
		c.errorf(x, "only assignment, call, increment, decrement and new expressions can be used as a statement")
	}
	op := c.checkExpr(x)
	if op.v != nil {
		v := op.v
		return func(f *frame) ctl { v(f); return ctlNext }
	}
	if op.t.isError() || op.t.kind == tkLambda || op.tref != nil || op.ns != "" {
		return nil
	}
	switch op.t.rep {
	case repBool:
		g := op.b
		return func(f *frame) ctl { g(f); return ctlNext }
	case repI32:
		g := op.i
		return func(f *frame) ctl { g(f); return ctlNext }
	case repI64:
		g := op.l
		return func(f *frame) ctl { g(f); return ctlNext }
	case repF64:
		g := op.d
		return func(f *frame) ctl { g(f); return ctlNext }
	case repStr:
		g := op.s
		return func(f *frame) ctl { g(f); return ctlNext }
	}
	g := op.anyFn()
	return func(f *frame) ctl { g(f); return ctlNext }
}

func (c *checker) checkVarDecl(d *VarDecl) stmtFn {
	var declT *Type
	if d.Type != nil {
		declT = c.resolveType(d.Type, nil)
	}
	var fns []stmtFn
	for i, name := range d.Names {
		init := d.Inits[i]
		var val *operand
		t := declT
		if init != nil {
			if na, ok := init.(*NewArray); ok && na.Elem == nil && na.Size == nil && declT != nil && declT.kind == tkArray {
				val = c.checkNewArray(na, declT)
			} else if lam, ok := init.(*Lambda); ok {
				c.errorf(lam, "lambda expressions can only be passed to methods such as Where or Select; a delegate variable is not supported")
				val = errOp(init)
			} else {
				val = c.checkExpr(init)
			}
			if val.tref != nil {
				c.errorf(init, "%s is a type, not a value", val.t.Name)
				val = errOp(init)
			}
			if t == nil {
				t = val.t
				switch {
				case t.kind == tkNull:
					c.errorf(init, "cannot assign null to an implicitly typed variable")
					t = tErr
				case t.kind == tkVoid:
					c.errorf(init, "cannot assign a method that returns nothing to an implicitly typed variable")
					t = tErr
				case t.kind == tkLambda:
					t = tErr
				}
			}
			val = c.convert(val, t, false)
		} else if t == nil {
			c.errorAt(d.Poss[i], len(name), "implicitly typed variables must be initialized")
			t = tErr
		}
		if d.Const {
			switch {
			case val == nil:
				c.errorAt(d.Poss[i], len(name), fmt.Sprintf("const %s needs a value", name))
			case !val.isConst():
				c.errorf(init, "the value of const %s must be a constant", name)
			}
		}
		l := c.declare(name, t, d.Poss[i], d)
		if d.Const && val != nil && val.isConst() {
			l.k = val.k
			continue
		}
		if d.Using {
			l.readonly = true
		}
		if val == nil {
			// unassigned: C# requires definite assignment; we start from default
			zero := c.zeroOf(t, d)
			if zero.o != nil || t.rep != repAny {
				st := c.storeLocal(l, zero)
				fns = append(fns, func(f *frame) ctl { st(f); return ctlNext })
			}
			continue
		}
		st := c.storeLocal(l, val)
		fns = append(fns, func(f *frame) ctl { st(f); return ctlNext })
	}
	return seqStmts(fns)
}

func (c *checker) checkForeach(s *Foreach) stmtFn {
	coll := c.checkExpr(s.X)
	if coll.t.isError() {
		c.push()
		c.declare(s.Name, tErr, s.NamePos, s)
		c.checkEmbedded(s.Body)
		c.pop()
		return nil
	}
	et := c.elemType(coll.t)
	if et == nil {
		c.errorf(s.X, "foreach cannot iterate over a value of type %s", coll.t.Name)
		et = tErr
	}
	vt := et
	if s.Type != nil {
		vt = c.resolveType(s.Type, nil)
	}
	c.push()
	defer c.pop()
	l := c.declare(s.Name, vt, s.NamePos, s)
	l.readonly = true
	store := c.storeAny(l)
	if !same(vt, et) && !vt.isError() && !et.isError() {
		// foreach applies an explicit conversion to the element
		tmp := c.declareTemp(et)
		conv := c.convert(c.readLocal(tmp, s), vt, true)
		stTmp := c.storeAny(tmp)
		g := conv.anyFn()
		inner := store
		store = func(f *frame, v any) { stTmp(f, v); inner(f, g(f)) }
	}
	body := c.checkEmbedded(s.Body)
	g := coll.anyFn()
	pos, desc := s.X.Pos(), c.describe(s.X)
	isStr := coll.t == tString
	var sg fnS
	if isStr {
		sg = coll.s
	}
	return func(f *frame) ctl {
		var v any
		if isStr {
			s := sg(f)
			if isNull(s) {
				nre(pos, desc)
			}
			v = s
		} else {
			v = g(f)
			if v == nil {
				nre(pos, desc)
			}
		}
		res := ctlNext
		iterate(f, v, func(x any) bool {
			f.step(pos)
			store(f, x)
			switch body(f) {
			case ctlBreak:
				return false
			case ctlReturn:
				res = ctlReturn
				return false
			}
			return true
		})
		return res
	}
}

func (c *checker) checkReturn(s *Return) stmtFn {
	fn := c.fn
	if s.X == nil {
		if fn.ret != nil && fn.ret != tVoid {
			c.errorf(s, "%s must return a value of type %s", fnName(fn), fn.ret.Name)
		} else if fn.ret == nil {
			c.errorf(s, "a policy expression must return a value")
		}
		return func(*frame) ctl { return ctlReturn }
	}
	if fn.ret == tVoid {
		c.errorf(s, "%s returns nothing; return without a value", fnName(fn))
	}
	var op *operand
	if na, ok := s.X.(*NewArray); ok && na.Elem == nil && na.Size == nil && fn.ret != nil && fn.ret.kind == tkArray {
		op = c.checkNewArray(na, fn.ret)
	} else {
		op = c.checkExpr(s.X)
	}
	if op.t.kind == tkVoid {
		c.errorf(s.X, "cannot return the result of a method that returns nothing")
		op = errOp(s.X)
	}
	op = c.value(op)
	rs := &retSite{op: op, pos: s.Pos()}
	fn.rets = append(fn.rets, rs)
	return func(f *frame) ctl {
		rs.store(f)
		return ctlReturn
	}
}

func fnName(fn *funcCtx) string {
	switch fn.name {
	case "":
		return "the policy expression"
	case "lambda":
		return "the lambda"
	}
	return fn.name
}

// finishReturns settles the return type of fn and builds the store of every
// return statement. It returns the (inferred or declared) return type.
func (c *checker) finishReturns(fn *funcCtx, body Node) *Type {
	t := fn.ret
	if t == nil {
		// infer: the common type of all returns
		for _, rs := range fn.rets {
			rt := rs.op.t
			if rt.isError() {
				continue
			}
			if t == nil {
				t = rt
				continue
			}
			if same(t, rt) {
				continue
			}
			if ct := c.commonType(&operand{t: t}, rs.op); ct != nil {
				t = ct
			} else {
				t = tObject
			}
		}
		if t == nil {
			t = tObject
			if len(fn.rets) == 0 {
				t = tVoid
			}
		}
		if t.kind == tkNull {
			t = tObject
		}
	}
	for _, rs := range fn.rets {
		if t == tVoid {
			rs.store = func(*frame) {}
			continue
		}
		op := c.convert(rs.op, t, false)
		rs.store = storeRet(op, fn.lambda)
	}
	return t
}

// storeRet stores a return value into the frame's return slots.
func storeRet(op *operand, lambda bool) fnV {
	switch op.t.rep {
	case repBool:
		g := op.b
		if lambda {
			return func(f *frame) { v := g(f); f.rb = v; f.ro = v }
		}
		return func(f *frame) { f.rb = g(f) }
	case repI32:
		g := op.i
		if lambda {
			b := op.anyFn()
			return func(f *frame) { f.ro = b(f) }
		}
		return func(f *frame) { f.ri = g(f) }
	case repI64:
		g := op.l
		if lambda {
			b := op.anyFn()
			return func(f *frame) { f.ro = b(f) }
		}
		return func(f *frame) { f.rl = g(f) }
	case repF64:
		g := op.d
		if lambda {
			b := op.anyFn()
			return func(f *frame) { f.ro = b(f) }
		}
		return func(f *frame) { f.rd = g(f) }
	case repStr:
		g := op.s
		if lambda {
			b := op.anyFn()
			return func(f *frame) { f.ro = b(f) }
		}
		return func(f *frame) { f.rs = g(f) }
	}
	g := op.anyFn()
	return func(f *frame) { f.ro = g(f) }
}

// ---- reachability ----

// endReachable reports whether control can reach the end of s (C#'s rule, for
// "not all code paths return a value").
func (c *checker) endReachable(s Node) bool {
	switch s := s.(type) {
	case *Return, *Throw, *Break, *Continue:
		return false
	case *Block:
		for _, st := range s.Stmts {
			if !c.endReachable(st) {
				return false
			}
		}
		return true
	case *If:
		if s.Else == nil {
			return true
		}
		return c.endReachable(s.Then) || c.endReachable(s.Else)
	case *While:
		if isConstTrue(s.C) {
			return hasBreak(s.Body)
		}
		if s.Do {
			return c.endReachable(s.Body) || hasBreak(s.Body) || true
		}
		return true
	case *For:
		if s.C == nil || isConstTrue(s.C) {
			return hasBreak(s.Body)
		}
		return true
	case *Try:
		if s.Finally != nil && !c.endReachable(s.Finally) {
			return false
		}
		if c.endReachable(s.Body) {
			return true
		}
		for _, ct := range s.Catches {
			if c.endReachable(ct.Body) {
				return true
			}
		}
		return false
	case *Using:
		return c.endReachable(s.Body)
	case *CheckedStmt:
		return c.endReachable(s.Body)
	case *Switch:
		hasDefault := false
		for _, sec := range s.Sections {
			for _, l := range sec.Labels {
				if l == nil {
					hasDefault = true
				}
			}
			if hasBreak(&Block{Stmts: sec.Stmts}) {
				return true
			}
			if len(sec.Stmts) > 0 && c.endReachable(&Block{Stmts: sec.Stmts}) {
				return true
			}
		}
		return !hasDefault
	}
	return true
}

func isConstTrue(n Node) bool {
	l, ok := n.(*Literal)
	return ok && l.Kind == LitBool && l.Bool
}

// hasBreak reports a break that leaves the loop whose body is s.
func hasBreak(s Node) bool {
	switch s := s.(type) {
	case *Break:
		return true
	case *Block:
		for _, st := range s.Stmts {
			if hasBreak(st) {
				return true
			}
		}
	case *If:
		return hasBreak(s.Then) || s.Else != nil && hasBreak(s.Else)
	case *Try:
		if hasBreak(s.Body) {
			return true
		}
		for _, ct := range s.Catches {
			if hasBreak(ct.Body) {
				return true
			}
		}
		return s.Finally != nil && hasBreak(s.Finally)
	case *Using:
		return hasBreak(s.Body)
	case *CheckedStmt:
		return hasBreak(s.Body)
	}
	return false
}

// ---- throw, try/catch ----

// exceptionTypes is the part of the .NET exception hierarchy that catch clauses
// can name.
var exceptionBase = map[string]string{
	"SystemException":             "Exception",
	"ArgumentException":           "SystemException",
	"ArgumentNullException":       "ArgumentException",
	"ArgumentOutOfRangeException": "ArgumentException",
	"FormatException":             "SystemException",
	"InvalidOperationException":   "SystemException",
	"InvalidCastException":        "SystemException",
	"NullReferenceException":      "SystemException",
	"IndexOutOfRangeException":    "SystemException",
	"KeyNotFoundException":        "SystemException",
	"OverflowException":           "ArithmeticException",
	"ArithmeticException":         "SystemException",
	"DivideByZeroException":       "ArithmeticException",
	"NotSupportedException":       "SystemException",
	"JsonReaderException":         "JsonException",
	"JsonException":               "Exception",
	"JsonSerializationException":  "JsonException",
	"RegexMatchTimeoutException":  "TimeoutException",
	"TimeoutException":            "SystemException",
	"CryptographicException":      "SystemException",
	"UriFormatException":          "FormatException",
	"XmlException":                "SystemException",
	"NotImplementedException":     "SystemException",
	"ApplicationException":        "Exception",
	"Exception":                   "",
}

func exceptionIs(typ, want string) bool {
	for t := typ; t != ""; t = exceptionBase[t] {
		if t == want {
			return true
		}
		if _, ok := exceptionBase[t]; !ok {
			return want == "Exception"
		}
	}
	return false
}

// checkThrowValue compiles the operand of throw: a new exception object.
func (c *checker) checkThrowValue(x Node) func(*frame, int) *exception {
	op := c.checkExpr(x)
	if op.t.isError() {
		return func(*frame, int) *exception { return &exception{typ: "Exception", msg: "error", pos: -1} }
	}
	if op.t.def == nil || !exceptionIs(op.t.def.name, "Exception") {
		c.errorf(x, "only exceptions can be thrown; %s is not an exception type", op.t.Name)
		return func(*frame, int) *exception { return &exception{typ: "Exception", msg: "error", pos: -1} }
	}
	g := op.anyFn()
	return func(f *frame, pos int) *exception {
		e, _ := g(f).(*exception)
		if e == nil {
			return &exception{typ: "NullReferenceException", msg: nreMsg, pos: pos}
		}
		cp := *e
		cp.pos = pos
		return &cp
	}
}

func (c *checker) checkThrowStmt(s *Throw) stmtFn {
	pos := s.Pos()
	if s.X == nil {
		if c.fn.name == "" && c.catchVar == nil {
			c.errorf(s, "throw; without an exception is only allowed in a catch clause")
			return nil
		}
		cv := c.catchVar
		if cv == nil {
			c.errorf(s, "throw; without an exception is only allowed in a catch clause")
			return nil
		}
		rd := c.readLocal(cv, s).anyFn()
		return func(f *frame) ctl { panic(rd(f).(*exception)) }
	}
	ex := c.checkThrowValue(s.X)
	return func(f *frame) ctl { panic(ex(f, pos)) }
}

type catchCode struct {
	typ    string
	store  func(*frame, any)
	filter fnB
	body   stmtFn
}

func (c *checker) checkTry(s *Try) stmtFn {
	body := c.checkBlockStmts(s.Body.Stmts)
	var catches []catchCode
	for _, ct := range s.Catches {
		cc := catchCode{typ: "Exception"}
		c.push()
		var exT *Type
		if ct.Type != nil {
			exT = c.resolveType(ct.Type, nil)
			if !exT.isError() {
				if exT.def == nil || !exceptionIs(exT.def.name, "Exception") {
					c.errorf(ct.Type, "%s is not an exception type", exT.Name)
				} else {
					cc.typ = exT.def.name
				}
			}
		} else {
			exT = c.u.lookupDef("Exception", 0).typ()
		}
		savedCV := c.catchVar
		name := ct.Name
		if name == "" {
			name = "<exception>"
		}
		l := c.declare(name, exT, ct.Pos(), ct)
		cc.store = c.storeAny(l)
		c.catchVar = l
		if ct.Filter != nil {
			cc.filter = c.convert(c.checkExpr(ct.Filter), tBool, false).b
		}
		cc.body = c.checkBlockStmts(ct.Body.Stmts)
		c.catchVar = savedCV
		c.pop()
		catches = append(catches, cc)
	}
	var fin stmtFn
	if s.Finally != nil {
		fin = c.checkBlockStmts(s.Finally.Stmts)
	}
	return func(f *frame) (res ctl) {
		if fin != nil {
			defer func() {
				r := recover()
				// a return or break in finally is not allowed in C#; run it for effect
				fin(f)
				if r != nil {
					panic(r)
				}
			}()
		}
		res, ex, other := runGuarded(f, body)
		if other != nil {
			panic(other)
		}
		if ex == nil {
			return res
		}
		for _, cc := range catches {
			if !exceptionIs(ex.typ, cc.typ) {
				continue
			}
			cc.store(f, ex)
			if cc.filter != nil && !cc.filter(f) {
				continue
			}
			return cc.body(f)
		}
		panic(ex)
	}
}

// runGuarded runs a try body, returning the exception it threw. Budget errors and
// unknown panics come back in other and must propagate.
func runGuarded(f *frame, body stmtFn) (res ctl, ex *exception, other any) {
	defer func() {
		if r := recover(); r != nil {
			if e := asException(r); e != nil {
				ex = e
				return
			}
			other = r
		}
	}()
	return body(f), nil, nil
}

// ---- switch ----

func (c *checker) checkSwitch(s *Switch) stmtFn {
	x := c.checkExpr(s.X)
	if x.t.isError() {
		return nil
	}
	c.push()
	defer c.pop()
	tmp := c.declareTemp(x.t)
	store := c.storeLocal(tmp, x)
	subj := c.readLocal(tmp, s.X)
	type section struct {
		tests []fnB
		body  stmtFn
	}
	var secs []section
	defIdx := -1
	for i, sec := range s.Sections {
		var sc section
		c.push()
		for j, l := range sec.Labels {
			if l == nil {
				defIdx = i
				continue
			}
			t := c.checkPattern(l, subj)
			if g := sec.Guards[j]; g != nil {
				gb := c.convert(c.checkExpr(g), tBool, false).b
				inner := t
				t = func(f *frame) bool { return inner(f) && gb(f) }
			}
			sc.tests = append(sc.tests, t)
		}
		sc.body = c.checkBlockStmts(sec.Stmts)
		if len(sec.Stmts) > 0 && c.endReachable(&Block{Stmts: sec.Stmts}) {
			c.errorAt(sec.End()-1, 1, "control cannot fall through from one case label to another; end the section with break or return")
		}
		c.pop()
		secs = append(secs, sc)
	}
	return func(f *frame) ctl {
		store(f)
		run := func(i int) ctl {
			r := secs[i].body(f)
			if r == ctlBreak {
				return ctlNext
			}
			return r
		}
		for i, sc := range secs {
			for _, t := range sc.tests {
				if t(f) {
					return run(i)
				}
			}
		}
		if defIdx >= 0 {
			return run(defIdx)
		}
		return ctlNext
	}
}
