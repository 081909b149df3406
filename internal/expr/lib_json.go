package expr

import (
	"bytes"
	"encoding/base64"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// jChildren is JToken.Children(): properties of an object, items of an array,
// the value of a property.
func jChildren(t JToken) []JToken {
	switch x := t.(type) {
	case *JObject:
		out := make([]JToken, len(x.props))
		for i, p := range x.props {
			out[i] = p
		}
		return out
	case *JArray:
		return x.Items
	case *JProperty:
		return []JToken{x.Value}
	}
	return nil
}

func parseJSONOrThrow(f *frame, s string) JToken {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'json')")
	}
	t, err := parseJSON(f, s)
	if err != nil {
		panic(&exception{typ: "JsonReaderException", msg: err.Error(), pos: -1, err: err})
	}
	return t
}

func parseJObject(f *frame, s string) *JObject {
	t := parseJSONOrThrow(f, s)
	o, ok := t.(*JObject)
	if !ok {
		throw("JsonReaderException", "Error reading JObject from JsonReader. Current JsonReader item is not an object: %s. Path '', line 1, position 1.", startToken(t))
	}
	return o
}

func parseJArray(f *frame, s string) *JArray {
	t := parseJSONOrThrow(f, s)
	a, ok := t.(*JArray)
	if !ok {
		throw("JsonReaderException", "Error reading JArray from JsonReader. Current JsonReader item is not an array: %s. Path '', line 1, position 1.", startToken(t))
	}
	return a
}

func startToken(t JToken) string {
	switch t.Type() {
	case JObjectType:
		return "StartObject"
	case JArrayType:
		return "StartArray"
	}
	return t.Type().String()
}

// jIndex is JToken's indexer this[object key].
func jIndex(t JToken, key any) JToken {
	switch x := t.(type) {
	case *JObject:
		s, ok := key.(string)
		if !ok {
			throw("ArgumentException", "Accessed JObject values with invalid key value: %s. Object property name expected.", toStringAny(key))
		}
		return x.Get(s)
	case *JArray:
		i, ok := key.(int32)
		if !ok {
			throw("ArgumentException", "Accessed JArray values with invalid key value: %q. Int32 array index expected.", toStringAny(key))
		}
		if i < 0 || int(i) >= len(x.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		return x.Items[i]
	case *JProperty:
		throw("InvalidOperationException", "Cannot access child value on Newtonsoft.Json.Linq.JProperty.")
	}
	throw("InvalidOperationException", "Cannot access child value on Newtonsoft.Json.Linq.JValue.")
	return nil
}

func jSetIndex(f *frame, t JToken, key any, v JToken) {
	switch x := t.(type) {
	case *JObject:
		s, ok := key.(string)
		if !ok {
			throw("ArgumentException", "Set JObject values with invalid key value: %s. Object property name expected.", toStringAny(key))
		}
		x.set(f, s, v)
		return
	case *JArray:
		i, ok := key.(int32)
		if !ok || i < 0 || int(i) >= len(x.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		jArraySet(f, x, int(i), v)
		return
	}
	throw("InvalidOperationException", "Cannot set child value on %s.", dotnetTypeName(t))
}

func jArraySet(f *frame, a *JArray, i int, v JToken) {
	if v == nil {
		v = &JValue{Kind: JNull}
	}
	v = adopt(f, a, v)
	a.Items[i].setParent(jcontainer{})
	v.setParent(jcontainer{arr: a})
	a.Items[i] = v
}

// jRemove is JToken.Remove().
func jRemove(f *frame, t JToken) {
	pr := t.parentRef()
	if pr == nil {
		throw("InvalidOperationException", "The parent is missing.")
	}
	p := *pr
	switch {
	case p.obj != nil:
		if prop, ok := t.(*JProperty); ok {
			f.elems(len(p.obj.props))
			p.obj.removeProp(prop)
		}
	case p.arr != nil:
		f.elems(len(p.arr.Items))
		for i, it := range p.arr.Items {
			if it == t {
				p.arr.Items = append(p.arr.Items[:i:i], p.arr.Items[i+1:]...)
				t.setParent(jcontainer{})
				return
			}
		}
	case p.prop != nil:
		throw("InvalidOperationException", "Cannot add or remove items from Newtonsoft.Json.Linq.JProperty.")
	}
}

// jReplace is JToken.Replace(value).
func jReplace(f *frame, t, v JToken) {
	pr := t.parentRef()
	if pr == nil {
		throw("InvalidOperationException", "The parent is missing.")
	}
	p := *pr // a copy: pr points into t, whose parent changes below
	if v == nil {
		v = &JValue{Kind: JNull}
	}
	v = adopt(f, p.token(), v)
	switch {
	case p.prop != nil:
		t.setParent(jcontainer{})
		p.prop.Value = v
		v.setParent(jcontainer{prop: p.prop})
	case p.arr != nil:
		f.elems(len(p.arr.Items))
		for i, it := range p.arr.Items {
			if it == t {
				jArraySet(f, p.arr, i, v)
				return
			}
		}
	case p.obj != nil:
		f.elems(len(p.obj.props))
		np, ok := v.(*JProperty)
		if !ok {
			throw("ArgumentException", "Can not add %s to Newtonsoft.Json.Linq.JObject.", dotnetTypeName(v))
		}
		for i, q := range p.obj.props {
			if q == t {
				q.parent = jcontainer{}
				np.parent = jcontainer{obj: p.obj}
				p.obj.props[i] = np
				p.obj.changed()
			}
		}
	}
}

// jAdd is JContainer.Add(object content).
func jAdd(f *frame, t JToken, content any) {
	switch x := t.(type) {
	case *JObject:
		for _, c := range contentTokens(f, content) {
			p, ok := c.(*JProperty)
			if !ok {
				throw("ArgumentException", "Can not add %s to Newtonsoft.Json.Linq.JObject.", dotnetTypeName(c))
			}
			x.addProp(f, p)
		}
	case *JArray:
		for _, c := range contentTokens(f, content) {
			x.add(f, c)
		}
	case *JProperty:
		throw("InvalidOperationException", "Newtonsoft.Json.Linq.JProperty cannot have multiple values.")
	default:
		throw("InvalidOperationException", "Cannot add items to %s.", dotnetTypeName(t))
	}
}

func jCount(t JToken) int32 {
	switch x := t.(type) {
	case *JObject:
		return int32(len(x.props))
	case *JArray:
		return int32(len(x.Items))
	case *JProperty:
		return 1
	}
	return 0
}

func jFirst(t JToken) JToken { return jChild(t, true) }

func jLast(t JToken) JToken { return jChild(t, false) }

// jChild is First or Last: the first or last property of an object, item of an
// array, or the value of a property.
func jChild(t JToken, first bool) JToken {
	pick := func(n int) int {
		if first {
			return 0
		}
		return n - 1
	}
	switch x := t.(type) {
	case *JObject:
		if len(x.props) > 0 {
			return x.props[pick(len(x.props))]
		}
	case *JArray:
		if len(x.Items) > 0 {
			return x.Items[pick(len(x.Items))]
		}
	case *JProperty:
		return x.Value
	case *JValue:
		throw("InvalidOperationException", "Cannot access child value on Newtonsoft.Json.Linq.JValue.")
	}
	return nil
}

// jSibling is Next (delta 1) or Previous (-1): it looks for t in its container.
func jSibling(f *frame, t JToken, delta int) JToken {
	p := t.parentRef()
	if p == nil {
		return nil
	}
	switch {
	case p.arr != nil:
		f.elems(len(p.arr.Items))
		for i, s := range p.arr.Items {
			if s == t {
				if j := i + delta; j >= 0 && j < len(p.arr.Items) {
					return p.arr.Items[j]
				}
				return nil
			}
		}
	case p.obj != nil:
		f.elems(len(p.obj.props))
		for i, s := range p.obj.props {
			if JToken(s) == t {
				if j := i + delta; j >= 0 && j < len(p.obj.props) {
					return p.obj.props[j]
				}
				return nil
			}
		}
	}
	return nil
}

func jDeepEquals(f *frame, a, b JToken) bool {
	f.tick()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Type() != b.Type() {
		return false // 1 and 1.0 differ: Integer and Float (Newtonsoft.Json#1007)
	}
	switch x := a.(type) {
	case *JObject:
		y := b.(*JObject)
		if len(x.props) != len(y.props) {
			return false
		}
		for _, p := range x.props {
			if !jDeepEquals(f, p.Value, y.Get(p.Name)) {
				return false
			}
		}
		return true
	case *JArray:
		y := b.(*JArray)
		if len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !jDeepEquals(f, x.Items[i], y.Items[i]) {
				return false
			}
		}
		return true
	case *JProperty:
		y := b.(*JProperty)
		return x.Name == y.Name && jDeepEquals(f, x.Value, y.Value)
	case *JValue:
		return jvalueEquals(x, b.(*JValue))
	}
	return false
}

// jvalueEquals is Newtonsoft's JValue.Equals (and DeepEquals of two values):
// the same token type and values that compare equal, floats within a few ulps
// (MathUtils.ApproxEquals). JObject and JArray do not override Equals: theirs
// is reference equality.
func jvalueEquals(a, b *JValue) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Kind != b.Kind {
		return false
	}
	if a.V == nil || b.V == nil {
		return a.V == nil && b.V == nil
	}
	_, da := a.V.(Decimal)
	_, db := b.V.(Decimal)
	if da || db {
		// CompareFloat compares as decimals when either value is one
		x, okx := jvalueDecimal(a.V)
		y, oky := jvalueDecimal(b.V)
		return okx && oky && decCmp(x, y) == 0
	}
	switch x := a.V.(type) {
	case *big.Int:
		return new(big.Float).SetInt(x).Cmp(jvalueBigFloat(b.V)) == 0
	case int64:
		switch y := b.V.(type) {
		case int64:
			return x == y
		case *big.Int:
			return y.IsInt64() && y.Int64() == x
		}
	case float64, float32:
		switch b.V.(type) {
		case float64, float32:
			return approxEquals(toF64(x), toF64(b.V)) // CompareFloat compares as doubles
		}
	case time.Time:
		switch y := b.V.(type) {
		case time.Time:
			return dtTicks(x) == dtTicks(y)
		case DateTimeOffset:
			return dtTicks(x) == dtTicks(y.Time) // DateTime against the offset's clock time
		}
	case DateTimeOffset:
		switch y := b.V.(type) {
		case DateTimeOffset:
			return x.Equal(y.Time)
		case time.Time:
			return dtTicks(x.Time) == dtTicks(y)
		}
	case []byte:
		y, ok := b.V.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return valueEq(a.V, b.V)
}

// jvalueDecimal is a number token's value as a decimal, false when it is not
// a number or does not convert.
func jvalueDecimal(v any) (d Decimal, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	switch v.(type) {
	case Decimal, int64, float64, float32:
		return convertToDecimal(v), true
	}
	return Decimal{}, false
}

func jvalueBigFloat(v any) *big.Float {
	switch x := v.(type) {
	case *big.Int:
		return new(big.Float).SetInt(x)
	case int64:
		return new(big.Float).SetInt64(x)
	case float64:
		return big.NewFloat(x)
	}
	return new(big.Float).SetInf(false)
}

// approxEquals is Newtonsoft's MathUtils.ApproxEquals.
func approxEquals(d1, d2 float64) bool {
	if d1 == d2 {
		return true
	}
	tolerance := (math.Abs(d1) + math.Abs(d2) + 10) * 2.220446049250313e-16
	diff := d1 - d2
	return -tolerance < diff && tolerance > diff
}

// jvalueHash is JValue.GetHashCode(): the value's hash code, 0 for null.
func jvalueHash(f *frame, v *JValue) int32 {
	switch x := v.V.(type) {
	case nil:
		return 0
	case *big.Int:
		return stringHash(x.String())
	case []byte:
		return stringHash(string(x))
	}
	return hashCode(f, v.V)
}

// jvalueKey is the key a JValue has in a dictionary or set (Distinct, HashSet,
// Dictionary keys): values that are Equals share it. Floats that are only
// approximately equal keep their own keys, as their hash codes differ in .NET.
type jvalueKey struct {
	kind JTokenType
	v    any
}

func jvalueDictKey(v *JValue) any {
	switch x := v.V.(type) {
	case *big.Int:
		if x.IsInt64() {
			return jvalueKey{v.Kind, x.Int64()}
		}
		return jvalueKey{v.Kind, "big:" + x.String()}
	case time.Time:
		return jvalueKey{v.Kind, dtTicks(x)}
	case DateTimeOffset:
		return jvalueKey{v.Kind, x.UTC()}
	case []byte:
		return jvalueKey{v.Kind, "bytes:" + string(x)}
	}
	if v.V != nil && !reflect.TypeOf(v.V).Comparable() {
		return v // no value key: reference identity
	}
	return jvalueKey{v.Kind, v.V}
}

// toObjectAs is ToObject<T>() and Value<T>(): a token converted to T.
func toObjectAs(f *frame, t JToken, to *Type, c *checker) any {
	f.tick()
	if t == nil {
		if to.value && to.kind != tkNullable {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'value')")
		}
		return nil
	}
	switch defName(to) {
	case "JToken":
		return t
	case "JObject":
		if o, ok := t.(*JObject); ok {
			return o
		}
		throw("InvalidCastException", "Unable to cast object of type '%s' to type 'Newtonsoft.Json.Linq.JObject'", dotnetTypeName(t))
	case "JArray":
		if a, ok := t.(*JArray); ok {
			return a
		}
		throw("InvalidCastException", "Unable to cast object of type '%s' to type 'Newtonsoft.Json.Linq.JArray'", dotnetTypeName(t))
	case "JValue":
		if v, ok := t.(*JValue); ok {
			return v
		}
		throw("InvalidCastException", "Unable to cast object of type '%s' to type 'Newtonsoft.Json.Linq.JValue'", dotnetTypeName(t))
	case "Dictionary", "IDictionary":
		o, ok := t.(*JObject)
		if !ok {
			throw("JsonSerializationException", "Cannot deserialize the current JSON %s into type '%s' because the type requires a JSON object", t.Type(), to.Name)
		}
		d := newDict(false)
		for _, p := range o.props {
			f.alloc(dictEntryBytes)
			d.set(p.Name, toObjectAs(f, p.Value, to.args[1], c))
		}
		return d
	case "List", "IList", "IEnumerable":
		a, ok := t.(*JArray)
		if !ok {
			throw("JsonSerializationException", "Cannot deserialize the current JSON %s into type '%s' because the type requires a JSON array", t.Type(), to.Name)
		}
		f.allocN(len(a.Items), slotBytes)
		l := &List{Items: make([]any, 0, len(a.Items))}
		for _, it := range a.Items {
			l.Items = append(l.Items, toObjectAs(f, it, to.args[0], c))
		}
		return l
	}
	if to.kind == tkArray && to.elem == tByte {
		if a, ok := t.(*JArray); ok {
			return bytesFromArray(f, a)
		}
	}
	if to.kind == tkArray && !(to.elem == tByte) {
		a, ok := t.(*JArray)
		if !ok {
			throw("JsonSerializationException", "Cannot deserialize the current JSON %s into type '%s' because the type requires a JSON array", t.Type(), to.Name)
		}
		f.allocN(len(a.Items), 2*slotBytes)
		vals := make([]any, 0, len(a.Items))
		for _, it := range a.Items {
			vals = append(vals, toObjectAs(f, it, to.elem, c))
		}
		return makeArrayFrom(to.elem, vals)
	}
	if to == tObject {
		if v, ok := t.(*JValue); ok {
			return jvalueObject(v)
		}
		return t
	}
	if primitiveTarget(to) {
		return deserializeValue(f, t, to)
	}
	v, err := jtokenConvert(t, to, to.kind == tkNullable || !to.value)
	if err != nil {
		throw("JsonSerializationException", "Error converting value to type '%s': %s", to.Name, err.msg)
	}
	return v
}

// bytesFromArray is ReadAsBytes of an array: its integers as bytes, as
// Convert.ToByte converts them.
func bytesFromArray(f *frame, a *JArray) []byte {
	f.alloc(len(a.Items))
	b := make([]byte, 0, len(a.Items))
	for _, it := range a.Items {
		jv, ok := it.(*JValue)
		if !ok || jv.Kind != JInteger {
			kind := startToken(it)
			if ok {
				kind = jv.Kind.String()
			}
			throw("JsonReaderException", "Unexpected token when reading bytes: %s. Path '%s'.", kind, tokenPath(f, it))
		}
		n, isInt := jv.V.(int64)
		if !isInt || n < 0 || n > math.MaxUint8 {
			throw("OverflowException", "%s", overflowMsg("System.Byte"))
		}
		b = append(b, byte(n))
	}
	return b
}

// deserializeValue is what Newtonsoft's JsonSerializer makes of a token for a
// primitive T: an element of ToObject<List<int>>(), ToObject<int[]>() or
// ToObject<Dictionary<string, string>>(), or DeserializeObject<T>'s document.
// int, short, byte, double, float, decimal, bool, string, DateTime and
// DateTimeOffset are read with the reader's ReadAsInt32, ReadAsDouble, ...,
// which throw JsonReaderException ("Could not convert string to integer.",
// "Error reading integer. Unexpected token: StartObject."); the value read, and
// that of the other types, is then converted as Convert.ChangeType does, a
// failure being JsonSerializationException ("Error converting value to type
// 'System.Byte'.", "Error converting value {null} to type 'System.Int32'.").
// Newtonsoft quotes the value and the line and position of the token; these
// messages give its path only.
func deserializeValue(f *frame, t JToken, to *Type) any {
	u := underlying(to)
	name := clrName(u)
	if u.def != nil {
		name = u.def.qualified()
	}
	nullable := to.kind == tkNullable || !to.value
	fail := func(typ, msg string) {
		throw(typ, "%s Path '%s'.", msg, tokenPath(f, t))
	}
	// read is the type the reader reads as and what its messages call it
	var read *Type
	var what string
	switch {
	case u.num == nkInt || u.num == nkShort || u.num == nkByte:
		read, what = tInt, "integer"
	case u.num == nkDouble || u.num == nkFloat:
		read, what = tDouble, "double"
	case u.num == nkDecimal:
		read, what = tDecimal, "decimal"
	case u == tBool:
		read, what = tBool, "boolean"
	case u == tString:
		read, what = tString, "string"
	case defName(u) == "DateTime" || defName(u) == "DateTimeOffset":
		read, what = u, defName(u)
	}
	unexpected := func(token string) {
		noun := what
		if read == u && u.def != nil {
			noun = "date"
		}
		fail("JsonReaderException", "Error reading "+noun+". Unexpected token: "+token+".")
	}
	jv, ok := t.(*JValue)
	if !ok {
		if read != nil {
			unexpected(startToken(t))
		}
		if _, arr := t.(*JArray); arr {
			fail("JsonSerializationException", "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type '"+name+"' because the type requires a JSON primitive value to deserialize correctly.")
		}
		fail("JsonSerializationException", "Cannot deserialize the current JSON object (e.g. {\"name\":\"value\"}) into type '"+name+"' because the type requires a JSON primitive value to deserialize correctly.")
	}
	kind := jv.Kind
	switch kind {
	case JGuid, JUri, JTimeSpan:
		kind = JString // the token reader gives these as strings
	}
	// ReadAsInt32 and its kin read an empty string as null
	isNull := kind == JNull || kind == JUndefined || read != nil && read != tString && kind == JString && jv.V == ""
	if isNull {
		if nullable {
			return nil
		}
		fail("JsonSerializationException", "Error converting value {null} to type '"+name+"'.")
	}
	if read == nil {
		v, err := convertJValue(jv, u)
		if err != nil {
			fail("JsonSerializationException", "Error converting value to type '"+name+"'.")
		}
		return v
	}
	switch {
	case read == tString:
		if kind == JBytes {
			unexpected(kind.String())
		}
	case kind == JString:
	case kind == JInteger || kind == JFloat:
		if read.def != nil {
			unexpected(kind.String())
		}
	case kind == JBoolean && read == tBool, kind == JDate && read.def != nil:
	default:
		unexpected(kind.String())
	}
	v, err := convertJValue(jv, read)
	if err != nil {
		switch {
		case kind == JString:
			fail("JsonReaderException", "Could not convert string to "+what+".")
		case read == tInt && err.typ == "OverflowException" && jv.Kind == JInteger:
			if _, big := jv.V.(*big.Int); big {
				throw(err.typ, "%s", err.msg) // ReadAsInt32 casts a BigInteger unguarded
			}
		}
		fail("JsonReaderException", "Could not convert to "+what+".")
	}
	if read == u {
		return v
	}
	// the value read converts to byte, short or float as Convert.ChangeType does
	if u.num == nkFloat {
		return float32(v.(float64))
	}
	n := int64(v.(int32))
	if lo, hi := intRange(u.num); float64(n) < lo || float64(n) > hi {
		fail("JsonSerializationException", "Error converting value to type '"+name+"'.")
	}
	return boxedNum(u, n)
}

// primitiveTarget reports whether Newtonsoft's ToObject(Type) converts to t with
// an explicit operator (its PrimitiveTypeCode switch): the numbers, bool,
// string, DateTime, DateTimeOffset, Guid, TimeSpan, Uri and their nullables.
func primitiveTarget(t *Type) bool {
	u := underlying(t)
	if u.isNumeric() || u == tBool || u == tString {
		return true
	}
	switch defName(u) {
	case "DateTime", "DateTimeOffset", "Guid", "TimeSpan", "Uri":
		return true
	}
	return false
}

// castJToken is (T)token, throwing what Newtonsoft's operator throws.
func castJToken(t JToken, to *Type) any {
	v, err := jtokenConvert(t, to, to.kind == tkNullable || !to.value)
	if err != nil {
		throw(err.typ, "%s", err.msg)
	}
	return v
}

// valueAs is Value<T>() of a primitive T (Newtonsoft's Extensions.Convert): a
// token that is not a JValue is an InvalidCastException, a value converts as
// Convert.ChangeType does: FormatException and OverflowException from the
// conversion, InvalidCastException between unrelated types.
func valueAs(t JToken, to *Type) any {
	jv, ok := t.(*JValue)
	if !ok {
		throw("InvalidCastException", "Cannot cast %s to Newtonsoft.Json.Linq.JToken.", dotnetTypeName(t))
	}
	v, err := jtokenConvert(jv, to, to.kind == tkNullable || !to.value)
	if err != nil {
		if err.typ == "ArgumentException" {
			throw("InvalidCastException", "Invalid cast from '%s' to '%s'.", strings.TrimPrefix(dotnetTypeName(jvalueObject(jv)), "System."), clrShort(to))
		}
		throw(err.typ, "%s", err.msg)
	}
	return v
}

// jvalueObject is JValue.Value: the boxed primitive.
func jvalueObject(v *JValue) any {
	switch x := v.V.(type) {
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	}
	return v.V
}

// serializeObject is JsonConvert.SerializeObject.
func serializeObject(f *frame, v any, indented bool) string {
	return jsonToString(f, fromObject(f, v), indented)
}

func declJSON(u *universe) {
	ns := "Newtonsoft.Json.Linq."
	jt := u.decl(ns+"JToken", tkClass, "")
	jt.is = func(v any) bool { _, ok := v.(JToken); return ok }
	jt.elem = func(*Type) *Type { return jt.typ() }
	jc := u.decl(ns+"JContainer", tkClass, "JToken")
	jc.is = func(v any) bool {
		switch v.(type) {
		case *JObject, *JArray, *JProperty:
			return true
		}
		return false
	}
	jc.elem = func(*Type) *Type { return jt.typ() }
	jo := u.decl(ns+"JObject", tkClass, "JContainer")
	jo.is = func(v any) bool { _, ok := v.(*JObject); return ok }
	jo.elem = func(*Type) *Type { return u.kvType(tString, jt.typ()) }
	ja := u.decl(ns+"JArray", tkClass, "JContainer")
	ja.is = func(v any) bool { _, ok := v.(*JArray); return ok }
	ja.elem = func(*Type) *Type { return jt.typ() }
	jp := u.decl(ns+"JProperty", tkClass, "JContainer")
	jp.is = func(v any) bool { _, ok := v.(*JProperty); return ok }
	jp.elem = func(*Type) *Type { return jt.typ() }
	jv := u.decl(ns+"JValue", tkClass, "JToken")
	jv.is = func(v any) bool { _, ok := v.(*JValue); return ok }
	jv.elem = func(*Type) *Type { return jt.typ() }
	jtt := u.decl(ns+"JTokenType", tkEnum, "")
	jtt.enum(jtokenTypeNames...)
	fmtE := u.decl("Newtonsoft.Json.Formatting", tkEnum, "")
	fmtE.enum("None", "Indented")
	u.decl("Newtonsoft.Json.JsonConverter", tkClass, "").is = func(any) bool { return false }

	// JToken
	jt.prop("Type JTokenType", f1(func(t JToken) int64 { return int64(t.Type()) }))
	jt.prop("Parent JContainer", f1(func(t JToken) any { return t.parentRef().token() }))
	jt.prop("Root JToken", f1(func(t JToken) any {
		for {
			p := t.parentRef().token()
			if p == nil {
				return t
			}
			t = p
		}
	}))
	jt.prop("Path string", x1(tokenPath))
	jt.prop("HasValues bool", f1(func(t JToken) bool { return jCount(t) > 0 }))
	jt.prop("First JToken", f1(func(t JToken) any { return jFirst(t) }))
	jt.prop("Last JToken", f1(func(t JToken) any { return jLast(t) }))
	jt.prop("Next JToken", x1(func(f *frame, t JToken) any { return jSibling(f, t, 1) }))
	jt.prop("Previous JToken", x1(func(f *frame, t JToken) any { return jSibling(f, t, -1) }))
	jt.index("this[object key] JToken", f2(func(t JToken, k any) any { return jIndex(t, k) }),
		vx3(func(f *frame, t JToken, k any, v any) { jSetIndex(f, t, k, asJToken(v)) }))
	selectOne := func(f *frame, t JToken, path string, errNoMatch bool) any {
		segs, err := parsePath(path)
		if err != "" {
			throw("JsonException", "%s", err)
		}
		res := selectTokens(f, t, segs)
		switch len(res) {
		case 0:
			if errNoMatch {
				throw("JsonException", "Path '%s' does not exist", path)
			}
			return nil
		case 1:
			return res[0]
		}
		throw("JsonException", "Path returned multiple tokens.")
		return nil
	}
	jt.method("SelectToken(string path) JToken", x2(func(f *frame, t JToken, p string) any { return selectOne(f, t, p, false) }))
	jt.method("SelectToken(string path, bool errorWhenNoMatch) JToken", x3(func(f *frame, t JToken, p string, e bool) any { return selectOne(f, t, p, e) }))
	jt.method("SelectTokens(string path) IEnumerable<JToken>", x2(func(f *frame, t JToken, p string) []any {
		segs, err := parsePath(p)
		if err != "" {
			throw("JsonException", "%s", err)
		}
		res := selectTokens(f, t, segs)
		f.allocN(len(res), slotBytes)
		out := make([]any, len(res))
		for i, r := range res {
			out[i] = r
		}
		return out
	}))
	jt.method("Value<T>() T", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].anyFn(), cs.t
		pos := cs.pos
		return fromAny(to, cs.n, func(f *frame) any {
			f.pos = pos
			t, _ := g(f).(JToken)
			if v, ok := t.(*JValue); ok && (v.Kind == JNull || v.Kind == JUndefined) {
				return c.zeroOrNil(to)
			}
			if t != nil && primitiveTarget(to) {
				return valueAs(t, to)
			}
			return toObjectAs(f, t, to, c)
		})
	})
	jt.method("Value<T>(object key) T", func(c *checker, cs *site, args []*operand) *operand {
		g, k, to := args[0].anyFn(), args[1].anyFn(), cs.t
		pos := cs.pos
		return fromAny(to, cs.n, func(f *frame) any {
			f.pos = pos
			t := jIndex(g(f).(JToken), k(f))
			if t == nil {
				return c.zeroOrNil(to)
			}
			if v, ok := t.(*JValue); ok && (v.Kind == JNull || v.Kind == JUndefined) {
				return c.zeroOrNil(to)
			}
			if primitiveTarget(to) {
				return valueAs(t, to)
			}
			return toObjectAs(f, t, to, c)
		})
	})
	jt.method("Values<T>() IEnumerable<T>", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].anyFn(), cs.targs[0]
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			var out []any
			for _, ch := range children(g(f).(JToken)) {
				out = push(f, out, toObjectAs(f, ch, to, c))
			}
			return out
		}}
	})
	jt.method("ToObject<T>() T", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].anyFn(), cs.t
		pos := cs.pos
		return fromAny(to, cs.n, func(f *frame) any {
			f.pos = pos
			if primitiveTarget(to) {
				return castJToken(g(f).(JToken), to) // ToObject(Type) calls the explicit operator
			}
			return toObjectAs(f, g(f).(JToken), to, c)
		})
	})
	jt.method("Children() IEnumerable<JToken>", x1(func(f *frame, t JToken) []any {
		ch := jChildren(t)
		f.allocN(len(ch), 2*slotBytes)
		out := make([]any, len(ch))
		for i, c := range ch {
			out[i] = c
		}
		return out
	}))
	jt.method("ToString() string", x1(jtokenToString))
	jt.method("ToString(Formatting formatting, params JsonConverter[] converters) string", x3(func(f *frame, t JToken, fm int64, _ []any) string {
		return jsonToString(f, t, fm == 1)
	}))
	jt.method("DeepClone() JToken", x1(func(f *frame, t JToken) JToken { return t.clone(f) }))
	jt.method("Remove() void", vx1(jRemove))
	jt.method("Replace(JToken value) void", vx2(jReplace))
	jt.method("AddAfterSelf(object content) void", vx2(func(f *frame, t JToken, content any) { jAddSibling(f, t, content, 1) }))
	jt.method("AddBeforeSelf(object content) void", vx2(func(f *frame, t JToken, content any) { jAddSibling(f, t, content, 0) }))
	jt.method("Descendants() IEnumerable<JToken>", x1(func(f *frame, t JToken) []any {
		var out []any
		var walk func(JToken)
		walk = func(x JToken) {
			for _, c := range jChildren(x) {
				f.tick()
				out = push(f, out, c)
				walk(c)
			}
		}
		walk(t)
		return out
	}))
	jt.smethod("Parse(string json) JToken", x1(func(f *frame, s string) JToken { return parseJSONOrThrow(f, s) }))
	jt.smethod("FromObject(object o) JToken", x1(func(f *frame, v any) JToken { return fromObject(f, v) }))
	jt.smethod("DeepEquals(JToken t1, JToken t2) bool", x2(jDeepEquals))

	// JContainer
	jc.prop("Count int", f1(jCount))
	jc.method("Add(object content) void", vx2(func(f *frame, t JToken, c any) { jAdd(f, t, c) }))
	jc.method("RemoveAll() void", vx1(func(f *frame, t JToken) {
		f.elems(int(jCount(t)))
		switch x := t.(type) {
		case *JObject:
			for _, p := range x.props {
				p.parent = jcontainer{}
			}
			x.props = nil
			x.changed()
		case *JArray:
			for _, it := range x.Items {
				it.setParent(jcontainer{})
			}
			x.Items = nil
		}
	}))
	jc.method("Merge(object content) void", vx2(func(f *frame, t JToken, content any) { jMerge(f, t, content) }))

	// JObject
	jo.ctor("()", f0(NewJObject))
	jo.ctor("(params object[] content)", x1(func(f *frame, content []any) *JObject {
		o := &JObject{}
		for _, c := range content {
			jAdd(f, o, c)
		}
		return o
	}))
	jo.ctor("(JObject other)", x1(func(f *frame, o *JObject) *JObject { return o.clone(f).(*JObject) }))
	jo.prop("Count int", f1(func(o *JObject) int32 { return int32(len(o.props)) }))
	jo.index("this[string propertyName] JToken", f2(func(o *JObject, k string) any {
		mustNotNull(k, "propertyName")
		return o.Get(k)
	}), vx3(func(f *frame, o *JObject, k string, v any) { o.set(f, k, asJToken(v)) }))
	jo.method("Properties() IEnumerable<JProperty>", x1(func(f *frame, o *JObject) []any {
		f.allocN(len(o.props), 2*slotBytes)
		out := make([]any, len(o.props))
		for i, p := range o.props {
			out[i] = p
		}
		return out
	}))
	jo.method("Property(string name) JProperty", f2(func(o *JObject, n string) *JProperty { return o.Property(n) }))
	jo.method("Property(string name, StringComparison comparison) JProperty", x3(func(f *frame, o *JObject, n string, cmp int64) *JProperty {
		if p := o.Property(n); p != nil {
			return p
		}
		if ignoreCase(cmp) {
			f.elems(len(o.props))
			for _, p := range o.props {
				if strings.EqualFold(p.Name, n) {
					return p
				}
			}
		}
		return nil
	}))
	jo.method("GetValue(string propertyName) JToken", f2(func(o *JObject, n string) any { return o.Get(n) }))
	jo.method("GetValue(string propertyName, StringComparison comparison) JToken", x3(func(f *frame, o *JObject, n string, cmp int64) any {
		if v := o.Get(n); v != nil {
			return v
		}
		if ignoreCase(cmp) {
			f.elems(len(o.props))
			for _, p := range o.props {
				if strings.EqualFold(p.Name, n) {
					return p.Value
				}
			}
		}
		return nil
	}))
	jo.method("TryGetValue(string propertyName, out JToken value) bool", f3(func(o *JObject, n string, out *outRef) bool {
		v := o.Get(n)
		if v == nil {
			out.set(nil)
			return false
		}
		out.set(v)
		return true
	}))
	jo.method("ContainsKey(string propertyName) bool", f2(func(o *JObject, n string) bool { return o.Property(n) != nil }))
	jo.method("Remove(string propertyName) bool", x2(func(f *frame, o *JObject, n string) bool {
		f.elems(len(o.props))
		if p := o.Property(n); p != nil {
			return o.removeProp(p)
		}
		return false
	}))
	jo.method("Add(string propertyName, JToken value) void", vx3(func(f *frame, o *JObject, n string, v any) {
		t := asJToken(v)
		if t == nil {
			t = &JValue{Kind: JNull}
		}
		chargeToken(f)
		p := &JProperty{Name: n, Value: adopt(f, o, t)}
		p.Value.setParent(jcontainer{prop: p})
		o.addProp(f, p)
	}))
	jo.smethod("Parse(string json) JObject", x1(parseJObject))
	jo.smethod("FromObject(object o) JObject", x1(func(f *frame, v any) *JObject {
		t := fromObject(f, v)
		o, ok := t.(*JObject)
		if !ok {
			throw("ArgumentException", "Object serialized to %s. JObject instance expected.", t.Type())
		}
		return o
	}))

	// JArray
	ja.ctor("()", f0(func() *JArray { return &JArray{} }))
	ja.ctor("(params object[] content)", x1(func(f *frame, content []any) *JArray {
		a := &JArray{}
		for _, c := range content {
			jAdd(f, a, c)
		}
		return a
	}))
	ja.prop("Count int", f1(func(a *JArray) int32 { return int32(len(a.Items)) }))
	ja.index("this[int index] JToken", f2(func(a *JArray, i int32) any {
		if i < 0 || int(i) >= len(a.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		return a.Items[i]
	}), vx3(func(f *frame, a *JArray, i int32, v any) {
		if i < 0 || int(i) >= len(a.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		jArraySet(f, a, int(i), asJToken(v))
	}))
	ja.method("Insert(int index, JToken item) void", vx3(func(f *frame, a *JArray, i int32, v any) {
		if i < 0 || int(i) > len(a.Items) {
			throw("ArgumentOutOfRangeException", "Index must be within the bounds of the List. (Parameter 'index')")
		}
		t := asJToken(v)
		if t == nil {
			t = &JValue{Kind: JNull}
		}
		t = adopt(f, a, t)
		t.setParent(jcontainer{arr: a})
		f.elems(len(a.Items))
		f.alloc(2 * slotBytes)
		a.Items = slices.Insert(a.Items, int(i), t)
	}))
	ja.method("RemoveAt(int index) void", vx2(func(f *frame, a *JArray, i int32) {
		f.elems(len(a.Items))
		if i < 0 || int(i) >= len(a.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		a.Items[i].setParent(jcontainer{})
		a.Items = append(a.Items[:i:i], a.Items[i+1:]...)
	}))
	ja.method("Remove(JToken item) bool", x2(func(f *frame, a *JArray, t JToken) bool {
		f.elems(len(a.Items))
		for i, it := range a.Items {
			if it == t {
				it.setParent(jcontainer{})
				a.Items = append(a.Items[:i:i], a.Items[i+1:]...)
				return true
			}
		}
		return false
	}))
	ja.method("Clear() void", v1(func(a *JArray) { a.Items = nil }))
	ja.method("Contains(JToken item) bool", x2(func(f *frame, a *JArray, t JToken) bool {
		f.elems(len(a.Items))
		for _, it := range a.Items {
			if it == t {
				return true
			}
		}
		return false
	}))
	ja.method("IndexOf(JToken item) int", x2(func(f *frame, a *JArray, t JToken) int32 {
		f.elems(len(a.Items))
		for i, it := range a.Items {
			if it == t {
				return int32(i)
			}
		}
		return -1
	}))
	ja.smethod("Parse(string json) JArray", x1(parseJArray))
	ja.smethod("FromObject(object o) JArray", x1(func(f *frame, v any) *JArray {
		t := fromObject(f, v)
		a, ok := t.(*JArray)
		if !ok {
			throw("ArgumentException", "Object serialized to %s. JArray instance expected.", t.Type())
		}
		return a
	}))

	// JProperty
	newProp := func(f *frame, name string, content []any) *JProperty {
		mustNotNull(name, "name")
		chargeToken(f)
		p := &JProperty{Name: name}
		var v JToken
		switch {
		case len(content) == 1:
			toks := contentTokens(f, content[0])
			if _, isTok := content[0].(JToken); isTok || !isIterable(content[0]) || isStringLike(content[0]) {
				v = toks[0]
			} else {
				a := &JArray{}
				for _, t := range toks {
					a.add(f, t)
				}
				v = a
			}
		default:
			a := &JArray{}
			for _, c := range content {
				for _, t := range contentTokens(f, c) {
					a.add(f, t)
				}
			}
			v = a
		}
		v = adopt(f, nil, v)
		v.setParent(jcontainer{prop: p})
		p.Value = v
		return p
	}
	jp.ctor("(string name, object content)", x2(func(f *frame, name string, c any) *JProperty { return newProp(f, name, []any{c}) }))
	jp.ctor("(string name, params object[] content)", x2(newProp))
	jp.ctor("(JProperty other)", x1(func(f *frame, p *JProperty) *JProperty { return p.clone(f).(*JProperty) }))
	jp.prop("Name string", f1(func(p *JProperty) string { return p.Name }))
	m := jp.prop("Value JToken", f1(func(p *JProperty) JToken { return p.Value }))
	m.set = vx2(func(f *frame, p *JProperty, v any) {
		t := asJToken(v)
		if t == nil {
			t = &JValue{Kind: JNull}
		}
		t = adopt(f, p, t)
		p.Value.setParent(jcontainer{})
		t.setParent(jcontainer{prop: p})
		p.Value = t
	})

	// JValue
	jv.ctor("(object value)", f1(func(v any) *JValue { return jvalueFrom(v).(*JValue) }))
	m = jv.prop("Value object", f1(func(v *JValue) any { return jvalueObject(v) }))
	m.set = v2(func(v *JValue, x any) {
		n := jvalueFrom(x).(*JValue)
		v.Kind, v.V = n.Kind, n.V
	})
	jv.smethod("CreateNull() JValue", f0(func() *JValue { return &JValue{Kind: JNull} }))
	jv.smethod("CreateString(string value) JValue", f1(func(s string) *JValue {
		if isNull(s) {
			return &JValue{Kind: JNull}
		}
		return &JValue{Kind: JString, V: s}
	}))
	jv.smethod("CreateUndefined() JValue", f0(func() *JValue { return &JValue{Kind: JUndefined} }))
	jv.method("ToString() string", f1(jvalueString))
	jv.method("ToString(string format) string", x2(func(f *frame, v *JValue, format string) string {
		chargeFormat(f, format)
		s, err := formatValue(jvalueObject(v), format)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s
	}))

	// JsonConvert
	jcv := u.decl("Newtonsoft.Json.JsonConvert", tkClass, "")
	jcv.smethod("SerializeObject(object value) string", x1(func(f *frame, v any) string { return serializeObject(f, v, false) }))
	jcv.smethod("SerializeObject(object value, Formatting formatting) string", x2(func(f *frame, v any, fm int64) string {
		return serializeObject(f, v, fm == 1)
	}))
	jcv.smethod("DeserializeObject(string value) object", x1(func(f *frame, s string) any {
		t := parseJSONOrThrow(f, s)
		if v, ok := t.(*JValue); ok {
			return jvalueObject(v)
		}
		return t
	}))
	jcv.smethod("DeserializeObject<T>(string value) T", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].strFn(), cs.t
		pos := cs.pos
		return fromAny(to, cs.n, func(f *frame) any {
			f.pos = pos
			t := parseJSONOrThrow(f, g(f))
			return toObjectAs(f, t, to, c)
		})
	})
	_ = exchange.ErrBodyConsumed
}

// zeroOrNil is default(T) as a boxed value.
func (c *checker) zeroOrNil(t *Type) any {
	if t.value && t.kind != tkNullable {
		return zeroBoxed(t)
	}
	return nil
}

func isStringLike(v any) bool {
	switch v.(type) {
	case string, []byte:
		return true
	}
	return false
}

// asJToken converts a value assigned to a JToken slot (already a JToken thanks
// to the implicit conversions) and reports nil for null.
func asJToken(v any) JToken {
	if v == nil {
		return nil
	}
	if t, ok := v.(JToken); ok {
		return t
	}
	return jvalueFrom(v).(JToken)
}

func jAddSibling(f *frame, t JToken, content any, after int) {
	pr := t.parentRef()
	if pr == nil {
		throw("InvalidOperationException", "The parent is missing.")
	}
	p := *pr
	switch {
	case p.arr != nil:
		for i, it := range p.arr.Items {
			if it == t {
				toks := contentTokens(f, content)
				at := i + after
				f.elems(len(p.arr.Items))
				f.allocN(len(toks), 2*slotBytes)
				var ins []JToken
				for _, c := range toks {
					c = adopt(f, p.arr, c)
					c.setParent(jcontainer{arr: p.arr})
					ins = append(ins, c)
				}
				p.arr.Items = append(p.arr.Items[:at:at], append(ins, p.arr.Items[at:]...)...)
				return
			}
		}
	case p.obj != nil:
		for i, q := range p.obj.props {
			if JToken(q) == t {
				at := i + after
				var ins []*JProperty
				for _, c := range contentTokens(f, content) {
					np, ok := c.(*JProperty)
					if !ok {
						throw("ArgumentException", "Can not add %s to Newtonsoft.Json.Linq.JObject.", dotnetTypeName(c))
					}
					if p.obj.Property(np.Name) != nil {
						throw("ArgumentException", "Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", np.Name)
					}
					np = adopt(f, p.obj, np).(*JProperty)
					f.alloc(2 * slotBytes)
					np.parent = jcontainer{obj: p.obj}
					ins = append(ins, np)
				}
				p.obj.props = append(p.obj.props[:at:at], append(ins, p.obj.props[at:]...)...)
				p.obj.changed()
				return
			}
		}
	}
	throw("InvalidOperationException", "Cannot add a sibling here.")
}

// jMerge is JContainer.Merge with the default settings: objects merge property
// by property, arrays concatenate, other values replace.
func jMerge(f *frame, t JToken, content any) {
	src, ok := content.(JToken)
	if !ok {
		return
	}
	switch x := t.(type) {
	case *JObject:
		so, ok := src.(*JObject)
		if !ok {
			return
		}
		for _, p := range so.props {
			f.tick()
			existing := x.Property(p.Name)
			if existing == nil {
				x.set(f, p.Name, p.Value)
				continue
			}
			if _, isC := existing.Value.(*JValue); !isC {
				if _, srcC := p.Value.(*JValue); !srcC {
					jMerge(f, existing.Value, p.Value)
					continue
				}
			}
			if v, ok := p.Value.(*JValue); !ok || v.Kind != JNull {
				x.set(f, p.Name, p.Value)
			}
		}
	case *JArray:
		if sa, ok := src.(*JArray); ok {
			for _, it := range sa.Items {
				x.add(f, it)
			}
		}
	}
}
