package expr

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
)

const fmtErr = "The input string was not in a correct format"

// parseIntStr parses an integer like int.Parse with NumberStyles.Integer:
// surrounding white space and a leading sign are allowed.
func parseIntStr(s string, bits int, unsigned bool, typeName string) (int64, string) {
	if isNull(s) {
		return 0, "null"
	}
	t := strings.TrimFunc(s, isWhite)
	if t == "" {
		return 0, "format"
	}
	neg := false
	switch t[0] {
	case '-':
		neg, t = true, t[1:]
	case '+':
		t = t[1:]
	}
	if t == "" {
		return 0, "format"
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, "format"
		}
	}
	u, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, "overflow"
	}
	if unsigned {
		if neg && u != 0 || bits < 64 && u >= 1<<bits {
			return 0, "overflow"
		}
		return int64(u), ""
	}
	lim := uint64(1) << (bits - 1)
	if neg {
		if u > lim {
			return 0, "overflow"
		}
		return -int64(u), ""
	}
	if u >= lim {
		return 0, "overflow"
	}
	return int64(u), ""
}

func parseIntOrThrow(s string, bits int, unsigned bool, typeName string) int64 {
	v, err := parseIntStr(s, bits, unsigned, typeName)
	throwParse(err, overflowMsg(typeName))
	return v
}

// throwParse throws the .NET exception for a parse failure of the number
// parsers ("null", "format", "overflow"; "" is none), with overflow's message.
func throwParse(err, overflow string) {
	switch err {
	case "null":
		throw("ArgumentNullException", "Value cannot be null. (Parameter 's')")
	case "format":
		throw("FormatException", fmtErr)
	case "overflow":
		throw("OverflowException", "%s", overflow)
	}
}

// overflowMsg is .NET's OverflowException message for a conversion to typeName
// ("System.Int32").
func overflowMsg(typeName string) string {
	what := map[string]string{
		"System.Int32": "an Int32", "System.Int64": "an Int64", "System.Int16": "an Int16",
		"System.Byte": "an unsigned byte", "System.SByte": "a signed byte", "System.UInt16": "a UInt16",
		"System.UInt32": "a UInt32", "System.UInt64": "a UInt64", "System.Decimal": "a Decimal",
		"System.Char": "a character",
	}[typeName]
	if what == "" {
		what = typeName
	}
	return "Value was either too large or too small for " + what + "."
}

// parseFloatStr parses like double.Parse with NumberStyles.Float |
// AllowThousands and the invariant culture.
func parseFloatStr(s string) (float64, bool) {
	if isNull(s) {
		return 0, false
	}
	t := strings.TrimFunc(s, isWhite)
	switch t {
	case "Infinity", "+Infinity", "∞":
		return math.Inf(1), true
	case "-Infinity", "-∞":
		return math.Inf(-1), true
	case "NaN":
		return math.NaN(), true
	}
	if t == "" {
		return 0, false
	}
	// thousands separators are allowed in the integer part
	if strings.Contains(t, ",") {
		ip, rest := t, ""
		if i := strings.IndexAny(t, ".eE"); i >= 0 {
			ip, rest = t[:i], t[i:]
		}
		t = strings.ReplaceAll(ip, ",", "") + rest
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return 0, false
		}
	}
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		return 0, false
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, true // .NET Core 3.0+ returns ±Infinity
		}
		return 0, false
	}
	return v, true
}

func parseBool(s string) (bool, bool) {
	t := strings.TrimFunc(s, func(r rune) bool { return isWhite(r) || r == 0 })
	switch {
	case strings.EqualFold(t, "True"):
		return true, true
	case strings.EqualFold(t, "False"):
		return false, true
	}
	return false, false
}

// declIntegral declares Int32, Int64 and the other integral types' statics.
func declIntegral(u *universe, name, kw string, bits int, unsigned bool, t *Type) {
	d := u.decl("System."+name, tkStruct, "")
	d.is = func(v any) bool { return toBoolTest(v, t) }
	lo, hi := intLimits(t.num)
	d.konst("MaxValue", kw, hi)
	d.konst("MinValue", kw, lo)
	sig := func(s string) string { return strings.ReplaceAll(s, "$T", kw) }
	typeName := "System." + name
	if t.rep == repI32 {
		d.smethod(sig("Parse(string s) $T"), f1(func(s string) int32 { return int32(parseIntOrThrow(s, bits, unsigned, typeName)) }))
		d.smethod(sig("Parse(string s, IFormatProvider provider) $T"), f2(func(s string, _ any) int32 { return int32(parseIntOrThrow(s, bits, unsigned, typeName)) }))
		d.smethod(sig("TryParse(string s, out $T result) bool"), f2(func(s string, out *outRef) bool {
			v, err := parseIntStr(s, bits, unsigned, typeName)
			out.set(boxedNum(t, v))
			if err != "" {
				out.set(boxedNum(t, 0))
			}
			return err == ""
		}))
		d.method("ToString() string", f1(func(v int32) string { return strconv.FormatInt(int64(v), 10) }))
		d.method("CompareTo("+kw+" value) int", f2(func(a, b int32) int32 { return int32(cmpI64(int64(a), int64(b))) }))
		d.method("Equals("+kw+" obj) bool", f2(func(a, b int32) bool { return a == b }))
		d.method("GetHashCode() int", f1(func(a int32) int32 { return a }))
	} else {
		d.smethod(sig("Parse(string s) $T"), f1(func(s string) int64 { return parseIntOrThrow(s, bits, unsigned, typeName) }))
		d.smethod(sig("Parse(string s, IFormatProvider provider) $T"), f2(func(s string, _ any) int64 { return parseIntOrThrow(s, bits, unsigned, typeName) }))
		d.smethod(sig("TryParse(string s, out $T result) bool"), f2(func(s string, out *outRef) bool {
			v, err := parseIntStr(s, bits, unsigned, typeName)
			if err != "" {
				v = 0
			}
			out.set(boxedNum(t, v))
			return err == ""
		}))
		if unsigned {
			d.method("ToString() string", f1(func(v int64) string { return strconv.FormatUint(uint64(v), 10) }))
		} else {
			d.method("ToString() string", f1(func(v int64) string { return strconv.FormatInt(v, 10) }))
		}
		d.method("CompareTo("+kw+" value) int", f2(func(a, b int64) int32 { return int32(cmpI64(a, b)) }))
		d.method("Equals("+kw+" obj) bool", f2(func(a, b int64) bool { return a == b }))
		d.method("GetHashCode() int", f1(func(a int64) int32 { return int32(a) ^ int32(a>>32) }))
	}
	fmtFn := func(c *checker, cs *site, args []*operand) *operand {
		box, fs := args[0].anyFn(), args[1].strFn()
		return &operand{t: tString, n: cs.n, s: func(f *frame) string {
			v, format := box(f), fs(f)
			chargeFormat(f, format)
			s, err := formatValue(v, format)
			if err != "" {
				throw("FormatException", "%s", err)
			}
			return s
		}}
	}
	d.method("ToString(string format) string", fmtFn)
	d.method("ToString(string format, IFormatProvider provider) string", fmtFn)
	d.method("ToString(IFormatProvider provider) string", func(c *checker, cs *site, args []*operand) *operand {
		return &operand{t: tString, n: cs.n, s: c.toStr(args[0])}
	})
}

// intLimits returns MinValue and MaxValue of an integral type (ulong's maximum as
// its bits).
func intLimits(k numKind) (int64, int64) {
	switch k {
	case nkSByte:
		return math.MinInt8, math.MaxInt8
	case nkByte:
		return 0, math.MaxUint8
	case nkShort:
		return math.MinInt16, math.MaxInt16
	case nkUShort:
		return 0, math.MaxUint16
	case nkInt:
		return math.MinInt32, math.MaxInt32
	case nkUInt:
		return 0, math.MaxUint32
	case nkULong:
		return 0, -1
	}
	return math.MinInt64, math.MaxInt64
}

func toBoolTest(v any, t *Type) bool {
	switch v.(type) {
	case int32, int:
		return t == tInt
	case int64:
		return t == tLong
	case uint8:
		return t == tByte
	case int8:
		return t == tSByte
	case int16:
		return t == tShort
	case uint16:
		return t == tUShort
	case uint32:
		return t == tUInt
	case uint64:
		return t == tULong
	case float64:
		return t == tDouble
	case Decimal:
		return t == tDecimal
	case float32:
		return t == tFloat
	case bool:
		return t == tBool
	case Char:
		return t == tChar
	}
	return false
}

func declFloat(u *universe, name, kw string, t *Type) {
	d := u.decl("System."+name, tkStruct, "")
	d.is = func(v any) bool { return toBoolTest(v, t) }
	switch t.num {
	case nkDouble:
		d.konst("MaxValue", kw, math.MaxFloat64)
		d.konst("MinValue", kw, -math.MaxFloat64)
		d.konst("Epsilon", kw, 4.9406564584124654e-324)
		d.konst("NaN", kw, math.NaN())
		d.konst("PositiveInfinity", kw, math.Inf(1))
		d.konst("NegativeInfinity", kw, math.Inf(-1))
	case nkFloat:
		d.konst("MaxValue", kw, float64(math.MaxFloat32))
		d.konst("MinValue", kw, -float64(math.MaxFloat32))
		d.konst("NaN", kw, math.NaN())
		d.konst("PositiveInfinity", kw, math.Inf(1))
		d.konst("NegativeInfinity", kw, math.Inf(-1))
	}
	parse := func(s string) float64 {
		if isNull(s) {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 's')")
		}
		v, ok := parseFloatStr(s)
		if !ok {
			throw("FormatException", fmtErr)
		}
		if t.num == nkFloat {
			v = float64(float32(v))
		}
		return v
	}
	d.smethod("Parse(string s) "+kw, f1(parse))
	d.smethod("Parse(string s, IFormatProvider provider) "+kw, f2(func(s string, _ any) float64 { return parse(s) }))
	d.smethod("TryParse(string s, out "+kw+" result) bool", f2(func(s string, out *outRef) bool {
		v, ok := parseFloatStr(s)
		if t.num == nkFloat {
			out.set(float32(v))
		} else {
			out.set(v)
		}
		return ok
	}))
	d.smethod("IsNaN("+kw+" d) bool", f1(math.IsNaN))
	d.smethod("IsInfinity("+kw+" d) bool", f1(func(v float64) bool { return math.IsInf(v, 0) }))
	d.smethod("IsPositiveInfinity("+kw+" d) bool", f1(func(v float64) bool { return math.IsInf(v, 1) }))
	d.smethod("IsNegativeInfinity("+kw+" d) bool", f1(func(v float64) bool { return math.IsInf(v, -1) }))
	d.smethod("IsFinite("+kw+" d) bool", f1(func(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }))
	d.method("ToString() string", func(c *checker, cs *site, args []*operand) *operand {
		return &operand{t: tString, n: cs.n, s: c.toStr(args[0])}
	})
	d.method("ToString(IFormatProvider provider) string", func(c *checker, cs *site, args []*operand) *operand {
		return &operand{t: tString, n: cs.n, s: c.toStr(args[0])}
	})
	fmtFn := func(c *checker, cs *site, args []*operand) *operand {
		box, fs := args[0].anyFn(), args[1].strFn()
		return &operand{t: tString, n: cs.n, s: func(f *frame) string {
			v, format := box(f), fs(f)
			chargeFormat(f, format)
			s, err := formatValue(v, format)
			if err != "" {
				throw("FormatException", "%s", err)
			}
			return s
		}}
	}
	d.method("ToString(string format) string", fmtFn)
	d.method("ToString(string format, IFormatProvider provider) string", fmtFn)
	d.method("CompareTo("+kw+" value) int", f2(func(a, b float64) int32 {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		case a == b:
			return 0
		case math.IsNaN(a) && math.IsNaN(b):
			return 0
		case math.IsNaN(a):
			return -1
		}
		return 1
	}))
	d.method("Equals("+kw+" obj) bool", f2(func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }))
	d.method("GetHashCode() int", f1(func(a float64) int32 { b := math.Float64bits(a); return int32(b) ^ int32(b>>32) }))
}

// declDecimal declares System.Decimal's statics and methods.
func declDecimal(u *universe) {
	d := u.decl("System.Decimal", tkStruct, "")
	d.is = func(v any) bool { _, ok := v.(Decimal); return ok }
	d.konst("MaxValue", "decimal", Decimal{lo: math.MaxUint64, hi: math.MaxUint32})
	d.konst("MinValue", "decimal", Decimal{lo: math.MaxUint64, hi: math.MaxUint32, neg: true})
	d.konst("Zero", "decimal", Decimal{})
	d.konst("One", "decimal", Decimal{lo: 1})
	d.konst("MinusOne", "decimal", Decimal{lo: 1, neg: true})
	d.ctor("(int value)", f1(func(v int32) Decimal { return decFromInt64(int64(v)) }))
	d.ctor("(long value)", f1(decFromInt64))
	d.ctor("(double value)", f1(func(v float64) Decimal { return decFromFloat(v, 15) }))
	d.ctor("(int lo, int mid, int hi, bool isNegative, byte scale)", f5(func(lo, mid, hi int32, neg bool, scale int32) Decimal {
		if scale > decMaxScale {
			throw("ArgumentOutOfRangeException", "Decimal's scale value must be between 0 and 28, inclusive. (Parameter 'scale')")
		}
		return Decimal{lo: uint64(uint32(mid))<<32 | uint64(uint32(lo)), hi: uint32(hi), scale: uint8(scale), neg: neg}
	}))
	parse := func(s string) Decimal { return parseDecimalOrThrow(s, false) }
	d.smethod("Parse(string s) decimal", f1(parse))
	d.smethod("Parse(string s, IFormatProvider provider) decimal", f2(func(s string, _ any) Decimal { return parse(s) }))
	d.smethod("TryParse(string s, out decimal result) bool", f2(func(s string, out *outRef) bool {
		v, err := parseDecimalStr(s, false)
		out.set(v)
		return err == ""
	}))
	d.method("ToString() string", f1(Decimal.String))
	d.method("ToString(IFormatProvider provider) string", f2(func(v Decimal, _ any) string { return v.String() }))
	fmtFn := func(c *checker, cs *site, args []*operand) *operand {
		g, fs := getAs[Decimal](args[0]), args[1].strFn()
		return &operand{t: tString, n: cs.n, s: func(f *frame) string {
			v, format := g(f), fs(f)
			chargeFormat(f, format)
			s, err := formatDecimal(v, format)
			if err != "" {
				throw("FormatException", "%s", err)
			}
			return s
		}}
	}
	d.method("ToString(string format) string", fmtFn)
	d.method("ToString(string format, IFormatProvider provider) string", fmtFn)
	d.method("CompareTo(decimal value) int", f2(func(a, b Decimal) int32 { return int32(decCmp(a, b)) }))
	d.method("Equals(decimal value) bool", f2(func(a, b Decimal) bool { return decCmp(a, b) == 0 }))
	d.method("GetHashCode() int", f1(func(a Decimal) int32 {
		b := math.Float64bits(a.Float64())
		return int32(b) ^ int32(b>>32)
	}))
	d.smethod("Compare(decimal d1, decimal d2) int", f2(func(a, b Decimal) int32 { return int32(decCmp(a, b)) }))
	d.smethod("Add(decimal d1, decimal d2) decimal", f2(decAdd))
	d.smethod("Subtract(decimal d1, decimal d2) decimal", f2(func(a, b Decimal) Decimal { return decAdd(a, b.negate()) }))
	d.smethod("Multiply(decimal d1, decimal d2) decimal", f2(decMul))
	d.smethod("Divide(decimal d1, decimal d2) decimal", f2(decDiv))
	d.smethod("Remainder(decimal d1, decimal d2) decimal", f2(decRem))
	d.smethod("Negate(decimal d) decimal", f1(Decimal.negate))
	d.smethod("Round(decimal d) decimal", f1(func(v Decimal) Decimal { return decRound(v, 0, 0) }))
	d.smethod("Round(decimal d, int decimals) decimal", f2(func(v Decimal, n int32) Decimal { return decRound(v, int(n), 0) }))
	d.smethod("Round(decimal d, MidpointRounding mode) decimal", f2(func(v Decimal, mode int64) Decimal { return decRound(v, 0, mode) }))
	d.smethod("Round(decimal d, int decimals, MidpointRounding mode) decimal", f3(func(v Decimal, n int32, mode int64) Decimal { return decRound(v, int(n), mode) }))
	d.smethod("Floor(decimal d) decimal", f1(func(v Decimal) Decimal { return decRound(v, 0, 3) }))
	d.smethod("Ceiling(decimal d) decimal", f1(func(v Decimal) Decimal { return decRound(v, 0, 4) }))
	d.smethod("Truncate(decimal d) decimal", f1(func(v Decimal) Decimal { return decRound(v, 0, 2) }))
	d.smethod("ToInt32(decimal d) int", f1(func(v Decimal) int32 { return int32(decToInt(v, nkInt)) }))
	d.smethod("ToInt64(decimal d) long", f1(func(v Decimal) int64 { return decToInt(v, nkLong) }))
	d.smethod("ToDouble(decimal d) double", f1(Decimal.Float64))
}

func pickDec(first bool, a, b Decimal) Decimal {
	if first {
		return a
	}
	return b
}

// convertToDecimal is Convert.ToDecimal(object): a string is parsed as
// decimal.Parse does (no exponent), a double keeps 15 significant digits,
// bools are 0 or 1, null is 0.
func convertToDecimal(v any) Decimal {
	switch x := v.(type) {
	case nil:
		return Decimal{}
	case Decimal:
		return x
	case string:
		return parseDecimalOrThrow(x, false)
	case bool:
		if x {
			return Decimal{lo: 1}
		}
		return Decimal{}
	case float64:
		return decFromFloat(x, 15)
	case float32:
		return decFromFloat(float64(x), 7)
	case uint64:
		return Decimal{lo: x}
	case int32, int64, int, int8, uint8, int16, uint16, uint32, Enum:
		return decFromInt64(toI64(x))
	case Char:
		throw("InvalidCastException", "Invalid cast from 'Char' to 'Decimal'.")
	}
	throw("InvalidCastException", "Unable to cast object of type '%s' to type 'System.IConvertible'", dotnetTypeName(v))
	return Decimal{}
}

func declNumbers(u *universe) {
	declIntegral(u, "Int32", "int", 32, false, tInt)
	declIntegral(u, "Int64", "long", 64, false, tLong)
	declIntegral(u, "Int16", "short", 16, false, tShort)
	declIntegral(u, "UInt16", "ushort", 16, true, tUShort)
	declIntegral(u, "UInt32", "uint", 32, true, tUInt)
	declIntegral(u, "UInt64", "ulong", 64, true, tULong)
	declIntegral(u, "Byte", "byte", 8, true, tByte)
	declIntegral(u, "SByte", "sbyte", 8, false, tSByte)
	declFloat(u, "Double", "double", tDouble)
	declFloat(u, "Single", "float", tFloat)
	declDecimal(u)

	b := u.decl("System.Boolean", tkStruct, "")
	b.is = func(v any) bool { _, ok := v.(bool); return ok }
	b.konst("TrueString", "string", "True")
	b.konst("FalseString", "string", "False")
	b.smethod("Parse(string value) bool", f1(func(s string) bool {
		if isNull(s) {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'value')")
		}
		v, ok := parseBool(s)
		if !ok {
			throw("FormatException", "String was not recognized as a valid Boolean")
		}
		return v
	}))
	b.smethod("TryParse(string value, out bool result) bool", f2(func(s string, out *outRef) bool {
		v, ok := parseBool(s)
		out.set(v)
		return ok
	}))
	b.method("ToString() string", f1(func(v bool) string { return toStringAny(v) }))
	b.method("Equals(bool obj) bool", f2(func(a, b bool) bool { return a == b }))
	b.method("CompareTo(bool value) int", f2(func(a, b bool) int32 {
		switch {
		case a == b:
			return 0
		case a:
			return 1
		}
		return -1
	}))

	declMath(u)
	declRandom(u)
	declGuid(u)
	declBitConverter(u)
}

func declMath(u *universe) {
	m := u.decl("System.Math", tkClass, "")
	m.konst("PI", "double", math.Pi)
	m.konst("E", "double", math.E)
	m.smethod("Abs(int value) int", f1(func(v int32) int32 {
		if v == math.MinInt32 {
			throw("OverflowException", "Negating the minimum value of a twos complement number is invalid")
		}
		if v < 0 {
			return -v
		}
		return v
	}))
	m.smethod("Abs(long value) long", f1(func(v int64) int64 {
		if v == math.MinInt64 {
			throw("OverflowException", "Negating the minimum value of a twos complement number is invalid")
		}
		if v < 0 {
			return -v
		}
		return v
	}))
	m.smethod("Abs(double value) double", f1(math.Abs))
	m.smethod("Abs(decimal value) decimal", f1(func(d Decimal) Decimal { d.neg = false; return d }))
	for _, kw := range []string{"int", "long", "double"} {
		switch kw {
		case "int":
			m.smethod("Max(int a, int b) int", f2(func(a, b int32) int32 { return max(a, b) }))
			m.smethod("Min(int a, int b) int", f2(func(a, b int32) int32 { return min(a, b) }))
			m.smethod("Clamp(int value, int min, int max) int", f3(func(v, lo, hi int32) int32 { return clampI(v, lo, hi) }))
			m.smethod("Sign(int value) int", f1(func(v int32) int32 { return int32(cmpI64(int64(v), 0)) }))
		case "long":
			m.smethod("Max(long a, long b) long", f2(func(a, b int64) int64 { return max(a, b) }))
			m.smethod("Min(long a, long b) long", f2(func(a, b int64) int64 { return min(a, b) }))
			m.smethod("Sign(long value) int", f1(func(v int64) int32 { return int32(cmpI64(v, 0)) }))
		default:
			m.smethod("Max("+kw+" a, "+kw+" b) "+kw, f2(func(a, b float64) float64 {
				if math.IsNaN(a) || math.IsNaN(b) {
					return math.NaN()
				}
				return math.Max(a, b)
			}))
			m.smethod("Min("+kw+" a, "+kw+" b) "+kw, f2(func(a, b float64) float64 {
				if math.IsNaN(a) || math.IsNaN(b) {
					return math.NaN()
				}
				return math.Min(a, b)
			}))
			m.smethod("Sign("+kw+" value) int", f1(func(v float64) int32 {
				if math.IsNaN(v) {
					throw("ArithmeticException", "Function does not accept floating point Not-a-Number values")
				}
				switch {
				case v > 0:
					return 1
				case v < 0:
					return -1
				}
				return 0
			}))
		}
	}
	m.smethod("Clamp(double value, double min, double max) double", f3(func(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }))
	m.smethod("Pow(double x, double y) double", f2(math.Pow))
	m.smethod("Sqrt(double d) double", f1(math.Sqrt))
	m.smethod("Floor(double d) double", f1(math.Floor))
	m.smethod("Floor(decimal d) decimal", f1(func(d Decimal) Decimal { return decRound(d, 0, 3) }))
	m.smethod("Ceiling(double a) double", f1(math.Ceil))
	m.smethod("Ceiling(decimal d) decimal", f1(func(d Decimal) Decimal { return decRound(d, 0, 4) }))
	m.smethod("Truncate(double d) double", f1(math.Trunc))
	m.smethod("Truncate(decimal d) decimal", f1(func(d Decimal) Decimal { return decRound(d, 0, 2) }))
	m.smethod("Round(double a) double", f1(math.RoundToEven))
	m.smethod("Round(decimal d) decimal", f1(func(d Decimal) Decimal { return decRound(d, 0, 0) }))
	m.smethod("Round(double value, int digits) double", f2(func(v float64, d int32) float64 { return roundDigits(v, d, 0) }))
	m.smethod("Round(decimal d, int decimals) decimal", f2(func(d Decimal, n int32) Decimal { return decRound(d, int(n), 0) }))
	m.smethod("Round(decimal d, MidpointRounding mode) decimal", f2(func(d Decimal, mode int64) Decimal { return decRound(d, 0, mode) }))
	m.smethod("Round(double value, MidpointRounding mode) double", f2(func(v float64, mode int64) float64 { return roundDigits(v, 0, mode) }))
	m.smethod("Round(double value, int digits, MidpointRounding mode) double", f3(func(v float64, d int32, mode int64) float64 { return roundDigits(v, d, mode) }))
	m.smethod("Round(decimal d, int decimals, MidpointRounding mode) decimal", f3(func(d Decimal, n int32, mode int64) Decimal { return decRound(d, int(n), mode) }))
	m.smethod("Max(decimal val1, decimal val2) decimal", f2(func(a, b Decimal) Decimal { return pickDec(decCmp(a, b) >= 0, a, b) }))
	m.smethod("Min(decimal val1, decimal val2) decimal", f2(func(a, b Decimal) Decimal { return pickDec(decCmp(a, b) < 0, a, b) }))
	m.smethod("Sign(decimal value) int", f1(func(d Decimal) int32 { return int32(d.sign()) }))
	m.smethod("Clamp(decimal value, decimal min, decimal max) decimal", f3(func(v, lo, hi Decimal) Decimal {
		if decCmp(lo, hi) > 0 {
			throw("ArgumentException", "'%s' cannot be greater than %s", lo, hi)
		}
		return pickDec(decCmp(v, lo) < 0, lo, pickDec(decCmp(v, hi) > 0, hi, v))
	}))
	m.smethod("Log(double d) double", f1(math.Log))
	m.smethod("Log(double a, double newBase) double", f2(func(a, b float64) float64 { return math.Log(a) / math.Log(b) }))
	m.smethod("Log10(double d) double", f1(math.Log10))
	m.smethod("Log2(double d) double", f1(math.Log2))
	m.smethod("Exp(double d) double", f1(math.Exp))
	m.smethod("Sin(double a) double", f1(math.Sin))
	m.smethod("Cos(double d) double", f1(math.Cos))
	m.smethod("Tan(double a) double", f1(math.Tan))
	m.smethod("Atan(double d) double", f1(math.Atan))
	m.smethod("Atan2(double y, double x) double", f2(math.Atan2))
	m.smethod("DivRem(int a, int b, out int result) int", f3(func(a, b int32, out *outRef) int32 {
		if b == 0 {
			throw("DivideByZeroException", "Attempted to divide by zero")
		}
		out.set(a % b)
		return a / b
	}))
	m.smethod("BigMul(int a, int b) long", f2(func(a, b int32) int64 { return int64(a) * int64(b) }))
}

func clampI(v, lo, hi int32) int32 {
	if lo > hi {
		throw("ArgumentException", "'%d' cannot be greater than %d", lo, hi)
	}
	return min(max(v, lo), hi)
}

// roundDigits is Math.Round(value, digits, mode).
func roundDigits(v float64, digits int32, mode int64) float64 {
	if digits < 0 || digits > 15 {
		throw("ArgumentOutOfRangeException", "Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')")
	}
	p := math.Pow(10, float64(digits))
	x := v * p
	var r float64
	switch mode {
	case 1: // AwayFromZero
		r = math.Round(x)
	case 2: // ToZero
		r = math.Trunc(x)
	case 3:
		r = math.Floor(x)
	case 4:
		r = math.Ceil(x)
	default:
		r = math.RoundToEven(x)
	}
	if math.IsInf(x, 0) {
		return v
	}
	return r / p
}

// ---- Random ----

// Random is System.Random. A seeded Random reproduces .NET's sequence (the
// subtractive generator .NET keeps for seeded instances); an unseeded one uses
// math/rand/v2.
type Random struct {
	seeded bool
	inext  int
	inextp int
	seed   [56]int32
	rng    *mrand.Rand
}

func newSeededRandom(seed int32) *Random {
	const mbig, mseed = math.MaxInt32, 161803398
	r := &Random{seeded: true}
	sub := int32(math.MaxInt32)
	if seed != math.MinInt32 {
		sub = seed
		if sub < 0 {
			sub = -sub
		}
	}
	mj := int32(mseed) - sub
	r.seed[55] = mj
	mk := int32(1)
	for i := 1; i < 55; i++ {
		ii := (21 * i) % 55
		r.seed[ii] = mk
		mk = mj - mk
		if mk < 0 {
			mk += mbig
		}
		mj = r.seed[ii]
	}
	for k := 1; k < 5; k++ {
		for i := 1; i < 56; i++ {
			r.seed[i] -= r.seed[1+(i+30)%55]
			if r.seed[i] < 0 {
				r.seed[i] += mbig
			}
		}
	}
	r.inext, r.inextp = 0, 21
	return r
}

func (r *Random) internalSample() int32 {
	if !r.seeded {
		return int32(r.rng.Int32N(math.MaxInt32))
	}
	a, b := r.inext+1, r.inextp+1
	if a >= 56 {
		a = 1
	}
	if b >= 56 {
		b = 1
	}
	v := r.seed[a] - r.seed[b]
	if v == math.MaxInt32 {
		v--
	}
	if v < 0 {
		v += math.MaxInt32
	}
	r.seed[a] = v
	r.inext, r.inextp = a, b
	return v
}

func (r *Random) sample() float64 {
	if !r.seeded {
		return r.rng.Float64()
	}
	return float64(r.internalSample()) * (1.0 / math.MaxInt32)
}

func (r *Random) largeSample() float64 {
	res := r.internalSample()
	if r.internalSample()%2 == 0 {
		res = -res
	}
	d := float64(res)
	d += math.MaxInt32 - 1
	d /= 2*float64(uint32(math.MaxInt32)) - 1
	return d
}

func (r *Random) next(lo, hi int32) int32 {
	if lo > hi {
		throw("ArgumentOutOfRangeException", "'minValue' cannot be greater than maxValue. (Parameter 'minValue')")
	}
	rng := int64(hi) - int64(lo)
	if rng <= math.MaxInt32 {
		return int32(r.sample()*float64(rng)) + lo
	}
	return int32(int64(r.largeSample()*float64(rng)) + int64(lo))
}

func declRandom(u *universe) {
	d := u.decl("System.Random", tkClass, "")
	d.is = func(v any) bool { _, ok := v.(*Random); return ok }
	d.ctor("()", f0(func() *Random {
		var s [32]byte
		rand.Read(s[:])
		return &Random{rng: mrand.New(mrand.NewChaCha8(s))}
	}))
	d.ctor("(int Seed)", f1(newSeededRandom))
	d.sprop("Shared Random", f0(func() *Random {
		var s [32]byte
		rand.Read(s[:])
		return &Random{rng: mrand.New(mrand.NewChaCha8(s))}
	}))
	d.method("Next() int", f1(func(r *Random) int32 { return r.internalSample() }))
	d.method("Next(int maxValue) int", f2(func(r *Random, hi int32) int32 {
		if hi < 0 {
			throw("ArgumentOutOfRangeException", "'maxValue' must be greater than zero. (Parameter 'maxValue')")
		}
		return int32(r.sample() * float64(hi))
	}))
	d.method("Next(int minValue, int maxValue) int", f3(func(r *Random, lo, hi int32) int32 { return r.next(lo, hi) }))
	d.method("NextDouble() double", f1(func(r *Random) float64 { return r.sample() }))
	d.method("NextBytes(byte[] buffer) void", vx2(func(f *frame, r *Random, b []byte) {
		f.elems(len(b)) // a generator step per byte
		for i := range b {
			b[i] = byte(r.internalSample() % 256)
		}
	}))
}

// ---- Guid ----

// Guid is a System.Guid, held in the byte order of its string form.
type Guid [16]byte

// String is the "D" format: 32 lower-case hex digits with hyphens.
func (g Guid) String() string {
	s, _ := g.Format("D")
	return s
}

// Format is Guid.ToString(format).
func (g Guid) Format(format string) (string, string) {
	h := hex.EncodeToString(g[:])
	d := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	switch format {
	case "", "D", "d":
		return d, ""
	case "N", "n":
		return h, ""
	case "B", "b":
		return "{" + d + "}", ""
	case "P", "p":
		return "(" + d + ")", ""
	case "X", "x":
		b := func(s string) string { return "0x" + s }
		parts := []string{}
		for i := 16; i < 32; i += 2 {
			parts = append(parts, b(h[i:i+2]))
		}
		return "{" + b(h[0:8]) + "," + b(h[8:12]) + "," + b(h[12:16]) + ",{" + strings.Join(parts, ",") + "}}", ""
	}
	return "", "Format string can be only \"D\", \"d\", \"N\", \"n\", \"P\", \"p\", \"B\", \"b\", \"X\" or \"x\""
}

// ToByteArray is .NET's layout: the first three fields little-endian.
func (g Guid) ToByteArray() []byte {
	b := make([]byte, 16)
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:], g[8:])
	return b
}

func guidFromBytes(b []byte) Guid {
	var g Guid
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:16])
	return g
}

// HashCode is .NET Core's Guid.GetHashCode: the XOR of the four 32-bit words of
// its memory layout.
func (g Guid) HashCode() int32 {
	b := g.ToByteArray()
	var h uint32
	for i := 0; i < 16; i += 4 {
		h ^= binary.LittleEndian.Uint32(b[i:])
	}
	return int32(h)
}

func guidCompare(a, b Guid) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// parseGuid parses the D, N, B and P forms (format "" accepts any).
func parseGuid(s, format string) (Guid, string) {
	var g Guid
	t := strings.TrimFunc(s, isWhite)
	switch {
	case len(t) == 38 && (t[0] == '{' && t[37] == '}' || t[0] == '(' && t[37] == ')'):
		t = t[1:37]
	case len(t) == 32:
		if _, err := hex.Decode(g[:], []byte(t)); err != nil {
			return g, "Unrecognized Guid format"
		}
		return g, ""
	}
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return g, "Unrecognized Guid format"
	}
	h := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
	if _, err := hex.Decode(g[:], []byte(h)); err != nil {
		return g, "Unrecognized Guid format"
	}
	return g, ""
}

func newGuid() Guid {
	var g Guid
	rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func declGuid(u *universe) {
	d := u.decl("System.Guid", tkStruct, "")
	d.is = func(v any) bool { _, ok := v.(Guid); return ok }
	d.zero = Guid{}
	d.sprop("Empty Guid", f0(func() Guid { return Guid{} }))
	d.smethod("NewGuid() Guid", f0(newGuid))
	d.smethod("Parse(string input) Guid", f1(func(s string) Guid {
		if isNull(s) {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
		}
		g, err := parseGuid(s, "")
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return g
	}))
	d.smethod("TryParse(string input, out Guid result) bool", f2(func(s string, out *outRef) bool {
		g, err := parseGuid(s, "")
		out.set(g)
		return err == ""
	}))
	d.ctor("(byte[] b)", f1(func(b []byte) Guid {
		if len(b) != 16 {
			throw("ArgumentException", "Byte array for Guid must be exactly 16 bytes long. (Parameter 'b')")
		}
		return guidFromBytes(b)
	}))
	d.ctor("(string g)", f1(func(s string) Guid {
		g, err := parseGuid(s, "")
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return g
	}))
	d.method("ToString() string", f1(Guid.String))
	d.method("ToString(string format) string", f2(func(g Guid, format string) string {
		s, err := g.Format(format)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s
	}))
	d.method("ToByteArray() byte[]", f1(Guid.ToByteArray))
	d.method("GetHashCode() int", f1(Guid.HashCode))
	d.method("Equals(Guid g) bool", f2(func(a, b Guid) bool { return a == b }))
	d.method("CompareTo(Guid value) int", f2(func(a, b Guid) int32 { return int32(guidCompare(a, b)) }))
}

// ---- BitConverter ----

func declBitConverter(u *universe) {
	d := u.decl("System.BitConverter", tkClass, "")
	d.konst("IsLittleEndian", "bool", true)
	d.smethod("GetBytes(bool value) byte[]", f1(func(v bool) []byte {
		if v {
			return []byte{1}
		}
		return []byte{0}
	}))
	d.smethod("GetBytes(char value) byte[]", f1(func(v int32) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }))
	d.smethod("GetBytes(short value) byte[]", f1(func(v int32) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }))
	d.smethod("GetBytes(int value) byte[]", f1(func(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }))
	d.smethod("GetBytes(long value) byte[]", f1(func(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }))
	d.smethod("GetBytes(uint value) byte[]", f1(func(v int64) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }))
	d.smethod("GetBytes(ulong value) byte[]", f1(func(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }))
	d.smethod("GetBytes(double value) byte[]", f1(func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }))
	at := func(b []byte, i int32, n int) []byte {
		if b == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'value')")
		}
		if i < 0 || n < 0 || int(i)+n > len(b) {
			throw("ArgumentOutOfRangeException", "Destination array is not long enough to copy all the items in the collection. Check array index and length. (Parameter 'startIndex')")
		}
		return b[i : int(i)+n]
	}
	d.smethod("ToInt16(byte[] value, int startIndex) short", f2(func(b []byte, i int32) int32 { return int32(int16(binary.LittleEndian.Uint16(at(b, i, 2)))) }))
	d.smethod("ToUInt16(byte[] value, int startIndex) ushort", f2(func(b []byte, i int32) int32 { return int32(binary.LittleEndian.Uint16(at(b, i, 2))) }))
	d.smethod("ToInt32(byte[] value, int startIndex) int", f2(func(b []byte, i int32) int32 { return int32(binary.LittleEndian.Uint32(at(b, i, 4))) }))
	d.smethod("ToUInt32(byte[] value, int startIndex) uint", f2(func(b []byte, i int32) int64 { return int64(binary.LittleEndian.Uint32(at(b, i, 4))) }))
	d.smethod("ToInt64(byte[] value, int startIndex) long", f2(func(b []byte, i int32) int64 { return int64(binary.LittleEndian.Uint64(at(b, i, 8))) }))
	d.smethod("ToUInt64(byte[] value, int startIndex) ulong", f2(func(b []byte, i int32) int64 { return int64(binary.LittleEndian.Uint64(at(b, i, 8))) }))
	d.smethod("ToDouble(byte[] value, int startIndex) double", f2(func(b []byte, i int32) float64 {
		return math.Float64frombits(binary.LittleEndian.Uint64(at(b, i, 8)))
	}))
	d.smethod("ToBoolean(byte[] value, int startIndex) bool", f2(func(b []byte, i int32) bool { return at(b, i, 1)[0] != 0 }))
	// hexDash is BitConverter.ToString: "0A-1B-2C"
	hexDash := func(f *frame, b []byte) string {
		if len(b) == 0 {
			return ""
		}
		f.allocN(len(b), 3)
		out := make([]byte, 0, 3*len(b))
		for i, c := range b {
			if i > 0 {
				out = append(out, '-')
			}
			out = append(out, upperHex[c>>4], upperHex[c&15])
		}
		return string(out)
	}
	d.smethod("ToString(byte[] value) string", x1(func(f *frame, b []byte) string {
		if b == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'value')")
		}
		return hexDash(f, b)
	}))
	d.smethod("ToString(byte[] value, int startIndex) string", x2(func(f *frame, b []byte, i int32) string {
		return hexDash(f, at(b, i, len(b)-int(i)))
	}))
	d.smethod("ToString(byte[] value, int startIndex, int length) string", x3(func(f *frame, b []byte, i, n int32) string {
		return hexDash(f, at(b, i, int(n)))
	}))
}

const upperHex = "0123456789ABCDEF"

// ---- Convert ----

// fromBase64 is Convert.FromBase64String: white space is ignored and padding is
// required.
func fromBase64(s string) []byte {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 's')")
	}
	t := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		throw("FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters")
	}
	return b
}

// convertToInt64 is Convert.ToInt64(object) and friends: strings are parsed,
// floating-point values rounded to even, bools are 0 or 1, null is 0.
func convertToInt64(v any, lo, hi float64, typeName string) int64 {
	var r int64
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		bits := 64
		if hi <= math.MaxInt32 {
			bits = 32
		}
		p, err := parseIntStr(x, bits, lo == 0, typeName)
		throwParse(err, overflowMsg(typeName))
		r = p
	case bool:
		if x {
			return 1
		}
		return 0
	case float64, float32:
		fv := math.RoundToEven(toF64(x))
		if math.IsNaN(fv) || fv < lo || fv > hi {
			throw("OverflowException", "%s", overflowMsg(typeName))
		}
		return int64(fv)
	case Decimal:
		r := decRound(x, 0, 0)
		if decCmp(r, decFromInt64(int64(lo))) < 0 || hi < math.MaxInt64 && decCmp(r, decFromInt64(int64(hi))) > 0 {
			throw("OverflowException", "%s", overflowMsg(typeName))
		}
		return decToInt(r, nkLong)
	case Char:
		r = int64(x)
	case Enum:
		r = x.Value
	case uint64:
		if x > math.MaxInt64 {
			throw("OverflowException", "%s", overflowMsg(typeName))
		}
		r = int64(x)
	case int32, int64, int, int8, uint8, int16, uint16, uint32:
		r = toI64(x)
	case time.Time:
		throw("InvalidCastException", "Invalid cast from 'DateTime' to '%s'", typeName)
	default:
		throw("InvalidCastException", "Unable to cast object of type '%s' to type 'System.IConvertible'", dotnetTypeName(v))
	}
	if float64(r) < lo || float64(r) > hi {
		throw("OverflowException", "%s", overflowMsg(typeName))
	}
	return r
}

func convertToDouble(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		f, ok := parseFloatStr(x)
		if !ok {
			throw("FormatException", fmtErr)
		}
		return f
	case bool:
		if x {
			return 1
		}
		return 0
	case float64, float32, int32, int64, int, int8, uint8, int16, uint16, uint32, uint64, Enum, Decimal:
		return toF64(x)
	}
	throw("InvalidCastException", "Unable to cast object of type '%s' to type 'System.IConvertible'", dotnetTypeName(v))
	return 0
}

func convertToBool(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		b, ok := parseBool(x)
		if !ok {
			throw("FormatException", "String was not recognized as a valid Boolean")
		}
		return b
	case float64:
		return x != 0
	case float32:
		return x != 0
	case Decimal:
		return !x.isZero()
	case int32, int64, int, int8, uint8, int16, uint16, uint32, uint64:
		return toI64(x) != 0
	}
	throw("InvalidCastException", "Unable to cast object of type '%s' to type 'System.IConvertible'", dotnetTypeName(v))
	return false
}

func declConvert(u *universe) {
	d := u.decl("System.Convert", tkClass, "")
	d.smethod("ToBase64String(byte[] inArray) string", x1(func(f *frame, b []byte) string {
		if b == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'inArray')")
		}
		f.alloc(base64.StdEncoding.EncodedLen(len(b)))
		return base64.StdEncoding.EncodeToString(b)
	}))
	d.smethod("ToBase64String(byte[] inArray, int offset, int length) string", x3(func(f *frame, b []byte, off, n int32) string {
		if off < 0 || n < 0 || int(off)+int(n) > len(b) {
			throw("ArgumentOutOfRangeException", "Offset and length must refer to a position in the string. (Parameter 'offset')")
		}
		f.alloc(base64.StdEncoding.EncodedLen(int(n)))
		return base64.StdEncoding.EncodeToString(b[off : off+n])
	}))
	d.smethod("FromBase64String(string s) byte[]", x1(func(f *frame, s string) []byte {
		f.allocN(len(s), 2) // without white space, then decoded
		return fromBase64(s)
	}))
	d.smethod("ToHexString(byte[] inArray) string", x1(func(f *frame, b []byte) string {
		f.allocN(len(b), 4)
		return strings.ToUpper(hex.EncodeToString(b))
	}))
	d.smethod("ToHexStringLower(byte[] inArray) string", x1(func(f *frame, b []byte) string {
		f.allocN(len(b), 2)
		return hex.EncodeToString(b)
	}))
	d.smethod("FromHexString(string s) byte[]", x1(func(f *frame, s string) []byte {
		f.alloc(len(s) / 2)
		b, err := hex.DecodeString(s)
		if err != nil {
			throw("FormatException", "The input is not a valid hex string as it contains a non-hex character")
		}
		return b
	}))
	type conv struct {
		name, kw string
		lo, hi   float64
		t        *Type
	}
	for _, cv := range []conv{
		{"ToInt32", "int", math.MinInt32, math.MaxInt32, tInt},
		{"ToInt64", "long", math.MinInt64, math.MaxInt64, tLong},
		{"ToInt16", "short", math.MinInt16, math.MaxInt16, tShort},
		{"ToByte", "byte", 0, math.MaxUint8, tByte},
		{"ToSByte", "sbyte", math.MinInt8, math.MaxInt8, tSByte},
		{"ToUInt16", "ushort", 0, math.MaxUint16, tUShort},
		{"ToUInt32", "uint", 0, math.MaxUint32, tUInt},
	} {
		cv := cv
		name := "System." + map[string]string{"int": "Int32", "long": "Int64", "short": "Int16", "byte": "Byte", "sbyte": "SByte", "ushort": "UInt16", "uint": "UInt32"}[cv.kw]
		impl := func(c *checker, cs *site, args []*operand) *operand {
			g := args[0].anyFn()
			return fromAny(cv.t, cs.n, func(f *frame) any {
				return boxedNum(cv.t, convertToInt64(g(f), cv.lo, cv.hi, name))
			})
		}
		d.smethod(cv.name+"(object value) "+cv.kw, impl)
		d.smethod(cv.name+"(string value) "+cv.kw, impl)
		d.smethod(cv.name+"(double value) "+cv.kw, impl)
		d.smethod(cv.name+"(decimal value) "+cv.kw, impl)
		d.smethod(cv.name+"(long value) "+cv.kw, impl)
		d.smethod(cv.name+"(int value) "+cv.kw, impl)
		d.smethod(cv.name+"(bool value) "+cv.kw, impl)
		d.smethod(cv.name+"(string value, IFormatProvider provider) "+cv.kw, impl)
		d.smethod(cv.name+"(string value, int fromBase) "+cv.kw, f2(func(s string, base int32) any {
			if base != 2 && base != 8 && base != 10 && base != 16 {
				throw("ArgumentException", "Invalid Base. (Parameter 'fromBase')")
			}
			t := strings.TrimSpace(s)
			if base == 16 {
				t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
			}
			bits := 64
			if cv.hi <= math.MaxUint32 {
				bits = 32
			}
			if cv.hi <= math.MaxUint16 {
				bits = 16
			}
			if cv.hi <= math.MaxUint8 {
				bits = 8
			}
			x, err := strconv.ParseUint(t, int(base), bits)
			if err != nil {
				throw("FormatException", "Could not find any recognizable digits")
			}
			v := int64(x)
			if cv.lo < 0 && bits < 64 && x >= 1<<(bits-1) {
				v = int64(x) - 1<<bits // two's complement, as .NET reads base-16 input
			}
			return boxedNum(cv.t, v)
		}))
	}
	d.smethod("ToDouble(object value) double", f1(convertToDouble))
	d.smethod("ToDouble(string value) double", f1(func(s string) float64 { return convertToDouble(boxStr(s)) }))
	d.smethod("ToDouble(string value, IFormatProvider provider) double", f2(func(s string, _ any) float64 { return convertToDouble(boxStr(s)) }))
	d.smethod("ToDecimal(object value) decimal", f1(convertToDecimal))
	d.smethod("ToDecimal(string value) decimal", f1(func(s string) Decimal { return convertToDecimal(boxStr(s)) }))
	d.smethod("ToDecimal(string value, IFormatProvider provider) decimal", f2(func(s string, _ any) Decimal { return convertToDecimal(boxStr(s)) }))
	d.smethod("ToDecimal(double value) decimal", f1(func(v float64) Decimal { return decFromFloat(v, 15) }))
	d.smethod("ToSingle(object value) float", f1(func(v any) float64 { return float64(float32(convertToDouble(v))) }))
	d.smethod("ToBoolean(object value) bool", f1(convertToBool))
	d.smethod("ToBoolean(string value) bool", f1(func(s string) bool { return convertToBool(boxStr(s)) }))
	d.smethod("ToChar(int value) char", f1(func(v int32) int32 {
		if v < 0 || v > 0xFFFF {
			throw("OverflowException", "Value was either too large or too small for a character")
		}
		return v
	}))
	d.smethod("ToChar(string value) char", f1(func(s string) int32 {
		u := toUTF16(s)
		if len(u) != 1 {
			throw("FormatException", "String must be exactly one character long")
		}
		return int32(u[0])
	}))
	d.smethod("ToString(object value) string", x1(func(f *frame, v any) string { return f.str(v) }))
	d.smethod("ToString(object value, IFormatProvider provider) string", x2(func(f *frame, v any, _ any) string { return f.str(v) }))
	d.smethod("ToString(int value, int toBase) string", f2(func(v, base int32) string { return convertToBase(int64(v), base, 32) }))
	d.smethod("ToString(long value, int toBase) string", f2(func(v int64, base int32) string { return convertToBase(v, base, 64) }))
	d.smethod("ToString(byte value, int toBase) string", f2(func(v, base int32) string { return convertToBase(int64(v), base, 8) }))
	d.smethod("ToDateTime(string value) DateTime", f1(func(s string) any {
		t, err := parseDateTime(s, false)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return t
	}))
	d.smethod("ToDateTime(object value) DateTime", f1(func(v any) any {
		switch x := v.(type) {
		case time.Time:
			return x
		case string:
			t, err := parseDateTime(x, false)
			if err != "" {
				throw("FormatException", "%s", err)
			}
			return t
		case nil:
			return dateTimeMin
		}
		throw("InvalidCastException", "Invalid cast from '%s' to 'DateTime'", dotnetTypeName(v))
		return nil
	}))
}

func convertToBase(v int64, base int32, bits int) string {
	switch base {
	case 2, 8, 16:
		u := uint64(v)
		if bits < 64 {
			u &= 1<<bits - 1
		}
		return strconv.FormatUint(u, int(base))
	case 10:
		return strconv.FormatInt(v, 10)
	}
	throw("ArgumentException", "Invalid Base. (Parameter 'toBase')")
	return ""
}
