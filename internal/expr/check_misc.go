package expr

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ---- assignment ----

func (c *checker) checkAssign(n *Assign) *operand {
	x := c.checkExpr(n.X)
	if x.t.isError() {
		c.checkExpr(n.Y)
		return errOp(n)
	}
	if x.lv == nil {
		if l, ok := n.X.(*Ident); ok && c.lookupLocal(l.Name) != nil && c.lookupLocal(l.Name).readonly {
			c.errorf(n.X, "cannot assign to %s: it is a foreach or using variable", l.Name)
		} else if x.tref != nil {
			c.errorf(n.X, "cannot assign to a type")
		} else {
			c.errorf(n.X, "cannot assign to %s: it is read-only", c.describe(n.X))
		}
		c.checkExpr(n.Y)
		return errOp(n)
	}
	if n.Op == "=" {
		var y *operand
		if na, ok := n.Y.(*NewArray); ok && na.Elem == nil && na.Size == nil && x.t.kind == tkArray {
			y = c.checkNewArray(na, x.t)
		} else {
			y = c.checkExpr(n.Y)
		}
		val := c.convert(y, x.t, false)
		var store fnV
		if x.lv.local != nil {
			store = c.storeLocal(x.lv.local, val)
		} else {
			store = x.lv.store(c, val)
		}
		r := seqValue(x, store, false)
		r.v = store
		r.n = n
		return r
	}
	if n.Op == "??=" {
		if x.t.value && x.t.kind != tkNullable {
			c.errorf(n, "operator ??= cannot be applied to a value of type %s", x.t.Name)
			return errOp(n)
		}
		y := c.convert(c.checkExpr(n.Y), x.t, false)
		var store fnV
		if x.lv.local != nil {
			store = c.storeLocal(x.lv.local, y)
		} else {
			store = x.lv.store(c, y)
		}
		var isNil fnB
		if x.t.rep == repStr {
			g := x.s
			isNil = func(f *frame) bool { return isNull(g(f)) }
		} else {
			g := x.anyFn()
			isNil = func(f *frame) bool { return g(f) == nil }
		}
		st := store
		store = func(f *frame) {
			if isNil(f) {
				st(f)
			}
		}
		r := seqValue(x, store, false)
		r.v = store
		return r
	}
	op := strings.TrimSuffix(n.Op, "=")
	y := c.checkExpr(n.Y)
	if y.t.isError() {
		return errOp(n)
	}
	compute := func(old *operand) *operand {
		b := &Binary{span: n.span, Op: op, OpPos: n.OpPos, X: n.X, Y: n.Y}
		var r *operand
		switch {
		case op == "+" && (old.t == tString || y.t == tString):
			r = c.concat(b, old, y)
		case op == "<<" || op == ">>":
			r = c.shift(b, old, y)
		case (op == "+" || op == "-") && (defName(old.t) == "DateTime" || defName(old.t) == "TimeSpan" || defName(old.t) == "DateTimeOffset"):
			r = c.timeArith(b, old, y)
			if r == nil {
				c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, old.t.Name, y.t.Name)
				return errOpOf(x.t, n)
			}
		case underlying(old.t) == tBool && (op == "&" || op == "|" || op == "^"):
			r = c.checkBinaryOps(b, old, y)
		default:
			if !old.t.isNumeric() || !y.t.isNumeric() {
				c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, old.t.Name, y.t.Name)
				return errOpOf(x.t, n)
			}
			r = c.arith(b, op, old, y)
		}
		if r.t.isError() {
			return errOpOf(x.t, n)
		}
		return c.convert(r, x.t, true)
	}
	r := c.update(x, compute, false, n)
	r.n = n
	return r
}

// checkBinaryOps applies a bool operator to already-checked operands.
func (c *checker) checkBinaryOps(n *Binary, x, y *operand) *operand {
	xb, yb := c.convert(x, tBool, false), c.convert(y, tBool, false)
	a, b := xb.b, yb.b
	switch n.Op {
	case "&":
		return &operand{t: tBool, n: n, b: func(f *frame) bool { p, q := a(f), b(f); return p && q }}
	case "|":
		return &operand{t: tBool, n: n, b: func(f *frame) bool { p, q := a(f), b(f); return p || q }}
	}
	return &operand{t: tBool, n: n, b: func(f *frame) bool { return a(f) != b(f) }}
}

// ---- is, as, patterns ----

func (c *checker) checkIs(n *Is) *operand {
	x := c.checkExpr(n.X)
	if x.t.isError() {
		return errOpOf(tBool, n)
	}
	if x.tref != nil {
		c.errorf(n.X, "%s is a type, not a value", x.t.Name)
		return errOpOf(tBool, n)
	}
	// evaluate the subject once into a temporary when the pattern reads it more
	// than once
	tmp := c.declareTemp(x.t)
	store := c.storeLocal(tmp, x)
	subj := c.readLocal(tmp, n.X)
	subj.lv = nil
	test := c.checkPattern(n.Pat, subj)
	return &operand{t: tBool, n: n, b: func(f *frame) bool { store(f); return test(f) }}
}

// checkPattern compiles a pattern test against subj (which can be read many times).
func (c *checker) checkPattern(p Pattern, subj *operand) fnB {
	switch p := p.(type) {
	case *TypePattern:
		if p.Type == nil && p.Name == "_" { // discard
			return func(*frame) bool { return true }
		}
		if p.Type == nil { // var x
			l := c.declare(p.Name, subj.t, p.Pos(), p)
			st := c.storeLocal(l, subj)
			return func(f *frame) bool { st(f); return true }
		}
		t := c.resolveTypeOpt(p.Type, nil, false)
		if t == nil {
			// not a type: a constant such as JTokenType.Null
			if p.Name == "" {
				sub := newParser(c.src, p.Pos(), p.End())
				var x Node
				func() {
					defer func() {
						if r := recover(); r != nil {
							x = nil
						}
					}()
					x = sub.parseExpr()
				}()
				if x != nil {
					return c.constPattern(&ConstPattern{span: p.span, X: x}, subj)
				}
			}
			c.resolveType(p.Type, nil) // report
			return func(*frame) bool { return false }
		}
		if t.isError() {
			return func(*frame) bool { return false }
		}
		test := c.instanceTest(subj, t, p)
		if p.Name == "" {
			return test
		}
		l := c.declare(p.Name, t, p.Pos(), p)
		val := c.unboxUnchecked(subj, t)
		st := c.storeLocal(l, val)
		return func(f *frame) bool {
			if !test(f) {
				return false
			}
			st(f)
			return true
		}
	case *ConstPattern:
		return c.constPattern(p, subj)
	case *NotPattern:
		g := c.checkPattern(p.P, subj)
		return func(f *frame) bool { return !g(f) }
	case *BinPattern:
		a, b := c.checkPattern(p.X, subj), c.checkPattern(p.Y, subj)
		if p.Op == "and" {
			return func(f *frame) bool { return a(f) && b(f) }
		}
		return func(f *frame) bool { return a(f) || b(f) }
	case *RelPattern:
		k := c.checkExpr(p.X)
		if !k.isConst() {
			c.errorf(p.X, "a relational pattern needs a constant")
			return func(*frame) bool { return false }
		}
		st := underlying(subj.t)
		if !st.isNumeric() && st != tObject {
			c.errorf(p, "relational patterns apply to numbers, not %s", subj.t.Name)
			return func(*frame) bool { return false }
		}
		val := subj
		var nonNull fnB = func(*frame) bool { return true }
		if subj.t.rep == repAny && !subj.t.isNumeric() {
			g := subj.anyFn()
			kt := k.t
			if u := underlying(subj.t); u.isNumeric() {
				kt = u // decimal? is > 0: the constant converts to decimal
			}
			nonNull = func(f *frame) bool {
				v := g(f)
				return v != nil && sameRuntimeNumeric(v, kt)
			}
			val = fromAny(kt, p, g)
		}
		cmp := c.relational(&Binary{span: p.span, Op: p.Op, X: p, Y: p.X}, val, k)
		g := cmp.b
		return func(f *frame) bool { return nonNull(f) && g(f) }
	}
	return func(*frame) bool { return false }
}

func sameRuntimeNumeric(v any, t *Type) bool {
	switch v.(type) {
	case int32:
		return t.num == nkInt
	case int64:
		return t.num == nkLong
	case float64:
		return t.num == nkDouble
	case Decimal:
		return t.num == nkDecimal
	}
	return false
}

func (c *checker) constPattern(p *ConstPattern, subj *operand) fnB {
	k := c.checkExpr(p.X)
	if k.t.isError() {
		return func(*frame) bool { return false }
	}
	if k.t.kind == tkNull {
		if subj.t.rep == repStr {
			g := subj.s
			return func(f *frame) bool { return isNull(g(f)) }
		}
		if subj.t.value && subj.t.kind != tkNullable {
			return func(*frame) bool { return false }
		}
		g := subj.anyFn()
		return func(f *frame) bool { return g(f) == nil }
	}
	if !k.isConst() {
		c.errorf(p.X, "a pattern needs a constant value")
		return func(*frame) bool { return false }
	}
	if subj.t == tObject || subj.t.kind == tkNullable {
		// object is "x": the value must have the constant's type and value;
		// for T? the constant converts to T first (decimal? is 0)
		if u := underlying(subj.t); subj.t.kind == tkNullable && c.convCost(k, u) >= 0 {
			k = c.convert(k, u, false)
		}
		g := subj.anyFn()
		kv := k.anyFn()(nil)
		return func(f *frame) bool { return valueEq(g(f), kv) }
	}
	eq := c.equality(&Binary{span: p.span, Op: "==", X: p.X, Y: p.X}, subj, k)
	if eq.b == nil {
		return func(*frame) bool { return false }
	}
	return eq.b
}

// instanceTest compiles `subj is T`.
func (c *checker) instanceTest(subj *operand, t *Type, n Node) fnB {
	st := subj.t
	if same(st, t) || (st.value && st.kind != tkNullable && c.convCost(subj, t) >= 0 && c.isSubtypeOrSame(st, t)) {
		if st.rep == repStr {
			g := subj.s
			return func(f *frame) bool { return !isNull(g(f)) }
		}
		if !st.value || st.kind == tkNullable {
			g := subj.anyFn()
			return func(f *frame) bool { return g(f) != nil }
		}
		return func(*frame) bool { return true }
	}
	test := c.typeTest(t)
	if test == nil {
		c.errorf(n, "cannot test for type %s at run time", t.Name)
		return func(*frame) bool { return false }
	}
	g := subj.anyFn()
	return func(f *frame) bool { return test(g(f)) }
}

func (c *checker) isSubtypeOrSame(a, b *Type) bool { return same(a, b) || c.isSubtype(a, b) }

// unboxUnchecked converts subj to t after a successful type test.
func (c *checker) unboxUnchecked(subj *operand, t *Type) *operand {
	if same(subj.t, t) {
		return subj
	}
	if c.convCost(subj, t) >= 0 {
		return c.convert(subj, t, false)
	}
	return fromAny(t, subj.n, subj.anyFn())
}

func (c *checker) checkAs(n *As) *operand {
	x := c.checkExpr(n.X)
	t := c.resolveType(n.Type, nil)
	if x.t.isError() || t.isError() {
		return errOpOf(t, n)
	}
	if t.value && t.kind != tkNullable {
		c.errorf(n, "the as operator must be used with a reference or nullable type; %s is a value type", t.Name)
		return errOpOf(t, n)
	}
	if c.convCost(x, t) >= 0 {
		r := c.convert(x, t, false)
		r.n = n
		return r
	}
	test := c.typeTest(t)
	if test == nil {
		c.errorf(n, "cannot test for type %s at run time", t.Name)
		return errOpOf(t, n)
	}
	g := x.anyFn()
	return fromAny(t, n, func(f *frame) any {
		v := g(f)
		if v != nil && test(v) {
			return v
		}
		return nil
	})
}

// ---- object creation ----

func (c *checker) checkNew(n *New) *operand {
	t := c.resolveType(n.Type, nil)
	if t.isError() {
		c.checkArgsForErrors(n.Args)
		return errOp(n)
	}
	var obj *operand
	d := c.defOf(t)
	switch {
	case t.kind == tkNullable:
		if len(n.Args) == 0 {
			obj = c.constOperand(t, n, kNull)
		} else {
			obj = c.convert(c.checkExpr(n.Args[0].X), t, false)
		}
	case d == nil || len(d.ctors) == 0:
		if t.value && len(n.Args) == 0 {
			obj = c.zeroOf(t, n)
			break
		}
		c.errorf(n, "cannot create an instance of %s", t.Name)
		c.checkArgsForErrors(n.Args)
		return errOp(n)
	default:
		if t.value && len(n.Args) == 0 {
			hasDefault := false
			for _, m := range d.ctors {
				if len(m.params) == 0 {
					hasDefault = true
				}
			}
			if !hasDefault {
				obj = c.zeroOf(t, n)
				break
			}
		}
		obj = c.resolveCall(d.ctors, t, nil, n.Args, n, nil, "")
	}
	if n.Init == nil || obj.t.isError() {
		return obj
	}
	// initializers run against a temporary holding the new object
	tmp := c.declareTemp(obj.t)
	store := c.storeLocal(tmp, obj)
	ref := &Ident{span: span{n.Pos(), n.Type.End()}, Name: "<new>"}
	if c.subst == nil {
		c.subst = map[Node]*operand{}
	}
	c.subst[ref] = c.readLocal(tmp, ref)
	var steps []fnV
	if n.Init.Kind == InitObject {
		for _, mi := range n.Init.Members {
			var target Node
			if mi.Index != nil {
				target = &Index{span: mi.span, X: ref, Args: mi.Index}
			} else {
				target = &Member{span: mi.span, X: ref, Name: mi.Name, NamePos: mi.Pos()}
			}
			if _, ok := mi.Value.(*Initializer); ok {
				c.errorf(mi, "nested initializers are not supported; assign a new object")
				continue
			}
			a := c.checkAssign(&Assign{span: mi.span, Op: "=", OpPos: mi.Pos(), X: target, Y: mi.Value})
			if a.v != nil {
				steps = append(steps, a.v)
			}
		}
	} else {
		for _, it := range n.Init.Items {
			var args []*Arg
			if el, ok := it.(*ElemList); ok {
				for _, x := range el.Items {
					args = append(args, &Arg{span: span{x.Pos(), x.End()}, X: x})
				}
			} else {
				args = []*Arg{{span: span{it.Pos(), it.End()}, X: it}}
			}
			call := &Call{span: span{it.Pos(), it.End()}, Fun: &Member{span: span{it.Pos(), it.End()}, X: ref, Name: "Add", NamePos: it.Pos()}, Args: args}
			op := c.checkCall(call)
			if op.t.isError() {
				continue
			}
			if op.v != nil {
				steps = append(steps, op.v)
			} else {
				g := op.anyFn()
				steps = append(steps, func(f *frame) { g(f) })
			}
		}
	}
	delete(c.subst, ref)
	read := c.readLocal(tmp, n)
	read.lv = nil
	g := read.anyFn()
	return fromAny(obj.t, n, func(f *frame) any {
		store(f)
		for _, s := range steps {
			s(f)
		}
		return g(f)
	})
}

// checkNewArray compiles new T[n], new T[] { ... } and new[] { ... }. want is the
// target type for `T[] a = { ... }`.
func (c *checker) checkNewArray(n *NewArray, want *Type) *operand {
	var et *Type
	if n.Elem != nil {
		et = c.resolveType(n.Elem, nil)
	} else if want != nil {
		et = want.elem
	}
	if et != nil && et.isError() {
		return errOp(n)
	}
	if n.Size != nil {
		size := c.convert(c.checkExpr(n.Size), tLong, false)
		if n.Init != nil {
			if !size.isConst() || size.k.(int64) != int64(len(n.Init.Items)) {
				c.errorf(n.Size, "the array size must be a constant equal to the number of initializer elements")
			}
		} else {
			g := size.l
			pos := n.Size.Pos()
			at := arrayOf(et)
			return &operand{t: at, n: n, o: func(f *frame) any {
				k := g(f)
				if k < 0 {
					throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow: negative array size")
				}
				f.alloc(int(min(k, 1<<40)) * elemSize(et))
				if k == 0 {
					return newEmptyArray(et)
				}
				return makeArray(et, int(k))
			}}
		}
	}
	var items []*operand
	for _, it := range n.Init.Items {
		if el, ok := it.(*Initializer); ok {
			var sub *Type
			if et != nil && et.kind == tkArray {
				sub = et
			}
			items = append(items, c.checkNewArray(&NewArray{span: el.span, Init: el}, orNil(sub)))
			continue
		}
		items = append(items, c.checkExpr(it))
	}
	if et == nil {
		// best common type of the elements
		for _, it := range items {
			if it.t.isError() || it.t.kind == tkNull {
				continue
			}
			if et == nil {
				et = it.t
				continue
			}
			if ct := c.commonType(&operand{t: et}, it); ct != nil {
				et = ct
			}
		}
		if et == nil {
			c.errorf(n, "no best type found for the implicitly typed array")
			return errOp(n)
		}
	}
	var fns []fnO
	for _, it := range items {
		fns = append(fns, c.convert(it, et, false).anyFn())
	}
	at := arrayOf(et)
	if len(fns) == 0 {
		return &operand{t: at, n: n, o: func(*frame) any { return newEmptyArray(et) }}
	}
	return &operand{t: at, n: n, o: func(f *frame) any {
		vals := make([]any, len(fns))
		for i, g := range fns {
			vals[i] = g(f)
		}
		f.alloc(len(vals) * elemSize(et))
		return makeArrayFrom(et, vals)
	}}
}

func orNil(t *Type) *Type {
	if t == nil {
		return nil
	}
	return arrayOf(t)
}

func (c *checker) checkNewAnon(n *NewAnon) *operand {
	t := &Type{kind: tkAnon, rep: repAny}
	var fns []fnO
	var parts []string
	names := append([]string(nil), n.Names...)
	for i, v := range n.Vals {
		op := c.checkExpr(v)
		if op.t.kind == tkNull || op.t.kind == tkVoid || op.t.kind == tkLambda {
			c.errorf(v, "cannot assign %s to an anonymous type property", describeType(op.t))
			op = errOp(v)
		}
		t.fields = append(t.fields, anonField{name: n.Names[i], typ: op.t})
		parts = append(parts, op.t.Name+" "+n.Names[i])
		fns = append(fns, op.anyFn())
	}
	t.Name = "<anonymous type: " + strings.Join(parts, ", ") + ">"
	return &operand{t: t, n: n, o: func(f *frame) any {
		vals := make([]any, len(fns))
		for i, g := range fns {
			vals[i] = g(f)
		}
		return &Anon{Names: names, Vals: vals}
	}}
}

// ---- interpolated strings ----

func (c *checker) checkInterp(n *InterpString) *operand {
	var parts []fnS
	allConst := true
	for _, p := range n.Parts {
		if p.X == nil {
			lit := p.Lit
			parts = append(parts, func(*frame) string { return lit })
			continue
		}
		allConst = false
		op := c.value(c.checkExpr(p.X))
		if op.t.isError() {
			continue
		}
		var s fnS
		if p.Format != "" {
			s = c.formatWith(op, p.Format, p.FormatPos)
		} else {
			s = c.toStr(op)
		}
		if p.Align != nil {
			a := c.convert(c.checkExpr(p.Align), tInt, false)
			if !a.isConst() {
				c.errorf(p.Align, "the alignment must be a constant")
			} else {
				width := int(a.k.(int64))
				inner := s
				s = func(f *frame) string { return pad(f, inner(f), width) }
			}
		}
		parts = append(parts, s)
	}
	if allConst {
		var b strings.Builder
		for _, p := range n.Parts {
			b.WriteString(p.Lit)
		}
		return c.constOperand(tString, n, b.String())
	}
	ps := parts
	return &operand{t: tString, n: n, s: func(f *frame) string {
		var buf [8]string
		vals := buf[:0]
		total := 0
		for _, p := range ps {
			s := p(f)
			total += len(s)
			vals = append(vals, s)
		}
		f.alloc(total)
		var b strings.Builder
		b.Grow(total)
		for _, s := range vals {
			b.WriteString(s)
		}
		return b.String()
	}}
}

// pad is a composite format's alignment: s padded with spaces to width
// characters, on the left (width > 0) or on the right.
func pad(f *frame, s string, width int) string {
	n := utf8.RuneCountInString(s)
	if w := max(width, -width); n < w {
		f.alloc(2 * (w - n + len(s))) // the padding, then the result
		f.work(w)
	}
	switch {
	case width > 0 && n < width:
		return strings.Repeat(" ", width-n) + s
	case width < 0 && n < -width:
		return s + strings.Repeat(" ", -width-n)
	}
	return s
}

// ---- switch expressions ----

func (c *checker) checkSwitchExpr(n *SwitchExpr) *operand {
	x := c.checkExpr(n.X)
	if x.t.isError() {
		return errOp(n)
	}
	tmp := c.declareTemp(x.t)
	store := c.storeLocal(tmp, x)
	subj := c.readLocal(tmp, n.X)
	var tests []fnB
	var vals []*operand
	var t *Type
	for i, arm := range n.Arms {
		c.push()
		test := c.checkPattern(arm, subj)
		if g := n.Guard[i]; g != nil {
			gb := c.convert(c.checkExpr(g), tBool, false).b
			inner := test
			test = func(f *frame) bool { return inner(f) && gb(f) }
		}
		v := c.checkExpr(n.Vals[i])
		c.pop()
		tests = append(tests, test)
		vals = append(vals, v)
		if v.t.isError() || v.t.kind == tkNull {
			continue
		}
		if t == nil {
			t = v.t
		} else if ct := c.commonType(&operand{t: t}, v); ct != nil {
			t = ct
		}
	}
	if t == nil {
		t = tObject
	}
	var fns []fnO
	for _, v := range vals {
		fns = append(fns, c.convert(v, t, false).anyFn())
	}
	pos := n.Pos()
	return fromAny(t, n, func(f *frame) any {
		store(f)
		for i, test := range tests {
			if test(f) {
				return fns[i](f)
			}
		}
		throwAt(pos, "InvalidOperationException", "the switch expression does not handle the value")
		return nil
	})
}

// ---- user-defined conversions (Newtonsoft JToken) ----

// implicitUser reports Newtonsoft's implicit conversions from primitive values to
// JToken.
func (c *checker) implicitUser(from, to *Type) bool {
	if defName(from) == "DateTime" && defName(to) == "DateTimeOffset" {
		return true
	}
	if from == tString && (defName(to) == "XName" || defName(to) == "XNamespace") {
		return true
	}
	if defName(to) != "JToken" {
		return false
	}
	u := underlying(from)
	switch {
	case u.isNumeric(), u == tBool, u == tString:
		return true
	}
	switch defName(u) {
	case "DateTime", "DateTimeOffset", "Guid", "TimeSpan", "Uri":
		return true
	}
	return from.kind == tkArray && from.elem == tByte
}

func (c *checker) userConv(op *operand, to *Type) *operand {
	g := op.anyFn()
	switch defName(to) {
	case "DateTimeOffset":
		return &operand{t: to, n: op.n, o: func(f *frame) any { return dtoFromDateTime(g(f).(time.Time)) }}
	case "XName":
		return &operand{t: to, n: op.n, o: func(f *frame) any {
			s, ok := g(f).(string)
			if !ok {
				return nil
			}
			return xnameFrom(s)
		}}
	case "XNamespace":
		return &operand{t: to, n: op.n, o: func(f *frame) any {
			s, ok := g(f).(string)
			if !ok {
				return nil
			}
			return XNamespace{s}
		}}
	}
	return &operand{t: to, n: op.n, o: func(f *frame) any { return jvalueFrom(g(f)) }}
}

// explicitUser handles (string)token, (int)token and the other explicit
// conversions from JToken, and those from XElement and XAttribute.
func (c *checker) explicitUser(op *operand, to *Type) *operand {
	if r := c.explicitXML(op, to); r != nil {
		return r
	}
	if !c.isSubtypeOrSame(op.t, c.u.lookupDef("JToken", 0).typ()) {
		return nil
	}
	u := underlying(to)
	ok := u.isNumeric() || u == tBool || u == tString
	switch defName(u) {
	case "DateTime", "DateTimeOffset", "Guid", "TimeSpan", "Uri":
		ok = true
	}
	if to.kind == tkArray && to.elem == tByte {
		ok = true
	}
	if !ok {
		return nil
	}
	g := op.anyFn()
	pos := op.n.Pos()
	nullable := to.kind == tkNullable || !to.value
	return fromAny(to, op.n, func(f *frame) any {
		v, err := jtokenConvert(g(f), to, nullable)
		if err != nil {
			throwAt(pos, err.typ, "%s", err.msg)
		}
		return v
	})
}

// explicitXML is LINQ to XML's explicit operators on XElement and XAttribute:
// (string), (bool), (int), (long), (double), (DateTime), ... and their
// nullables read the element's or attribute's Value as XmlConvert does. A null
// element or attribute converts to null for string and the nullable types, and
// throws ArgumentNullException for the others.
func (c *checker) explicitXML(op *operand, to *Type) *operand {
	var param string
	switch {
	case c.isSubtypeOrSame(op.t, c.u.lookupDef("XElement", 0).typ()):
		param = "element"
	case c.isSubtypeOrSame(op.t, c.u.lookupDef("XAttribute", 0).typ()):
		param = "attribute"
	default:
		return nil
	}
	u := underlying(to)
	if !xmlConvertible(u) {
		return nil
	}
	g := op.anyFn()
	pos := op.n.Pos()
	nullable := to.kind == tkNullable || !to.value
	return fromAny(to, op.n, func(f *frame) any {
		v := g(f)
		missing := v == nil
		var s string
		switch x := v.(type) {
		case *XElement:
			if missing = x == nil; !missing {
				s = x.value(f)
			}
		case *XAttribute:
			if missing = x == nil; !missing {
				s = x.Value
			}
		}
		if missing {
			if nullable {
				return nil
			}
			throwAt(pos, "ArgumentNullException", "Value cannot be null. (Parameter '%s')", param)
		}
		r, exc := xmlConvert(s, u)
		if exc != nil {
			throwAt(pos, exc.typ, "%s", exc.msg)
		}
		return r
	})
}

// unbox compiles an explicit conversion from object or a base type with a run-time
// type check.
func (c *checker) unbox(op *operand, t *Type) *operand {
	test := c.typeTest(t)
	if test == nil {
		return nil
	}
	g := op.anyFn()
	pos := op.n.Pos()
	desc := c.describe(op.n)
	if t == tString {
		// the hot path of (string)context.Variables["x"]
		return &operand{t: t, n: op.n, s: func(f *frame) string {
			v := g(f)
			if v == nil {
				return nullStr
			}
			s, ok := v.(string)
			if !ok {
				throwAt(pos, "InvalidCastException", "Unable to cast object of type '%s' to type 'System.String' (%s)", dotnetTypeName(v), desc)
			}
			return s
		}}
	}
	valueType := t.value && t.kind != tkNullable
	tn := t
	conv := fromAny(t, op.n, func(f *frame) any {
		v := g(f)
		if v == nil {
			if valueType {
				throwAt(pos, "NullReferenceException", "%s: cannot unbox null to %s (%s is null)", nreMsg, tn.Name, desc)
			}
			return nil
		}
		if !test(v) {
			throwAt(pos, "InvalidCastException", "Unable to cast object of type '%s' to type '%s' (%s)", dotnetTypeName(v), clrName(tn), desc)
		}
		return normalizeUnboxed(v, tn)
	})
	return conv
}

// typeTest returns the run-time test for `is T`, or nil if T cannot be tested.
func (c *checker) typeTest(t *Type) func(any) bool {
	switch t.kind {
	case tkNullable:
		inner := c.typeTest(t.elem)
		if inner == nil {
			return nil
		}
		return inner
	case tkArray:
		return arrayTest(t.elem)
	case tkAnon:
		return func(v any) bool { _, ok := v.(*Anon); return ok }
	}
	switch t {
	case tObject:
		return func(v any) bool { return v != nil }
	case tString:
		return func(v any) bool { _, ok := v.(string); return ok }
	case tBool:
		return func(v any) bool { _, ok := v.(bool); return ok }
	case tInt:
		return func(v any) bool {
			switch v.(type) {
			case int32, int:
				return true
			}
			return false
		}
	case tLong:
		return func(v any) bool { _, ok := v.(int64); return ok }
	case tDouble:
		return func(v any) bool { _, ok := v.(float64); return ok }
	case tDecimal:
		return func(v any) bool { _, ok := v.(Decimal); return ok }
	case tFloat:
		return func(v any) bool { _, ok := v.(float32); return ok }
	case tChar:
		return func(v any) bool { _, ok := v.(Char); return ok }
	case tByte:
		return func(v any) bool { _, ok := v.(uint8); return ok }
	case tSByte:
		return func(v any) bool { _, ok := v.(int8); return ok }
	case tShort:
		return func(v any) bool { _, ok := v.(int16); return ok }
	case tUShort:
		return func(v any) bool { _, ok := v.(uint16); return ok }
	case tUInt:
		return func(v any) bool { _, ok := v.(uint32); return ok }
	case tULong:
		return func(v any) bool { _, ok := v.(uint64); return ok }
	}
	if t.def != nil {
		if t.kind == tkEnum {
			d := t.def
			return func(v any) bool { e, ok := v.(Enum); return ok && e.def == d }
		}
		if g := t.def.is; g != nil {
			return g
		}
		if exceptionIs(t.def.name, "Exception") {
			name := t.def.name
			return func(v any) bool { e, ok := v.(*exception); return ok && exceptionIs(e.typ, name) }
		}
		if t.def.elem != nil {
			// an interface such as IEnumerable<T>
			return func(v any) bool { return isIterable(v) }
		}
	}
	return nil
}

var _ = fmt.Sprintf
