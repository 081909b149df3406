package expr

import "fmt"

// storeAny returns a function that stores a boxed value into local l, converting
// it to the local's rep.
func (c *checker) storeAny(l *local) func(*frame, any) {
	up := c.frameFn().level - l.fn.level
	slot := l.slot
	get := func(f *frame) *frame {
		for i := 0; i < up; i++ {
			f = f.parent
		}
		return f
	}
	switch l.t.rep {
	case repBool:
		return func(f *frame, v any) { b, _ := v.(bool); get(f).b[slot] = b }
	case repI32:
		return func(f *frame, v any) { get(f).i[slot] = toI32(v) }
	case repI64:
		return func(f *frame, v any) { get(f).l[slot] = toI64(v) }
	case repF64:
		return func(f *frame, v any) { get(f).d[slot] = toF64(v) }
	case repStr:
		return func(f *frame, v any) {
			s, ok := v.(string)
			if !ok {
				s = nullStr
			}
			get(f).s[slot] = s
		}
	}
	return func(f *frame, v any) { get(f).o[slot] = v }
}

// lambdaCode is a compiled lambda. It runs in the frame of the function that
// contains it: its parameters are slots of that frame.
type lambdaCode struct {
	params []func(*frame, any)
	result *Type
	body   *operand // expression body, converted to result
	block  stmtFn
	ret    *funcCtx
	k      any
	pos    int
}

// call invokes the lambda with boxed arguments and returns the boxed result.
func (l *lambdaCode) call(f *frame, args ...any) any {
	f.step(l.pos)
	for i, st := range l.params {
		st(f, args[i])
	}
	if l.block != nil {
		l.block(f)
		return f.ro
	}
	if l.body.t.kind == tkVoid {
		l.body.v(f)
		return nil
	}
	return l.bodyAny(f)
}

func (l *lambdaCode) bodyAny(f *frame) any {
	return l.body.o(f)
}

// pred invokes a lambda that returns bool.
func (l *lambdaCode) pred(f *frame, args ...any) bool {
	f.step(l.pos)
	for i, st := range l.params {
		st(f, args[i])
	}
	if l.block != nil {
		l.block(f)
		return f.rb
	}
	return l.body.b(f)
}

// checkLambda checks a lambda body for the given parameter types. With want nil the
// result type is inferred. A trial check (from overload resolution) leaves no
// trace: slots and cached arguments are restored.
func (c *checker) checkLambda(lam *Lambda, ins []*Type, want *Type) *lambdaCode {
	fn := c.frameFn()
	savedSlots := fn.nslot
	savedCache := c.argCache
	c.argCache = nil
	nerr := len(c.errs)
	lc := c.compileLambda(lam, ins, want)
	ok := len(c.errs) == nerr
	c.errs = c.errs[:nerr]
	fn.nslot = savedSlots
	c.argCache = savedCache
	if !ok {
		return nil
	}
	return lc
}

// compileLambda compiles a lambda for good.
func (c *checker) compileLambda(lam *Lambda, ins []*Type, want *Type) *lambdaCode {
	lf := &funcCtx{parent: c.fn, level: c.fn.level, lambda: true, ret: want, name: "lambda"}
	savedFn := c.fn
	c.fn = lf
	c.push()
	lc := &lambdaCode{pos: lam.Pos(), ret: lf}
	for i, p := range lam.Params {
		l := c.declare(p.Name, ins[i], p.Pos(), p)
		lc.params = append(lc.params, c.storeAny(l))
	}
	if b, ok := lam.Body.(*Block); ok {
		body := c.checkBlockStmts(b.Stmts)
		lc.block = body
		lc.result = c.finishReturns(lf, b)
	} else {
		op := c.checkExpr(lam.Body)
		if op.t.kind != tkVoid {
			op = c.value(op)
		}
		if want != nil && want != tVoid {
			op = c.convert(op, want, false)
		}
		if op.t.kind == tkNull {
			op = c.convert(op, tObject, false)
		}
		lc.result = op.t
		lc.k = op.k
		if op.t.kind == tkVoid {
			lc.body = op
		} else {
			if op.t.rep == repBool {
				lc.body = &operand{t: op.t, b: op.b, o: op.anyFn()}
			} else {
				lc.body = &operand{t: op.t, o: op.anyFn()}
			}
		}
	}
	c.pop()
	c.fn = savedFn
	return lc
}

// lambdaOperand compiles a lambda argument for the chosen overload.
func (c *checker) lambdaOperand(lam *Lambda, p *pspec, cd *candidate) *operand {
	pt := p.typ
	var ins []*TypeExpr
	var out *TypeExpr
	switch pt.Name {
	case "Func":
		ins, out = pt.Args[:len(pt.Args)-1], pt.Args[len(pt.Args)-1]
	case "Action":
		ins = pt.Args
	case "Predicate":
		ins, out = pt.Args, &TypeExpr{Name: "bool"}
	case "Comparison":
		ins, out = []*TypeExpr{pt.Args[0], pt.Args[0]}, &TypeExpr{Name: "int"}
	}
	var inTypes []*Type
	for _, in := range ins {
		inTypes = append(inTypes, c.resolveType(in, cd.bind))
	}
	want := tVoid
	if out != nil {
		want = c.resolveType(out, cd.bind)
	}
	lc := c.compileLambda(lam, inTypes, want)
	return &operand{t: c.resolveType(pt, cd.bind), n: lam, o: func(*frame) any { return lc }, k: nil, lamc: lc}
}

// ---- local functions ----

// declareLocalFuncs registers the local functions of a block before its
// statements are checked, so that they can be called before their declaration
// and recursively.
func (c *checker) declareLocalFuncs(stmts []Node) {
	for _, s := range stmts {
		fd, ok := s.(*FuncDecl)
		if !ok {
			continue
		}
		if c.scope.funcs == nil {
			c.scope.funcs = map[string]*localFunc{}
		}
		if _, dup := c.scope.funcs[fd.Name]; dup {
			c.errorf(fd, "a local function named %q is already defined in this scope", fd.Name)
			continue
		}
		lf := &localFunc{decl: fd, defFn: c.frameFn()}
		lf.ret = tVoid
		if fd.Result != nil && fd.Result.Name != "void" {
			lf.ret = c.resolveType(fd.Result, nil)
		}
		c.scope.funcs[fd.Name] = lf
	}
}

// compileLocalFunc compiles a local function's body.
func (c *checker) compileLocalFunc(lf *localFunc) {
	fd := lf.decl
	fn := &funcCtx{parent: c.fn, level: lf.defFn.level + 1, ret: lf.ret, name: fd.Name}
	savedFn, savedChecked := c.fn, c.checked
	c.fn = fn
	c.push()
	lf.fn = fn
	for _, p := range fd.Params {
		if p.Modifier != "" {
			c.errorf(p, "%s parameters of local functions are not supported", p.Modifier)
		}
		t := c.resolveType(p.Type, nil)
		lf.params = append(lf.params, c.declare(p.Name, t, p.Pos(), p))
	}
	if b, ok := fd.Body.(*Block); ok {
		lf.body = c.checkBlockStmts(b.Stmts)
		if lf.ret != tVoid && c.endReachable(b) {
			c.errorAt(b.End()-1, 1, fmt.Sprintf("not all code paths of %s return a value", fd.Name))
		}
		c.finishReturns(fn, b)
	} else {
		op := c.checkExpr(fd.Body)
		if lf.ret == tVoid {
			v := op
			lf.body = func(f *frame) ctl {
				if v.v != nil {
					v.v(f)
				} else {
					v.anyFn()(f)
				}
				return ctlReturn
			}
		} else {
			rs := &retSite{op: op, pos: fd.Body.Pos()}
			fn.rets = append(fn.rets, rs)
			c.finishReturns(fn, fd)
			lf.body = func(f *frame) ctl { rs.store(f); return ctlReturn }
		}
	}
	c.pop()
	c.fn, c.checked = savedFn, savedChecked
}

// callLocalFunc compiles a call of a local function: a new frame, the arguments
// stored in its parameter slots, the body run, the result read.
func (c *checker) callLocalFunc(lf *localFunc, n *Call) *operand {
	fd := lf.decl
	if len(n.Args) != len(fd.Params) {
		c.errorf(n, "%s takes %d arguments, not %d", fd.Name, len(fd.Params), len(n.Args))
		return errOp(n)
	}
	if lf.fn == nil {
		c.compileLocalFunc(lf)
	}
	var args []fnO
	var stores []func(*frame, any)
	for i, a := range n.Args {
		p := lf.params[i]
		op := c.convert(c.checkExpr(a.X), p.t, false)
		args = append(args, op.anyFn())
		up := p
		slot := up.slot
		switch p.t.rep {
		case repBool:
			stores = append(stores, func(f *frame, v any) { f.b[slot], _ = v.(bool) })
		case repI32:
			stores = append(stores, func(f *frame, v any) { f.i[slot] = toI32(v) })
		case repI64:
			stores = append(stores, func(f *frame, v any) { f.l[slot] = toI64(v) })
		case repF64:
			stores = append(stores, func(f *frame, v any) { f.d[slot] = toF64(v) })
		case repStr:
			stores = append(stores, func(f *frame, v any) {
				s, ok := v.(string)
				if !ok {
					s = nullStr
				}
				f.s[slot] = s
			})
		default:
			stores = append(stores, func(f *frame, v any) { f.o[slot] = v })
		}
	}
	// the frame of the function that declares lf, seen from the caller
	up := c.frameFn().level - lf.defFn.level
	pos := n.Pos()
	limit := c.cfg.recursion
	call := func(f *frame) *frame {
		vals := make([]any, len(args))
		for i, g := range args {
			vals[i] = g(f)
		}
		parent := f
		for i := 0; i < up; i++ {
			parent = parent.parent
		}
		f.step(pos)
		root := f.root
		root.depth++
		if root.depth > limit {
			panic(&budgetError{msg: fmt.Sprintf("the expression exceeded its recursion limit of %d calls", limit), pos: pos})
		}
		nf := newFrame(lf.fn, parent, root)
		for i, st := range stores {
			st(nf, vals[i])
		}
		lf.body(nf)
		root.depth--
		return nf
	}
	rt := lf.ret
	switch rt.rep {
	case repVoid:
		return &operand{t: tVoid, n: n, v: func(f *frame) { call(f) }}
	case repBool:
		return &operand{t: rt, n: n, b: func(f *frame) bool { return call(f).rb }}
	case repI32:
		return &operand{t: rt, n: n, i: func(f *frame) int32 { return call(f).ri }}
	case repI64:
		return &operand{t: rt, n: n, l: func(f *frame) int64 { return call(f).rl }}
	case repF64:
		return &operand{t: rt, n: n, d: func(f *frame) float64 { return call(f).rd }}
	case repStr:
		return &operand{t: rt, n: n, s: func(f *frame) string { return call(f).rs }}
	}
	return &operand{t: rt, n: n, o: func(f *frame) any { return call(f).ro }}
}

// newFrame allocates the frame of a local function call.
func newFrame(fn *funcCtx, parent, root *frame) *frame {
	nf := &frame{x: root.x, prog: root.prog, parent: parent, root: root}
	nf.allocSlots(fn.nslot)
	return nf
}

func (f *frame) allocSlots(n [6]int) {
	if k := n[repBool]; k > 0 {
		f.b = make([]bool, k)
	}
	if k := n[repI32]; k > 0 {
		f.i = make([]int32, k)
	}
	if k := n[repI64]; k > 0 {
		f.l = make([]int64, k)
	}
	if k := n[repF64]; k > 0 {
		f.d = make([]float64, k)
	}
	if k := n[repStr]; k > 0 {
		f.s = make([]string, k)
		for i := range f.s {
			f.s[i] = nullStr
		}
	}
	if k := n[repAny]; k > 0 {
		f.o = make([]any, k)
	}
}
