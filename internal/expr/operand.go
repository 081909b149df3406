package expr

import (
	"fmt"
	"reflect"
)

// operand is a checked expression: its static type and the compiled closure of the
// matching rep, or a reference to a type or namespace, or an unbound lambda.
type operand struct {
	t *Type
	n Node

	b fnB
	i fnI
	l fnL
	d fnD
	s fnS
	o fnO
	v fnV // void calls

	// k is the value of a compile-time constant: bool, int64, float64 or string
	// (null string: kNull).
	k any

	tref *Type  // the expression names a type
	ns   string // the expression names a namespace

	lam *Lambda // an unbound lambda, checked once its parameter types are known

	lv *lvalue // set when the operand can be assigned to

	// cat holds the parts of a string concatenation, so that a + b + c is built
	// with one allocation. catBuf is the buffer they live in, shared along a
	// chain: a concatenation extends it in place when nothing else has yet,
	// so that a chain of n terms compiles in O(n), not O(n²).
	cat    []fnS
	catBuf *[]fnS

	// lamc is a compiled lambda argument.
	lamc *lambdaCode

	// ctxPath names a fixed path from the context object ("context.Variables",
	// "context.Request.Headers"), so that hot library calls can read the
	// exchange directly instead of through a chain of property closures.
	ctxPath string
}

// kNull is the constant value of the null literal.
type kNullT struct{}

var kNull = kNullT{}

func (o *operand) isConst() bool { return o.k != nil }

// lvalue describes an assignable location.
type lvalue struct {
	local *local
	// set stores a value of the location's type; get re-reads it. For array
	// elements and indexers the receiver and index are evaluated once by prepare.
	store func(c *checker, val *operand) fnV
	// compound builds code for X op= Y and ++/--: read, compute, write back, with
	// the receiver evaluated once. It returns the operand for the result value
	// (new value for prefix, old value when post is true).
	update func(c *checker, compute func(old *operand) *operand, post bool) *operand
}

// errOp is the operand of an expression that failed to check.
func errOp(n Node) *operand {
	return &operand{t: tErr, n: n, o: func(*frame) any { return nil }}
}

// ---- converting compiled closures between typed Go functions ----

// getAs returns the operand's code as a func(*frame) T, where T is the Go type the
// library implementation takes for the operand's static type. The operand must
// already have that static type (the checker converts arguments first).
func getAs[T any](op *operand) func(*frame) T {
	var zero T
	switch any(zero).(type) {
	case bool:
		return any((func(*frame) bool)(op.boolFn())).(func(*frame) T)
	case int32:
		return any((func(*frame) int32)(op.i32Fn())).(func(*frame) T)
	case int64:
		return any((func(*frame) int64)(op.i64Fn())).(func(*frame) T)
	case float64:
		return any((func(*frame) float64)(op.f64Fn())).(func(*frame) T)
	case string:
		return any((func(*frame) string)(op.strFn())).(func(*frame) T)
	}
	if _, ok := any(&zero).(*any); ok {
		return any((func(*frame) any)(op.anyFn())).(func(*frame) T)
	}
	g := op.anyFn()
	return func(f *frame) T {
		v := g(f)
		if v == nil {
			var z T
			return z
		}
		t, ok := v.(T)
		if !ok {
			throw("InvalidCastException", "Unable to cast object of type '%s' to type '%s'", dotnetTypeName(v), goTypeName[T]())
		}
		return t
	}
}

func goTypeName[T any]() string { return reflect.TypeFor[T]().String() }

func (o *operand) boolFn() fnB {
	if o.b == nil {
		panic(fmt.Sprintf("expr: internal: operand of type %s has no bool code", o.t))
	}
	return o.b
}
func (o *operand) i32Fn() fnI {
	if o.i == nil {
		panic(fmt.Sprintf("expr: internal: operand of type %s has no int32 code", o.t))
	}
	return o.i
}
func (o *operand) i64Fn() fnL {
	if o.l == nil {
		panic(fmt.Sprintf("expr: internal: operand of type %s has no int64 code", o.t))
	}
	return o.l
}
func (o *operand) f64Fn() fnD {
	if o.d == nil {
		panic(fmt.Sprintf("expr: internal: operand of type %s has no float64 code", o.t))
	}
	return o.d
}
func (o *operand) strFn() fnS {
	if o.s == nil {
		panic(fmt.Sprintf("expr: internal: operand of type %s has no string code", o.t))
	}
	return o.s
}

// anyFn returns the operand's value boxed the way it is stored in
// context.Variables.
func (o *operand) anyFn() fnO {
	if o.o != nil {
		return o.o
	}
	return boxed(o)
}

// boxed converts typed code to an `any` holding the Go value for its static type.
func boxed(o *operand) fnO {
	t := o.t
	if o.isConst() && t.rep != repVoid && t.rep != repAny {
		// box a constant once, at compile time
		v := boxedUncached(o)(nil)
		return func(*frame) any { return v }
	}
	return boxedUncached(o)
}

func boxedUncached(o *operand) fnO {
	t := o.t
	switch t.rep {
	case repBool:
		g := o.b
		return func(f *frame) any { return g(f) }
	case repStr:
		g := o.s
		return func(f *frame) any { return boxStr(g(f)) }
	case repI32:
		g := o.i
		switch t.num {
		case nkSByte:
			return func(f *frame) any { return int8(g(f)) }
		case nkByte:
			return func(f *frame) any { return uint8(g(f)) }
		case nkShort:
			return func(f *frame) any { return int16(g(f)) }
		case nkUShort:
			return func(f *frame) any { return uint16(g(f)) }
		case nkChar:
			return func(f *frame) any { return Char(g(f)) }
		}
		return func(f *frame) any { return g(f) }
	case repI64:
		g := o.l
		if t.kind == tkEnum {
			d := t.def
			return func(f *frame) any { return Enum{g(f), d} }
		}
		switch t.num {
		case nkUInt:
			return func(f *frame) any { return uint32(g(f)) }
		case nkULong:
			return func(f *frame) any { return uint64(g(f)) }
		}
		return func(f *frame) any { return g(f) }
	case repF64:
		g := o.d
		if t.num == nkFloat {
			return func(f *frame) any { return float32(g(f)) }
		}
		return func(f *frame) any { return g(f) }
	case repVoid:
		v := o.v
		if v == nil {
			return func(*frame) any { return nil }
		}
		return func(f *frame) any { v(f); return nil }
	}
	panic(fmt.Sprintf("expr: internal: operand of type %s has no code", t))
}

// mkResult wraps a typed Go function as an operand of static type t.
func mkResult[R any](t *Type, n Node, fn func(*frame) R) *operand {
	op := &operand{t: t, n: n}
	switch g := any(fn).(type) {
	case func(*frame) bool:
		op.b = g
		return op
	case func(*frame) int32:
		op.i = g
		return op
	case func(*frame) int64:
		op.l = g
		return op
	case func(*frame) float64:
		op.d = g
		return op
	case func(*frame) string:
		op.s = g
		return op
	case func(*frame) any:
		if t.rep != repAny {
			// an implementation that returns a boxed primitive
			return fromAny(t, n, g)
		}
		op.o = g
		return op
	}
	if t.rep != repAny {
		panic(fmt.Sprintf("expr: internal: Go result %s for static type %s", goTypeName[R](), t))
	}
	var zero R
	switch reflect.TypeFor[R]().Kind() {
	case reflect.Pointer:
		// a nil pointer is C# null, not a non-nil interface holding nil
		op.o = func(f *frame) any {
			v := any(fn(f))
			if v == any(zero) {
				return nil
			}
			return v
		}
	case reflect.Interface:
		op.o = func(f *frame) any { return any(fn(f)) }
	default:
		op.o = func(f *frame) any { return fn(f) }
	}
	return op
}

// setCode stores typed code in op according to t's rep, from an any-typed
// function. Used when unboxing.
func fromAny(t *Type, n Node, g fnO) *operand {
	op := &operand{t: t, n: n}
	switch t.rep {
	case repAny:
		op.o = g
	case repBool:
		op.b = func(f *frame) bool { v, _ := g(f).(bool); return v }
	case repStr:
		op.s = func(f *frame) string {
			v := g(f)
			if v == nil {
				return nullStr
			}
			s, _ := v.(string)
			return s
		}
	case repI32:
		op.i = func(f *frame) int32 { return toI32(g(f)) }
	case repI64:
		op.l = func(f *frame) int64 { return toI64(g(f)) }
	case repF64:
		op.d = func(f *frame) float64 { return toF64(g(f)) }
	case repVoid:
		op.v = func(f *frame) { g(f) }
	}
	return op
}

// toI32 and friends read a boxed numeric of any Go type (used after a type check
// has made sure the value has the right type).
func toI32(v any) int32 {
	switch x := v.(type) {
	case int32:
		return x
	case int8:
		return int32(x)
	case uint8:
		return int32(x)
	case int16:
		return int32(x)
	case uint16:
		return int32(x)
	case Char:
		return int32(x)
	case int:
		return int32(x)
	case Enum:
		return int32(x.Value)
	case int64:
		return int32(x)
	case uint32:
		return int32(x)
	case uint64:
		return int32(x)
	}
	return 0
}

func toI64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case Enum:
		return x.Value
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case uint8:
		return int64(x)
	case int16:
		return int64(x)
	case uint16:
		return int64(x)
	case Char:
		return int64(x)
	}
	return 0
}

func toF64(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case Enum:
		return float64(x.Value)
	case float32:
		return float64(x)
	case Decimal:
		return x.Float64()
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case uint64:
		return float64(x)
	case uint32:
		return float64(x)
	case int8:
		return float64(x)
	case uint8:
		return float64(x)
	case int16:
		return float64(x)
	case uint16:
		return float64(x)
	case Char:
		return float64(x)
	}
	return 0
}
