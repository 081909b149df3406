package expr

import (
	"math"
	"time"
)

// declCore declares object, the delegate types, exceptions, arrays, nullables,
// KeyValuePair and the enums the string methods take.
func declCore(u *universe) {
	obj := u.decl("System.Object", tkClass, "")
	obj.method("ToString() string", x1(func(f *frame, v any) string { return f.str(v) }))
	obj.method("Equals(object obj) bool", f2(valueEq))
	obj.method("GetHashCode() int", x1(hashCode))
	obj.smethod("Equals(object objA, object objB) bool", f2(valueEq))
	obj.smethod("ReferenceEquals(object objA, object objB) bool", f2(refEq))

	// delegate types, for lambda parameters
	u.decl("System.Func", tkClass, "", "TResult")
	u.decl("System.Func", tkClass, "", "T", "TResult")
	u.decl("System.Func", tkClass, "", "T1", "T2", "TResult")
	u.decl("System.Func", tkClass, "", "T1", "T2", "T3", "TResult")
	u.decl("System.Action", tkClass, "")
	u.decl("System.Action", tkClass, "", "T")
	u.decl("System.Action", tkClass, "", "T1", "T2")
	u.decl("System.Predicate", tkClass, "", "T")
	u.decl("System.Comparison", tkClass, "", "T")

	// exceptions: new Exception("message"), catch (Exception e) { e.Message }
	for name := range exceptionBase {
		ns := "System"
		switch name {
		case "JsonReaderException", "JsonException", "JsonSerializationException":
			ns = "Newtonsoft.Json"
		case "KeyNotFoundException":
			ns = "System.Collections.Generic"
		case "RegexMatchTimeoutException":
			ns = "System.Text.RegularExpressions"
		case "CryptographicException":
			ns = "System.Security.Cryptography"
		case "XmlException":
			ns = "System.Xml"
		}
		base := exceptionBase[name]
		d := u.decl(ns+"."+name, tkClass, base)
		typ := name
		d.is = func(v any) bool { e, ok := v.(*exception); return ok && exceptionIs(e.typ, typ) }
		d.ctor("()", f0(func() *exception {
			return &exception{typ: typ, msg: "Exception of type 'System." + typ + "' was thrown.", pos: -1}
		}))
		d.ctor("(string message)", f1(func(m string) *exception { return &exception{typ: typ, msg: m, pos: -1} }))
		d.ctor("(string message, Exception innerException)", f2(func(m string, _ *exception) *exception {
			return &exception{typ: typ, msg: m, pos: -1}
		}))
		if name == "Exception" {
			d.prop("Message string", f1(func(e *exception) string { return e.msg }))
			d.prop("InnerException Exception", f1(func(e *exception) *exception { return nil }))
			d.prop("StackTrace string", f1(func(e *exception) string { return "" }))
			d.prop("Source string", f1(func(e *exception) string { return nullStr }))
			d.method("ToString() string", f1(func(e *exception) string { return "System." + e.typ + ": " + e.msg }))
		}
	}

	// arrays
	arr := u.decl("System.Array", tkClass, "")
	arr.is = isArray
	arr.prop("Length int", f1(func(a any) int32 { return int32(arrLen(a)) })).selfMetered()
	arr.prop("LongLength long", f1(func(a any) int64 { return int64(arrLen(a)) })).selfMetered()
	arr.smethod("Copy(Array sourceArray, int sourceIndex, Array destinationArray, int destinationIndex, int length) void",
		func(c *checker, cs *site, args []*operand) *operand {
			src, si, dst, di, n := args[0].anyFn(), args[1].i32Fn(), args[2].anyFn(), args[3].i32Fn(), args[4].i32Fn()
			pos := cs.pos
			return &operand{t: tVoid, n: cs.n, v: func(f *frame) {
				s, sIdx, d, dIdx, cnt := src(f), int(si(f)), dst(f), int(di(f)), int(n(f))
				if s == nil || d == nil {
					throwAt(pos, "ArgumentNullException", "Value cannot be null")
				}
				if sIdx < 0 || dIdx < 0 || cnt < 0 || sIdx+cnt > arrLen(s) || dIdx+cnt > arrLen(d) {
					throwAt(pos, "ArgumentException", "Source array was not long enough. Check the source index, length, and the array's lower bounds")
				}
				f.elems(cnt)
				if sb, ok := s.([]byte); ok {
					if db, ok := d.([]byte); ok {
						copy(db[dIdx:dIdx+cnt], sb[sIdx:sIdx+cnt])
						return
					}
				}
				f.allocN(cnt, slotBytes)
				tmp := make([]any, cnt)
				for i := range cnt {
					tmp[i] = arrGet(s, sIdx+i)
				}
				for i := range cnt {
					arrSet(d, dIdx+i, tmp[i])
				}
			}}
		})
	arr.smethod("Copy(Array sourceArray, Array destinationArray, int length) void",
		func(c *checker, cs *site, args []*operand) *operand {
			src, dst, n := args[0].anyFn(), args[1].anyFn(), args[2].i32Fn()
			pos := cs.pos
			return &operand{t: tVoid, n: cs.n, v: func(f *frame) {
				s, d, cnt := src(f), dst(f), int(n(f))
				if cnt < 0 || cnt > arrLen(s) || cnt > arrLen(d) {
					throwAt(pos, "ArgumentException", "Source array was not long enough")
				}
				f.elems(cnt)
				for i := range cnt {
					arrSet(d, i, arrGet(s, i))
				}
			}}
		})
	arr.smethod("Exists<T>(T[] array, Predicate<T> match) bool", x2(func(f *frame, a any, p *lambdaCode) bool {
		found := false
		iterate(f, a, func(v any) bool {
			if p.pred(f, v) {
				found = true
				return false
			}
			return true
		})
		return found
	}))
	arr.smethod("IndexOf<T>(T[] array, T value) int", x2(func(f *frame, a any, v any) int32 {
		f.elems(arrLen(a))
		for i := range arrLen(a) {
			if valueEq(arrGet(a, i), v) {
				return int32(i)
			}
		}
		return -1
	}))
	arr.smethod("Reverse(Array array) void", vx1(func(f *frame, a any) {
		n := arrLen(a)
		f.elems(n)
		for i := 0; i < n/2; i++ {
			x, y := arrGet(a, i), arrGet(a, n-1-i)
			arrSet(a, i, y)
			arrSet(a, n-1-i, x)
		}
	}))
	arr.smethod("Empty<T>() T[]", func(c *checker, cs *site, args []*operand) *operand {
		et := cs.targs[0]
		return &operand{t: cs.t, n: cs.n, o: func(*frame) any { return makeArray(et, 0) }}
	})
	arr.elem = func(*Type) *Type { return tObject }

	// Nullable<T>
	nl := u.decl("System.Nullable", tkStruct, "", "T")
	nl.prop("HasValue bool", nullableHasValue())
	nl.prop("Value T", nullableValue())
	nl.method("GetValueOrDefault() T", func(c *checker, cs *site, args []*operand) *operand {
		g := args[0].anyFn()
		z := c.zeroOf(cs.t, cs.n).anyFn()
		return fromAny(cs.t, cs.n, func(f *frame) any {
			if v := g(f); v != nil {
				return v
			}
			return z(f)
		})
	})
	nl.method("GetValueOrDefault(T defaultValue) T", func(c *checker, cs *site, args []*operand) *operand {
		g, d := args[0].anyFn(), args[1].anyFn()
		return fromAny(cs.t, cs.n, func(f *frame) any {
			if v := g(f); v != nil {
				return v
			}
			return d(f)
		})
	})
	// a nullable without a value is not a null reference: ToString() is "",
	// Equals(null) is true and GetHashCode() is 0
	nl.method("ToString() string", x1(func(f *frame, v any) string { return f.str(v) }))
	nl.method("Equals(object other) bool", f2(valueEq))
	nl.method("GetHashCode() int", x1(hashCode))
	for _, ms := range nl.inst {
		for _, m := range ms {
			m.nullRecv = true
		}
	}

	// Environment has NewLine only: its other members read the gateway's process
	// (variables, machine name, command line) and are refused (checkEnvironment)
	env := u.decl("System.Environment", tkClass, "")
	env.konst("NewLine", "string", "\n")

	// KeyValuePair<TKey, TValue>
	kv := u.decl("System.Collections.Generic.KeyValuePair", tkStruct, "", "TKey", "TValue")
	kv.is = func(v any) bool { _, ok := v.(KeyValuePair); return ok }
	kv.zero = KeyValuePair{}
	kv.prop("Key TKey", f1(func(p KeyValuePair) any { return p.Key }))
	kv.prop("Value TValue", f1(func(p KeyValuePair) any { return p.Value }))
	kv.ctor("(TKey key, TValue value)", f2(func(k, v any) KeyValuePair { return KeyValuePair{Key: k, Value: v} }))

	// enums used by string and other methods
	sc := u.decl("System.StringComparison", tkEnum, "")
	sc.enum("CurrentCulture", "CurrentCultureIgnoreCase", "InvariantCulture", "InvariantCultureIgnoreCase", "Ordinal", "OrdinalIgnoreCase")
	so := u.decl("System.StringSplitOptions", tkEnum, "")
	so.flagsV(map[string]int64{"None": 0, "RemoveEmptyEntries": 1, "TrimEntries": 2}, "None", "RemoveEmptyEntries", "TrimEntries")
	mr := u.decl("System.MidpointRounding", tkEnum, "")
	mr.enum("ToEven", "AwayFromZero", "ToZero", "ToNegativeInfinity", "ToPositiveInfinity")
	dk := u.decl("System.DateTimeKind", tkEnum, "")
	dk.enum("Unspecified", "Utc", "Local")
	dw := u.decl("System.DayOfWeek", tkEnum, "")
	dw.enum("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
	up := u.decl("System.UriPartial", tkEnum, "")
	up.enum("Scheme", "Authority", "Path", "Query")
	uk := u.decl("System.UriKind", tkEnum, "")
	uk.enum("RelativeOrAbsolute", "Absolute", "Relative")

	// StringComparer
	cmp := u.decl("System.StringComparer", tkClass, "")
	cmp.is = func(v any) bool { _, ok := v.(StringComparer); return ok }
	for i, name := range []string{"CurrentCulture", "CurrentCultureIgnoreCase", "InvariantCulture", "InvariantCultureIgnoreCase", "Ordinal", "OrdinalIgnoreCase"} {
		sc := StringComparer{IgnoreCase: i%2 == 1}
		cmp.sprop(name+" StringComparer", f0(func() StringComparer { return sc }))
	}
	cmp.method("Equals(string x, string y) bool", f3(func(c StringComparer, x, y string) bool { return c.equal(x, y) }))
	cmp.method("Compare(string x, string y) int", f3(func(c StringComparer, x, y string) int32 { return int32(c.compare(x, y)) }))
	cmp.method("GetHashCode(string obj) int", f2(func(c StringComparer, s string) int32 { return c.hash(s) }))

	_ = time.Now
}

// StringComparer is a boxed StringComparer.
type StringComparer struct{ IgnoreCase bool }

func (c StringComparer) equal(x, y string) bool {
	if isNull(x) || isNull(y) {
		return isNull(x) && isNull(y)
	}
	if c.IgnoreCase {
		return equalFoldOrdinal(x, y)
	}
	return x == y
}

func (c StringComparer) compare(x, y string) int {
	cmp := int64(4)
	if c.IgnoreCase {
		cmp = 5
	}
	return compareNullable(x, y, cmp)
}

func (c StringComparer) hash(s string) int32 {
	if c.IgnoreCase {
		s = toUpperInvariant(s)
	}
	return stringHash(s)
}

func nullableHasValue() implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		g := args[0].anyFn()
		return &operand{t: tBool, n: cs.n, b: func(f *frame) bool { return g(f) != nil }}
	}
}

func nullableValue() implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		g := args[0].anyFn()
		pos := cs.pos
		desc := cs.desc
		return fromAny(cs.t, cs.n, func(f *frame) any {
			v := g(f)
			if v == nil {
				throwAt(pos, "InvalidOperationException", "Nullable object must have a value: %s is null", desc)
			}
			return v
		})
	}
}

// kvType is KeyValuePair<K, V>.
func (u *universe) kvType(k, v *Type) *Type {
	return u.lookupDef("KeyValuePair", 2).instance(k, v)
}

// hashCode is GetHashCode for a boxed value. Strings hash with FNV-1a: .NET
// randomises string hashes per process, so no policy can rely on the value.
func hashCode(f *frame, v any) int32 {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return stringHash(x)
	case int32:
		return x
	case int64:
		return int32(x) ^ int32(x>>32)
	case bool:
		if x {
			return 1
		}
		return 0
	case Guid:
		return x.HashCode()
	case Char:
		return int32(x) | int32(x)<<16
	case Enum:
		return int32(x.Value)
	case float64:
		b := math.Float64bits(x)
		return int32(b) ^ int32(b>>32)
	case float32:
		return int32(math.Float32bits(x))
	case Decimal:
		b := math.Float64bits(x.Float64())
		return int32(b) ^ int32(b>>32)
	case time.Time:
		t := dtTicks(x)
		return int32(t) ^ int32(t>>32)
	case *JValue:
		return jvalueHash(f, x)
	}
	return stringHash(f.str(v))
}

// stringHash is 32-bit FNV-1a of the UTF-8 bytes.
func stringHash(s string) int32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return int32(h)
}
