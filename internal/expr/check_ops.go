package expr

import (
	"math"
	"strings"
	"time"
)

// value rejects operands that are not values (lambdas, types, namespaces,
// methods that return nothing) where a value is needed; it returns an erroneous
// operand after reporting.
func (c *checker) value(op *operand) *operand {
	switch {
	case op.t.isError() && op.tref == nil && op.ns == "":
		return op
	case op.tref != nil || op.ns != "":
		c.errorf(op.n, "%s is a type, not a value", c.describe(op.n))
	case op.t.kind == tkLambda:
		c.errorf(op.n, "a lambda expression can only be passed to a method such as Where or Select")
	case op.t.kind == tkVoid:
		c.errorf(op.n, "%s returns nothing; it has no value", c.describe(op.n))
	default:
		return op
	}
	return errOp(op.n)
}

// promote applies C#'s binary numeric promotion; nil if the operands cannot be
// combined (e.g. ulong with a signed type, or decimal with double).
func promote(a, b *Type) *Type {
	x, y := a.num, b.num
	switch {
	case x == nkDecimal || y == nkDecimal:
		if x == nkFloat || x == nkDouble || y == nkFloat || y == nkDouble {
			return nil
		}
		return tDecimal
	case x == nkDouble || y == nkDouble:
		return tDouble
	case x == nkFloat || y == nkFloat:
		return tFloat
	case x == nkULong || y == nkULong:
		o := y
		if y == nkULong {
			o = x
		}
		if o == nkSByte || o == nkShort || o == nkInt || o == nkLong {
			return nil
		}
		return tULong
	case x == nkLong || y == nkLong:
		return tLong
	case x == nkUInt || y == nkUInt:
		o := y
		if y == nkUInt {
			o = x
		}
		if o == nkSByte || o == nkShort || o == nkInt {
			return tLong
		}
		return tUInt
	}
	return tInt
}

// promoteConst is promote, but an int constant that fits uint/ulong adopts it
// (as C#'s constant conversions allow: `x & 0xFF` with x uint).
func promoteConst(a, b *operand) *Type {
	if a.t.num == nkUInt && b.isConst() && b.t.num == nkInt {
		if v, ok := b.k.(int64); ok && v >= 0 {
			return tUInt
		}
	}
	if b.t.num == nkUInt && a.isConst() && a.t.num == nkInt {
		if v, ok := a.k.(int64); ok && v >= 0 {
			return tUInt
		}
	}
	if a.t.num == nkULong && b.isConst() && b.t.isIntegral() {
		if v, ok := b.k.(int64); ok && v >= 0 {
			return tULong
		}
	}
	if b.t.num == nkULong && a.isConst() && a.t.isIntegral() {
		if v, ok := a.k.(int64); ok && v >= 0 {
			return tULong
		}
	}
	return promote(a.t, b.t)
}

func (c *checker) checkUnary(n *Unary) *operand {
	switch n.Op {
	case "++", "--":
		x := c.checkExpr(n.X)
		return c.incDec(n, x)
	case "^":
		c.errorf(n, "index-from-end (^) is not supported in policy expressions")
		return errOp(n)
	}
	x := c.value(c.checkExpr(n.X))
	if x.t.isError() {
		return errOp(n)
	}
	pos := n.Pos()
	switch n.Op {
	case "!":
		if underlying(x.t) != tBool {
			c.errorf(n, "operator ! cannot be applied to an operand of type %s", x.t.Name)
			return errOp(n)
		}
		if x.t.kind == tkNullable {
			g := x.anyFn()
			return &operand{t: x.t, n: n, o: func(f *frame) any {
				v := g(f)
				if v == nil {
					return nil
				}
				return !v.(bool)
			}}
		}
		g := x.b
		return c.foldConst(&operand{t: tBool, n: n, b: func(f *frame) bool { return !g(f) }}, x)
	case "-", "+", "~":
		if !x.t.isNumeric() {
			c.errorf(n, "operator %s cannot be applied to an operand of type %s", n.Op, x.t.Name)
			return errOp(n)
		}
		t := promote(x.t, tInt)
		if n.Op == "-" && x.t.num == nkUInt {
			t = tLong
		}
		if n.Op == "-" && x.t.num == nkULong {
			// -9223372036854775808 is parsed as -(ulong constant)
			if x.isConst() && uint64(x.k.(int64)) == 1<<63 {
				return c.constOperand(tLong, n, int64(math.MinInt64))
			}
			c.errorf(n, "operator - cannot be applied to an operand of type ulong")
			return errOp(n)
		}
		if n.Op == "~" && !t.isIntegral() {
			c.errorf(n, "operator ~ cannot be applied to an operand of type %s", x.t.Name)
			return errOp(n)
		}
		if x.t.num == nkInt && n.Op == "-" && x.isConst() {
			if v := x.k.(int64); v == 2147483648 {
				return c.constOperand(tInt, n, int64(math.MinInt32))
			}
		}
		// -2147483648 is int.MinValue: the literal 2147483648 is uint.
		if x.t.num == nkUInt && n.Op == "-" && x.isConst() && x.k.(int64) == 2147483648 {
			if _, ok := n.X.(*Literal); ok {
				return c.constOperand(tInt, n, int64(math.MinInt32))
			}
		}
		v := c.numConv(x, t, false)
		r := &operand{t: t, n: n}
		checked := c.checked
		switch t.rep {
		case repI32:
			g := v.i
			switch n.Op {
			case "-":
				r.i = func(f *frame) int32 {
					a := g(f)
					if checked && a == math.MinInt32 {
						throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
					}
					return -a
				}
			case "+":
				r.i = g
			case "~":
				r.i = func(f *frame) int32 { return ^g(f) }
			}
		case repI64:
			g := v.l
			wrap := wrapFn(t.num)
			switch n.Op {
			case "-":
				r.l = func(f *frame) int64 { return wrap(-g(f)) }
			case "+":
				r.l = g
			case "~":
				r.l = func(f *frame) int64 { return wrap(^g(f)) }
			}
		case repF64:
			g := v.d
			if n.Op == "-" {
				r.d = func(f *frame) float64 { return -g(f) }
			} else {
				r.d = g
			}
		case repAny: // decimal
			g := v.o
			if n.Op == "-" {
				r.o = func(f *frame) any { return g(f).(Decimal).negate() }
			} else {
				r.o = g
			}
		}
		return c.foldConst(r, x)
	}
	c.errorf(n, "unsupported operator %s", n.Op)
	return errOp(n)
}

// incDec compiles ++x, x++, --x and x--.
func (c *checker) incDec(n *Unary, x *operand) *operand {
	if x.t.isError() {
		return errOp(n)
	}
	if !x.t.isNumeric() {
		c.errorf(n, "operator %s cannot be applied to an operand of type %s", n.Op, x.t.Name)
		return errOp(n)
	}
	if x.lv == nil {
		c.errorf(n, "the operand of %s must be a variable, property or indexer", n.Op)
		return errOp(n)
	}
	op := "+"
	if n.Op == "--" {
		op = "-"
	}
	one := c.constOperand(tInt, n, int64(1))
	compute := func(old *operand) *operand {
		r := c.arith(n, op, old, one)
		return c.numConv(r, x.t, false)
	}
	return c.update(x, compute, n.Postfix, n)
}

// update performs a read-modify-write on an lvalue.
func (c *checker) update(x *operand, compute func(old *operand) *operand, post bool, n Node) *operand {
	if x.lv.update != nil {
		return x.lv.update(c, compute, post)
	}
	l := x.lv.local
	if l == nil {
		c.errorf(n, "cannot assign to %s", c.describe(x.n))
		return errOp(n)
	}
	newVal := compute(x)
	store := c.storeLocal(l, newVal)
	if post {
		// read old, store new, return old: old is read before the store runs
		return seqValue(x, store, true)
	}
	return seqValue(x, store, false)
}

// seqValue returns an operand that runs store and yields the value of read taken
// before (post) or after the store.
func seqValue(read *operand, store fnV, post bool) *operand {
	r := &operand{t: read.t, n: read.n}
	switch read.t.rep {
	case repBool:
		g := read.b
		if post {
			r.b = func(f *frame) bool { v := g(f); store(f); return v }
		} else {
			r.b = func(f *frame) bool { store(f); return g(f) }
		}
	case repI32:
		g := read.i
		if post {
			r.i = func(f *frame) int32 { v := g(f); store(f); return v }
		} else {
			r.i = func(f *frame) int32 { store(f); return g(f) }
		}
	case repI64:
		g := read.l
		if post {
			r.l = func(f *frame) int64 { v := g(f); store(f); return v }
		} else {
			r.l = func(f *frame) int64 { store(f); return g(f) }
		}
	case repF64:
		g := read.d
		if post {
			r.d = func(f *frame) float64 { v := g(f); store(f); return v }
		} else {
			r.d = func(f *frame) float64 { store(f); return g(f) }
		}
	case repStr:
		g := read.s
		if post {
			r.s = func(f *frame) string { v := g(f); store(f); return v }
		} else {
			r.s = func(f *frame) string { store(f); return g(f) }
		}
	default:
		g := read.anyFn()
		if post {
			r.o = func(f *frame) any { v := g(f); store(f); return v }
		} else {
			r.o = func(f *frame) any { store(f); return g(f) }
		}
	}
	return r
}

// countNode counts a syntax node against the size limit.
func (c *checker) countNode(n Node) {
	c.nodes++
	if c.nodes > c.cfg.maxNodes {
		c.errorf(n, "expression is too large (more than %d syntax nodes)", c.cfg.maxNodes)
		panic(tooManyErrors{})
	}
}

// checkBinaryChain checks a binary operator that may be the top of a chain.
// a + b + c is (a + b) + c: the chain nests to the left in the tree, one level
// per operator, but it is flat in the source, and C# takes thousands of terms.
// So the operators of the left spine are checked in a loop from the innermost
// out, each result standing in (c.subst) for its node when the next one reads
// its left operand: the recursion and the depth count stay those of the
// operands. a ?? b ?? c nests to the right; checkCoalesceChain does the same
// along the right spine. The order of checking, and so of errors, is the
// source order, as with recursion.
func (c *checker) checkBinaryChain(n *Binary) *operand {
	if n.Op == "??" {
		return c.checkCoalesceChain(n)
	}
	var spine []*Binary // the left operands that are themselves operators, outermost first
	for x, ok := n.X.(*Binary); ok && x.Op != "??"; x, ok = x.X.(*Binary) {
		if _, done := c.subst[x]; done {
			break
		}
		spine = append(spine, x)
	}
	if len(spine) == 0 {
		return c.checkBinary(n)
	}
	if c.subst == nil {
		c.subst = map[Node]*operand{}
	}
	defer func() {
		for _, b := range spine {
			delete(c.subst, b)
		}
	}()
	for i := len(spine) - 1; i >= 0; i-- {
		b := spine[i]
		c.countNode(b)
		c.subst[b] = c.checkBinary(b)
	}
	return c.checkBinary(n)
}

// checkCoalesceChain checks a ?? b ?? c ..., which is a ?? (b ?? (c ...)): the
// operands in source order, then the operators from the innermost out.
func (c *checker) checkCoalesceChain(n *Binary) *operand {
	spine := []*Binary{n}
	for y, ok := n.Y.(*Binary); ok && y.Op == "??"; y, ok = y.Y.(*Binary) {
		if _, done := c.subst[y]; done {
			break
		}
		spine = append(spine, y)
	}
	if len(spine) == 1 {
		return c.checkCoalesce(n)
	}
	if c.subst == nil {
		c.subst = map[Node]*operand{}
	}
	var done []Node
	defer func() {
		for _, x := range done {
			delete(c.subst, x)
		}
	}()
	for _, b := range spine {
		c.subst[b.X] = c.checkExpr(b.X)
		done = append(done, b.X)
	}
	last := spine[len(spine)-1]
	if _, ok := last.Y.(*ThrowExpr); !ok {
		c.subst[last.Y] = c.checkExpr(last.Y)
		done = append(done, last.Y)
	}
	for i := len(spine) - 1; i >= 1; i-- {
		b := spine[i]
		c.countNode(b)
		c.subst[b] = c.checkCoalesce(b)
		done = append(done, b)
	}
	return c.checkCoalesce(n)
}

func (c *checker) checkBinary(n *Binary) *operand {
	switch n.Op {
	case "&&", "||":
		x := c.checkExpr(n.X)
		y := c.checkExpr(n.Y)
		if x.t.isError() || y.t.isError() {
			return errOpOf(tBool, n)
		}
		xb := c.convert(x, tBool, false)
		yb := c.convert(y, tBool, false)
		a, b := xb.b, yb.b
		if a == nil || b == nil {
			return errOpOf(tBool, n)
		}
		var r *operand
		if n.Op == "&&" {
			r = &operand{t: tBool, n: n, b: func(f *frame) bool { return a(f) && b(f) }}
		} else {
			r = &operand{t: tBool, n: n, b: func(f *frame) bool { return a(f) || b(f) }}
		}
		return c.foldConst(r, xb, yb)
	case "??":
		return c.checkCoalesce(n)
	}
	x := c.value(c.checkExpr(n.X))
	y := c.value(c.checkExpr(n.Y))
	if x.t.isError() || y.t.isError() {
		if n.Op == "==" || n.Op == "!=" || n.Op == "<" || n.Op == ">" || n.Op == "<=" || n.Op == ">=" {
			return errOpOf(tBool, n)
		}
		return errOp(n)
	}
	if x.tref != nil || y.tref != nil {
		c.errorf(n, "%s is a type, not a value", c.describe(pick(x.tref != nil, n.X, n.Y)))
		return errOp(n)
	}
	switch n.Op {
	case "==", "!=":
		return c.equality(n, x, y)
	case "<", ">", "<=", ">=":
		return c.relational(n, x, y)
	case "+":
		if defName(x.t) == "XNamespace" && y.t == tString {
			return c.timeArith(n, x, y)
		}
		if x.t == tString || y.t == tString {
			return c.concat(n, x, y)
		}
		if r := c.timeArith(n, x, y); r != nil {
			return r
		}
	case "-":
		if r := c.timeArith(n, x, y); r != nil {
			return r
		}
	case "&", "|", "^":
		if underlying(x.t) == tBool && underlying(y.t) == tBool {
			xb, yb := c.convert(x, tBool, false), c.convert(y, tBool, false)
			a, b := xb.b, yb.b
			var r *operand
			switch n.Op {
			case "&":
				r = &operand{t: tBool, n: n, b: func(f *frame) bool { return a(f) && b(f) || false }}
				r.b = func(f *frame) bool { p, q := a(f), b(f); return p && q }
			case "|":
				r = &operand{t: tBool, n: n, b: func(f *frame) bool { p, q := a(f), b(f); return p || q }}
			default:
				r = &operand{t: tBool, n: n, b: func(f *frame) bool { return a(f) != b(f) }}
			}
			return c.foldConst(r, xb, yb)
		}
		if x.t.kind == tkEnum && same(x.t, y.t) {
			r := c.arith(n, n.Op, &operand{t: tLong, n: x.n, l: x.l, k: x.k}, &operand{t: tLong, n: y.n, l: y.l, k: y.k})
			r.t = x.t
			return r
		}
	case "<<", ">>":
		return c.shift(n, x, y)
	}
	if x.t.kind == tkNullable || y.t.kind == tkNullable {
		return c.liftedArith(n, x, y)
	}
	if !x.t.isNumeric() || !y.t.isNumeric() {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	return c.arith(n, n.Op, x, y)
}

func pick(b bool, x, y Node) Node {
	if b {
		return x
	}
	return y
}

// arith compiles a binary arithmetic or bitwise operator on numeric operands.
func (c *checker) arith(n Node, op string, x, y *operand) *operand {
	t := promoteConst(x, y)
	if t == nil {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	if (op == "&" || op == "|" || op == "^") && !t.isIntegral() {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	a := c.numConv(x, t, false)
	b := c.numConv(y, t, false)
	pos := n.Pos()
	if bn, ok := n.(*Binary); ok {
		pos = bn.OpPos
	}
	checked := c.checked
	r := &operand{t: t, n: n}
	if t == tDecimal {
		if f := decOp(op); f != nil {
			p, q := a.o, b.o
			r.o = func(fr *frame) any {
				x, y := p(fr).(Decimal), q(fr).(Decimal)
				defer atPos(pos)
				return f(x, y)
			}
			return c.foldConst(r, x, y)
		}
	}
	switch t.rep {
	case repI32:
		p, q := a.i, b.i
		switch op {
		case "+":
			if checked {
				r.i = func(f *frame) int32 { return checkI32(int64(p(f))+int64(q(f)), pos) }
			} else {
				r.i = func(f *frame) int32 { return p(f) + q(f) }
			}
		case "-":
			if checked {
				r.i = func(f *frame) int32 { return checkI32(int64(p(f))-int64(q(f)), pos) }
			} else {
				r.i = func(f *frame) int32 { return p(f) - q(f) }
			}
		case "*":
			if checked {
				r.i = func(f *frame) int32 { return checkI32(int64(p(f))*int64(q(f)), pos) }
			} else {
				r.i = func(f *frame) int32 { return p(f) * q(f) }
			}
		case "/":
			r.i = func(f *frame) int32 {
				u, v := p(f), q(f)
				if v == 0 {
					throwAt(pos, "DivideByZeroException", "Attempted to divide by zero")
				}
				if v == -1 && u == math.MinInt32 {
					throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
				}
				return u / v
			}
		case "%":
			r.i = func(f *frame) int32 {
				u, v := p(f), q(f)
				if v == 0 {
					throwAt(pos, "DivideByZeroException", "Attempted to divide by zero")
				}
				if v == -1 {
					if u == math.MinInt32 {
						throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
					}
					return 0
				}
				return u % v
			}
		case "&":
			r.i = func(f *frame) int32 { return p(f) & q(f) }
		case "|":
			r.i = func(f *frame) int32 { return p(f) | q(f) }
		case "^":
			r.i = func(f *frame) int32 { return p(f) ^ q(f) }
		}
	case repI64:
		p, q := a.l, b.l
		wrap := wrapFn(t.num)
		unsigned := t.num == nkULong
		uint32t := t.num == nkUInt
		ovf := func(v int64, exact bool) int64 {
			if checked && !exact {
				throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
			}
			return v
		}
		switch op {
		case "+":
			r.l = func(f *frame) int64 {
				u, v := p(f), q(f)
				s := u + v
				if checked {
					switch {
					case unsigned:
						ovf(s, uint64(s) >= uint64(u))
					case uint32t:
						ovf(s, s <= math.MaxUint32)
					default:
						ovf(s, !((u > 0 && v > 0 && s < 0) || (u < 0 && v < 0 && s >= 0)))
					}
				}
				return wrap(s)
			}
		case "-":
			r.l = func(f *frame) int64 {
				u, v := p(f), q(f)
				s := u - v
				if checked {
					switch {
					case unsigned:
						ovf(s, uint64(u) >= uint64(v))
					case uint32t:
						ovf(s, u >= v)
					default:
						ovf(s, !((u >= 0 && v < 0 && s < 0) || (u < 0 && v > 0 && s >= 0)))
					}
				}
				return wrap(s)
			}
		case "*":
			r.l = func(f *frame) int64 {
				u, v := p(f), q(f)
				s := u * v
				if checked && u != 0 {
					if unsigned {
						ovf(s, uint64(s)/uint64(u) == uint64(v))
					} else {
						ovf(s, s/u == v && !(u == -1 && v == math.MinInt64) && (!uint32t || s <= math.MaxUint32))
					}
				}
				return wrap(s)
			}
		case "/", "%":
			isDiv := op == "/"
			r.l = func(f *frame) int64 {
				u, v := p(f), q(f)
				if v == 0 {
					throwAt(pos, "DivideByZeroException", "Attempted to divide by zero")
				}
				if unsigned {
					if isDiv {
						return int64(uint64(u) / uint64(v))
					}
					return int64(uint64(u) % uint64(v))
				}
				if v == -1 && u == math.MinInt64 {
					throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
				}
				if isDiv {
					return u / v
				}
				return u % v
			}
		case "&":
			r.l = func(f *frame) int64 { return p(f) & q(f) }
		case "|":
			r.l = func(f *frame) int64 { return p(f) | q(f) }
		case "^":
			r.l = func(f *frame) int64 { return p(f) ^ q(f) }
		}
	case repF64:
		p, q := a.d, b.d
		isFloat := t.num == nkFloat
		isDec := t.num == nkDecimal
		round := func(v float64) float64 {
			if isFloat {
				return float64(float32(v))
			}
			return v
		}
		switch op {
		case "+":
			r.d = func(f *frame) float64 { return round(p(f) + q(f)) }
		case "-":
			r.d = func(f *frame) float64 { return round(p(f) - q(f)) }
		case "*":
			r.d = func(f *frame) float64 { return round(p(f) * q(f)) }
		case "/":
			r.d = func(f *frame) float64 {
				v := q(f)
				if isDec && v == 0 {
					throwAt(pos, "DivideByZeroException", "Attempted to divide by zero")
				}
				return round(p(f) / v)
			}
		case "%":
			r.d = func(f *frame) float64 {
				v := q(f)
				if isDec && v == 0 {
					throwAt(pos, "DivideByZeroException", "Attempted to divide by zero")
				}
				return round(math.Mod(p(f), v))
			}
		}
	}
	if r.i == nil && r.l == nil && r.d == nil && r.o == nil {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	return c.foldConst(r, x, y)
}

func checkI32(v int64, pos int) int32 {
	if v < math.MinInt32 || v > math.MaxInt32 {
		throwAt(pos, "OverflowException", "Arithmetic operation resulted in an overflow")
	}
	return int32(v)
}

func (c *checker) shift(n *Binary, x, y *operand) *operand {
	if !x.t.isIntegral() || !y.t.isIntegral() {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	t := promote(x.t, tInt)
	a := c.numConv(x, t, false)
	cnt := c.convert(y, tInt, false)
	q := cnt.i
	left := n.Op == "<<"
	r := &operand{t: t, n: n}
	switch t.rep {
	case repI32:
		p := a.i
		if left {
			r.i = func(f *frame) int32 { return p(f) << (uint32(q(f)) & 31) }
		} else {
			r.i = func(f *frame) int32 { return p(f) >> (uint32(q(f)) & 31) }
		}
	case repI64:
		p := a.l
		switch t.num {
		case nkUInt:
			if left {
				r.l = func(f *frame) int64 { return int64(uint32(p(f)) << (uint32(q(f)) & 31)) }
			} else {
				r.l = func(f *frame) int64 { return int64(uint32(p(f)) >> (uint32(q(f)) & 31)) }
			}
		case nkULong:
			if left {
				r.l = func(f *frame) int64 { return int64(uint64(p(f)) << (uint32(q(f)) & 63)) }
			} else {
				r.l = func(f *frame) int64 { return int64(uint64(p(f)) >> (uint32(q(f)) & 63)) }
			}
		default:
			if left {
				r.l = func(f *frame) int64 { return p(f) << (uint32(q(f)) & 63) }
			} else {
				r.l = func(f *frame) int64 { return p(f) >> (uint32(q(f)) & 63) }
			}
		}
	}
	return c.foldConst(r, x, y)
}

// liftedArith handles arithmetic where an operand is a nullable value type: the
// result is null if either operand is null.
func (c *checker) liftedArith(n *Binary, x, y *operand) *operand {
	ux, uy := underlying(x.t), underlying(y.t)
	if x.t.kind == tkNull || y.t.kind == tkNull {
		c.errorf(n, "operator %s cannot be applied to null", n.Op)
		return errOp(n)
	}
	if !ux.isNumeric() || !uy.isNumeric() {
		c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, x.t.Name, y.t.Name)
		return errOp(n)
	}
	gx, gy := x.anyFn(), y.anyFn()
	// the inner operation reads the unwrapped values from the root frame
	inner := c.arith(n, n.Op, fromAny(ux, n.X, func(f *frame) any { return f.root.liftA }), fromAny(uy, n.Y, func(f *frame) any { return f.root.liftB }))
	h := inner.anyFn()
	return &operand{t: nullableOf(inner.t), n: n, o: func(f *frame) any {
		a, b := gx(f), gy(f)
		if a == nil || b == nil {
			return nil
		}
		sa, sb := f.root.liftA, f.root.liftB
		f.root.liftA, f.root.liftB = a, b
		v := h(f)
		f.root.liftA, f.root.liftB = sa, sb
		return v
	}}
}

// ---- equality and comparison ----

func (c *checker) equality(n *Binary, x, y *operand) *operand {
	neq := n.Op == "!="
	res := func(eq fnB) *operand {
		if neq {
			return c.foldConst(&operand{t: tBool, n: n, b: func(f *frame) bool { return !eq(f) }}, x, y)
		}
		return c.foldConst(&operand{t: tBool, n: n, b: eq}, x, y)
	}
	xt, yt := x.t, y.t
	// null comparisons
	if xt.kind == tkNull && yt.kind == tkNull {
		return c.constOperand(tBool, n, !neq)
	}
	if xt.kind == tkNull || yt.kind == tkNull {
		o := x
		if xt.kind == tkNull {
			o = y
		}
		switch {
		case o.t.rep == repStr:
			g := o.s
			return res(func(f *frame) bool { return isNull(g(f)) })
		case o.t.rep == repAny:
			g := o.o
			if g == nil {
				g = o.anyFn()
			}
			return res(func(f *frame) bool { return g(f) == nil })
		default:
			// a non-nullable value type is never null
			return c.constOperand(tBool, n, neq)
		}
	}
	switch {
	case xt.isNumeric() && yt.isNumeric():
		t := promoteConst(x, y)
		if t == nil {
			break
		}
		a, b := c.numConv(x, t, false), c.numConv(y, t, false)
		switch t.rep {
		case repI32:
			p, q := a.i, b.i
			return res(func(f *frame) bool { return p(f) == q(f) })
		case repI64:
			p, q := a.l, b.l
			return res(func(f *frame) bool { return p(f) == q(f) })
		case repF64:
			p, q := a.d, b.d
			return res(func(f *frame) bool { return p(f) == q(f) })
		case repAny: // decimal
			p, q := a.o, b.o
			return res(func(f *frame) bool { return decCmp(p(f).(Decimal), q(f).(Decimal)) == 0 })
		}
	case xt == tBool && yt == tBool:
		p, q := x.b, y.b
		return res(func(f *frame) bool { return p(f) == q(f) })
	case xt == tString && yt == tString:
		p, q := x.s, y.s
		return res(func(f *frame) bool {
			a, b := p(f), q(f)
			if len(a) == len(b) {
				f.work(len(a)) // compared byte by byte
			}
			return strEq(a, b)
		})
	case xt.kind == tkEnum && same(xt, yt):
		p, q := x.l, y.l
		return res(func(f *frame) bool { return p(f) == q(f) })
	case xt.kind == tkNullable || yt.kind == tkNullable:
		ux, uy := underlying(xt), underlying(yt)
		if ux.isNumeric() && uy.isNumeric() {
			// decimal? == 1 compares decimals; decimal? == 1.5 does not compile
			t := promoteConst(&operand{t: ux, k: x.k}, &operand{t: uy, k: y.k})
			if t == nil {
				break
			}
			p, q := c.liftedNum(x, t), c.liftedNum(y, t)
			return res(func(f *frame) bool { return valueEq(p(f), q(f)) })
		}
		if same(ux, uy) {
			p, q := x.anyFn(), y.anyFn()
			return res(func(f *frame) bool { return valueEq(p(f), q(f)) })
		}
	case xt.value && same(xt, yt):
		p, q := x.anyFn(), y.anyFn()
		return res(func(f *frame) bool { return valueEq(p(f), q(f)) })
	case !xt.value && !yt.value:
		// reference equality; string content equality when both are strings at
		// run time (C# compares object == string by reference, which cannot be
		// reproduced; value equality is what such policies mean)
		if c.convCost(x, yt) >= 0 || c.convCost(y, xt) >= 0 || xt == tObject || yt == tObject {
			p, q := x.anyFn(), y.anyFn()
			return res(func(f *frame) bool { return refEq(p(f), q(f)) })
		}
	}
	c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", n.Op, xt.Name, yt.Name)
	return errOpOf(tBool, n)
}

// strEq is C# string equality: null equals only null.
func strEq(a, b string) bool {
	if len(a) == 0 || len(b) == 0 {
		return isNull(a) == isNull(b) && len(a) == len(b)
	}
	return a == b
}

func (c *checker) relational(n *Binary, x, y *operand) *operand {
	op := n.Op
	cmpRes := func(cmp func(f *frame) int) *operand {
		var g fnB
		switch op {
		case "<":
			g = func(f *frame) bool { return cmp(f) < 0 }
		case ">":
			g = func(f *frame) bool { return cmp(f) > 0 }
		case "<=":
			g = func(f *frame) bool { return cmp(f) <= 0 }
		default:
			g = func(f *frame) bool { return cmp(f) >= 0 }
		}
		return &operand{t: tBool, n: n, b: g}
	}
	xt, yt := x.t, y.t
	if xt.isNumeric() && yt.isNumeric() {
		t := promoteConst(x, y)
		if t != nil {
			a, b := c.numConv(x, t, false), c.numConv(y, t, false)
			var r *operand
			switch t.rep {
			case repI32:
				p, q := a.i, b.i
				switch op {
				case "<":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) < q(f) }}
				case ">":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) > q(f) }}
				case "<=":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) <= q(f) }}
				default:
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) >= q(f) }}
				}
			case repI64:
				p, q := a.l, b.l
				if t.num == nkULong {
					r = cmpRes(func(f *frame) int { return cmpU64(uint64(p(f)), uint64(q(f))) })
				} else {
					switch op {
					case "<":
						r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) < q(f) }}
					case ">":
						r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) > q(f) }}
					case "<=":
						r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) <= q(f) }}
					default:
						r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) >= q(f) }}
					}
				}
			case repF64:
				p, q := a.d, b.d
				switch op {
				case "<":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) < q(f) }}
				case ">":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) > q(f) }}
				case "<=":
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) <= q(f) }}
				default:
					r = &operand{t: tBool, n: n, b: func(f *frame) bool { return p(f) >= q(f) }}
				}
			case repAny: // decimal
				p, q := a.o, b.o
				r = cmpRes(func(f *frame) int { return decCmp(p(f).(Decimal), q(f).(Decimal)) })
			}
			return c.foldConst(r, x, y)
		}
	}
	ux, uy := underlying(xt), underlying(yt)
	if (xt.kind == tkNullable || yt.kind == tkNullable) && (ux.isNumeric() && uy.isNumeric() || same(ux, uy) && comparableStruct(ux)) {
		p, q := x.anyFn(), y.anyFn()
		if ux.isNumeric() && uy.isNumeric() {
			t := promoteConst(&operand{t: ux, k: x.k}, &operand{t: uy, k: y.k})
			if t == nil {
				c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", op, xt.Name, yt.Name)
				return errOpOf(tBool, n)
			}
			p, q = c.liftedNum(x, t), c.liftedNum(y, t)
		}
		r := cmpRes(func(f *frame) int {
			a, b := p(f), q(f)
			if a == nil || b == nil {
				return 2 // makes every comparison false
			}
			return compareValues(a, b)
		})
		g := r.b
		r.b = func(f *frame) bool {
			a, b := p(f), q(f)
			if a == nil || b == nil {
				return false
			}
			return g(f)
		}
		return r
	}
	if same(xt, yt) && comparableStruct(xt) || xt.kind == tkEnum && same(xt, yt) {
		p, q := x.anyFn(), y.anyFn()
		return cmpRes(func(f *frame) int { return compareValues(p(f), q(f)) })
	}
	c.errorf(n, "operator %s cannot be applied to operands of type %s and %s", op, xt.Name, yt.Name)
	return errOpOf(tBool, n)
}

func comparableStruct(t *Type) bool {
	if t.def == nil {
		return false
	}
	switch t.def.name {
	case "DateTime", "DateTimeOffset", "TimeSpan", "Guid":
		return true
	}
	return false
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareValues compares two boxed values of the same comparable type.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case time.Time:
		y := b.(time.Time)
		return x.Compare(y)
	case DateTimeOffset:
		return x.UTC().Compare(b.(DateTimeOffset).UTC())
	case time.Duration:
		y := b.(time.Duration)
		return cmpI64(int64(x), int64(y))
	case Guid:
		y := b.(Guid)
		return guidCompare(x, y)
	case Decimal:
		if y, ok := b.(Decimal); ok {
			return decCmp(x, y)
		}
	}
	fa, fb := toF64(a), toF64(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func cmpI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- DateTime and TimeSpan arithmetic ----

func (c *checker) timeArith(n *Binary, x, y *operand) *operand {
	xn, yn := defName(x.t), defName(y.t)
	p, q := x.anyFn(), y.anyFn()
	pos := n.OpPos
	switch {
	case xn == "DateTime" && yn == "TimeSpan":
		sign := time.Duration(1)
		if n.Op == "-" {
			sign = -1
		}
		return &operand{t: x.t, n: n, o: func(f *frame) any { return dateAdd(p(f).(time.Time), sign*q(f).(time.Duration), pos) }}
	case xn == "TimeSpan" && yn == "DateTime" && n.Op == "+":
		return &operand{t: y.t, n: n, o: func(f *frame) any { return dateAdd(q(f).(time.Time), p(f).(time.Duration), pos) }}
	case xn == "DateTime" && yn == "DateTime" && n.Op == "-":
		return &operand{t: c.u.lookupDef("TimeSpan", 0).typ(), n: n, o: func(f *frame) any { return dateSub(p(f).(time.Time), q(f).(time.Time)) }}
	case xn == "DateTimeOffset" && yn == "TimeSpan":
		sign := time.Duration(1)
		if n.Op == "-" {
			sign = -1
		}
		return &operand{t: x.t, n: n, o: func(f *frame) any {
			d := p(f).(DateTimeOffset)
			return DateTimeOffset{dateAdd(d.Time, sign*q(f).(time.Duration), pos)}
		}}
	case xn == "DateTimeOffset" && yn == "DateTimeOffset" && n.Op == "-":
		return &operand{t: c.u.lookupDef("TimeSpan", 0).typ(), n: n, o: func(f *frame) any {
			return p(f).(DateTimeOffset).Sub(q(f).(DateTimeOffset).Time)
		}}
	case xn == "XNamespace" && y.t == tString && n.Op == "+":
		return &operand{t: c.u.lookupDef("XName", 0).typ(), n: n, o: func(f *frame) any {
			s, _ := q(f).(string)
			return XName{Space: p(f).(XNamespace).URI, Local: s}
		}}
	case xn == "TimeSpan" && yn == "TimeSpan":
		if n.Op == "+" {
			return &operand{t: x.t, n: n, o: func(f *frame) any { return addDur(p(f).(time.Duration), q(f).(time.Duration), pos) }}
		}
		return &operand{t: x.t, n: n, o: func(f *frame) any { return addDur(p(f).(time.Duration), -q(f).(time.Duration), pos) }}
	}
	return nil
}

func defName(t *Type) string {
	if t.def == nil {
		return ""
	}
	return t.def.name
}

// ---- string concatenation ----

// concat compiles string + x. Chains a + b + c + ... are flattened into one
// allocation.
func (c *checker) concat(n *Binary, x, y *operand) *operand {
	var parts []fnS
	var lens int
	buf := new([]fnS)
	inPlace := x.t == tString && x.cat != nil && x.catBuf != nil && len(*x.catBuf) == len(x.cat)
	if inPlace {
		// nothing has extended x's parts: extend them in place
		parts, buf = x.cat, x.catBuf
	}
	add := func(o *operand) {
		if o.t == tString && o.cat != nil {
			parts = append(parts, o.cat...)
			return
		}
		if o.isConst() {
			if s, ok := o.k.(string); ok {
				lens += len(s)
			}
		}
		if o.t == tString {
			// a null string concatenates as "": no conversion needed
			parts = append(parts, o.s)
			return
		}
		parts = append(parts, c.toStr(o))
	}
	if !inPlace {
		add(x)
	}
	add(y)
	_ = lens
	*buf = parts
	r := &operand{t: tString, n: n, cat: parts, catBuf: buf}
	switch len(parts) {
	case 2:
		a, b := parts[0], parts[1]
		r.s = func(f *frame) string {
			p, q := a(f), b(f)
			f.alloc(len(p) + len(q))
			return p + q
		}
	default:
		ps := parts
		r.s = func(f *frame) string {
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
		}
	}
	return c.foldConst(r, x, y)
}

// ---- ?? and ?: ----

func (c *checker) checkCoalesce(n *Binary) *operand {
	x := c.value(c.checkExpr(n.X))
	if x.t.isError() {
		return errOp(n)
	}
	if x.t.value && x.t.kind != tkNullable {
		c.errorf(n.X, "operator ?? cannot be applied to a value of type %s, which is never null", x.t.Name)
		return errOp(n)
	}
	if th, ok := n.Y.(*ThrowExpr); ok {
		ex := c.checkThrowValue(th.X)
		t := underlying(x.t)
		pos := th.Pos()
		if x.t.rep == repStr {
			g := x.s
			return &operand{t: t, n: n, s: func(f *frame) string {
				s := g(f)
				if isNull(s) {
					panic(ex(f, pos))
				}
				return s
			}}
		}
		g := x.anyFn()
		return fromAny(t, n, func(f *frame) any {
			v := g(f)
			if v == nil {
				panic(ex(f, pos))
			}
			return v
		})
	}
	y := c.value(c.checkExpr(n.Y))
	if y.t.isError() {
		return errOp(n)
	}
	var t *Type
	convLeft := false // a's value converts to b's type
	switch {
	case x.t.kind == tkNullable && c.convCost(y, x.t.elem) >= 0:
		t = x.t.elem
	case c.convCost(y, x.t) >= 0:
		t = x.t
	case x.t.kind == tkNullable && c.convCost(&operand{t: x.t.elem, n: n.X}, y.t) >= 0:
		t, convLeft = y.t, true // int? ?? long is long
	case x.t.kind != tkNull && c.convCost(x, y.t) >= 0:
		t = y.t
	default:
		c.errorf(n, "operator ?? cannot be applied to operands of type %s and %s", x.t.Name, y.t.Name)
		return errOp(n)
	}
	yc := c.convert(y, t, false)
	if t.rep == repStr && x.t.rep == repStr {
		p, q := x.s, yc.s
		return &operand{t: t, n: n, s: func(f *frame) string {
			if s := p(f); !isNull(s) {
				return s
			}
			return q(f)
		}}
	}
	p := x.anyFn()
	if t.rep == repAny {
		q := yc.anyFn()
		return &operand{t: t, n: n, o: func(f *frame) any {
			if v := p(f); v != nil {
				return v
			}
			return q(f)
		}}
	}
	// the result is a value type: unbox the left value, evaluated once
	tmp := c.declareTemp(x.t)
	store := c.storeAny(tmp)
	held := c.readLocal(tmp, n.X).anyFn()
	var left *operand
	if convLeft {
		left = c.convert(fromAny(x.t.elem, n.X, held), t, false)
	} else {
		left = fromAny(t, n, held)
	}
	return c.condOp(t, n, func(f *frame) bool {
		v := p(f)
		if v == nil {
			return false
		}
		store(f, v)
		return true
	}, left, yc)
}

// condOp builds cond ? a : b for operands of type t.
func (c *checker) condOp(t *Type, n Node, cond fnB, a, b *operand) *operand {
	r := &operand{t: t, n: n}
	switch t.rep {
	case repBool:
		p, q := a.b, b.b
		r.b = func(f *frame) bool {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	case repI32:
		p, q := a.i, b.i
		r.i = func(f *frame) int32 {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	case repI64:
		p, q := a.l, b.l
		r.l = func(f *frame) int64 {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	case repF64:
		p, q := a.d, b.d
		r.d = func(f *frame) float64 {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	case repStr:
		p, q := a.s, b.s
		r.s = func(f *frame) string {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	case repVoid:
		p, q := a.v, b.v
		r.v = func(f *frame) {
			if cond(f) {
				p(f)
			} else {
				q(f)
			}
		}
	default:
		p, q := a.anyFn(), b.anyFn()
		r.o = func(f *frame) any {
			if cond(f) {
				return p(f)
			}
			return q(f)
		}
	}
	return r
}

func (c *checker) checkCond(n *Cond) *operand {
	cond := c.convert(c.value(c.checkExpr(n.C)), tBool, false)
	x := c.value(c.checkExpr(n.X))
	y := c.value(c.checkExpr(n.Y))
	if x.t.isError() || y.t.isError() || cond.t.isError() {
		return errOp(n)
	}
	t := c.commonType(x, y)
	if t == nil {
		c.errorf(n, "type of conditional expression cannot be determined: there is no conversion between %s and %s", x.t.Name, y.t.Name)
		return errOp(n)
	}
	a, b := c.convert(x, t, false), c.convert(y, t, false)
	r := c.condOp(t, n, cond.b, a, b)
	if cond.isConst() && a.isConst() && b.isConst() {
		if cond.k.(bool) {
			return c.constOperand(t, n, a.k)
		}
		return c.constOperand(t, n, b.k)
	}
	return r
}

// commonType is the type of `c ? x : y`.
func (c *checker) commonType(x, y *operand) *Type {
	xt, yt := x.t, y.t
	switch {
	case same(xt, yt):
		return xt
	case xt.kind == tkNull && yt.kind == tkNull:
		return tObject
	case xt.kind == tkNull:
		if yt.value && yt.kind != tkNullable {
			return nullableOf(yt)
		}
		return yt
	case yt.kind == tkNull:
		if xt.value && xt.kind != tkNullable {
			return nullableOf(xt)
		}
		return xt
	}
	xy, yx := c.convCost(x, yt) >= 0, c.convCost(y, xt) >= 0
	switch {
	case xy && !yx:
		return yt
	case yx && !xy:
		return xt
	case xy && yx:
		if xt.isNumeric() && yt.isNumeric() {
			return promote(xt, yt)
		}
		return yt
	}
	// C# 9 natural type fallback: a common base such as JToken
	if xt.isNumeric() && yt.isNumeric() {
		return promote(xt, yt)
	}
	return nil
}

// decOp is decimal's arithmetic operator op, nil for the others.
func decOp(op string) func(a, b Decimal) Decimal {
	switch op {
	case "+":
		return decAdd
	case "-":
		return func(a, b Decimal) Decimal { return decAdd(a, b.negate()) }
	case "*":
		return decMul
	case "/":
		return decDiv
	case "%":
		return decRem
	}
	return nil
}

// liftedNum is the value of a numeric operand of type T or T? converted to the
// numeric type t, null staying null: the operands of a lifted comparison meet
// in one type, as C# converts them (decimal? == 1 compares decimals).
func (c *checker) liftedNum(op *operand, t *Type) fnO {
	u := underlying(op.t)
	if same(u, t) {
		return op.anyFn()
	}
	if op.t.kind != tkNullable {
		return c.numConv(op, t, false).anyFn()
	}
	g := op.anyFn()
	inner := c.numConv(fromAny(u, op.n, func(f *frame) any { return f.root.liftA }), t, false).anyFn()
	return func(f *frame) any {
		v := g(f)
		if v == nil {
			return nil
		}
		saved := f.root.liftA
		f.root.liftA = v
		r := inner(f)
		f.root.liftA = saved
		return r
	}
}
