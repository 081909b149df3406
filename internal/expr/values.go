package expr

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Char is a boxed C# char (one UTF-16 code unit).
type Char uint16

// String returns the character.
func (c Char) String() string { return string(rune(c)) }

// Enum is a boxed .NET enum value, such as DayOfWeek.Sunday or
// JTokenType.Array.
type Enum struct {
	// Value is the member's number: (int)DayOfWeek.Sunday is 0.
	Value int64
	def   *typeDef
}

// String returns what .NET's ToString() gives: the member's name ("Sunday"),
// the names of the flags that make up a [Flags] value ("IgnoreCase,
// Multiline"), or the number if no member has it.
func (e Enum) String() string { return enumName(e.def, e.Value) }

// TypeName returns the enum type's .NET name, such as "System.DayOfWeek".
func (e Enum) TypeName() string { return e.def.qualified() }

// KeyValuePair is a boxed KeyValuePair<TKey, TValue>.
type KeyValuePair struct {
	Key   any
	Value any
}

// Anon is an instance of an anonymous type (new { a = 1, b = "x" }).
type Anon struct {
	Names []string
	Vals  []any
}

// Get returns a property by name.
func (a *Anon) Get(name string) (any, bool) {
	for i, n := range a.Names {
		if n == name {
			return a.Vals[i], true
		}
	}
	return nil, false
}

// ---- arrays ----

// Arrays are Go slices: string[] is []string, byte[] is []byte, int[] is []int32,
// long[] is []int64, double[] is []float64, bool[] is []bool, and any other T[] is
// []any.

func makeArray(et *Type, n int) any {
	switch {
	case et == tString:
		a := make([]string, n)
		for i := range a {
			a[i] = "" // boxed arrays hold Go strings; null elements read as ""
		}
		return nilStrings(a)
	case et == tByte:
		return make([]byte, n)
	case et == tInt:
		return make([]int32, n)
	case et == tLong:
		return make([]int64, n)
	case et == tDouble:
		return make([]float64, n)
	case et == tBool:
		return make([]bool, n)
	}
	a := make([]any, n)
	if et.value {
		z := zeroBoxed(et)
		for i := range a {
			a[i] = z
		}
	}
	return a
}

// newEmptyArray is new T[0] (or new T[] {}): an empty array with an address of
// its own. Arrays compare by reference (new byte[0] == new byte[0] is false), and
// Go gives every zero-size allocation the same address, so it is made with room
// for one element. Array.Empty<T>() and an empty ToArray() keep the shared
// address, as .NET returns one instance for them.
func newEmptyArray(et *Type) any {
	switch {
	case et == tString:
		return make([]string, 0, 1)
	case et == tByte:
		return make([]byte, 0, 1)
	case et == tInt:
		return make([]int32, 0, 1)
	case et == tLong:
		return make([]int64, 0, 1)
	case et == tDouble:
		return make([]float64, 0, 1)
	case et == tBool:
		return make([]bool, 0, 1)
	}
	return make([]any, 0, 1)
}

// nilStrings marks every element of a new string[] null.
func nilStrings(a []string) []string {
	for i := range a {
		a[i] = nullStr
	}
	return a
}

func zeroBoxed(t *Type) any {
	switch t.rep {
	case repBool:
		return false
	case repI32:
		return boxedNum(t, 0)
	case repI64:
		return boxedNum(t, 0)
	case repF64:
		if t.num == nkFloat {
			return float32(0)
		}
		return float64(0)
	}
	if t == tDecimal {
		return Decimal{}
	}
	if t.def != nil {
		return t.def.zero
	}
	return nil
}

func boxedNum(t *Type, v int64) any {
	switch t.num {
	case nkSByte:
		return int8(v)
	case nkByte:
		return uint8(v)
	case nkShort:
		return int16(v)
	case nkUShort:
		return uint16(v)
	case nkChar:
		return Char(v)
	case nkInt:
		return int32(v)
	case nkUInt:
		return uint32(v)
	case nkULong:
		return uint64(v)
	}
	return v
}

func makeArrayFrom(et *Type, vals []any) any {
	switch {
	case et == tString:
		a := make([]string, len(vals))
		for i, v := range vals {
			if s, ok := v.(string); ok {
				a[i] = s
			} else {
				a[i] = nullStr
			}
		}
		return a
	case et == tByte:
		a := make([]byte, len(vals))
		for i, v := range vals {
			a[i] = byte(toI64(v))
		}
		return a
	case et == tInt:
		a := make([]int32, len(vals))
		for i, v := range vals {
			a[i] = toI32(v)
		}
		return a
	case et == tLong:
		a := make([]int64, len(vals))
		for i, v := range vals {
			a[i] = toI64(v)
		}
		return a
	case et == tDouble:
		a := make([]float64, len(vals))
		for i, v := range vals {
			a[i] = toF64(v)
		}
		return a
	case et == tBool:
		a := make([]bool, len(vals))
		for i, v := range vals {
			a[i], _ = v.(bool)
		}
		return a
	}
	return vals
}

func elemSize(et *Type) int {
	switch et.rep {
	case repI32:
		if et.num == nkByte || et.num == nkSByte {
			return 1
		}
		return 4
	case repBool:
		return 1
	case repStr:
		return 16
	}
	return 16
}

func arrayTest(et *Type) func(any) bool {
	switch {
	case et == tString:
		return func(v any) bool { _, ok := v.([]string); return ok }
	case et == tByte:
		return func(v any) bool { _, ok := v.([]byte); return ok }
	case et == tInt:
		return func(v any) bool { _, ok := v.([]int32); return ok }
	case et == tLong:
		return func(v any) bool { _, ok := v.([]int64); return ok }
	case et == tDouble:
		return func(v any) bool { _, ok := v.([]float64); return ok }
	case et == tBool:
		return func(v any) bool { _, ok := v.([]bool); return ok }
	}
	return func(v any) bool { _, ok := v.([]any); return ok }
}

func arrLen(a any) int {
	switch x := a.(type) {
	case []string:
		return len(x)
	case []byte:
		return len(x)
	case []int32:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	case []bool:
		return len(x)
	case []any:
		return len(x)
	}
	return 0
}

func arrGet(a any, i int) any {
	switch x := a.(type) {
	case []string:
		return boxStr(x[i])
	case []byte:
		return x[i]
	case []int32:
		return x[i]
	case []int64:
		return x[i]
	case []float64:
		return x[i]
	case []bool:
		return x[i]
	case []any:
		return x[i]
	}
	panic(&exception{typ: "InvalidCastException", msg: "not an array", pos: -1})
}

func arrSet(a any, i int, v any) {
	switch x := a.(type) {
	case []string:
		if s, ok := v.(string); ok {
			x[i] = s
		} else {
			x[i] = nullStr
		}
	case []byte:
		x[i] = byte(toI64(v))
	case []int32:
		x[i] = toI32(v)
	case []int64:
		x[i] = toI64(v)
	case []float64:
		x[i] = toF64(v)
	case []bool:
		x[i], _ = v.(bool)
	case []any:
		x[i] = v
	}
}

// ---- enumeration ----

// isIterable reports whether v can be enumerated by foreach and LINQ.
func isIterable(v any) bool {
	switch v.(type) {
	case []string, []byte, []int32, []int64, []float64, []bool, []any, string,
		*List, *Dict, *HashSet, *JArray, *JObject, http.Header, map[string]string,
		map[string]any, url.Values, *MatchCollection, *GroupCollection, keysView, valuesView, *JProperty, *JValue,
		rangeSeq, repeatSeq:
		return true
	}
	return false
}

// iterate calls yield for each element of v (boxed) until it returns false,
// charging a step per elemsPerStep elements.
func iterate(f *frame, v any, yield func(any) bool) {
	if f != nil {
		inner := yield
		yield = func(e any) bool {
			f.tick()
			return inner(e)
		}
	}
	switch x := v.(type) {
	case []string:
		for _, s := range x {
			if !yield(boxStr(s)) {
				return
			}
		}
	case []byte:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case []int32:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case []int64:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case []float64:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case []bool:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case []any:
		for _, b := range x {
			if !yield(b) {
				return
			}
		}
	case string:
		u := f.u16(x)
		for i := range u.len() {
			c := Char(0)
			if u.ascii {
				c = Char(x[i])
			} else {
				c = Char(u.units[i])
			}
			if !yield(c) {
				return
			}
		}
	case *List:
		for i := 0; i < len(x.Items); i++ {
			if !yield(x.Items[i]) {
				return
			}
		}
	case *HashSet:
		for _, k := range x.Items() {
			if !yield(k) {
				return
			}
		}
	case *Dict:
		for i := range x.keys {
			if !yield(KeyValuePair{Key: x.keys[i], Value: x.vals[i]}) {
				return
			}
		}
	case *JArray:
		for _, t := range x.Items {
			if !yield(t) {
				return
			}
		}
	case *JObject:
		for _, p := range x.props {
			if !yield(KeyValuePair{Key: p.Name, Value: p.Value}) {
				return
			}
		}
	case *JProperty:
		yield(x.Value)
	case *JValue:
		throw("InvalidOperationException", "Cannot access child value on Newtonsoft.Json.Linq.JValue.")
	case http.Header:
		for _, k := range sortedHeaderKeys(x) {
			if !yield(KeyValuePair{Key: k, Value: append([]string(nil), x[k]...)}) {
				return
			}
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !yield(KeyValuePair{Key: k, Value: x[k]}) {
				return
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !yield(KeyValuePair{Key: k, Value: x[k]}) {
				return
			}
		}
	case url.Values:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !yield(KeyValuePair{Key: k, Value: append([]string(nil), x[k]...)}) {
				return
			}
		}
	case keysView:
		for _, k := range x.keys {
			if !yield(k) {
				return
			}
		}
	case valuesView:
		for _, k := range x.vals {
			if !yield(k) {
				return
			}
		}
	case *MatchCollection:
		for _, m := range x.matches {
			if !yield(m) {
				return
			}
		}
	case *GroupCollection:
		for _, g := range x.groups {
			if !yield(g) {
				return
			}
		}
	case rangeSeq:
		for i := range x.count {
			if !yield(x.start + i) {
				return
			}
		}
	case repeatSeq:
		for range x.count {
			if !yield(x.v) {
				return
			}
		}
	case nil:
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'source')")
	default:
		throw("InvalidCastException", "a value of type %s cannot be enumerated", dotnetTypeName(v))
	}
}

// keysView and valuesView are the Keys and Values of a dictionary.
type keysView struct{ keys []any }
type valuesView struct{ vals []any }

// toSlice collects the elements of an enumerable. An []any is returned as it
// is (callers copy before changing it), charged for the enumeration.
func toSlice(f *frame, v any) []any {
	if a, ok := v.([]any); ok {
		f.elems(len(a))
		return a
	}
	var out []any
	if n, ok := knownLen(v); ok {
		f.allocN(n, slotBytes)
		out = make([]any, 0, n)
		iterate(f, v, func(x any) bool {
			out = append(out, x)
			return true
		})
		return out
	}
	iterate(f, v, func(x any) bool {
		out = push(f, out, x)
		return true
	})
	return out
}

// knownLen returns the number of elements of a collection that knows it.
func knownLen(v any) (int, bool) {
	switch x := v.(type) {
	case *List:
		return len(x.Items), true
	case *Dict:
		return len(x.keys), true
	case *HashSet:
		return len(x.d.keys), true
	case *JArray:
		return len(x.Items), true
	case *JObject:
		return len(x.props), true
	case keysView:
		return len(x.keys), true
	case valuesView:
		return len(x.vals), true
	case *MatchCollection:
		return len(x.matches), true
	case *GroupCollection:
		return len(x.groups), true
	case rangeSeq:
		return int(x.count), true
	case repeatSeq:
		return int(x.count), true
	}
	if isArray(v) {
		return arrLen(v), true
	}
	return 0, false
}

// ---- strings (UTF-16 semantics) ----

// isASCII reports whether s has only ASCII bytes, in which case UTF-16 indices
// equal byte indices.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// toUTF16 converts s to UTF-16 code units in one allocation (invalid UTF-8
// becomes U+FFFD, as with []rune(s)).
func toUTF16(s string) []uint16 {
	u := make([]uint16, 0, utf16Len(s))
	for _, r := range s {
		u = utf16.AppendRune(u, r)
	}
	return u
}

// fromUTF16 converts UTF-16 code units to a string; an unpaired surrogate
// becomes U+FFFD, as with utf16.Decode.
func fromUTF16(u []uint16) string {
	n := 0
	for _, c := range u {
		if c < 0x80 {
			n++
		} else {
			n += 3
		}
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(u); i++ {
		r := rune(u[i])
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if i+1 < len(u) {
				if d := utf16.DecodeRune(rune(u[i]), rune(u[i+1])); d != utf8.RuneError {
					r = d
					i++
				}
			}
		}
		b = utf8.AppendRune(b, r)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// utf16Len is C#'s string.Length.
func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// strIndex is s[i], a UTF-16 code unit.
func strIndex(f *frame, s string, i int32, pos int) int32 {
	u := f.u16(s)
	if i < 0 || int(i) >= u.len() {
		throwAt(pos, "IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", i, u.len())
	}
	if u.ascii {
		return int32(s[i])
	}
	return int32(u.units[i])
}

// ---- equality ----

// refEq is reference equality for boxed objects, with value equality for strings
// and value types (boxed values have no identity in Go).
func refEq(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *JValue:
		return x == b // == on tokens compares references; Equals compares values
	case []byte:
		y, ok := b.([]byte)
		return ok && len(x) == len(y) && unsafe.SliceData(x) == unsafe.SliceData(y)
	case []string:
		y, ok := b.([]string)
		return ok && len(x) == len(y) && unsafe.SliceData(x) == unsafe.SliceData(y)
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && unsafe.SliceData(x) == unsafe.SliceData(y)
	case []int32, []int64, []float64, []bool:
		ta, tb := reflect.ValueOf(a), reflect.ValueOf(b)
		return ta.Type() == tb.Type() && ta.Len() == tb.Len() && ta.Pointer() == tb.Pointer()
	case http.Header, map[string]string, map[string]any, url.Values:
		return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() && reflect.TypeOf(a) == reflect.TypeOf(b)
	}
	if !reflect.TypeOf(a).Comparable() || !reflect.TypeOf(b).Comparable() {
		return false
	}
	return a == b || valueEq(a, b)
}

// valueEq is object.Equals for boxed values: same type and same value.
func valueEq(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case DateTimeOffset:
		y, ok := b.(DateTimeOffset)
		return ok && x.Equal(y.Time)
	case int:
		return valueEq(int32(x), b)
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case Decimal:
		y, ok := b.(Decimal)
		return ok && decCmp(x, y) == 0
	case *JValue:
		y, ok := b.(*JValue)
		return ok && jvalueEquals(x, y)
	}
	if y, ok := b.(int); ok {
		return valueEq(a, int32(y))
	}
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) {
		return false // ((object)5).Equals(5L) is false (this called refEq, which called back: a stack overflow)
	}
	if !ta.Comparable() {
		return refEq(a, b)
	}
	return a == b
}

// normalizeUnboxed converts a Go value produced by Go code (an int, say) to the
// representation of t after a successful type test.
func normalizeUnboxed(v any, t *Type) any {
	if i, ok := v.(int); ok {
		switch underlying(t) {
		case tInt:
			return int32(i)
		case tLong:
			return int64(i)
		}
	}
	return v
}

// ---- .NET type names ----

// dotnetTypeName is the .NET type of a boxed value, for messages.
func dotnetTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int32, int:
		return "System.Int32"
	case int64:
		return "System.Int64"
	case float64:
		return "System.Double"
	case float32:
		return "System.Single"
	case Decimal:
		return "System.Decimal"
	case int8:
		return "System.SByte"
	case uint8:
		return "System.Byte"
	case int16:
		return "System.Int16"
	case uint16:
		return "System.UInt16"
	case uint32:
		return "System.UInt32"
	case uint64:
		return "System.UInt64"
	case Char:
		return "System.Char"
	case Enum:
		return x.TypeName()
	case time.Time:
		return "System.DateTime"
	case DateTimeOffset:
		return "System.DateTimeOffset"
	case time.Duration:
		return "System.TimeSpan"
	case Guid:
		return "System.Guid"
	case []byte:
		return "System.Byte[]"
	case []string:
		return "System.String[]"
	case []int32:
		return "System.Int32[]"
	case []int64:
		return "System.Int64[]"
	case []float64:
		return "System.Double[]"
	case []bool:
		return "System.Boolean[]"
	case []any:
		return "System.Object[]"
	case *JObject:
		return "Newtonsoft.Json.Linq.JObject"
	case *JArray:
		return "Newtonsoft.Json.Linq.JArray"
	case *JValue:
		return "Newtonsoft.Json.Linq.JValue"
	case *JProperty:
		return "Newtonsoft.Json.Linq.JProperty"
	case *Jwt:
		return "Jwt"
	case *BasicAuthCredentials:
		return "BasicAuthCredentials"
	case *exchange.Response:
		return "IResponse"
	case *exchange.Request:
		return "IRequest"
	case *url.URL:
		return "IUrl"
	case http.Header:
		return "IReadOnlyDictionary<string, string[]>"
	case *List:
		return "System.Collections.Generic.List`1"
	case *Dict:
		return "System.Collections.Generic.Dictionary`2"
	case *HashSet:
		return "System.Collections.Generic.HashSet`1"
	case KeyValuePair:
		return "System.Collections.Generic.KeyValuePair`2"
	case *Anon:
		return "<>f__AnonymousType"
	case *exception:
		return "System." + x.typ
	case *StringBuilder:
		return "System.Text.StringBuilder"
	case *Uri:
		return "System.Uri"
	}
	return fmt.Sprintf("%T", v)
}

// ---- ToString ----

// toStringAny is object.ToString() for a boxed value, with the invariant culture;
// null is "".
func toStringAny(v any) string { return (*frame)(nil).str(v) }

// str is toStringAny in an evaluation: what prints a document, a builder or a
// collection of values in full is charged to f as it is written.
func (f *frame) str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case uint8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case uint16:
		return strconv.FormatInt(int64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return formatDouble(x)
	case float32:
		return formatSingle(x)
	case Decimal:
		return x.String()
	case Char:
		return string(utf16.Decode([]uint16{uint16(x)}))
	case time.Time:
		return formatDateTime(x, "G")
	case DateTimeOffset:
		return formatDateTimeOffset(x, "G")
	case time.Duration:
		return formatTimeSpan(x, "c")
	case Guid:
		return x.String()
	case Enum:
		return x.String()
	case JToken:
		return jtokenToString(f, x)
	case *StringBuilder:
		f.alloc(len(x.b))
		f.work(len(x.b))
		return x.String()
	case *Uri:
		return x.String()
	case *url.URL:
		return urlString(x)
	case KeyValuePair:
		b := sink{f: f}
		b.WriteString("[")
		b.WriteString(f.str(x.Key))
		b.WriteString(", ")
		b.WriteString(f.str(x.Value))
		b.WriteString("]")
		return b.String()
	case *Anon:
		b := sink{f: f}
		b.WriteString("{ ")
		for i, n := range x.Names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n)
			b.WriteString(" = ")
			b.WriteString(f.str(x.Vals[i]))
		}
		b.WriteString(" }")
		return b.String()
	case *exception:
		return "System." + x.typ + ": " + x.msg
	case *List:
		return "System.Collections.Generic.List`1[System.Object]"
	case *Dict:
		return "System.Collections.Generic.Dictionary`2[System.Object,System.Object]"
	case *Jwt:
		return "Jwt"
	case *exchange.Response:
		return "IResponse"
	case *Encoding:
		return "System.Text." + x.name + "Encoding"
	case XName:
		return x.String()
	case XNamespace:
		return x.URI
	case *XElement:
		return xmlString(f, x, true)
	case *XDocument:
		return xmlString(f, x.Root, true)
	case *XAttribute:
		return xattrString(f, x)
	case *XText:
		return x.Value
	}
	return dotnetTypeName(v)
}

var _ = utf8.RuneLen
