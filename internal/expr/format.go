package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// toStr compiles the conversion of an operand to string, as C# ToString() does in
// concatenation, interpolation and attribute values: null becomes "".
func (c *checker) toStr(op *operand) fnS {
	t := op.t
	switch t.rep {
	case repStr:
		g := op.s
		return func(f *frame) string {
			s := g(f)
			if isNull(s) {
				return ""
			}
			return s
		}
	case repBool:
		g := op.b
		return func(f *frame) string {
			if g(f) {
				return "True"
			}
			return "False"
		}
	case repI32:
		g := op.i
		if t.num == nkChar {
			return func(f *frame) string { return charString(g(f)) }
		}
		return func(f *frame) string { return strconv.FormatInt(int64(g(f)), 10) }
	case repI64:
		g := op.l
		if t.kind == tkEnum {
			d := t.def
			return func(f *frame) string { return enumName(d, g(f)) }
		}
		if t.num == nkULong {
			return func(f *frame) string { return strconv.FormatUint(uint64(g(f)), 10) }
		}
		return func(f *frame) string { return strconv.FormatInt(g(f), 10) }
	case repF64:
		g := op.d
		if t.num == nkFloat {
			return func(f *frame) string { return formatSingle(float32(g(f))) }
		}
		return func(f *frame) string { return formatDouble(g(f)) }
	case repVoid:
		return func(*frame) string { return "" }
	}
	g := op.anyFn()
	return func(f *frame) string { return f.str(g(f)) }
}

func charString(v int32) string {
	u := uint16(v)
	if u >= 0xD800 && u < 0xE000 {
		return "\uFFFD"
	}
	return string(rune(u))
}

// enumName is Enum.ToString(): the name of the member with value v, for a
// [Flags] enum the names of the flags that make v up ("IgnoreCase, Multiline"),
// or the number when no member (or combination) has that value.
func enumName(d *typeDef, v int64) string {
	for _, n := range d.enumName {
		if d.enumVals[n] == v {
			return n
		}
	}
	if d.flags && v > 0 {
		var names []string
		rest := v
		for _, n := range d.enumName {
			if f := d.enumVals[n]; f != 0 && v&f == f && rest&f != 0 {
				names = append(names, n)
				rest &^= f
			}
		}
		if rest == 0 {
			return strings.Join(names, ", ")
		}
	}
	return strconv.FormatInt(v, 10)
}

// formatEnum is Enum.ToString(format): "G" the name, "F" the name as if the
// enum were [Flags], "D" the number, "X" the number in eight hex digits.
func formatEnum(d *typeDef, v int64, format string) (string, string) {
	switch format {
	case "", "G", "g":
		return enumName(d, v), ""
	case "F", "f":
		flags := *d
		flags.flags = true
		return enumName(&flags, v), ""
	case "D", "d":
		return strconv.FormatInt(v, 10), ""
	case "X", "x":
		return fmt.Sprintf("%08X", uint32(v)), ""
	}
	return "", "Format string can be only \"G\", \"g\", \"X\", \"x\", \"F\", \"f\", \"D\" or \"d\"."
}

// formatWith compiles x.ToString(format) for an interpolation hole {x:format}.
func (c *checker) formatWith(op *operand, format string, pos int) fnS {
	t := op.t
	if t.rep == repStr {
		return c.toStr(op)
	}
	if t.kind == tkEnum {
		g, d := op.l, t.def
		return func(f *frame) string {
			s, err := formatEnum(d, g(f), format)
			if err != "" {
				throwAt(pos, "FormatException", "%s", err)
			}
			return s
		}
	}
	g := op.anyFn()
	return func(f *frame) string {
		v := g(f)
		chargeFormat(f, format)
		s, err := formatAny(f, v, format)
		if err != "" {
			throwAt(pos, "FormatException", "%s", err)
		}
		return s
	}
}

// chargeFormat charges what formatting a value with format may write beyond a
// few hundred bytes: the digits a standard format's precision asks for
// (ToString("D100000000") writes that many) and, for a custom format, a few
// bytes per character of the format ("dddd" writes "Wednesday").
func chargeFormat(f *frame, format string) {
	n := 8 * len(format)
	if _, prec, std := parseStdFormat(format); std && prec > 0 {
		n += prec + prec/3 // digit grouping
	}
	f.alloc(n)
	f.work(n)
}

// formatAny is formatValue in an evaluation: the values that take no format
// (documents, builders) print with f.str, charged.
func formatAny(f *frame, v any, format string) (string, string) {
	switch v.(type) {
	case JToken, *XElement, *XDocument, *XAttribute, *StringBuilder, *Anon, KeyValuePair:
		return f.str(v), ""
	}
	return formatValue(v, format)
}

// formatValue is IFormattable.ToString(format, InvariantCulture) for a boxed value.
func formatValue(v any, format string) (string, string) {
	switch x := v.(type) {
	case nil:
		return "", ""
	case int32:
		return formatInteger(int64(x), false, 32, format)
	case int:
		return formatInteger(int64(x), false, 32, format)
	case int64:
		return formatInteger(x, false, 64, format)
	case int8:
		return formatInteger(int64(x), false, 8, format)
	case uint8:
		return formatInteger(int64(x), true, 8, format)
	case int16:
		return formatInteger(int64(x), false, 16, format)
	case uint16:
		return formatInteger(int64(x), true, 16, format)
	case uint32:
		return formatInteger(int64(x), true, 32, format)
	case uint64:
		return formatInteger(int64(x), true, 64, format)
	case float64:
		return formatFloat(x, 64, format)
	case float32:
		return formatFloat(float64(x), 32, format)
	case Decimal:
		return formatDecimal(x, format)
	case time.Time:
		return formatDateTimeErr(x, format)
	case DateTimeOffset:
		return formatDateTimeOffsetErr(x, format)
	case time.Duration:
		return formatTimeSpanErr(x, format)
	case Guid:
		return x.Format(format)
	case Enum:
		return formatEnum(x.def, x.Value, format)
	}
	return toStringAny(v), ""
}

// ---- doubles ----

// formatDouble is double.ToString() in .NET Core 3.0 and later: the shortest
// string that round-trips, in scientific notation when the exponent is 15 or more
// or less than -5 ("1E+15", "1E-05").
func formatDouble(v float64) string { return formatShortest(v, 64, 15) }

// formatSingle is float.ToString(): the same with float precision.
func formatSingle(v float32) string { return formatShortest(float64(v), 32, 7) }

func formatShortest(v float64, bits, threshold int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if v == 0 {
		if math.Signbit(v) {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(v, 'e', -1, bits)
	return sciToDotnet(e, threshold, -4)
}

// sciToDotnet rewrites Go's "-d.ddde+XX" as .NET's general format: fixed notation
// when lo <= exponent < hi (.NET: "greater than -5 and less than the precision"),
// else "d.dddE+XX" with at least two exponent digits.
func sciToDotnet(e string, hi, lo int) string {
	neg := strings.HasPrefix(e, "-")
	if neg {
		e = e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		digits = "0"
	}
	var out string
	if exp >= hi || exp < lo {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		out = m + "E" + sign + es
	} else if exp < 0 {
		out = "0." + strings.Repeat("0", -exp-1) + digits
	} else if exp+1 >= len(digits) {
		out = digits + strings.Repeat("0", exp+1-len(digits))
	} else {
		out = digits[:exp+1] + "." + digits[exp+1:]
	}
	if neg {
		out = "-" + out
	}
	return out
}

// ---- numeric format strings ----

func parseStdFormat(format string) (byte, int, bool) {
	if format == "" {
		return 'G', -1, true
	}
	c := format[0]
	if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return 0, 0, false
	}
	if len(format) == 1 {
		return c, -1, true
	}
	n, err := strconv.Atoi(format[1:])
	if err != nil || n < 0 || n > 999999999 {
		return 0, 0, false
	}
	return c, n, true
}

// formatInteger is ToString(format) of an integer. The digits are exact: N, F,
// E, P, C, G with a precision and custom formats work on the integer's decimal
// digits, as .NET does, not on a double.
func formatInteger(v int64, unsigned bool, bits int, format string) (string, string) {
	c, prec, std := parseStdFormat(format)
	if !std {
		return intDecNumber(v, unsigned).formatCustom(format), ""
	}
	switch c {
	case 'G', 'g':
		if prec > 0 {
			s, _ := intDecNumber(v, unsigned).formatStandard(c, prec)
			return s, ""
		}
		if unsigned {
			return strconv.FormatUint(uint64(v), 10), ""
		}
		return strconv.FormatInt(v, 10), ""
	case 'D', 'd':
		s := strconv.FormatUint(uint64(v), 10)
		neg := !unsigned && v < 0
		if neg {
			s = strconv.FormatUint(-uint64(v), 10)
		}
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		if neg {
			s = "-" + s
		}
		return s, ""
	case 'X', 'x':
		u := uint64(v)
		if !unsigned && bits < 64 {
			u &= 1<<bits - 1
		}
		s := strconv.FormatUint(u, 16)
		if c == 'X' {
			s = strings.ToUpper(s)
		}
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s, ""
	case 'B', 'b':
		u := uint64(v)
		if !unsigned && bits < 64 {
			u &= 1<<bits - 1
		}
		s := strconv.FormatUint(u, 2)
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s, ""
	case 'R', 'r':
		return "", "Format specifier was invalid: R is not valid for integers"
	}
	if s, ok := intDecNumber(v, unsigned).formatStandard(c, prec); ok {
		return s, ""
	}
	return "", "Format specifier was invalid: " + format
}

func formatFloat(v float64, bits int, format string) (string, string) {
	c, prec, std := parseStdFormat(format)
	if math.IsNaN(v) {
		return "NaN", ""
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "Infinity", ""
		}
		return "-Infinity", ""
	}
	if !std {
		return floatDecNumber(v, bits).formatCustom(format), ""
	}
	switch c {
	case 'R', 'r':
		if bits == 32 {
			return formatSingle(float32(v)), ""
		}
		return formatDouble(v), ""
	case 'G', 'g':
		if prec <= 0 {
			if bits == 32 {
				return formatSingle(float32(v)), ""
			}
			return formatDouble(v), ""
		}
		e := strconv.FormatFloat(v, 'e', prec-1, 64)
		s := sciToDotnet(e, prec, -4)
		if c == 'g' {
			s = strings.Replace(s, "E", "e", 1)
		}
		return s, ""
	case 'F', 'f':
		if prec < 0 {
			prec = 2
		}
		return strconv.FormatFloat(roundAway(v, prec), 'f', prec, 64), ""
	case 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		return groupDigits(strconv.FormatFloat(roundAway(v, prec), 'f', prec, 64)), ""
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		return groupDigits(strconv.FormatFloat(roundAway(v*100, prec), 'f', prec, 64)) + " %", ""
	case 'C', 'c':
		if prec < 0 {
			prec = 2
		}
		s := groupDigits(strconv.FormatFloat(roundAway(math.Abs(v), prec), 'f', prec, 64))
		if math.Signbit(v) {
			return "(¤" + s + ")", "" // the invariant culture's negative pattern
		}
		return "¤" + s, ""
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		s := strconv.FormatFloat(v, 'e', prec, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		for len(digits) < 3 {
			digits = "0" + digits
		}
		sep := "E"
		if c == 'e' {
			sep = "e"
		}
		return mant + sep + string(sign) + digits, ""
	case 'D', 'd', 'X', 'x':
		return "", "Format specifier was invalid: " + format + " is only valid for integral types"
	}
	return "", "Format specifier was invalid: " + format
}

// roundAway rounds half away from zero at prec decimals, as .NET's fixed-point
// formats do for the digits they print.
func roundAway(v float64, prec int) float64 {
	if prec > 15 {
		return v
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	_, frac, _ := strings.Cut(s, ".")
	if len(frac) <= prec {
		return v
	}
	p := math.Pow(10, float64(prec))
	r := math.Round(v*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return v
	}
	return r
}

// groupDigits inserts "," every three digits of the integer part.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	ip, fp, hasF := strings.Cut(s, ".")
	var b strings.Builder
	for i, ch := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String()
	if hasF {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out
}

// ---- composite formatting (string.Format) ----

// compositeFormat implements string.Format: {index[,alignment][:format]}, with
// {{ and }} escapes. f is charged for what is written, before it is written.
func compositeFormat(f *frame, format string, args []any) (string, string) {
	b := sink{f: f}
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch == '}' {
			if i+1 < len(format) && format[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return "", "Input string was not in a correct format: unexpected '}'"
		}
		if ch != '{' {
			b.WriteByte(ch)
			continue
		}
		if i+1 < len(format) && format[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		end := strings.IndexByte(format[i:], '}')
		if end < 0 {
			return "", "Input string was not in a correct format: '{' is not closed"
		}
		item := format[i+1 : i+end]
		i += end
		spec, fmtS, _ := strings.Cut(item, ":")
		idxS, alignS, hasAlign := strings.Cut(spec, ",")
		idx, err := strconv.Atoi(strings.TrimSpace(idxS))
		if err != nil || idx < 0 {
			return "", "Input string was not in a correct format: bad index in {" + item + "}"
		}
		if idx >= len(args) {
			return "", "Index (zero based) must be greater than or equal to zero and less than the size of the argument list"
		}
		var s, ferr string
		if fmtS == "" {
			s = f.str(args[idx])
		} else {
			chargeFormat(f, fmtS)
			s, ferr = formatAny(f, args[idx], fmtS)
		}
		if ferr != "" {
			return "", ferr
		}
		if hasAlign {
			w, err := strconv.Atoi(strings.TrimSpace(alignS))
			if err != nil {
				return "", "Input string was not in a correct format: bad alignment in {" + item + "}"
			}
			s = pad(f, s, w)
		}
		b.WriteString(s)
	}
	return b.String(), ""
}
