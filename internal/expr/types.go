package expr

import (
	"strings"
)

// rep is how the compiled code holds a value of a static type: primitive types get
// typed closures (no boxing on the hot path); everything else is an `any`.
type rep uint8

const (
	repAny  rep = iota // func(*frame) any
	repBool            // func(*frame) bool
	repI32             // func(*frame) int32: sbyte, byte, short, ushort, char, int
	repI64             // func(*frame) int64: uint, long, ulong (as bits)
	repF64             // func(*frame) float64: float, double
	repStr             // func(*frame) string, with nullStr for null
	repVoid
)

// numKind orders the numeric types for promotion.
type numKind uint8

const (
	nkNone numKind = iota
	nkSByte
	nkByte
	nkShort
	nkUShort
	nkChar
	nkInt
	nkUInt
	nkLong
	nkULong
	nkFloat
	nkDouble
	nkDecimal
)

// tkind is the kind of a static type.
type tkind uint8

const (
	tkPrim      tkind = iota // bool, numerics, string, object
	tkClass                  // reference type from the library
	tkStruct                 // value type from the library (DateTime, Guid, ...)
	tkArray                  // T[]
	tkNullable               // T?
	tkNull                   // the type of the null literal
	tkVoid                   // void
	tkAnon                   // anonymous type
	tkEnum                   // enum type
	tkLambda                 // an unbound lambda
	tkTypeParam              // a generic type parameter (only in signatures)
	tkError                  // the type of an erroneous expression
)

// Type is a static C# type.
type Type struct {
	Name  string
	kind  tkind
	rep   rep
	num   numKind
	elem  *Type   // array element or nullable underlying type
	args  []*Type // generic arguments
	def   *typeDef
	value bool // value type
	// anonymous type fields
	fields []anonField
}

type anonField struct {
	name string
	typ  *Type
}

// String returns the C# name of the type.
func (t *Type) String() string { return t.Name }

// isRef reports whether null converts to t.
func (t *Type) isRef() bool {
	switch t.kind {
	case tkClass, tkArray, tkNullable, tkNull, tkAnon:
		return true
	case tkPrim:
		return t.num == nkNone && t.rep != repBool
	}
	return false
}

func (t *Type) isNumeric() bool { return t.num != nkNone && t.kind == tkPrim }
func (t *Type) isIntegral() bool {
	return t.isNumeric() && t.num != nkFloat && t.num != nkDouble && t.num != nkDecimal
}
func (t *Type) isError() bool { return t.kind == tkError }

// same reports whether two types are identical.
func same(a, b *Type) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.Name == b.Name
}

// predefined types.
var (
	tBool    = &Type{Name: "bool", rep: repBool, value: true}
	tSByte   = &Type{Name: "sbyte", rep: repI32, num: nkSByte, value: true}
	tByte    = &Type{Name: "byte", rep: repI32, num: nkByte, value: true}
	tShort   = &Type{Name: "short", rep: repI32, num: nkShort, value: true}
	tUShort  = &Type{Name: "ushort", rep: repI32, num: nkUShort, value: true}
	tChar    = &Type{Name: "char", rep: repI32, num: nkChar, value: true}
	tInt     = &Type{Name: "int", rep: repI32, num: nkInt, value: true}
	tUInt    = &Type{Name: "uint", rep: repI64, num: nkUInt, value: true}
	tLong    = &Type{Name: "long", rep: repI64, num: nkLong, value: true}
	tULong   = &Type{Name: "ulong", rep: repI64, num: nkULong, value: true}
	tFloat   = &Type{Name: "float", rep: repF64, num: nkFloat, value: true}
	tDouble  = &Type{Name: "double", rep: repF64, num: nkDouble, value: true}
	tDecimal = &Type{Name: "decimal", rep: repAny, num: nkDecimal, value: true} // a boxed Decimal
	tString  = &Type{Name: "string", rep: repStr}
	tObject  = &Type{Name: "object", rep: repAny}
	tVoid    = &Type{Name: "void", kind: tkVoid, rep: repVoid}
	tNull    = &Type{Name: "null", kind: tkNull, rep: repAny}
	// tDefault is the type of the target-typed `default` literal.
	tDefault = &Type{Name: "default", kind: tkNull, rep: repAny}
	tErr     = &Type{Name: "?", kind: tkError, rep: repAny}
	tLambda  = &Type{Name: "lambda expression", kind: tkLambda, rep: repAny}
)

// dotnetNames maps keyword types to their System names, for messages and for
// `System.Int32` style references.
var keywordTypes = map[string]*Type{
	"bool": tBool, "sbyte": tSByte, "byte": tByte, "short": tShort, "ushort": tUShort,
	"char": tChar, "int": tInt, "uint": tUInt, "long": tLong, "ulong": tULong,
	"float": tFloat, "double": tDouble, "decimal": tDecimal, "string": tString,
	"object": tObject, "void": tVoid,
}

var systemTypeNames = map[string]string{
	"Boolean": "bool", "SByte": "sbyte", "Byte": "byte", "Int16": "short", "UInt16": "ushort",
	"Char": "char", "Int32": "int", "UInt32": "uint", "Int64": "long", "UInt64": "ulong",
	"Single": "float", "Double": "double", "Decimal": "decimal", "String": "string",
	"Object": "object",
}

// clrName is the System name of a type, as .NET exception messages print it.
func clrName(t *Type) string {
	for k, v := range systemTypeNames {
		if v == t.Name {
			return "System." + k
		}
	}
	return t.Name
}

func arrayOf(e *Type) *Type {
	return &Type{Name: e.Name + "[]", kind: tkArray, rep: repAny, elem: e}
}

func nullableOf(e *Type) *Type {
	if e.kind == tkNullable {
		return e
	}
	return &Type{Name: e.Name + "?", kind: tkNullable, rep: repAny, elem: e}
}

// underlying returns T for T? and t otherwise.
func underlying(t *Type) *Type {
	if t.kind == tkNullable {
		return t.elem
	}
	return t
}

// typeDef is a library type: its members, base type and generic arity.
type typeDef struct {
	name    string
	display string // the name shown in messages when name is internal
	ns      string // namespace, for qualified references
	params  []string
	base    string // base type name (for reference conversions)
	ifaces  []string
	kind    tkind
	rep     rep
	value   bool
	inst    map[string][]*member // instance members by name
	static  map[string][]*member // static members by name
	ctors   []*member
	indexer []*member
	// elem returns the IEnumerable<T> element type of an instance, or nil.
	elem func(t *Type) *Type
	// is tests whether a Go value is an instance of the type (for casts, is, as).
	is func(any) bool
	// zero is default(T) for value types.
	zero any
	// enum values, in declaration order; flags marks a [Flags] enum, whose
	// values combine
	enumVals map[string]int64
	enumName []string
	flags    bool
}

// qualified is the type's .NET name, with its namespace.
func (d *typeDef) qualified() string {
	if d.ns == "" {
		return d.name
	}
	return d.ns + "." + d.name
}

// typeOf returns the Type of a non-generic library type.
func (d *typeDef) typ() *Type {
	name := d.name
	if d.display != "" {
		name = d.display
	}
	return &Type{Name: name, kind: d.kind, rep: d.rep, def: d, value: d.value}
}

// instance returns def<args>.
func (d *typeDef) instance(args ...*Type) *Type {
	if len(args) == 0 {
		return d.typ()
	}
	var b strings.Builder
	b.WriteString(d.name)
	b.WriteByte('<')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Name)
	}
	b.WriteByte('>')
	return &Type{Name: b.String(), kind: d.kind, rep: d.rep, def: d, args: args, value: d.value}
}
