package expr

import (
	"fmt"
	"strings"
	"sync"
)

// The universe is the declared model of everything an expression can name: the
// `context` object and the .NET types API Management allows. It is built once,
// never changes afterwards, and is shared by all compilations.

type mkind uint8

const (
	mProp mkind = iota
	mMethod
	mCtor
	mIndexer
	mConst
)

// member is a property, method, constructor, indexer or constant of a library type,
// or an extension method.
type member struct {
	name    string
	kind    mkind
	static  bool
	ext     bool // extension method: params[0] is the receiver
	tparams []string
	params  []*pspec
	result  *TypeExpr // nil for void and constructors
	impl    implFn
	set     implFn // setter for settable properties and indexers
	owner   *typeDef
	k       any // constant value
	// nullRecv lets the implementation see a null receiver (no NullReference check).
	nullRecv bool
	// metered marks an implementation that charges its own work, or whose work
	// does not grow with the size of its arguments: meterArgs leaves it alone.
	metered bool
	sig     string
}

// selfMetered marks m as charging its own work (see meterArgs).
func (m *member) selfMetered() *member {
	m.metered = true
	return m
}

type pspec struct {
	name   string
	typ    *TypeExpr
	def    Node // default value, nil if required
	params bool // params T[]
	mod    string
}

// site is what an implementation knows about the call it compiles.
type site struct {
	pos   int
	n     Node
	t     *Type // result type
	targs []*Type
	bind  map[string]*Type
	recvT *Type
	m     *member
	desc  string // description of the receiver for NullReferenceException messages
}

// implFn compiles a call: args holds the receiver first (for instance members),
// then the arguments converted to the parameter types, defaults filled in.
type implFn func(c *checker, cs *site, args []*operand) *operand

type universe struct {
	defs       map[string]*typeDef // by simple name
	qual       map[string]*typeDef // by qualified name
	namespaces map[string]bool
	ext        map[string][]*member // extension methods by name
}

var theUniverse = sync.OnceValue(buildUniverse)

func buildUniverse() *universe {
	u := &universe{defs: map[string]*typeDef{}, qual: map[string]*typeDef{}, namespaces: map[string]bool{}, ext: map[string][]*member{}}
	declCore(u)
	declContext(u)
	declString(u)
	declNumbers(u)
	declConvert(u)
	declTime(u)
	declCollections(u)
	declLinq(u)
	declJSON(u)
	declRegex(u)
	declCrypto(u)
	declWeb(u)
	declJwt(u)
	declXML(u)
	for _, d := range u.defs {
		if d.kind == tkEnum {
			declEnumMembers(d)
		}
	}
	return u
}

// decl declares a type. kind is tkClass or tkStruct (value type) or tkEnum.
func (u *universe) decl(qualified string, kind tkind, base string, params ...string) *typeDef {
	ns, name := "", qualified
	if i := strings.LastIndexByte(qualified, '.'); i >= 0 {
		ns, name = qualified[:i], qualified[i+1:]
	}
	d := &typeDef{name: name, ns: ns, params: params, base: base, kind: kind, rep: repAny,
		value: kind == tkStruct || kind == tkEnum,
		inst:  map[string][]*member{}, static: map[string][]*member{}}
	if kind == tkEnum {
		d.rep = repI64
		d.enumVals = map[string]int64{}
	}
	key := name
	if len(params) > 0 {
		key = fmt.Sprintf("%s`%d", name, len(params))
	}
	if _, dup := u.defs[key]; dup {
		panic("expr: type declared twice: " + qualified)
	}
	u.defs[key] = d
	if ns != "" {
		u.qual[ns+"."+key] = d
		for p := ns; p != ""; {
			u.namespaces[p] = true
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	return d
}

// lookupDef finds a type by simple or qualified name and generic arity.
func (u *universe) lookupDef(name string, arity int) *typeDef {
	key := name
	if arity > 0 {
		key = fmt.Sprintf("%s`%d", name, arity)
	}
	if d := u.defs[key]; d != nil && !strings.Contains(name, ".") {
		return d
	}
	if d := u.qual[key]; d != nil {
		return d
	}
	return nil
}

// parseSig parses "Name<T>(type name = default, ...) Result", "Name Type" (a
// property) or "(params) " for constructors and "this[type name] Result".
func parseSig(sig string) (name string, tparams []string, params []*pspec, result *TypeExpr, isMethod bool) {
	p := newParser(sig, 0, len(sig))
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("expr: bad signature %q: %v %v", sig, r, p.errs))
		}
	}()
	if p.tok().kind == tokIdent {
		name = p.advance().val
	}
	if p.at("<") {
		p.advance()
		for {
			tparams = append(tparams, p.expectIdent().val)
			if !p.accept(",") {
				break
			}
		}
		p.expect(">")
	}
	if p.at("(") || p.at("[") {
		isMethod = true
		close := ")"
		if p.at("[") {
			close = "]"
		}
		p.advance()
		for !p.at(close) {
			ps := &pspec{}
			if p.atKw("params") || p.atKw("out") || p.atKw("ref") || p.atKw("this") {
				m := p.advance().val
				if m == "params" {
					ps.params = true
				} else if m != "this" {
					ps.mod = m
				}
			}
			ps.typ = p.parseType(true)
			ps.name = p.expectIdent().val
			if p.accept("=") {
				ps.def = p.parseExpr()
			}
			params = append(params, ps)
			if !p.accept(",") {
				break
			}
		}
		p.expect(close)
	}
	if p.tok().kind != tokEOF {
		result = p.parseType(true)
		if result.Name == "void" {
			result = nil
		}
	}
	if p.tok().kind != tokEOF || len(p.errs) > 0 {
		panic(fmt.Sprintf("expr: bad signature %q", sig))
	}
	return
}

func (d *typeDef) add(static bool, kind mkind, sig string, impl implFn) *member {
	name, tparams, params, result, isMethod := parseSig(sig)
	m := &member{name: name, kind: kind, static: static, tparams: tparams, params: params, result: result, impl: impl, owner: d, sig: sig}
	switch {
	case kind == mCtor:
		d.ctors = append(d.ctors, m)
	case kind == mIndexer:
		d.indexer = append(d.indexer, m)
	default:
		if kind == mProp && isMethod {
			panic("expr: property with parameters: " + sig)
		}
		if static {
			d.static[name] = append(d.static[name], m)
		} else {
			d.inst[name] = append(d.inst[name], m)
		}
	}
	return m
}

// prop declares an instance property "Name Type".
func (d *typeDef) prop(sig string, impl implFn) *member { return d.add(false, mProp, sig, impl) }

// method declares an instance method.
func (d *typeDef) method(sig string, impl implFn) *member { return d.add(false, mMethod, sig, impl) }

// sprop declares a static property.
func (d *typeDef) sprop(sig string, impl implFn) *member { return d.add(true, mProp, sig, impl) }

// smethod declares a static method.
func (d *typeDef) smethod(sig string, impl implFn) *member { return d.add(true, mMethod, sig, impl) }

// ctor declares a constructor "(params)".
func (d *typeDef) ctor(sig string, impl implFn) *member { return d.add(false, mCtor, sig, impl) }

// indexer declares "this[params] Result" with an optional setter.
func (d *typeDef) index(sig string, get, set implFn) *member {
	m := d.add(false, mIndexer, strings.TrimPrefix(sig, "this"), get)
	m.set = set
	return m
}

// konst declares a static constant.
func (d *typeDef) konst(name, typ string, v any) {
	m := d.add(true, mConst, name+" "+typ, nil)
	m.k = v
}

// enum declares enum members with their values.
func (d *typeDef) enum(names ...string) {
	for i, n := range names {
		d.enumVals[n] = int64(i)
		d.enumName = append(d.enumName, n)
	}
}

// enumV declares enum members with explicit values.
func (d *typeDef) enumV(vals map[string]int64, order ...string) {
	for _, n := range order {
		d.enumVals[n] = vals[n]
		d.enumName = append(d.enumName, n)
	}
}

// flagsV declares a [Flags] enum's members: their values combine, and print as
// "IgnoreCase, Multiline".
func (d *typeDef) flagsV(vals map[string]int64, order ...string) {
	d.enumV(vals, order...)
	d.flags = true
}

// declEnumMembers declares the members every enum has: ToString() gives the
// member's name, as .NET does; ToString(format) takes "G", "D", "X" or "F";
// HasFlag tests flags.
func declEnumMembers(d *typeDef) {
	d.method("ToString() string", f1(func(v int64) string { return enumName(d, v) }))
	d.method("ToString(string format) string", f2(func(v int64, format string) string {
		s, err := formatEnum(d, v, format)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s
	}))
	d.method("GetHashCode() int", f1(func(v int64) int32 { return int32(v) }))
	d.method("CompareTo(object target) int", f2(func(v int64, o any) int32 {
		e, ok := o.(Enum)
		switch {
		case o == nil:
			return 1
		case !ok || e.def != d:
			throw("ArgumentException", "Object must be the same type as the enum. The type passed in was '%s'; the enum type was '%s'.", dotnetTypeName(o), d.qualified())
		}
		return int32(cmpI64(v, e.Value))
	}))
	d.method("HasFlag(object flag) bool", f2(func(v int64, o any) bool {
		e, ok := o.(Enum)
		if !ok || e.def != d {
			throw("ArgumentException", "The argument type, '%s', is not the same as the enum type '%s'.", dotnetTypeName(o), d.qualified())
		}
		return v&e.Value == e.Value
	}))
	d.is = func(v any) bool { e, ok := v.(Enum); return ok && e.def == d }
}

// extension declares an extension method; the first parameter is the receiver.
func (u *universe) extension(sig string, impl implFn) *member {
	name, tparams, params, result, _ := parseSig(sig)
	m := &member{name: name, kind: mMethod, static: false, ext: true, tparams: tparams, params: params, result: result, impl: impl, sig: sig, nullRecv: true}
	u.ext[name] = append(u.ext[name], m)
	return m
}

// ---- adapters from Go functions to implFn ----
//
// Each call of a library member through an adapter is a step: the budget then
// bounds the work of any expression, however many calls a loop body makes.

func f0[R any](impl func() R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		pos := cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { f.pos = pos; f.step(pos); return impl() })
	}
}

func f1[A, R any](impl func(A) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, pos := getAs[A](args[0]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { av := a(f); f.pos = pos; f.step(pos); return impl(av) })
	}
}

func f2[A, B, R any](impl func(A, B) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, pos := getAs[A](args[0]), getAs[B](args[1]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { av, bv := a(f), b(f); f.pos = pos; f.step(pos); return impl(av, bv) })
	}
}

func f3[A, B, C, R any](impl func(A, B, C) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv := a(f), b(f), cc(f)
			f.pos = pos
			f.step(pos)
			return impl(av, bv, cv)
		})
	}
}

func f4[A, B, C, D, R any](impl func(A, B, C, D) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, d, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), getAs[D](args[3]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv, dv := a(f), b(f), cc(f), d(f)
			f.pos = pos
			f.step(pos)
			return impl(av, bv, cv, dv)
		})
	}
}

func f5[A, B, C, D, E, R any](impl func(A, B, C, D, E) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, d, e, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), getAs[D](args[3]), getAs[E](args[4]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv, dv, ev := a(f), b(f), cc(f), d(f), e(f)
			f.pos = pos
			f.step(pos)
			return impl(av, bv, cv, dv, ev)
		})
	}
}

// x0..x4 are like f0..f4 for implementations that need the frame (budgets, the
// exchange).
func x0[R any](impl func(*frame) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		pos := cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { f.pos = pos; f.step(pos); return impl(f) })
	}
}

func x1[A, R any](impl func(*frame, A) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, pos := getAs[A](args[0]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { av := a(f); f.pos = pos; f.step(pos); return impl(f, av) })
	}
}

func x2[A, B, R any](impl func(*frame, A, B) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, pos := getAs[A](args[0]), getAs[B](args[1]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R { av, bv := a(f), b(f); f.pos = pos; f.step(pos); return impl(f, av, bv) })
	}
}

func x3[A, B, C, R any](impl func(*frame, A, B, C) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv := a(f), b(f), cc(f)
			f.pos = pos
			f.step(pos)
			return impl(f, av, bv, cv)
		})
	}
}

func x4[A, B, C, D, R any](impl func(*frame, A, B, C, D) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, d, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), getAs[D](args[3]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv, dv := a(f), b(f), cc(f), d(f)
			f.pos = pos
			f.step(pos)
			return impl(f, av, bv, cv, dv)
		})
	}
}

// v1..v3 adapt functions without a result (void methods).
func v1[A any](impl func(A)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, pos := getAs[A](args[0]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av := a(f); f.pos = pos; f.step(pos); impl(av) }}
	}
}

func v2[A, B any](impl func(A, B)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, pos := getAs[A](args[0]), getAs[B](args[1]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av, bv := a(f), b(f); f.pos = pos; f.step(pos); impl(av, bv) }}
	}
}

func v3[A, B, C any](impl func(A, B, C)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av, bv, cv := a(f), b(f), cc(f); f.pos = pos; f.step(pos); impl(av, bv, cv) }}
	}
}

func vx1[A any](impl func(*frame, A)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, pos := getAs[A](args[0]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av := a(f); f.pos = pos; f.step(pos); impl(f, av) }}
	}
}

func vx2[A, B any](impl func(*frame, A, B)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, pos := getAs[A](args[0]), getAs[B](args[1]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av, bv := a(f), b(f); f.pos = pos; f.step(pos); impl(f, av, bv) }}
	}
}

func vx3[A, B, C any](impl func(*frame, A, B, C)) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), cs.pos
		return &operand{t: tVoid, n: cs.n, v: func(f *frame) { av, bv, cv := a(f), b(f), cc(f); f.pos = pos; f.step(pos); impl(f, av, bv, cv) }}
	}
}

func f6[A, B, C, D, E, G, R any](impl func(A, B, C, D, E, G) R) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		a, b, cc, d, e, g, pos := getAs[A](args[0]), getAs[B](args[1]), getAs[C](args[2]), getAs[D](args[3]), getAs[E](args[4]), getAs[G](args[5]), cs.pos
		return mkResult(cs.t, cs.n, func(f *frame) R {
			av, bv, cv, dv, ev, gv := a(f), b(f), cc(f), d(f), e(f), g(f)
			f.pos = pos
			f.step(pos)
			return impl(av, bv, cv, dv, ev, gv)
		})
	}
}
