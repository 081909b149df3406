package expr

import (
	"fmt"
	"sort"
	"strings"
)

// ---- null-conditional chains ----

// hasNullCond reports whether the access chain ending at n has an unhandled ?. or ?[.
func (c *checker) hasNullCond(n Node) bool {
	for {
		switch x := n.(type) {
		case *Member:
			if x.NullCond && !c.noNullCond[x] {
				return true
			}
			n = x.X
		case *Index:
			if x.NullCond && !c.noNullCond[x] {
				return true
			}
			n = x.X
		case *Call:
			n = x.Fun
		default:
			return false
		}
	}
}

// checkNullCondChain compiles a?.b.c as (t = a) == null ? null : t.b.c, where the
// ?. is the innermost unhandled one in the chain ending at n.
func (c *checker) checkNullCondChain(n Node) *operand {
	var q Node // the innermost ?. or ?[ node
	var recvNode Node
	for m := n; ; {
		switch x := m.(type) {
		case *Member:
			if x.NullCond && !c.noNullCond[x] {
				q, recvNode = x, x.X
			}
			m = x.X
			continue
		case *Index:
			if x.NullCond && !c.noNullCond[x] {
				q, recvNode = x, x.X
			}
			m = x.X
			continue
		case *Call:
			m = x.Fun
			continue
		}
		break
	}
	recv := c.checkExpr(recvNode)
	if recv.t.isError() {
		return errOp(n)
	}
	if recv.tref != nil || recv.ns != "" {
		c.errorf(recvNode, "?. cannot be applied to a type")
		return errOp(n)
	}
	if recv.t.value && recv.t.kind != tkNullable {
		c.errorf(q, "operator ?. cannot be applied to a value of type %s, which is never null", recv.t.Name)
		return errOp(n)
	}
	// a temporary holds the receiver
	rt := recv.t
	if rt.kind == tkNullable {
		rt = rt.elem
	}
	tmp := c.declareTemp(rt)
	if c.subst == nil {
		c.subst = map[Node]*operand{}
	}
	if c.noNullCond == nil {
		c.noNullCond = map[Node]bool{}
	}
	c.subst[recvNode] = c.readLocal(tmp, recvNode)
	c.noNullCond[q] = true
	rest := c.checkExpr(n)
	delete(c.subst, recvNode)
	delete(c.noNullCond, q)
	if rest.t.isError() {
		return errOp(n)
	}
	var isNil fnB
	if recv.t.rep == repStr {
		g, slot := recv.s, tmp.slot
		isNil = func(f *frame) bool {
			s := g(f)
			f.s[slot] = s
			return isNull(s)
		}
	} else {
		g, store := recv.anyFn(), c.storeAny(tmp)
		isNil = func(f *frame) bool {
			v := g(f)
			if v == nil {
				return true
			}
			store(f, v)
			return false
		}
	}
	t := rest.t
	if t.kind == tkVoid {
		v := rest.v
		return &operand{t: tVoid, n: n, v: func(f *frame) {
			if !isNil(f) {
				v(f)
			}
		}}
	}
	if t.value && t.kind != tkNullable {
		t = nullableOf(t)
		rest = &operand{t: t, n: n, o: rest.anyFn()}
	}
	return c.condOp(t, n, isNil, c.constOperand(t, n, kNull), rest)
}

// declareTemp allocates an anonymous local.
func (c *checker) declareTemp(t *Type) *local {
	fn := c.frameFn()
	r := t.rep
	if r == repVoid {
		r = repAny
	}
	l := &local{name: "", t: t, fn: fn, slot: fn.nslot[r]}
	fn.nslot[r]++
	return l
}

// ---- member access ----

func (c *checker) checkMember(n *Member) *operand {
	x := c.checkExpr(n.X)
	if x.t.isError() && x.ns == "" && x.tref == nil {
		return errOp(n)
	}
	return c.memberOf(x, n)
}

// memberOf resolves X.Name in a value context.
func (c *checker) memberOf(x *operand, n *Member) *operand {
	name := n.Name
	// namespaces: System.Text -> System.Text.Encoding
	if x.ns != "" {
		full := x.ns + "." + name
		if t := c.typeByName(full, n.TypeArgs, n); t != nil {
			return &operand{t: t, n: n, tref: t}
		}
		if c.u.namespaces[full] {
			return &operand{t: tErr, n: n, ns: full}
		}
		c.errorf(n, "unknown type or namespace %q in %s%s", name, x.ns, suggest(name, c.u.typeNames()))
		return errOp(n)
	}
	if x.tref != nil {
		return c.staticMember(x.tref, n)
	}
	if x.t.kind == tkLambda || x.t.kind == tkNull || x.t.kind == tkVoid {
		c.errorf(n, "%s has no members", describeType(x.t))
		return errOp(n)
	}
	if x.t.kind == tkAnon {
		for i, fd := range x.t.fields {
			if fd.name == name {
				g := x.anyFn()
				idx := i
				return fromAny(fd.typ, n, func(f *frame) any { return g(f).(*Anon).Vals[idx] })
			}
		}
	}
	ms, owner := c.findMembers(x.t, name, false)
	if len(ms) == 0 {
		if len(n.TypeArgs) == 0 && c.isMethodName(x.t, name) {
			c.errorf(n, "%s is a method of %s; call it: %s(...)", name, x.t.Name, name)
			return errOp(n)
		}
		c.errorAt(n.NamePos, len(name), fmt.Sprintf("unknown member %q on %s%s", name, x.t.Name, suggest(name, c.memberNames(x.t, false))))
		return errOp(n)
	}
	m := ms[0]
	switch m.kind {
	case mMethod:
		c.errorAt(n.NamePos, len(name), fmt.Sprintf("%s is a method of %s; call it: %s(...)", name, x.t.Name, name))
		return errOp(n)
	case mProp:
		return c.callMember(m, owner, x, nil, n, nil)
	}
	return errOp(n)
}

func describeType(t *Type) string {
	switch t.kind {
	case tkNull:
		return "null"
	case tkLambda:
		return "a lambda expression"
	case tkVoid:
		return "a method that returns nothing"
	}
	return t.Name
}

// staticMember resolves T.Name: a static property, constant or enum member.
func (c *checker) staticMember(t *Type, n *Member) *operand {
	name := n.Name
	if t.def != nil && t.kind == tkEnum {
		if v, ok := t.def.enumVals[name]; ok {
			return c.constOperand(t, n, v)
		}
		c.errorAt(n.NamePos, len(name), fmt.Sprintf("unknown member %q of enum %s%s", name, t.Name, suggest(name, t.def.enumName)))
		return errOp(n)
	}
	// nested types: Newtonsoft.Json.Formatting is a type, handled by namespaces
	ms := c.staticMembers(t, name)
	if len(ms) == 0 {
		if nt := c.typeByName(t.Name+"."+name, n.TypeArgs, n); nt != nil {
			return &operand{t: nt, n: n, tref: nt}
		}
		c.errorAt(n.NamePos, len(name), unknownStatic("member", name, t, suggest(name, c.memberNames(t, true))))
		return errOp(n)
	}
	m := ms[0]
	switch m.kind {
	case mConst:
		rt := c.resolveType(m.result, bindOf(t))
		return c.constOperand(rt, n, m.k)
	case mProp:
		return c.callMember(m, t.def, nil, nil, n, nil)
	}
	c.errorAt(n.NamePos, len(name), fmt.Sprintf("%s.%s is a method; call it: %s(...)", t.Name, name, name))
	return errOp(n)
}

// unknownStatic is the message for a static member or method t does not have.
// Environment has only NewLine: the rest would read the gateway's process.
func unknownStatic(what, name string, t *Type, hint string) string {
	if t.def != nil && t.def.name == "Environment" {
		return fmt.Sprintf("Environment.%s is not available in policy expressions: it would reach into the gateway's process (only Environment.NewLine is)", name)
	}
	return fmt.Sprintf("unknown static %s %q on %s%s", what, name, t.Name, hint)
}

// staticMembers finds static members, including those of the keyword types
// (string.Empty is String.Empty).
func (c *checker) staticMembers(t *Type, name string) []*member {
	d := c.defOf(t)
	if d == nil {
		return nil
	}
	return d.static[name]
}

// defOf returns the typeDef that declares the members of t, including the
// keyword types (declared as String, Int32, ...).
func (c *checker) defOf(t *Type) *typeDef {
	if t.def != nil {
		return t.def
	}
	switch t.kind {
	case tkArray:
		return c.u.defs["Array"]
	case tkNullable:
		return c.u.defs["Nullable`1"]
	}
	for k, v := range systemTypeNames {
		if v == t.Name {
			return c.u.defs[k]
		}
	}
	return nil
}

// findMembers looks up instance members on t and its base types. It returns the
// members and the type that declares them (for generic bindings).
func (c *checker) findMembers(t *Type, name string, _ bool) ([]*member, *Type) {
	for cur := t; cur != nil; {
		d := c.defOf(cur)
		if d == nil {
			break
		}
		if ms := d.inst[name]; len(ms) > 0 {
			return ms, cur
		}
		if d.base == "" || cur.kind == tkArray || cur.kind == tkNullable || cur.def == nil {
			// keyword types and arrays inherit object's members
			if d.name != "Object" {
				if od := c.u.defs["Object"]; od != nil {
					if ms := od.inst[name]; len(ms) > 0 {
						return ms, tObject
					}
				}
			}
			break
		}
		cur = c.resolveType(mustType(d.base), bindOf(cur))
		if cur.isError() {
			break
		}
	}
	return nil, nil
}

func (c *checker) isMethodName(t *Type, name string) bool {
	ms, _ := c.findMembers(t, name, false)
	for _, m := range ms {
		if m.kind == mMethod {
			return true
		}
	}
	return len(c.u.ext[name]) > 0 && c.extApplies(t, name)
}

func (c *checker) extApplies(t *Type, name string) bool {
	for _, m := range c.u.ext[name] {
		if _, ok := c.bindReceiver(m, t); ok {
			return true
		}
	}
	return false
}

// memberNames lists the names available on t, for suggestions.
func (c *checker) memberNames(t *Type, static bool) []string {
	seen := map[string]bool{}
	var names []string
	addAll := func(m map[string][]*member) {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	if static {
		if d := c.defOf(t); d != nil {
			addAll(d.static)
		}
		return names
	}
	for cur := t; cur != nil; {
		d := c.defOf(cur)
		if d == nil {
			break
		}
		addAll(d.inst)
		if d.base == "" || cur.def == nil {
			break
		}
		cur = c.resolveType(mustType(d.base), bindOf(cur))
		if cur.isError() {
			break
		}
	}
	if od := c.u.defs["Object"]; od != nil {
		addAll(od.inst)
	}
	for k := range c.u.ext {
		if !seen[k] && c.extApplies(t, k) {
			seen[k] = true
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// ---- indexers ----

func (c *checker) checkIndex(n *Index) *operand {
	x := c.checkExpr(n.X)
	if x.t.isError() {
		return errOp(n)
	}
	if x.tref != nil {
		c.errorf(n, "%s is a type; it cannot be indexed", x.t.Name)
		return errOp(n)
	}
	if x.t.kind == tkArray {
		return c.arrayIndex(n, x)
	}
	if x.t == tString {
		if len(n.Args) != 1 {
			c.errorf(n, "a string indexer takes one argument")
			return errOp(n)
		}
		idx := c.convert(c.checkExpr(n.Args[0].X), tInt, false)
		s, i := x.s, idx.i
		pos, desc := n.Pos(), c.describe(n.X)
		return &operand{t: tChar, n: n, i: func(f *frame) int32 {
			v := s(f)
			if isNull(v) {
				nre(pos, desc)
			}
			return strIndex(f, v, i(f), pos)
		}}
	}
	var ms []*member
	owner := x.t
	for cur := x.t; cur != nil && ms == nil; {
		d := c.defOf(cur)
		if d == nil {
			break
		}
		if len(d.indexer) > 0 {
			ms, owner = d.indexer, cur
			break
		}
		if d.base == "" || cur.def == nil {
			break
		}
		cur = c.resolveType(mustType(d.base), bindOf(cur))
	}
	if len(ms) == 0 {
		c.errorf(n, "cannot apply indexing with [] to an expression of type %s", x.t.Name)
		return errOp(n)
	}
	return c.resolveCall(ms, owner, x, n.Args, n, nil, c.describe(n.X))
}

func (c *checker) arrayIndex(n *Index, x *operand) *operand {
	if len(n.Args) != 1 {
		c.errorf(n, "wrong number of indices inside []: expected 1")
		return errOp(n)
	}
	idxOp := c.checkExpr(n.Args[0].X)
	if !idxOp.t.isIntegral() {
		c.errorf(n.Args[0], "cannot implicitly convert type %s to int", idxOp.t.Name)
		return errOp(n)
	}
	idx := c.convert(idxOp, tLong, false)
	g, i := x.anyFn(), idx.l
	pos, desc := n.Pos(), c.describe(n.X)
	et := x.t.elem
	var r *operand
	if et == tString {
		r = &operand{t: et, n: n, s: func(f *frame) string {
			a, _ := g(f).([]string)
			if a == nil && g(f) == nil {
				nre(pos, desc)
			}
			k := i(f)
			if k < 0 || k >= int64(len(a)) {
				throwAt(pos, "IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", k, len(a))
			}
			s := a[k]
			return s
		}}
	} else {
		r = fromAny(et, n, func(f *frame) any {
			a := g(f)
			if a == nil {
				nre(pos, desc)
			}
			k := i(f)
			n := arrLen(a)
			if k < 0 || k >= int64(n) {
				throwAt(pos, "IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", k, n)
			}
			return arrGet(a, int(k))
		})
	}
	r.lv = &lvalue{
		store: func(c *checker, val *operand) fnV {
			v := c.convert(val, et, false).anyFn()
			return func(f *frame) {
				a := g(f)
				if a == nil {
					nre(pos, desc)
				}
				k := i(f)
				n := arrLen(a)
				if k < 0 || k >= int64(n) {
					throwAt(pos, "IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", k, n)
				}
				arrSet(a, int(k), v(f))
			}
		},
	}
	r.lv.update = func(c *checker, compute func(old *operand) *operand, post bool) *operand {
		// evaluate array and index once
		ta := c.declareTemp(tObject)
		ti := c.declareTemp(tLong)
		sa := ta.slot
		si := ti.slot
		up := 0
		_ = up
		old := fromAny(et, n, func(f *frame) any {
			a := f.o[sa]
			k := f.l[si]
			return arrGet(a, int(k))
		})
		nv := c.convert(compute(old), et, false)
		nvAny := nv.anyFn()
		oldAny := old.anyFn()
		res := fromAny(et, n, func(f *frame) any {
			a := g(f)
			if a == nil {
				nre(pos, desc)
			}
			k := i(f)
			if k < 0 || k >= int64(arrLen(a)) {
				throwAt(pos, "IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", k, arrLen(a))
			}
			f.o[sa], f.l[si] = a, k
			o := oldAny(f)
			v := nvAny(f)
			arrSet(a, int(k), v)
			if post {
				return o
			}
			return v
		})
		return res
	}
	return r
}

// ---- calls ----

func (c *checker) checkCall(n *Call) *operand {
	switch fun := n.Fun.(type) {
	case *Member:
		x := c.checkExpr(fun.X)
		if x.t.isError() && x.tref == nil && x.ns == "" {
			c.checkArgsForErrors(n.Args)
			return errOp(n)
		}
		return c.methodCall(x, fun, n)
	case *Ident:
		if lf := c.lookupFunc(fun.Name); lf != nil {
			return c.callLocalFunc(lf, n)
		}
		if l := c.lookupLocal(fun.Name); l != nil {
			c.errorf(fun, "%s is a variable of type %s, not a method", fun.Name, l.t.Name)
			return errOp(n)
		}
		c.errorf(fun, "unknown method %q%s", fun.Name, suggest(fun.Name, c.allNames()))
		c.checkArgsForErrors(n.Args)
		return errOp(n)
	}
	x := c.checkExpr(n.Fun)
	if !x.t.isError() {
		c.errorf(n.Fun, "%s is not a method; a value of type %s cannot be called", c.describe(n.Fun), x.t.Name)
	}
	return errOp(n)
}

// checkArgsForErrors checks arguments of a failed call so that their own errors are
// reported too.
func (c *checker) checkArgsForErrors(args []*Arg) {
	for _, a := range args {
		if _, ok := a.X.(*Lambda); ok {
			continue
		}
		if _, ok := a.X.(*DeclExpr); ok {
			continue
		}
		c.arg(a)
	}
}

// arg checks an argument once, caching the result across overload candidates.
func (c *checker) arg(a *Arg) *operand {
	if op, ok := c.argCache[a.X]; ok {
		return op
	}
	var op *operand
	if d, ok := a.X.(*DeclExpr); ok {
		op = &operand{t: tErr, n: d}
		if d.Type != nil {
			op.t = c.resolveType(d.Type, nil)
		}
	} else {
		op = c.checkExpr(a.X)
	}
	if c.argCache == nil {
		c.argCache = map[Node]*operand{}
	}
	c.argCache[a.X] = op
	return op
}

func (c *checker) methodCall(x *operand, fun *Member, n *Call) *operand {
	name := fun.Name
	var targs []*Type
	for _, ta := range fun.TypeArgs {
		targs = append(targs, c.resolveType(ta, nil))
	}
	if x.ns != "" {
		c.errorf(fun, "unknown type %q in namespace %s", name, x.ns)
		return errOp(n)
	}
	if x.tref != nil {
		ms := c.staticMembers(x.tref, name)
		var methods []*member
		for _, m := range ms {
			if m.kind == mMethod {
				methods = append(methods, m)
			}
		}
		if len(methods) == 0 {
			c.errorAt(fun.NamePos, len(name), unknownStatic("method", name, x.tref, suggest(name, c.memberNames(x.tref, true))))
			c.checkArgsForErrors(n.Args)
			return errOp(n)
		}
		return c.resolveCall(methods, x.tref, nil, n.Args, n, targs, "")
	}
	if x.t.kind == tkNull || x.t.kind == tkLambda || x.t.kind == tkVoid {
		c.errorf(fun, "%s has no methods", describeType(x.t))
		return errOp(n)
	}
	ms, owner := c.findMembers(x.t, name, false)
	var methods []*member
	for _, m := range ms {
		if m.kind == mMethod {
			methods = append(methods, m)
		}
	}
	// extension methods apply when no instance method does
	var exts []*member
	for _, m := range c.u.ext[name] {
		if _, ok := c.bindReceiver(m, x.t); ok {
			exts = append(exts, m)
		}
	}
	if len(methods) == 0 && len(exts) == 0 {
		if len(ms) > 0 {
			hint := ""
			if rt := c.resolveTypeOpt(ms[0].result, bindOf(owner), false); rt != nil && rt.def != nil && len(rt.def.indexer) > 0 {
				hint = fmt.Sprintf("; index it: %s[...]", name)
			}
			c.errorAt(fun.NamePos, len(name), fmt.Sprintf("%s is a property of %s, not a method%s", name, x.t.Name, hint))
		} else {
			c.errorAt(fun.NamePos, len(name), fmt.Sprintf("unknown method %q on %s%s", name, x.t.Name, suggest(name, c.memberNames(x.t, false))))
		}
		c.checkArgsForErrors(n.Args)
		return errOp(n)
	}
	desc := c.describe(fun.X)
	// a base type's overloads apply when none of the derived type's does, as in C#
	for cur := owner; len(methods) > 0 && cur != nil && cur.def != nil && cur.def.base != ""; {
		bt := c.resolveType(mustType(cur.def.base), bindOf(cur))
		if bt.isError() || bt.def == nil {
			break
		}
		var more []*member
		for _, m := range bt.def.inst[name] {
			if m.kind == mMethod {
				more = append(more, m)
			}
		}
		if len(more) > 0 {
			saveErrs := len(c.errs)
			if r := c.tryResolve(methods, owner, x, n.Args, n, targs, desc, false); r != nil {
				return r
			}
			c.errs = c.errs[:saveErrs]
			methods, owner = more, bt
		}
		cur = bt
	}
	if len(methods) > 0 {
		if len(exts) == 0 {
			return c.resolveCall(methods, owner, x, n.Args, n, targs, desc)
		}
		saveErrs := len(c.errs)
		if r := c.tryResolve(methods, owner, x, n.Args, n, targs, desc, false); r != nil {
			return r
		}
		c.errs = c.errs[:saveErrs]
	}
	return c.resolveCall(exts, x.t, x, n.Args, n, targs, desc)
}

// callMember compiles a property read (args nil) on receiver x.
func (c *checker) callMember(m *member, owner any, x *operand, args []*operand, n Node, targs []*Type) *operand {
	var recvT *Type
	switch o := owner.(type) {
	case *Type:
		recvT = o
	case *typeDef:
		recvT = o.typ()
	}
	bind := bindOf(recvT)
	if x != nil && !same(x.t, recvT) {
		// member declared on a base type: bind from the receiver's view
		bind = bindOf(recvT)
	}
	rt := tVoid
	if m.result != nil {
		rt = c.resolveType(m.result, bind)
	}
	cs := &site{pos: n.Pos(), n: n, t: rt, recvT: recvT, m: m, bind: bind}
	if mem, ok := n.(*Member); ok {
		cs.pos = mem.NamePos
	}
	var all []*operand
	if x != nil {
		cs.desc = c.describe(x.n)
		all = append(all, c.nonNullRecv(x, cs, m))
	}
	all = append(all, args...)
	op := m.impl(c, cs, meterArgs(m, all))
	if op == nil {
		return errOp(n)
	}
	op.n = n
	if m.set != nil && x != nil {
		c.makeSettable(op, m, cs, x, args)
	} else if m.set != nil && x == nil {
		c.makeSettable(op, m, cs, nil, args)
	}
	return op
}

// nonNullRecv wraps the receiver so that a null receiver throws
// NullReferenceException with a useful message.
func (c *checker) nonNullRecv(x *operand, cs *site, m *member) *operand {
	if m.nullRecv || m.static {
		return x
	}
	pos, desc := cs.pos, cs.desc
	if x.t.value && x.t.kind != tkNullable {
		return x
	}
	switch x.t.rep {
	case repStr:
		g := x.s
		return &operand{t: x.t, n: x.n, s: func(f *frame) string {
			s := g(f)
			if isNull(s) {
				nre(pos, desc)
			}
			return s
		}}
	case repAny:
		g := x.anyFn()
		return &operand{t: x.t, n: x.n, o: func(f *frame) any {
			v := g(f)
			if v == nil {
				nre(pos, desc)
			}
			return v
		}}
	}
	return x
}

// makeSettable attaches an lvalue to a property or indexer read.
func (c *checker) makeSettable(op *operand, m *member, cs *site, recv *operand, idx []*operand) {
	op.lv = &lvalue{store: func(c *checker, val *operand) fnV {
		v := c.convert(val, op.t, false)
		var all []*operand
		if recv != nil {
			all = append(all, c.nonNullRecv(recv, cs, m))
		}
		all = append(all, idx...)
		all = append(all, v)
		scs := *cs
		scs.t = tVoid
		r := m.set(c, &scs, all)
		return r.v
	}}
	op.lv.update = func(c *checker, compute func(old *operand) *operand, post bool) *operand {
		// re-evaluating the receiver is acceptable for the receivers policies use
		// (variables and indexers without side effects)
		nv := c.convert(compute(op), op.t, false)
		store := op.lv.store(c, nv)
		if post {
			return seqValue(op, store, true)
		}
		return seqValue(op, store, false)
	}
}

// ---- overload resolution ----

// candidate is one overload with its arguments matched to parameters.
type candidate struct {
	m     *member
	slots []*Arg // the argument for each parameter (nil: default)
	extra []*Arg // arguments for a params array
	exp   bool   // params expanded form
	bind  map[string]*Type
	cost  int
	bad   string // why it does not apply
	badN  Node
}

// resolveCall picks the overload for args and compiles the call. recv is nil for
// static members and constructors.
func (c *checker) resolveCall(ms []*member, owner *Type, recv *operand, args []*Arg, n Node, targs []*Type, desc string) *operand {
	r := c.tryResolve(ms, owner, recv, args, n, targs, desc, true)
	if r == nil {
		return errOp(n)
	}
	return r
}

func (c *checker) tryResolve(ms []*member, owner *Type, recv *operand, args []*Arg, n Node, targs []*Type, desc string, report bool) *operand {
	var cands []*candidate
	for _, m := range ms {
		cd := c.match(m, owner, recv, args, targs)
		cands = append(cands, cd)
	}
	var best *candidate
	for _, cd := range cands {
		if cd.bad != "" {
			continue
		}
		if best == nil || cd.cost < best.cost {
			best = cd
		}
	}
	if best == nil {
		if !report {
			return nil
		}
		// report the most relevant failure
		name := ms[0].name
		if ms[0].kind == mCtor {
			name = "new " + owner.Name
		} else if ms[0].kind == mIndexer {
			name = owner.Name + " indexer"
		}
		var bad *candidate
		for _, cd := range cands {
			if cd.badN != nil {
				bad = cd
				break
			}
		}
		if bad == nil {
			bad = cands[0]
		}
		where := Node(n)
		if call, ok := n.(*Call); ok {
			if mem, ok := call.Fun.(*Member); ok {
				where = &Ident{span: span{mem.NamePos, mem.NamePos + len(mem.Name)}}
			}
		}
		if bad.badN != nil {
			where = bad.badN
		}
		msg := bad.bad
		if len(cands) > 1 && bad.badN == nil {
			msg = fmt.Sprintf("no overload of %s takes %d arguments", name, len(args))
			var sigs []string
			for _, m := range ms {
				sigs = append(sigs, m.sig)
			}
			msg += " (overloads: " + strings.Join(sigs, "; ") + ")"
		}
		c.errorf(where, "%s", msg)
		c.checkArgsForErrors(args)
		return nil
	}
	return c.compileCall(best, owner, recv, args, n, targs, desc)
}

// match checks whether m applies to args and computes the conversion cost.
func (c *checker) match(m *member, owner *Type, recv *operand, args []*Arg, targs []*Type) *candidate {
	cd := &candidate{m: m, bind: map[string]*Type{}}
	for k, v := range bindOf(owner) {
		cd.bind[k] = v
	}
	params := m.params
	if m.ext {
		b, ok := c.bindReceiver(m, recv.t)
		if !ok {
			cd.bad = fmt.Sprintf("%s does not apply to %s", m.name, recv.t.Name)
			return cd
		}
		for k, v := range b {
			cd.bind[k] = v
		}
		params = params[1:]
	}
	if len(targs) > 0 {
		if len(targs) != len(m.tparams) {
			cd.bad = fmt.Sprintf("%s takes %d type arguments, not %d", m.name, len(m.tparams), len(targs))
			return cd
		}
		for i, tp := range m.tparams {
			cd.bind[tp] = targs[i]
		}
	}
	// map arguments to parameters
	cd.slots = make([]*Arg, len(params))
	pi := 0
	named := false
	for _, a := range args {
		if a.Name != "" {
			named = true
			found := false
			for i, p := range params {
				if p.name == a.Name {
					if cd.slots[i] != nil {
						cd.bad, cd.badN = fmt.Sprintf("argument %q is given twice", a.Name), a
						return cd
					}
					cd.slots[i] = a
					found = true
				}
			}
			if !found {
				var names []string
				for _, p := range params {
					names = append(names, p.name)
				}
				cd.bad, cd.badN = fmt.Sprintf("%s has no parameter named %q%s", m.name, a.Name, suggest(a.Name, names)), a
				return cd
			}
			continue
		}
		if named {
			cd.bad, cd.badN = "a positional argument cannot follow a named argument", a
			return cd
		}
		if pi < len(params) && params[pi].params {
			cd.extra = append(cd.extra, a)
			continue
		}
		if pi >= len(params) {
			cd.bad = fmt.Sprintf("%s takes %d arguments, not %d", sigName(m), len(params), len(args))
			return cd
		}
		cd.slots[pi] = a
		pi++
	}
	for i, p := range params {
		if cd.slots[i] == nil && p.def == nil && !p.params {
			cd.bad = fmt.Sprintf("%s needs argument %q (%s)", sigName(m), p.name, m.sig)
			return cd
		}
	}
	// params: a single argument that is already an array is the normal form
	if len(params) > 0 && params[len(params)-1].params {
		last := len(params) - 1
		if cd.slots[last] == nil && len(cd.extra) == 1 {
			op := c.arg(cd.extra[0])
			pt := c.resolveTypeOpt(params[last].typ, cd.bind, false)
			if pt != nil && (c.convCost(op, pt) >= 0 || op.t.kind == tkNull) && op.t.kind != tkLambda {
				cd.slots[last] = cd.extra[0]
				cd.extra = nil
			}
		}
		if cd.slots[last] == nil {
			cd.exp = true
		}
	}
	// infer type parameters from non-lambda arguments, then check conversions
	for pass := 0; pass < 2; pass++ {
		for i, p := range params {
			as := []*Arg{cd.slots[i]}
			elemOf := false
			if p.params && cd.exp {
				as = cd.extra
				elemOf = true
			}
			for _, a := range as {
				if a == nil {
					continue
				}
				if lam, ok := a.X.(*Lambda); ok {
					if pass == 0 {
						continue
					}
					if !c.matchLambda(cd, p, lam) {
						cd.badN = a
						return cd
					}
					continue
				}
				op := c.arg(a)
				if a.Modifier == "out" || p.mod == "out" {
					if a.Modifier != p.mod {
						cd.bad, cd.badN = fmt.Sprintf("argument %q must be passed with the out keyword", p.name), a
						if a.Modifier != "" {
							cd.bad = fmt.Sprintf("argument %q must not be passed with out", p.name)
						}
						return cd
					}
					pt := c.resolveTypeOpt(p.typ, cd.bind, false)
					if pt == nil {
						cd.bad = "cannot infer the type of the out argument"
						return cd
					}
					if d, ok := a.X.(*DeclExpr); ok && d.Type == nil {
						continue
					}
					if !op.t.isError() && !same(op.t, pt) {
						cd.bad, cd.badN = fmt.Sprintf("out argument %q: the variable must have type %s, not %s", p.name, pt.Name, op.t.Name), a
						return cd
					}
					continue
				}
				if pass == 0 {
					ptE := p.typ
					if elemOf {
						ptE = elemTypeExpr(p.typ)
					}
					c.infer(ptE, op.t, cd.bind, m.tparams)
					continue
				}
				pt := c.resolveTypeOpt(p.typ, cd.bind, false)
				if pt == nil {
					cd.bad, cd.badN = fmt.Sprintf("cannot infer the type arguments of %s; give them explicitly: %s<T>(...)", m.name, m.name), a
					return cd
				}
				if elemOf {
					pt = pt.elem
				}
				k := c.convCost(op, pt)
				if k < 0 {
					cd.bad, cd.badN = fmt.Sprintf("argument %d of %s: cannot convert from %s to %s", argIndex(args, a)+1, sigName(m), op.t.Name, pt.Name), a
					return cd
				}
				cd.cost += k
			}
		}
	}
	for _, tp := range m.tparams {
		if cd.bind[tp] == nil {
			cd.bad = fmt.Sprintf("cannot infer the type arguments of %s; give them explicitly: %s<T>(...)", m.name, m.name)
			return cd
		}
	}
	if cd.exp {
		cd.cost += 1000 // the normal form is better
	}
	return cd
}

func argIndex(args []*Arg, a *Arg) int {
	for i, x := range args {
		if x == a {
			return i
		}
	}
	return 0
}

func sigName(m *member) string {
	if m.kind == mCtor {
		return "new " + m.owner.name
	}
	return m.name
}

func elemTypeExpr(te *TypeExpr) *TypeExpr {
	e := *te
	if len(e.Arrays) > 0 {
		e.Arrays = e.Arrays[:len(e.Arrays)-1]
	}
	return &e
}

// bindReceiver binds the type parameters of an extension method from its receiver
// type; ok is false when the method does not apply.
func (c *checker) bindReceiver(m *member, t *Type) (map[string]*Type, bool) {
	if t.isError() {
		return nil, false
	}
	pt := m.params[0].typ
	bind := map[string]*Type{}
	// IEnumerable<T> receivers: anything enumerable
	if pt.Name == "IEnumerable" && len(pt.Args) == 1 {
		e := c.elemType(t)
		if e == nil {
			return nil, false
		}
		if a := pt.Args[0]; len(a.Args) == 0 && isTParam(a.Name, m.tparams) {
			bind[a.Name] = e
			return bind, true
		}
		want := c.resolveTypeOpt(pt.Args[0], nil, false)
		if want != nil && (same(want, e) || want == tObject) {
			return bind, true
		}
		// IEnumerable<KeyValuePair<TKey, TValue>>
		if len(pt.Args[0].Args) > 0 && e.def != nil && e.def.name == pt.Args[0].Name {
			for i, a := range pt.Args[0].Args {
				if isTParam(a.Name, m.tparams) && i < len(e.args) {
					bind[a.Name] = e.args[i]
				}
			}
			return bind, true
		}
		return nil, false
	}
	want := c.resolveTypeOpt(pt, nil, false)
	if want == nil {
		return nil, false
	}
	op := &operand{t: t}
	return bind, c.convCost(op, want) >= 0 && t.kind != tkNull
}

func isTParam(name string, tps []string) bool {
	for _, t := range tps {
		if t == name {
			return true
		}
	}
	return false
}

// infer binds method type parameters by matching a parameter type against an
// argument type.
func (c *checker) infer(pt *TypeExpr, at *Type, bind map[string]*Type, tps []string) {
	if at.isError() || at.kind == tkNull {
		return
	}
	if len(pt.Args) == 0 && len(pt.Arrays) == 0 && isTParam(pt.Name, tps) {
		if bind[pt.Name] == nil {
			bind[pt.Name] = at
		}
		return
	}
	if len(pt.Arrays) > 0 && at.kind == tkArray {
		c.infer(elemTypeExpr(pt), at.elem, bind, tps)
		return
	}
	if pt.Name == "IEnumerable" && len(pt.Args) == 1 {
		if e := c.elemType(at); e != nil {
			c.infer(pt.Args[0], e, bind, tps)
		}
		return
	}
	if at.def != nil && at.def.name == pt.Name && len(pt.Args) == len(at.args) {
		for i, a := range pt.Args {
			c.infer(a, at.args[i], bind, tps)
		}
	}
}

// matchLambda checks a lambda argument against a delegate parameter type
// (Func<...>, Action<...>, Predicate<T>, Comparison<T>), binding the result type.
func (c *checker) matchLambda(cd *candidate, p *pspec, lam *Lambda) bool {
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
	default:
		cd.bad = fmt.Sprintf("a lambda cannot be converted to %s", pt.Name)
		return false
	}
	if len(ins) != len(lam.Params) {
		cd.bad = fmt.Sprintf("%s takes a lambda with %d parameters, not %d", cd.m.name, len(ins), len(lam.Params))
		return false
	}
	var inTypes []*Type
	for _, in := range ins {
		t := c.resolveTypeOpt(in, cd.bind, false)
		if t == nil {
			cd.bad = fmt.Sprintf("cannot infer the lambda parameter types of %s", cd.m.name)
			return false
		}
		inTypes = append(inTypes, t)
	}
	for i, prm := range lam.Params {
		if prm.Type != nil {
			if t := c.resolveType(prm.Type, nil); !same(t, inTypes[i]) {
				cd.bad = fmt.Sprintf("lambda parameter %s has type %s, but %s passes %s", prm.Name, t.Name, cd.m.name, inTypes[i].Name)
				return false
			}
		}
	}
	if out == nil {
		return true
	}
	// the result type: check the body once to learn it (the final compile checks
	// it again with the chosen overload)
	lc := c.checkLambda(lam, inTypes, nil)
	if lc == nil {
		cd.bad = "the lambda has errors"
		return false
	}
	if len(out.Args) == 0 && isTParam(out.Name, cd.m.tparams) {
		if cd.bind[out.Name] == nil {
			cd.bind[out.Name] = lc.result
		}
		return true
	}
	c.infer(out, lc.result, cd.bind, cd.m.tparams)
	want := c.resolveTypeOpt(out, cd.bind, false)
	if want == nil {
		return true
	}
	if c.convCost(&operand{t: lc.result, k: lc.k}, want) < 0 && !lc.result.isError() {
		cd.bad = fmt.Sprintf("the lambda returns %s, but %s needs %s", lc.result.Name, cd.m.name, want.Name)
		return false
	}
	return true
}

// compileCall converts the arguments of the chosen overload and compiles the call.
func (c *checker) compileCall(cd *candidate, owner *Type, recv *operand, args []*Arg, n Node, targs []*Type, desc string) *operand {
	m := cd.m
	params := m.params
	if m.ext {
		params = params[1:]
	}
	var ops []*operand
	rt := tVoid
	if m.result != nil {
		rt = c.resolveType(m.result, cd.bind)
	} else if m.kind == mCtor {
		rt = owner
	}
	cs := &site{pos: n.Pos(), n: n, t: rt, bind: cd.bind, recvT: owner, m: m, desc: desc}
	if call, ok := n.(*Call); ok {
		if mem, ok := call.Fun.(*Member); ok {
			cs.pos = mem.NamePos
		}
	}
	for _, tp := range m.tparams {
		cs.targs = append(cs.targs, cd.bind[tp])
	}
	if recv != nil && m.kind != mCtor {
		if m.ext {
			recvT := c.resolveTypeOpt(m.params[0].typ, cd.bind, false)
			if recvT == nil {
				recvT = recv.t
			}
			ops = append(ops, c.convertRecv(recv, recvT))
		} else {
			ops = append(ops, c.nonNullRecv(recv, cs, m))
		}
	}
	for i, p := range params {
		pt := c.resolveType(p.typ, cd.bind)
		if p.params && cd.exp {
			ops = append(ops, c.paramsArray(pt, cd.extra, n))
			continue
		}
		a := cd.slots[i]
		if a == nil {
			if p.def == nil {
				ops = append(ops, c.zeroOf(pt, n))
				continue
			}
			d := c.checkExpr(p.def)
			d.n = n
			ops = append(ops, c.convert(d, pt, false))
			continue
		}
		if lam, ok := a.X.(*Lambda); ok {
			ops = append(ops, c.lambdaOperand(lam, p, cd))
			continue
		}
		if p.mod == "out" {
			ops = append(ops, c.outArg(a, pt))
			continue
		}
		op := c.arg(a)
		ops = append(ops, c.convert(op, pt, false))
	}
	r := m.impl(c, cs, meterArgs(m, ops))
	if r == nil {
		return errOp(n)
	}
	r.n = n
	if m.set != nil {
		c.makeSettable(r, m, cs, recv, ops[boolToInt(recv != nil):])
	}
	return r
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// convertRecv converts an extension method receiver without the null check.
func (c *checker) convertRecv(recv *operand, t *Type) *operand {
	if same(recv.t, t) || t.def != nil && t.def.name == "IEnumerable" {
		cp := *recv
		cp.lv = nil
		return &cp
	}
	return c.convert(recv, t, false)
}

// paramsArray builds the array for a params parameter in expanded form.
func (c *checker) paramsArray(arrT *Type, items []*Arg, n Node) *operand {
	var fns []fnO
	for _, a := range items {
		fns = append(fns, c.convert(c.arg(a), arrT.elem, false).anyFn())
	}
	et := arrT.elem
	return &operand{t: arrT, n: n, o: func(f *frame) any {
		vals := make([]any, len(fns))
		for i, g := range fns {
			vals[i] = g(f)
		}
		return makeArrayFrom(et, vals)
	}}
}

// outArg compiles an out argument: a variable to store into. The operand's o
// function returns a *outRef that the implementation calls.
func (c *checker) outArg(a *Arg, t *Type) *operand {
	var l *local
	switch x := a.X.(type) {
	case *DeclExpr:
		vt := t
		if x.Type != nil {
			vt = c.resolveType(x.Type, nil)
		}
		l = c.declare(x.Name, vt, x.Pos(), x)
	case *Ident:
		l = c.lookupLocal(x.Name)
		if l == nil {
			c.errorf(x, "unknown name %q%s", x.Name, suggest(x.Name, c.allNames()))
			return &operand{t: t, n: a, o: func(*frame) any { return &outRef{} }}
		}
	default:
		c.errorf(a, "an out argument must be a variable")
		return &operand{t: t, n: a, o: func(*frame) any { return &outRef{} }}
	}
	store := c.storeAny(l)
	return &operand{t: t, n: a, o: func(f *frame) any {
		return &outRef{f: f, store: store}
	}}
}

// outRef is passed to implementations for out parameters.
type outRef struct {
	f     *frame
	store func(*frame, any)
}

// set stores v (boxed like a variable value) into the out variable.
func (r *outRef) set(v any) {
	if r.f != nil {
		r.store(r.f, v)
	}
}

// meterArgs charges a library call's steps for the strings and byte arrays it is
// given (also as object), as it receives them: library code scans, copies or
// converts them, so its time grows with their size. Members marked metered
// charge their own work. Constants and other operands are left as they are.
func meterArgs(m *member, args []*operand) []*operand {
	if m.metered {
		return args
	}
	out := args
	for i, a := range args {
		if a.isConst() || a.lamc != nil || a.lv != nil {
			continue
		}
		var w *operand
		switch {
		case a.t == tString && a.s != nil:
			g := a.s
			w = &operand{t: a.t, n: a.n, ctxPath: a.ctxPath, s: func(f *frame) string {
				s := g(f)
				f.work(len(s))
				return s
			}}
		case a.t == tObject || a.t.kind == tkArray && a.t.elem == tByte:
			g := a.anyFn()
			w = &operand{t: a.t, n: a.n, ctxPath: a.ctxPath, o: func(f *frame) any {
				v := g(f)
				switch x := v.(type) {
				case string:
					f.work(len(x))
				case []byte:
					f.work(len(x))
				}
				return v
			}}
		default:
			continue
		}
		if &out[0] == &args[0] {
			out = append([]*operand(nil), args...)
		}
		out[i] = w
	}
	return out
}
