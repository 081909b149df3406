package expr

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCheckDepth bounds the nesting the checker recurses into. A chain of
// binary operators (a + b + c + ..., a ?? b ?? c ...) is flat in the source and
// does not count: checkBinaryChain walks it in a loop.
const maxCheckDepth = 400

func (c *checker) checkExpr(n Node) *operand {
	if op, ok := c.subst[n]; ok {
		return op
	}
	c.countNode(n)
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxCheckDepth {
		c.errorf(n, "expression is nested too deeply (more than %d levels)", maxCheckDepth)
		panic(tooManyErrors{})
	}
	switch n := n.(type) {
	case *Literal:
		return c.checkLiteral(n)
	case *Ident:
		return c.checkIdent(n)
	case *Paren:
		op := c.checkExpr(n.X)
		if op.tref != nil || op.ns != "" {
			return op
		}
		cp := *op
		cp.n = n
		cp.lv = nil
		return &cp
	case *Member:
		if c.hasNullCond(n) {
			return c.checkNullCondChain(n)
		}
		return c.checkMember(n)
	case *Index:
		if c.hasNullCond(n) {
			return c.checkNullCondChain(n)
		}
		return c.checkIndex(n)
	case *Call:
		if c.hasNullCond(n) {
			return c.checkNullCondChain(n)
		}
		return c.checkCall(n)
	case *Unary:
		return c.checkUnary(n)
	case *Binary:
		return c.checkBinaryChain(n)
	case *Assign:
		return c.checkAssign(n)
	case *Cond:
		return c.checkCond(n)
	case *Cast:
		x := c.checkExpr(n.X)
		t := c.resolveType(n.Type, nil)
		if t.isError() || x.t.isError() {
			return errOp(n)
		}
		if x.t.kind == tkLambda {
			c.errorf(n, "lambda expressions can only be passed to methods such as Where or Select")
			return errOp(n)
		}
		op := c.convert(x, t, true)
		op.n = n
		return op
	case *Is:
		return c.checkIs(n)
	case *As:
		return c.checkAs(n)
	case *Lambda:
		return &operand{t: tLambda, n: n, lam: n}
	case *New:
		return c.checkNew(n)
	case *NewArray:
		return c.checkNewArray(n, nil)
	case *NewAnon:
		return c.checkNewAnon(n)
	case *InterpString:
		return c.checkInterp(n)
	case *DefaultOf:
		t := c.resolveType(n.Type, nil)
		return c.zeroOf(t, n)
	case *NameOf:
		return c.constOperand(tString, n, n.Name)
	case *CheckedExpr:
		saved := c.checked
		c.checked = n.Checked
		op := c.checkExpr(n.X)
		c.checked = saved
		return op
	case *ThrowExpr:
		c.errorf(n, "a throw expression is only allowed on the right of ??")
		return errOp(n)
	case *SwitchExpr:
		return c.checkSwitchExpr(n)
	case *TypeOf:
		c.errorf(n, "typeof is not supported in policy expressions")
		return errOp(n)
	case *This:
		c.errorf(n, "\"this\" has no meaning in a policy expression; use context")
		return errOp(n)
	case *DeclExpr:
		c.errorf(n, "a declaration expression is only allowed as an out argument")
		return errOp(n)
	case *Initializer, *ElemList:
		c.errorf(n, "unexpected initializer")
		return errOp(n)
	}
	c.errorf(n, "unsupported expression")
	return errOp(n)
}

// ---- constants ----

// constOperand makes an operand for a constant of type t. v is bool, int64,
// float64, string or kNull.
func (c *checker) constOperand(t *Type, n Node, v any) *operand {
	op := &operand{t: t, n: n, k: v}
	if v == kNull {
		switch t.rep {
		case repStr:
			op.s = func(*frame) string { return nullStr }
		default:
			op.o = func(*frame) any { return nil }
			if t.rep != repAny {
				// null for a value type: default value
				return c.zeroOf(t, n)
			}
		}
		return op
	}
	switch t.rep {
	case repBool:
		b := v.(bool)
		op.b = func(*frame) bool { return b }
	case repI32:
		x := int32(v.(int64))
		op.i = func(*frame) int32 { return x }
	case repI64:
		x := v.(int64)
		op.l = func(*frame) int64 { return x }
	case repF64:
		x := v.(float64)
		op.d = func(*frame) float64 { return x }
	case repStr:
		s := v.(string)
		op.s = func(*frame) string { return s }
	default:
		x := v
		op.o = func(*frame) any { return x }
	}
	return op
}

// zeroOf is default(T).
func (c *checker) zeroOf(t *Type, n Node) *operand {
	switch t.rep {
	case repBool:
		return c.constOperand(t, n, false)
	case repI32, repI64:
		return c.constOperand(t, n, int64(0))
	case repF64:
		return c.constOperand(t, n, float64(0))
	case repStr:
		return c.constOperand(t, n, kNull)
	}
	if t == tDecimal {
		return c.constOperand(t, n, Decimal{})
	}
	if t.value && t.def != nil && t.def.zero != nil {
		z := t.def.zero
		return &operand{t: t, n: n, o: func(*frame) any { return z }}
	}
	return &operand{t: t, n: n, o: func(*frame) any { return nil }, k: kNull}
}

func (c *checker) checkLiteral(n *Literal) *operand {
	switch n.Kind {
	case LitNull:
		return &operand{t: tNull, n: n, k: kNull, o: func(*frame) any { return nil }}
	case LitDefault:
		return &operand{t: tDefault, n: n, k: kNull, o: func(*frame) any { return nil }}
	case LitBool:
		return c.constOperand(tBool, n, n.Bool)
	case LitString:
		return c.constOperand(tString, n, n.Str)
	case LitChar:
		r, _ := utf8.DecodeRuneInString(n.Str)
		if r > 0xFFFF {
			c.errorf(n, "character literal is outside the Basic Multilingual Plane; C# char holds one UTF-16 code unit")
		}
		return c.constOperand(tChar, n, int64(r))
	case LitInt:
		return c.intLiteral(n)
	case LitReal:
		raw := strings.ReplaceAll(n.Raw, "_", "")
		t := tDouble
		switch raw[len(raw)-1] | 0x20 {
		case 'f':
			t, raw = tFloat, raw[:len(raw)-1]
		case 'd':
			raw = raw[:len(raw)-1]
		case 'm':
			d, err := parseDecimalStr(raw[:len(raw)-1], true)
			if err != "" {
				c.errorf(n, "floating-point constant %s is outside the range of decimal", n.Raw)
			}
			return c.constOperand(tDecimal, n, d)
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil && !strings.Contains(err.Error(), "range") {
			c.errorf(n, "invalid number %s", n.Raw)
		}
		if t == tFloat {
			v = float64(float32(v))
		}
		if math.IsInf(v, 0) {
			c.errorf(n, "floating-point constant %s is outside the range of %s", n.Raw, t.Name)
		}
		return c.constOperand(t, n, v)
	}
	return errOp(n)
}

func (c *checker) intLiteral(n *Literal) *operand {
	raw := strings.ReplaceAll(n.Raw, "_", "")
	u, l := false, false
	for len(raw) > 0 {
		ch := raw[len(raw)-1] | 0x20
		if ch == 'u' {
			u = true
		} else if ch == 'l' {
			l = true
		} else {
			break
		}
		raw = raw[:len(raw)-1]
	}
	base := 10
	if len(raw) > 2 && raw[0] == '0' && raw[1]|0x20 == 'x' {
		base, raw = 16, raw[2:]
	} else if len(raw) > 2 && raw[0] == '0' && raw[1]|0x20 == 'b' {
		base, raw = 2, raw[2:]
	}
	v, err := strconv.ParseUint(raw, base, 64)
	if err != nil {
		c.errorf(n, "integral constant %s is too large", n.Raw)
		return c.constOperand(tInt, n, int64(0))
	}
	switch {
	case !u && !l && v <= math.MaxInt32:
		return c.constOperand(tInt, n, int64(v))
	case !l && v <= math.MaxUint32:
		return c.constOperand(tUInt, n, int64(v))
	case !u && v <= math.MaxInt64:
		return c.constOperand(tLong, n, int64(v))
	}
	return c.constOperand(tULong, n, int64(v))
}

// ---- names ----

func (c *checker) checkIdent(n *Ident) *operand {
	if l := c.lookupLocal(n.Name); l != nil && len(n.TypeArgs) == 0 {
		return c.readLocal(l, n)
	}
	if n.Name == "context" && c.lookupLocal("context") == nil {
		return c.contextOperand(n)
	}
	if f := c.lookupFunc(n.Name); f != nil {
		c.errorf(n, "local function %s can only be called", n.Name)
		return errOp(n)
	}
	// a type or namespace
	if t := c.typeByName(n.Name, n.TypeArgs, n); t != nil {
		return &operand{t: t, n: n, tref: t}
	}
	if c.u.namespaces[n.Name] {
		return &operand{t: tErr, n: n, ns: n.Name}
	}
	cands := c.allNames()
	cands = append(cands, "context")
	cands = append(cands, c.u.typeNames()...)
	c.errorf(n, "unknown name %q%s", n.Name, suggest(n.Name, cands))
	return errOp(n)
}

// typeByName resolves a simple or qualified type name used in an expression
// (string.Empty, Encoding.UTF8, System.Text.Encoding).
func (c *checker) typeByName(name string, targs []*TypeExpr, n Node) *Type {
	te := &TypeExpr{Name: name, Args: targs}
	if n != nil {
		te.span = span{n.Pos(), n.End()}
	}
	return c.resolveTypeOpt(te, nil, false)
}

// readLocal reads a local variable, walking up to the frame that holds it.
func (c *checker) readLocal(l *local, n Node) *operand {
	if l.k != nil {
		op := c.constOperand(l.t, n, l.k)
		return op
	}
	up := c.frameFn().level - l.fn.level
	slot := l.slot
	op := &operand{t: l.t, n: n}
	get := func(f *frame) *frame {
		for i := 0; i < up; i++ {
			f = f.parent
		}
		return f
	}
	r := l.t.rep
	if up == 0 {
		switch r {
		case repBool:
			op.b = func(f *frame) bool { return f.b[slot] }
		case repI32:
			op.i = func(f *frame) int32 { return f.i[slot] }
		case repI64:
			op.l = func(f *frame) int64 { return f.l[slot] }
		case repF64:
			op.d = func(f *frame) float64 { return f.d[slot] }
		case repStr:
			op.s = func(f *frame) string { return f.s[slot] }
		default:
			op.o = func(f *frame) any { return f.o[slot] }
		}
	} else {
		switch r {
		case repBool:
			op.b = func(f *frame) bool { return get(f).b[slot] }
		case repI32:
			op.i = func(f *frame) int32 { return get(f).i[slot] }
		case repI64:
			op.l = func(f *frame) int64 { return get(f).l[slot] }
		case repF64:
			op.d = func(f *frame) float64 { return get(f).d[slot] }
		case repStr:
			op.s = func(f *frame) string { return get(f).s[slot] }
		default:
			op.o = func(f *frame) any { return get(f).o[slot] }
		}
	}
	if !l.readonly {
		op.lv = &lvalue{local: l}
	}
	return op
}

// storeLocal compiles `l = val` (val already converted to l's type).
func (c *checker) storeLocal(l *local, val *operand) fnV {
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
		g := val.b
		return func(f *frame) { v := g(f); get(f).b[slot] = v }
	case repI32:
		g := val.i
		return func(f *frame) { v := g(f); get(f).i[slot] = v }
	case repI64:
		g := val.l
		return func(f *frame) { v := g(f); get(f).l[slot] = v }
	case repF64:
		g := val.d
		return func(f *frame) { v := g(f); get(f).d[slot] = v }
	case repStr:
		g := val.s
		return func(f *frame) { v := g(f); get(f).s[slot] = v }
	}
	g := val.anyFn()
	return func(f *frame) { v := g(f); get(f).o[slot] = v }
}

// ---- conversions ----

// implicitNumeric is C#'s implicit numeric conversion table.
func implicitNumeric(from, to numKind) bool {
	if from == to {
		return true
	}
	switch from {
	case nkSByte:
		return to == nkShort || to == nkInt || to == nkLong || to >= nkFloat
	case nkByte:
		return to == nkShort || to == nkUShort || to == nkInt || to == nkUInt || to == nkLong || to == nkULong || to >= nkFloat
	case nkShort:
		return to == nkInt || to == nkLong || to >= nkFloat
	case nkUShort, nkChar:
		return to == nkInt || to == nkUInt || to == nkLong || to == nkULong || to >= nkFloat || (from == nkChar && to == nkUShort)
	case nkInt:
		return to == nkLong || to >= nkFloat
	case nkUInt:
		return to == nkLong || to == nkULong || to >= nkFloat
	case nkLong, nkULong:
		return to >= nkFloat
	case nkFloat:
		return to == nkDouble
	}
	return false
}

// constFits reports whether an integral constant fits a numeric type (implicit
// constant expression conversion).
func constFits(v int64, to numKind) bool {
	switch to {
	case nkSByte:
		return v >= math.MinInt8 && v <= math.MaxInt8
	case nkByte:
		return v >= 0 && v <= math.MaxUint8
	case nkShort:
		return v >= math.MinInt16 && v <= math.MaxInt16
	case nkUShort:
		return v >= 0 && v <= math.MaxUint16
	case nkInt:
		return v >= math.MinInt32 && v <= math.MaxInt32
	case nkUInt:
		return v >= 0 && v <= math.MaxUint32
	case nkLong:
		return true
	case nkULong:
		return v >= 0
	}
	return false
}

// convCost says whether op converts implicitly to t and how good the conversion is
// for overload resolution: 0 identical, 1 numeric widening, 2 reference/boxing,
// 3 user-defined (to JToken); -1 when there is no implicit conversion.
func (c *checker) convCost(op *operand, t *Type) int {
	from := op.t
	switch {
	case same(from, t):
		return 0
	case from.isError() || t.isError():
		return 0
	case from.kind == tkLambda:
		return -1
	case from.kind == tkNull:
		if t.isRef() || t.kind == tkNullable || from == tDefault && t.kind != tkVoid {
			return 1
		}
		return -1
	case t.kind == tkVoid || from.kind == tkVoid:
		return -1
	case from.isNumeric() && t.isNumeric():
		if from.num == nkChar && t.num != nkChar && !implicitNumeric(from.num, t.num) {
			return -1
		}
		if implicitNumeric(from.num, t.num) {
			return 1 + int(t.num) // prefer the nearest wider type
		}
		if op.isConst() && from.isIntegral() && from.num != nkChar && t.isIntegral() && t.num != nkChar {
			if v, ok := op.k.(int64); ok && constFits(v, t.num) && from.num == nkInt {
				return 1 + int(t.num)
			}
		}
		return -1
	case t.kind == tkNullable:
		if k := c.convCost(&operand{t: from, k: op.k}, t.elem); k >= 0 && from.kind != tkNullable {
			return k + 1
		}
		return -1
	case t == tObject:
		if from.kind == tkVoid {
			return -1
		}
		return 20
	case t.kind == tkEnum || from.kind == tkEnum:
		if op.isConst() && from.isIntegral() && op.k == int64(0) && t.kind == tkEnum {
			return 5
		}
		return -1
	}
	if c.isSubtype(from, t) {
		return 10
	}
	if c.implicitUser(from, t) {
		return 30
	}
	return -1
}

// isSubtype reports a reference conversion from a to b (base classes and
// interfaces, including IEnumerable<T> of enumerable types).
func (c *checker) isSubtype(a, b *Type) bool {
	if same(a, b) {
		return true
	}
	if b.def == nil {
		return false
	}
	// IEnumerable<T>, ICollection<T>, IList<T> ... of anything enumerable
	if be := c.seqIfaceElem(b); be != nil {
		if ae := c.elemType(a); ae != nil {
			if same(ae, be) || (!ae.value && c.isSubtype(ae, be)) || (be == tObject && !ae.value) {
				return c.ifaceApplies(a, b)
			}
		}
		return false
	}
	if b.def.name == "IEnumerable" && len(b.args) == 0 {
		return c.elemType(a) != nil
	}
	if a.kind == tkArray {
		return b.def.name == "Array" || b.def.name == "ICloneable"
	}
	if a.def == nil {
		return false
	}
	for d, t := a.def, a; d != nil; {
		for _, ifc := range d.ifaces {
			it := c.resolveType(mustType(ifc), bindOf(t))
			if same(it, b) {
				return true
			}
		}
		if d.base == "" {
			break
		}
		bt := c.resolveType(mustType(d.base), bindOf(t))
		if same(bt, b) {
			return true
		}
		if bt.def == nil {
			break
		}
		d, t = bt.def, bt
	}
	return false
}

// ifaceApplies says whether a type implements a collection interface: arrays and
// lists implement IList/ICollection; other enumerables only IEnumerable.
func (c *checker) ifaceApplies(a, b *Type) bool {
	switch b.def.name {
	case "IEnumerable":
		return true
	case "ICollection", "IList", "IReadOnlyList", "IReadOnlyCollection":
		if a.kind == tkArray {
			return true
		}
		if a.def != nil {
			switch a.def.name {
			case "List", "IList", "ICollection", "IReadOnlyList", "IReadOnlyCollection":
				return true
			case "HashSet", "ISet":
				return b.def.name == "ICollection" || b.def.name == "IReadOnlyCollection"
			}
		}
	}
	return false
}

// seqIfaceElem returns T for IEnumerable<T>, ICollection<T>, IList<T> and friends.
func (c *checker) seqIfaceElem(t *Type) *Type {
	if t.def == nil || len(t.args) != 1 {
		return nil
	}
	switch t.def.name {
	case "IEnumerable", "ICollection", "IList", "IReadOnlyList", "IReadOnlyCollection":
		return t.args[0]
	}
	return nil
}

// elemType returns the element type when t is enumerable.
func (c *checker) elemType(t *Type) *Type {
	switch {
	case t.kind == tkArray:
		return t.elem
	case t == tString:
		return tChar
	case t.def != nil && t.def.elem != nil:
		return t.def.elem(t)
	}
	return nil
}

func bindOf(t *Type) map[string]*Type {
	if t.kind == tkNullable {
		return map[string]*Type{"T": t.elem}
	}
	if t.def == nil || len(t.def.params) == 0 {
		return nil
	}
	m := make(map[string]*Type, len(t.args))
	for i, p := range t.def.params {
		if i < len(t.args) {
			m[p] = t.args[i]
		}
	}
	return m
}

func mustType(s string) *TypeExpr {
	p := newParser(s, 0, len(s))
	return p.parseType(true)
}

// convert converts op to t, reporting an error if there is no conversion of the
// requested kind.
func (c *checker) convert(op *operand, t *Type, explicit bool) *operand {
	if op.t.isError() || t.isError() {
		return errOpOf(t, op.n)
	}
	if op.tref != nil || op.ns != "" {
		c.errorf(op.n, "%s is a type, not a value", c.describe(op.n))
		return errOpOf(t, op.n)
	}
	if same(op.t, t) {
		return op
	}
	if r := c.conv(op, t, explicit); r != nil {
		return r
	}
	what := "implicitly convert"
	if explicit {
		what = "convert"
	}
	hint := ""
	if !explicit {
		if c.conv(op, t, true) != nil {
			hint = " (an explicit conversion exists: add a cast)"
		}
	}
	c.errorf(op.n, "cannot %s type %s to %s%s", what, op.t.Name, t.Name, hint)
	return errOpOf(t, op.n)
}

// errOpOf is an erroneous operand with the code shape of t, so that checking can go on.
func errOpOf(t *Type, n Node) *operand {
	op := &operand{t: t, n: n}
	switch t.rep {
	case repBool:
		op.b = func(*frame) bool { return false }
	case repI32:
		op.i = func(*frame) int32 { return 0 }
	case repI64:
		op.l = func(*frame) int64 { return 0 }
	case repF64:
		op.d = func(*frame) float64 { return 0 }
	case repStr:
		op.s = func(*frame) string { return nullStr }
	case repVoid:
		op.v = func(*frame) {}
	default:
		op.o = func(*frame) any { return nil }
	}
	if t.isError() {
		op.t = tErr
	}
	return op
}

// conv returns the converted operand or nil if there is no such conversion.
func (c *checker) conv(op *operand, t *Type, explicit bool) *operand {
	from := op.t
	n := op.n
	if from.kind == tkLambda {
		return nil
	}
	if from.kind == tkNull {
		if t.isRef() || t.kind == tkNullable {
			return c.constOperand(t, n, kNull)
		}
		if from == tDefault && t.kind != tkVoid {
			return c.zeroOf(t, n)
		}
		return nil
	}
	if from.kind == tkVoid || t.kind == tkVoid {
		return nil
	}
	// numeric
	if from.isNumeric() && t.isNumeric() {
		if !explicit && c.convCost(op, t) < 0 {
			return nil
		}
		return c.numConv(op, t, explicit && c.checked)
	}
	// enum <-> integral (explicit)
	if from.kind == tkEnum && t.isIntegral() && explicit {
		return c.numConv(&operand{t: tLong, n: n, l: op.l, k: op.k}, t, false)
	}
	if t.kind == tkEnum && from.isIntegral() && (explicit || op.k == int64(0)) {
		l := c.numConv(op, tLong, false)
		return &operand{t: t, n: n, l: l.l, k: l.k}
	}
	// nullable
	if t.kind == tkNullable {
		if from.kind == tkNullable {
			if explicit && c.conv(&operand{t: from.elem}, t.elem, true) != nil {
				inner := c.conv(fromAny(from.elem, n, op.anyFn()), t.elem, true)
				g, h := op.anyFn(), inner.anyFn()
				return &operand{t: t, n: n, o: func(f *frame) any {
					if g(f) == nil {
						return nil
					}
					return h(f)
				}}
			}
			return nil
		}
		// Newtonsoft's explicit operator int?(JToken) and its kin give null for
		// a missing token or a JSON null, so they must not go through int first.
		if explicit {
			if r := c.explicitUser(op, t); r != nil {
				return r
			}
		}
		inner := c.conv(op, t.elem, explicit)
		if inner == nil {
			if from == tObject && explicit {
				return c.unbox(op, t)
			}
			return nil
		}
		return &operand{t: t, n: n, o: inner.anyFn()}
	}
	if from.kind == tkNullable {
		if t == tObject {
			return &operand{t: t, n: n, o: op.anyFn()}
		}
		if !explicit {
			return nil
		}
		inner := c.conv(&operand{t: from.elem, n: n}, t, true)
		if inner == nil {
			return nil
		}
		g := op.anyFn()
		desc := c.describe(n)
		pos := n.Pos()
		unwrapped := fromAny(from.elem, n, func(f *frame) any {
			v := g(f)
			if v == nil {
				throwAt(pos, "InvalidOperationException", "Nullable object must have a value: %s is null", desc)
			}
			return v
		})
		return c.conv(unwrapped, t, true)
	}
	// to object: boxing
	if t == tObject {
		return &operand{t: t, n: n, o: op.anyFn()}
	}
	// user-defined implicit to JToken
	if c.implicitUser(from, t) {
		return c.userConv(op, t)
	}
	// reference conversions
	if c.isSubtype(from, t) {
		cp := *op
		cp.t = t
		cp.lv = nil
		cp.k = nil
		if t.rep != from.rep {
			return fromAny(t, n, op.anyFn())
		}
		return &cp
	}
	if !explicit {
		return nil
	}
	// explicit: user-defined from JToken
	if r := c.explicitUser(op, t); r != nil {
		return r
	}
	// unboxing and downcasts
	if from == tObject || c.isSubtype(t, from) || (from.def != nil && isInterface(from.def)) {
		return c.unbox(op, t)
	}
	// char <-> numeric handled above; string <-> char[] no.
	return nil
}

func isInterface(d *typeDef) bool {
	return len(d.name) > 1 && d.name[0] == 'I' && d.name[1] >= 'A' && d.name[1] <= 'Z' && d.elem != nil
}

// numConv converts between numeric types with C#'s unchecked semantics (or
// checked, throwing OverflowException).
func (c *checker) numConv(op *operand, t *Type, checked bool) *operand {
	from := op.t
	n := op.n
	pos := n.Pos()
	r := &operand{t: t, n: n}
	if from.num == t.num {
		cp := *op
		cp.t = t
		cp.lv = nil
		return &cp
	}
	if from.num == nkDecimal || t.num == nkDecimal {
		return c.foldConst(decConv(op, t), op)
	}
	// read the source as int64 or float64
	var li fnL
	var di fnD
	switch from.rep {
	case repI32:
		g := op.i
		li = func(f *frame) int64 { return int64(g(f)) }
	case repI64:
		g := op.l
		if from.num == nkULong {
			li = g
			di = func(f *frame) float64 { return float64(uint64(g(f))) }
		} else {
			li = g
		}
	case repF64:
		di = op.d
	}
	if di == nil && li != nil {
		l := li
		di = func(f *frame) float64 { return float64(l(f)) }
	}
	srcFloat := from.rep == repF64
	switch t.rep {
	case repF64:
		if t.num == nkFloat {
			g := di
			r.d = func(f *frame) float64 { return float64(float32(g(f))) }
		} else {
			r.d = di
		}
	case repI32, repI64:
		var src fnL
		if srcFloat {
			g := di
			tn := t.num
			src = func(f *frame) int64 {
				v := g(f)
				if checked && !floatFits(v, tn) {
					throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
				}
				return floatToInt(v, tn)
			}
		} else {
			src = li
			if checked {
				g := li
				tn, fromU := t.num, from.num == nkULong
				src = func(f *frame) int64 {
					v := g(f)
					if fromU && v < 0 || !constFits(v, tn) && !(tn == nkULong && !fromU && v >= 0) {
						if !(tn == nkULong && fromU) {
							throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
						}
					}
					return v
				}
			}
		}
		wrap := wrapFn(t.num)
		if t.rep == repI32 {
			g := src
			r.i = func(f *frame) int32 { return int32(wrap(g(f))) }
		} else {
			g := src
			r.l = func(f *frame) int64 { return wrap(g(f)) }
		}
	}
	return c.foldConst(r, op)
}

// wrapFn truncates an int64 to the range of an integral type (unchecked cast).
func wrapFn(k numKind) func(int64) int64 {
	switch k {
	case nkSByte:
		return func(v int64) int64 { return int64(int8(v)) }
	case nkByte:
		return func(v int64) int64 { return int64(uint8(v)) }
	case nkShort:
		return func(v int64) int64 { return int64(int16(v)) }
	case nkUShort, nkChar:
		return func(v int64) int64 { return int64(uint16(v)) }
	case nkInt:
		return func(v int64) int64 { return int64(int32(v)) }
	case nkUInt:
		return func(v int64) int64 { return int64(uint32(v)) }
	}
	return func(v int64) int64 { return v }
}

// floatToInt converts a double to an integral type the way .NET Core 3.0+ does on
// x64 for unchecked casts: truncate toward zero, saturate out-of-range values, NaN
// becomes 0.
func floatToInt(v float64, k numKind) int64 {
	if math.IsNaN(v) {
		return 0
	}
	v = math.Trunc(v)
	lo, hi := intRange(k)
	if v <= lo {
		if k == nkULong {
			return 0
		}
		return int64(lo)
	}
	if v >= hi {
		if k == nkULong {
			return -1 // max uint64
		}
		return int64(hi)
	}
	if k == nkULong {
		return int64(uint64(v))
	}
	return int64(v)
}

func floatFits(v float64, k numKind) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	lo, hi := intRange(k)
	v = math.Trunc(v)
	return v >= lo && v <= hi
}

func intRange(k numKind) (float64, float64) {
	switch k {
	case nkSByte:
		return math.MinInt8, math.MaxInt8
	case nkByte:
		return 0, math.MaxUint8
	case nkShort:
		return math.MinInt16, math.MaxInt16
	case nkUShort, nkChar:
		return 0, math.MaxUint16
	case nkInt:
		return math.MinInt32, math.MaxInt32
	case nkUInt:
		return 0, math.MaxUint32
	case nkULong:
		return 0, math.MaxUint64
	}
	return math.MinInt64, math.MaxInt64
}

// foldConst evaluates op once if all of ins are constants. It reports a compile
// error when the evaluation throws (division by constant zero).
func (c *checker) foldConst(op *operand, ins ...*operand) *operand {
	for _, in := range ins {
		if in == nil || !in.isConst() || in.k == kNull {
			return op
		}
	}
	var v any
	failed := func() (failed bool) {
		defer func() {
			if r := recover(); r != nil {
				failed = true
			}
		}()
		f := &frame{}
		switch op.t.rep {
		case repBool:
			v = op.b(f)
		case repI32:
			v = int64(op.i(f))
		case repI64:
			v = op.l(f)
		case repF64:
			v = op.d(f)
		case repStr:
			v = op.s(f)
			if isNull(v.(string)) {
				v = kNull
			}
		default:
			if op.t != tDecimal {
				return true
			}
			v = op.o(f)
		}
		return false
	}()
	if failed {
		if ex := c.foldError(op); ex != "" {
			c.errorf(op.n, "%s", ex)
		}
		return op
	}
	k := c.constOperand(op.t, op.n, v)
	return k
}

func (c *checker) foldError(op *operand) string {
	if b, ok := op.n.(*Binary); ok && (b.Op == "/" || b.Op == "%") && (op.t.isIntegral() || op.t == tDecimal) {
		return "division by constant zero"
	}
	return ""
}

// decConv converts to or from decimal: integers convert exactly, float and
// double to 7 and 15 significant digits, and decimal to an integral type
// truncates and throws OverflowException when out of range, checked or not.
func decConv(op *operand, t *Type) *operand {
	from := op.t
	r := &operand{t: t, n: op.n}
	pos := op.n.Pos()
	if t.num == nkDecimal {
		switch from.rep {
		case repI32:
			g := op.i
			r.o = func(f *frame) any { return decFromInt64(int64(g(f))) }
		case repI64:
			g := op.l
			if from.num == nkULong {
				r.o = func(f *frame) any { return Decimal{lo: uint64(g(f))} }
			} else {
				r.o = func(f *frame) any { return decFromInt64(g(f)) }
			}
		case repF64:
			g, digits := op.d, 15
			if from.num == nkFloat {
				digits = 7
			}
			r.o = func(f *frame) any {
				v := g(f)
				defer atPos(pos)
				return decFromFloat(v, digits)
			}
		}
		return r
	}
	g := op.o
	switch t.rep {
	case repF64:
		if t.num == nkFloat {
			r.d = func(f *frame) float64 { return float64(float32(g(f).(Decimal).Float64())) }
		} else {
			r.d = func(f *frame) float64 { return g(f).(Decimal).Float64() }
		}
	case repI32:
		k := t.num
		r.i = func(f *frame) int32 {
			d := g(f).(Decimal)
			defer atPos(pos)
			return int32(decToInt(d, k))
		}
	case repI64:
		k := t.num
		r.l = func(f *frame) int64 {
			d := g(f).(Decimal)
			defer atPos(pos)
			return decToInt(d, k)
		}
	}
	return r
}
