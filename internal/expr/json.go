package expr

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// JTokenType is Newtonsoft.Json.Linq.JTokenType.
type JTokenType int

// The JTokenType values, in Newtonsoft's order.
const (
	JNone JTokenType = iota
	JObjectType
	JArrayType
	JConstructorType
	JPropertyType
	JCommentType
	JInteger
	JFloat
	JString
	JBoolean
	JNull
	JUndefined
	JDate
	JRaw
	JBytes
	JGuid
	JUri
	JTimeSpan
)

var jtokenTypeNames = []string{"None", "Object", "Array", "Constructor", "Property", "Comment", "Integer", "Float", "String", "Boolean", "Null", "Undefined", "Date", "Raw", "Bytes", "Guid", "Uri", "TimeSpan"}

// String returns the Newtonsoft name of the type ("Object", "Integer", ...).
func (t JTokenType) String() string {
	if t >= 0 && int(t) < len(jtokenTypeNames) {
		return jtokenTypeNames[t]
	}
	return strconv.Itoa(int(t))
}

// JToken is a Newtonsoft JSON token: *JObject, *JArray, *JProperty or *JValue.
type JToken interface {
	Type() JTokenType
	// JSON writes the token as JSON, indented like Formatting.Indented or compact.
	JSON(indented bool) string
	parentRef() *jcontainer
	setParent(p jcontainer)
	// clone copies the token, charging f for each token copied.
	clone(f *frame) JToken
}

// jcontainer records a token's parent: the object, array or property that holds it.
type jcontainer struct {
	obj  *JObject
	arr  *JArray
	prop *JProperty
}

func (c *jcontainer) token() JToken {
	switch {
	case c == nil:
		return nil
	case c.obj != nil:
		return c.obj
	case c.arr != nil:
		return c.arr
	case c.prop != nil:
		return c.prop
	}
	return nil
}

// JObject is a JSON object; property order is preserved.
type JObject struct {
	props  []*JProperty
	parent jcontainer
	// index finds a property of a large object by name (see Property); nil
	// until needed and after a change other than an append.
	index map[string]int
}

// JArray is a JSON array.
type JArray struct {
	Items  []JToken
	parent jcontainer
}

// JProperty is a name/value pair of a JObject.
type JProperty struct {
	Name   string
	Value  JToken
	parent jcontainer
}

// JValue is a primitive JSON value. V holds string, int64, *big.Int, float64,
// float32, bool, time.Time (Date), Guid, string (Uri), time.Duration, []byte or
// nil.
type JValue struct {
	Kind   JTokenType
	V      any
	parent jcontainer
}

// ref returns c if it records a parent, nil otherwise.
func (c *jcontainer) ref() *jcontainer {
	if c.obj == nil && c.arr == nil && c.prop == nil {
		return nil
	}
	return c
}

// Type returns JObjectType.
func (*JObject) Type() JTokenType { return JObjectType }

// Type returns JArrayType.
func (*JArray) Type() JTokenType { return JArrayType }

// Type returns JPropertyType.
func (*JProperty) Type() JTokenType { return JPropertyType }

// Type returns the value's kind.
func (v *JValue) Type() JTokenType          { return v.Kind }
func (o *JObject) parentRef() *jcontainer   { return o.parent.ref() }
func (a *JArray) parentRef() *jcontainer    { return a.parent.ref() }
func (p *JProperty) parentRef() *jcontainer { return p.parent.ref() }
func (v *JValue) parentRef() *jcontainer    { return v.parent.ref() }
func (o *JObject) setParent(p jcontainer)   { o.parent = p }
func (a *JArray) setParent(p jcontainer)    { a.parent = p }
func (p *JProperty) setParent(c jcontainer) { p.parent = c }
func (v *JValue) setParent(p jcontainer)    { v.parent = p }

// NewJObject returns an empty JObject.
func NewJObject() *JObject { return &JObject{} }

// NewJArray returns a JArray holding items.
func NewJArray(items ...JToken) *JArray {
	a := &JArray{}
	for _, it := range items {
		a.add(nil, it)
	}
	return a
}

// NewJValue converts a Go value (string, bool, integers, floats, time.Time, nil,
// ...) to a JValue.
func NewJValue(v any) *JValue { return jvalueOf(v) }

// ParseJToken parses JSON the way JToken.Parse does: comments, single quotes and
// unquoted property names are accepted, and ISO 8601 date strings become Date
// values (Newtonsoft's default DateParseHandling).
func ParseJToken(s string) (JToken, error) {
	p := &jsonParser{s: s}
	t, err := p.parseRoot()
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Get returns the value of a property, or nil.
func (o *JObject) Get(name string) JToken {
	if p := o.Property(name); p != nil {
		return p.Value
	}
	return nil
}

// Property returns a property by exact name, or nil. Objects of more than a
// few properties are indexed, so that parsing or filling an object with many
// properties takes linear time.
func (o *JObject) Property(name string) *JProperty {
	if len(o.props) <= 8 {
		for _, p := range o.props {
			if p.Name == name {
				return p
			}
		}
		return nil
	}
	if o.index == nil {
		o.index = make(map[string]int, len(o.props))
		for i := len(o.props) - 1; i >= 0; i-- {
			o.index[o.props[i].Name] = i
		}
	}
	if i, ok := o.index[name]; ok {
		return o.props[i]
	}
	return nil
}

// appendProp adds p at the end, keeping the index.
func (o *JObject) appendProp(p *JProperty) {
	if o.index != nil {
		if _, dup := o.index[p.Name]; !dup {
			o.index[p.Name] = len(o.props)
		}
	}
	o.props = append(o.props, p)
}

// changed drops the index after a change to the order of the properties.
func (o *JObject) changed() { o.index = nil }

// Properties returns the properties in order.
func (o *JObject) Properties() []*JProperty { return o.props }

// Set adds or replaces a property.
func (o *JObject) Set(name string, v JToken) { o.set(nil, name, v) }

func (o *JObject) set(f *frame, name string, v JToken) {
	if v == nil {
		v = &JValue{Kind: JNull}
	}
	v = adopt(f, o, v)
	if p := o.Property(name); p != nil {
		p.Value.setParent(jcontainer{})
		p.Value = v
		v.setParent(jcontainer{prop: p})
		return
	}
	f.alloc(tokenBytes)
	p := &JProperty{Name: name, Value: v}
	v.setParent(jcontainer{prop: p})
	p.parent = jcontainer{obj: o}
	o.appendProp(p)
}

// tokenBytes is what a token costs the allocation budget: the token, its slot in
// its container and its boxed value.
const tokenBytes = 96

// adopt returns the token to put into the container into (nil for a new one):
// a clone if t already belongs to a container, or if t is the root of into's
// tree (adding it would make a cycle), as Newtonsoft does; t itself otherwise.
func adopt(f *frame, into, t JToken) JToken {
	if t.parentRef() != nil {
		return t.clone(f)
	}
	for c := into; c != nil; c = c.parentRef().token() {
		f.tick()
		if c == t {
			return t.clone(f)
		}
	}
	return t
}

func (o *JObject) addProp(f *frame, p *JProperty) {
	p = adopt(f, o, p).(*JProperty)
	if o.Property(p.Name) != nil {
		throw("ArgumentException", "Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", p.Name)
	}
	p.parent = jcontainer{obj: o}
	o.appendProp(p)
}

func (o *JObject) removeProp(p *JProperty) bool {
	for i, q := range o.props {
		if q == p {
			o.props = append(o.props[:i:i], o.props[i+1:]...)
			o.changed()
			p.parent = jcontainer{}
			return true
		}
	}
	return false
}

// Append adds t at the end, as JArray.Add does.
func (a *JArray) Append(t JToken) { a.add(nil, t) }

func (a *JArray) add(f *frame, t JToken) {
	if t == nil {
		t = &JValue{Kind: JNull}
	}
	t = adopt(f, a, t)
	f.alloc(2 * slotBytes)
	t.setParent(jcontainer{arr: a})
	a.Items = append(a.Items, t)
}

// chargeToken charges one token made: its allocation and a tick of work.
func chargeToken(f *frame) {
	f.alloc(tokenBytes)
	f.tick()
}

func (o *JObject) clone(f *frame) JToken {
	chargeToken(f)
	c := &JObject{props: make([]*JProperty, 0, len(o.props))}
	for _, p := range o.props {
		np := p.clone(f).(*JProperty)
		np.parent = jcontainer{obj: c}
		c.props = append(c.props, np)
	}
	return c
}

func (a *JArray) clone(f *frame) JToken {
	chargeToken(f)
	c := &JArray{Items: make([]JToken, 0, len(a.Items))}
	for _, t := range a.Items {
		n := t.clone(f)
		n.setParent(jcontainer{arr: c})
		c.Items = append(c.Items, n)
	}
	return c
}

func (p *JProperty) clone(f *frame) JToken {
	chargeToken(f)
	c := &JProperty{Name: p.Name}
	c.Value = p.Value.clone(f)
	c.Value.setParent(jcontainer{prop: c})
	return c
}

func (v *JValue) clone(f *frame) JToken {
	chargeToken(f)
	return &JValue{Kind: v.Kind, V: v.V}
}

// ---- JValue from Go values ----

func jvalueOf(v any) *JValue {
	switch x := v.(type) {
	case nil:
		return &JValue{Kind: JNull}
	case string:
		return &JValue{Kind: JString, V: x}
	case bool:
		return &JValue{Kind: JBoolean, V: x}
	case int32, int, int64, int8, uint8, int16, uint16, uint32:
		return &JValue{Kind: JInteger, V: toI64(x)}
	case uint64:
		if x > math.MaxInt64 {
			return &JValue{Kind: JInteger, V: new(big.Int).SetUint64(x)}
		}
		return &JValue{Kind: JInteger, V: int64(x)}
	case float64:
		return &JValue{Kind: JFloat, V: x}
	case float32:
		return &JValue{Kind: JFloat, V: x} // a float stays a float (Newtonsoft writes it with "R")
	case Decimal:
		return &JValue{Kind: JFloat, V: x} // and a decimal a decimal (1.10m is written 1.10)
	case Char:
		return &JValue{Kind: JString, V: x.String()}
	case time.Time:
		return &JValue{Kind: JDate, V: x}
	case DateTimeOffset:
		return &JValue{Kind: JDate, V: x}
	case Guid:
		return &JValue{Kind: JGuid, V: x}
	case Enum:
		// Newtonsoft writes enums as their numbers
		return &JValue{Kind: JInteger, V: x.Value}
	case time.Duration:
		return &JValue{Kind: JTimeSpan, V: x}
	case []byte:
		return &JValue{Kind: JBytes, V: x}
	case *Uri:
		return &JValue{Kind: JUri, V: x.String()}
	case *JValue:
		return &JValue{Kind: x.Kind, V: x.V}
	}
	return nil
}

// jvalueFrom is the implicit conversion of a primitive to JToken.
func jvalueFrom(v any) any {
	if v == nil {
		return &JValue{Kind: JNull}
	}
	if j := jvalueOf(v); j != nil {
		return j
	}
	throw("ArgumentException", "Could not determine JSON object type for type %s", dotnetTypeName(v))
	return nil
}

// contentTokens converts the content argument of new JObject(...), JArray.Add,
// new JProperty(name, content): tokens are taken as they are, enumerables are
// flattened, other values become JValues.
func contentTokens(f *frame, content any) []JToken {
	switch x := content.(type) {
	case JToken:
		return []JToken{x}
	case nil:
		chargeToken(f)
		return []JToken{&JValue{Kind: JNull}}
	case string, []byte:
		chargeToken(f)
		return []JToken{jvalueOf(x)}
	}
	if isIterable(content) && !isDictLike(content) {
		var out []JToken
		iterate(f, content, func(v any) bool {
			ts := contentTokens(f, v)
			f.allocN(len(ts), 2*slotBytes)
			out = append(out, ts...)
			return true
		})
		return out
	}
	chargeToken(f)
	if j := jvalueOf(content); j != nil {
		return []JToken{j}
	}
	if t := fromObject(f, content); t != nil {
		return []JToken{t}
	}
	throw("ArgumentException", "Could not determine JSON object type for type %s", dotnetTypeName(content))
	return nil
}

func isDictLike(v any) bool {
	switch v.(type) {
	case *JObject, *JArray:
		return false
	}
	return false
}

// ---- writing ----

// JSON writes the object as JSON, indented (Formatting.Indented) or compact.
func (o *JObject) JSON(indented bool) string { return jsonToString(nil, o, indented) }

// JSON writes the array as JSON.
func (a *JArray) JSON(indented bool) string { return jsonToString(nil, a, indented) }

// JSON writes the property as "name": value.
func (p *JProperty) JSON(indented bool) string { return jsonToString(nil, p, indented) }

// JSON writes the value as JSON ("text" for a string).
func (v *JValue) JSON(indented bool) string { return jsonToString(nil, v, indented) }

// jtokenToString is JToken.ToString(): indented JSON, except that a JValue
// prints its raw value (see jvalueString). f is charged for the text.
func jtokenToString(f *frame, t JToken) string {
	if v, ok := t.(*JValue); ok {
		s := jvalueString(v)
		f.alloc(len(s))
		return s
	}
	return jsonToString(f, t, true)
}

// jsonToString is JToken.ToString(Formatting): JSON, indented or compact. f
// is charged for the text as it is written.
func jsonToString(f *frame, t JToken, indented bool) string {
	b := sink{f: f}
	writeJSON(&b, t, indented, 0)
	return b.String()
}

// jvalueString is JValue.ToString(): the value as text (strings unquoted, null
// empty, booleans True/False, dates in the invariant culture).
func jvalueString(v *JValue) string {
	switch v.Kind {
	case JNull, JUndefined:
		return ""
	case JString, JUri, JRaw:
		s, _ := v.V.(string)
		return s
	case JBoolean:
		return toStringAny(v.V)
	case JInteger:
		if b, ok := v.V.(*big.Int); ok {
			return b.String()
		}
		return toStringAny(v.V)
	case JFloat:
		return jfloatString(v.V)
	case JDate:
		switch d := v.V.(type) {
		case time.Time:
			return formatDateTime(d, "G")
		case DateTimeOffset:
			return formatDateTimeOffset(d, "G")
		}
	case JBytes:
		return dotnetTypeName(v.V)
	}
	return toStringAny(v.V)
}

const jsonIndent = "  "

func writeJSON(b *sink, t JToken, indented bool, depth int) {
	nl := func(d int) {
		if indented {
			b.WriteByte('\n')
			for i := 0; i < d; i++ {
				b.WriteString(jsonIndent)
			}
		}
	}
	switch x := t.(type) {
	case *JObject:
		if len(x.props) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, p := range x.props {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			writeProp(b, p, indented, depth+1)
		}
		nl(depth)
		b.WriteByte('}')
	case *JArray:
		if len(x.Items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, it := range x.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			nl(depth + 1)
			writeJSON(b, it, indented, depth+1)
		}
		nl(depth)
		b.WriteByte(']')
	case *JProperty:
		writeProp(b, x, indented, depth)
	case *JValue:
		writeValue(b, x)
	case nil:
		b.WriteString("null")
	}
}

func writeProp(b *sink, p *JProperty, indented bool, depth int) {
	writeString(b, p.Name)
	b.WriteByte(':')
	if indented {
		b.WriteByte(' ')
	}
	writeJSON(b, p.Value, indented, depth)
}

func writeValue(b *sink, v *JValue) {
	switch v.Kind {
	case JNull:
		b.WriteString("null")
	case JUndefined:
		b.WriteString("undefined")
	case JString, JUri:
		s, _ := v.V.(string)
		writeString(b, s)
	case JRaw:
		s, _ := v.V.(string)
		b.WriteString(s)
	case JBoolean:
		if v.V.(bool) {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case JInteger:
		switch n := v.V.(type) {
		case int64:
			b.WriteString(strconv.FormatInt(n, 10))
		case *big.Int:
			b.WriteString(n.String())
		}
	case JFloat:
		b.WriteString(jsonFloat(v.V))
	case JDate:
		switch d := v.V.(type) {
		case time.Time:
			s, _ := formatDT(d, "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK", false, 0)
			writeString(b, s)
		case DateTimeOffset:
			_, off := d.Zone()
			s, _ := formatDT(d.Time, "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFzzz", true, off)
			writeString(b, s)
		}
	case JGuid:
		writeString(b, v.V.(Guid).String())
	case JTimeSpan:
		writeString(b, formatTimeSpan(v.V.(time.Duration), "c"))
	case JBytes:
		writeString(b, b64(v.V.([]byte)))
	default:
		writeString(b, b.f.str(v.V))
	}
}

// jfloatString is ToString() of a Float token's value: a double, a float or a
// decimal.
func jfloatString(v any) string {
	switch x := v.(type) {
	case float32:
		return formatSingle(x)
	case Decimal:
		return x.String()
	}
	return formatDouble(toF64(v))
}

// jsonFloat is JsonConvert.ToString(double) and ToString(float): round-trip
// digits ("R") with a decimal point ("1.0"), NaN and infinities as strings.
func jsonFloat(v any) string {
	if d, ok := v.(Decimal); ok {
		return jsonDecimal(d)
	}
	f := toF64(v)
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	}
	s := jfloatString(v)
	if !strings.ContainsAny(s, ".E") {
		s += ".0"
	}
	return s
}

// writeString writes a JSON string with Newtonsoft's default escaping: quotes,
// backslashes, control characters, U+0085, U+2028 and U+2029; other characters,
// including non-ASCII ones, are written as they are.
func writeString(b *sink, s string) {
	b.WriteByte('"')
	run := 0 // start of the characters written as they are
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		esc := ""
		switch r {
		case utf8.RuneError:
			if w == 1 {
				esc = "\uFFFD" // invalid UTF-8
			}
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		case '\b':
			esc = `\b`
		case '\f':
			esc = `\f`
		case 0x85, 0x2028, 0x2029:
			esc = fmt.Sprintf(`\u%04x`, r)
		default:
			if r < 0x20 {
				esc = fmt.Sprintf(`\u%04x`, r)
			}
		}
		if esc != "" {
			b.WriteString(s[run:i])
			b.WriteString(esc)
			run = i + w
		}
		i += w
	}
	b.WriteString(s[run:])
	b.WriteByte('"')
}

// ---- parsing ----

type jsonParser struct {
	f     *frame // charged for each token and escaped string; nil from Go
	s     string
	i     int
	depth int
}

// parseJSON parses s for an expression, charging f for the tokens it makes.
func parseJSON(f *frame, s string) (JToken, error) {
	f.work(len(s))
	p := &jsonParser{f: f, s: s}
	return p.parseRoot()
}

// JSONError is a JSON syntax error (Newtonsoft's JsonReaderException).
type JSONError struct {
	Msg  string
	Line int
	Pos  int
	Path string
}

// Error returns Newtonsoft's message with the path, line and position.
func (e *JSONError) Error() string {
	return fmt.Sprintf("%s Path '%s', line %d, position %d.", e.Msg, e.Path, e.Line, e.Pos)
}

func (p *jsonParser) fail(msg string) error {
	line, col := 1, 0
	for i := 0; i < p.i && i < len(p.s); i++ {
		if p.s[i] == '\n' {
			line++
			col = 0
		} else {
			col++
		}
	}
	return &JSONError{Msg: msg, Line: line, Pos: col}
}

const maxJSONDepth = 64

func (p *jsonParser) skip() error {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.i++
		case c == '/' && p.i+1 < len(p.s) && p.s[p.i+1] == '/':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == '/' && p.i+1 < len(p.s) && p.s[p.i+1] == '*':
			e := strings.Index(p.s[p.i+2:], "*/")
			if e < 0 {
				return p.fail("Unexpected end while parsing comment.")
			}
			p.i += e + 4
		case c == 0xEF && strings.HasPrefix(p.s[p.i:], "\uFEFF"):
			p.i += 3
		default:
			return nil
		}
	}
	return nil
}

func (p *jsonParser) parseRoot() (JToken, error) {
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.i >= len(p.s) {
		return nil, p.fail("Error reading JToken from JsonReader.")
	}
	t, err := p.value()
	if err != nil {
		return nil, err
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.i < len(p.s) {
		return nil, p.fail("Additional text encountered after finished reading JSON content: " + string(p.s[p.i]) + ".")
	}
	return t, nil
}

func (p *jsonParser) value() (JToken, error) {
	if err := p.skip(); err != nil {
		return nil, err
	}
	chargeToken(p.f)
	if p.i >= len(p.s) {
		return nil, p.fail("Unexpected end of content while loading JObject.")
	}
	c := p.s[p.i]
	switch {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"' || c == '\'':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if d, ok := parseJSONDate(s); ok {
			return &JValue{Kind: JDate, V: d}, nil
		}
		return &JValue{Kind: JString, V: s}, nil
	case c == '-' || c >= '0' && c <= '9' || c == '.':
		return p.number()
	}
	word := p.word()
	switch word {
	case "true":
		return &JValue{Kind: JBoolean, V: true}, nil
	case "false":
		return &JValue{Kind: JBoolean, V: false}, nil
	case "null":
		return &JValue{Kind: JNull}, nil
	case "undefined":
		return &JValue{Kind: JUndefined}, nil
	case "NaN":
		return &JValue{Kind: JFloat, V: math.NaN()}, nil
	case "Infinity":
		return &JValue{Kind: JFloat, V: math.Inf(1)}, nil
	}
	if word == "" {
		return nil, p.fail("Unexpected character encountered while parsing value: " + string(c) + ".")
	}
	return nil, p.fail("Unexpected character encountered while parsing value: " + word[:1] + ".")
}

func (p *jsonParser) word() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.fail(fmt.Sprintf("The reader's MaxDepth of %d has been exceeded.", maxJSONDepth))
	}
	return nil
}

func (p *jsonParser) object() (JToken, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++ // {
	o := &JObject{}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.fail("Unexpected end of content while loading JObject.")
		}
		if p.s[p.i] == '}' {
			p.i++
			return o, nil
		}
		var name string
		if c := p.s[p.i]; c == '"' || c == '\'' {
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			name = s
		} else {
			name = p.word()
			if name == "" {
				return nil, p.fail("Invalid property identifier character: " + string(c) + ".")
			}
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.fail("Invalid character after parsing property name. Expected ':'.")
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if existing := o.Property(name); existing != nil {
			existing.Value = v
			v.setParent(jcontainer{prop: existing})
		} else {
			chargeToken(p.f)
			prop := &JProperty{Name: name, Value: v}
			v.setParent(jcontainer{prop: prop})
			prop.parent = jcontainer{obj: o}
			o.appendProp(prop)
		}
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.fail("Unexpected end of content while loading JObject.")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
		default:
			return nil, p.fail("After parsing a value an unexpected character was encountered: " + string(p.s[p.i]) + ".")
		}
	}
}

func (p *jsonParser) array() (JToken, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++ // [
	a := &JArray{}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.fail("Unexpected end of content while loading JArray.")
		}
		if p.s[p.i] == ']' {
			p.i++
			return a, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		v.setParent(jcontainer{arr: a})
		a.Items = append(a.Items, v)
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.i >= len(p.s) {
			return nil, p.fail("Unexpected end of content while loading JArray.")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
		default:
			return nil, p.fail("After parsing a value an unexpected character was encountered: " + string(p.s[p.i]) + ".")
		}
	}
}

func (p *jsonParser) str() (string, error) {
	q := p.s[p.i]
	p.i++
	// the common case: no escapes, a substring of the input
	for j := p.i; j < len(p.s); j++ {
		c := p.s[j]
		if c == q {
			s := p.s[p.i:j]
			if utf8.ValidString(s) {
				p.i = j + 1
				return s, nil
			}
			break
		}
		if c == '\\' {
			break
		}
	}
	b := sink{f: p.f}
	for {
		if p.i >= len(p.s) {
			return "", p.fail("Unterminated string. Expected delimiter: " + string(q) + ".")
		}
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.fail("Unterminated string. Expected delimiter: " + string(q) + ".")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '/', '\\', '"', '\'':
				b.WriteByte(e)
			case 'u':
				r, ok := parseHexN(p.s, p.i, len(p.s), 4)
				if !ok {
					return "", p.fail("Invalid Unicode escape sequence.")
				}
				p.i += 4
				if r >= 0xD800 && r < 0xDC00 && strings.HasPrefix(p.s[p.i:], "\\u") {
					if r2, ok := parseHexN(p.s, p.i+2, len(p.s), 4); ok && r2 >= 0xDC00 && r2 < 0xE000 {
						r = utf16.DecodeRune(r, r2)
						p.i += 6
					}
				}
				b.WriteRune(r)
			default:
				return "", p.fail("Bad JSON escape sequence: \\" + string(e) + ".")
			}
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			b.WriteRune(r)
			p.i += n
		}
	}
}

func (p *jsonParser) number() (JToken, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' || c == 'x' || c == 'X' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			p.i++
			continue
		}
		break
	}
	text := p.s[start:p.i]
	if text == "-" && strings.HasPrefix(p.s[p.i:], "Infinity") {
		p.i += len("Infinity")
		return &JValue{Kind: JFloat, V: math.Inf(-1)}, nil
	}
	if !strings.ContainsAny(text, ".eE") {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			return &JValue{Kind: JInteger, V: v}, nil
		}
		// converting decimal digits to a big integer takes quadratic time
		p.f.alloc(len(text))
		p.f.work(len(text) * len(text) / 64)
		if bi, ok := new(big.Int).SetString(text, 10); ok {
			return &JValue{Kind: JInteger, V: bi}, nil
		}
		if strings.HasPrefix(text, "0x") || strings.HasPrefix(text, "0X") {
			if v, err := strconv.ParseInt(text[2:], 16, 64); err == nil {
				return &JValue{Kind: JInteger, V: v}, nil
			}
		}
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, p.fail("Input string '" + text + "' is not a valid number.")
	}
	return &JValue{Kind: JFloat, V: v}, nil
}

// parseJSONDate recognises the ISO 8601 strings Newtonsoft turns into Date values:
// yyyy-MM-ddTHH:mm:ss[.fffffff][Z|±HH:mm]. Z gives a UTC DateTime, an offset a
// local one (converted), no zone an unspecified one.
func parseJSONDate(s string) (time.Time, bool) {
	if len(s) < 19 || len(s) > 40 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	digits := func(a, b int) (int, bool) {
		v := 0
		for i := a; i < b; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + int(s[i]-'0')
		}
		return v, true
	}
	y, ok1 := digits(0, 4)
	mo, ok2 := digits(5, 7)
	d, ok3 := digits(8, 10)
	h, ok4 := digits(11, 13)
	mi, ok5 := digits(14, 16)
	sec, ok6 := digits(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 || y < 1 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' && j-i <= 7 {
			j++
		}
		if j == i+1 {
			return time.Time{}, false
		}
		frac, _ := digits(i+1, j)
		for k := j - i - 1; k < 9; k++ {
			frac *= 10
		}
		ns, i = frac, j
	}
	base := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	switch {
	case i == len(s):
		return withKind(base, 0), true
	case s[i] == 'Z' && i+1 == len(s):
		return base, true
	case (s[i] == '+' || s[i] == '-') && (len(s)-i == 6 && s[i+3] == ':' || len(s)-i == 5 || len(s)-i == 3):
		oh, ok := digits(i+1, i+3)
		om := 0
		if len(s)-i == 6 {
			om, _ = digits(i+4, i+6)
		} else if len(s)-i == 5 {
			om, _ = digits(i+3, i+5)
		}
		if !ok || oh > 14 || om > 59 {
			return time.Time{}, false
		}
		off := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
		if s[i] == '+' {
			off = -off
		}
		return withKind(base.Add(off), 2), true
	}
	return time.Time{}, false
}

// ---- JSONPath (SelectToken) ----

type pathSeg struct {
	name     string
	index    int
	kind     byte // 'n' name, 'i' index, '*' wildcard, 'r' recursive name, 'f' filter
	filter   *pathFilter
	recurseW bool
}

type pathFilter struct {
	path  []pathSeg
	op    string
	value any // string, float64, bool, nil, or no value for an existence test
	has   bool
}

func parsePath(path string) ([]pathSeg, string) {
	var segs []pathSeg
	i := 0
	n := len(path)
	if i < n && path[i] == '$' {
		i++
	}
	readName := func() string {
		start := i
		for i < n && path[i] != '.' && path[i] != '[' && path[i] != ']' && path[i] != ' ' && path[i] != '(' && path[i] != ')' && path[i] != '=' && path[i] != '!' && path[i] != '<' && path[i] != '>' {
			i++
		}
		return path[start:i]
	}
	first := true
	for i < n {
		switch path[i] {
		case '.':
			i++
			if i < n && path[i] == '.' {
				i++
				if i < n && path[i] == '*' {
					i++
					segs = append(segs, pathSeg{kind: 'r', recurseW: true})
					continue
				}
				if i < n && path[i] == '[' {
					segs = append(segs, pathSeg{kind: 'r', recurseW: true})
					continue
				}
				segs = append(segs, pathSeg{kind: 'r', name: readName()})
				continue
			}
			if i < n && path[i] == '*' {
				i++
				segs = append(segs, pathSeg{kind: '*'})
				continue
			}
			name := readName()
			if name == "" {
				return nil, "Unexpected character while parsing path"
			}
			segs = append(segs, pathSeg{kind: 'n', name: name})
		case '[':
			i++
			for i < n && path[i] == ' ' {
				i++
			}
			if i >= n {
				return nil, "Path ended with open indexer"
			}
			switch c := path[i]; {
			case c == '\'' || c == '"':
				j := i + 1
				var b strings.Builder
				for j < n && path[j] != c {
					if path[j] == '\\' && j+1 < n {
						j++
					}
					b.WriteByte(path[j])
					j++
				}
				if j >= n {
					return nil, "Path ended with an open string"
				}
				i = j + 1
				segs = append(segs, pathSeg{kind: 'n', name: b.String()})
			case c == '*':
				i++
				segs = append(segs, pathSeg{kind: '*'})
			case c == '?':
				j := strings.LastIndex(path[i:], ")]")
				if j < 0 || i+1 >= n || path[i+1] != '(' {
					return nil, "Unexpected character while parsing path indexer"
				}
				expr := path[i+2 : i+j]
				fl, err := parseFilter(expr)
				if err != "" {
					return nil, err
				}
				segs = append(segs, pathSeg{kind: 'f', filter: fl})
				i += j + 1
			default:
				j := i
				for j < n && (path[j] >= '0' && path[j] <= '9' || path[j] == '-') {
					j++
				}
				v, err := strconv.Atoi(path[i:j])
				if err != nil {
					return nil, "Unexpected character while parsing path indexer: " + string(c)
				}
				i = j
				segs = append(segs, pathSeg{kind: 'i', index: v})
			}
			for i < n && path[i] == ' ' {
				i++
			}
			if i >= n || path[i] != ']' {
				return nil, "Unexpected character while parsing path indexer"
			}
			i++
		default:
			if !first {
				return nil, "Unexpected character while parsing path: " + string(path[i])
			}
			name := readName()
			if name == "" {
				return nil, "Unexpected character while parsing path: " + string(path[i])
			}
			segs = append(segs, pathSeg{kind: 'n', name: name})
		}
		first = false
	}
	return segs, ""
}

func parseFilter(expr string) (*pathFilter, string) {
	expr = strings.TrimSpace(expr)
	if !strings.HasPrefix(expr, "@") {
		return nil, "Unsupported filter: " + expr
	}
	ops := []string{"==", "!=", "<=", ">=", "<", ">"}
	for _, op := range ops {
		if k := strings.Index(expr, op); k > 0 {
			left, right := strings.TrimSpace(expr[1:k]), strings.TrimSpace(expr[k+len(op):])
			segs, err := parsePath(left)
			if err != "" {
				return nil, err
			}
			fl := &pathFilter{path: segs, op: op, has: true}
			switch {
			case len(right) >= 2 && (right[0] == '\'' && right[len(right)-1] == '\'' || right[0] == '"' && right[len(right)-1] == '"'):
				fl.value = right[1 : len(right)-1]
			case right == "true", right == "false":
				fl.value = right == "true"
			case right == "null":
				fl.value = nil
			default:
				v, err := strconv.ParseFloat(right, 64)
				if err != nil {
					return nil, "Unsupported filter value: " + right
				}
				fl.value = v
			}
			return fl, ""
		}
	}
	segs, err := parsePath(expr[1:])
	if err != "" {
		return nil, err
	}
	return &pathFilter{path: segs}, ""
}

// selectTokens evaluates a path; it returns the matches in document order.
func selectTokens(f *frame, root JToken, segs []pathSeg) []JToken {
	cur := []JToken{root}
	for _, sg := range segs {
		var next []JToken
		add := func(ts ...JToken) {
			f.allocN(len(ts), 2*slotBytes)
			next = append(next, ts...)
		}
		for _, t := range cur {
			f.stepN(1)
			switch sg.kind {
			case 'n':
				if o, ok := t.(*JObject); ok {
					if v := o.Get(sg.name); v != nil {
						add(v)
					}
				}
			case 'i':
				if a, ok := t.(*JArray); ok {
					idx := sg.index
					if idx < 0 {
						idx += len(a.Items)
					}
					if idx >= 0 && idx < len(a.Items) {
						add(a.Items[idx])
					}
				}
			case '*':
				add(children(t)...)
			case 'r':
				for _, d := range descendantsAndSelf(f, t, nil) {
					if sg.recurseW {
						if d != t {
							add(d)
						}
						continue
					}
					if o, ok := d.(*JObject); ok {
						if v := o.Get(sg.name); v != nil {
							add(v)
						}
					}
				}
			case 'f':
				for _, c := range children(t) {
					if filterMatch(f, c, sg.filter) {
						add(c)
					}
				}
			}
		}
		cur = next
	}
	return cur
}

func filterMatch(f *frame, t JToken, fl *pathFilter) bool {
	vals := selectTokens(f, t, fl.path)
	if !fl.has {
		return len(vals) > 0
	}
	for _, v := range vals {
		jv, ok := v.(*JValue)
		if !ok {
			continue
		}
		var cmp int
		okc := true
		switch w := fl.value.(type) {
		case string:
			s, isS := jv.V.(string)
			if !isS {
				okc = false
				break
			}
			cmp = strings.Compare(s, w)
		case float64:
			if jv.Kind != JInteger && jv.Kind != JFloat {
				okc = false
				break
			}
			x := toF64(jv.V)
			switch {
			case x < w:
				cmp = -1
			case x > w:
				cmp = 1
			}
		case bool:
			b, isB := jv.V.(bool)
			if !isB {
				okc = false
				break
			}
			if b != w {
				cmp = 1
			}
		case nil:
			if jv.Kind != JNull {
				cmp = 1
			}
		}
		if !okc {
			if fl.op == "!=" {
				return true
			}
			continue
		}
		switch fl.op {
		case "==":
			if cmp == 0 {
				return true
			}
		case "!=":
			if cmp != 0 {
				return true
			}
		case "<":
			if cmp < 0 {
				return true
			}
		case "<=":
			if cmp <= 0 {
				return true
			}
		case ">":
			if cmp > 0 {
				return true
			}
		case ">=":
			if cmp >= 0 {
				return true
			}
		}
	}
	return false
}

// children returns the child tokens: property values for objects (as JToken's
// indexer-free enumeration does, the JProperty tokens), items for arrays.
func children(t JToken) []JToken {
	switch x := t.(type) {
	case *JObject:
		out := make([]JToken, len(x.props))
		for i, p := range x.props {
			out[i] = p.Value
		}
		return out
	case *JArray:
		return x.Items
	case *JProperty:
		return []JToken{x.Value}
	}
	return nil
}

// descendantsAndSelf appends t and its descendants, in document order, to out.
func descendantsAndSelf(f *frame, t JToken, out []JToken) []JToken {
	f.alloc(2 * slotBytes)
	f.tick()
	out = append(out, t)
	for _, c := range children(t) {
		out = descendantsAndSelf(f, c, out)
	}
	return out
}

// tokenPath is JToken.Path. It looks for each array item in its array.
func tokenPath(f *frame, t JToken) string {
	var parts []string
	for cur := t; cur != nil; {
		p := cur.parentRef()
		if p == nil {
			break
		}
		switch {
		case p.prop != nil:
			parts = append(parts, pathName(p.prop.Name))
			cur = p.prop
			if pp := p.prop.parent; pp.obj != nil {
				cur = pp.obj
			} else {
				cur = nil
			}
		case p.arr != nil:
			f.elems(len(p.arr.Items))
			for i, it := range p.arr.Items {
				if it == cur {
					parts = append(parts, "["+strconv.Itoa(i)+"]")
				}
			}
			cur = p.arr
		case p.obj != nil:
			if prop, ok := cur.(*JProperty); ok {
				parts = append(parts, pathName(prop.Name))
			}
			cur = p.obj
		default:
			cur = nil
		}
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		s := parts[i]
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func pathName(n string) string {
	if n == "" || strings.ContainsAny(n, ".[]' ") {
		return "['" + n + "']"
	}
	return n
}

// ---- conversions from JToken ----

// jtokenConvert is the explicit conversion (T)token. nullable is set for
// reference and nullable targets, which accept a null token. A failure is the
// exception Newtonsoft's operator throws: ArgumentNullException for a missing
// token, ArgumentException ("Can not convert Object to Int32.") for a token of
// the wrong type or a JSON null, and whatever the conversion of the value
// throws (Convert.ToInt32's FormatException and OverflowException, ...).
func jtokenConvert(v any, to *Type, nullable bool) (any, *exception) {
	t, _ := v.(JToken)
	if t == nil {
		if nullable {
			return nil, nil
		}
		return nil, &exception{typ: "ArgumentNullException", msg: "Value cannot be null. (Parameter 'value')", pos: -1}
	}
	if p, ok := t.(*JProperty); ok && p.Value != nil {
		t = p.Value // Newtonsoft's EnsureValue converts a property's value
	}
	jv, ok := t.(*JValue)
	if !ok {
		return nil, cannotConvert(t.Type().String(), to)
	}
	if jv.Kind == JNull || jv.Kind == JUndefined {
		if nullable {
			return nil, nil
		}
		return nil, cannotConvert("Null", to)
	}
	return convertJValue(jv, underlying(to))
}

// cannotConvert is the ArgumentException of Newtonsoft's explicit operators.
func cannotConvert(kind string, to *Type) *exception {
	return &exception{typ: "ArgumentException", msg: "Can not convert " + kind + " to " + clrShort(to) + ".", pos: -1}
}

// clrShort is the type name in Newtonsoft's "Can not convert" messages: Int32
// for int and int? alike.
func clrShort(t *Type) string {
	return strings.TrimPrefix(clrName(underlying(t)), "System.")
}

func convertJValue(jv *JValue, u *Type) (res any, exc *exception) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(*exception); ok {
				res, exc = nil, &exception{typ: e.typ, msg: e.msg, pos: -1}
				return
			}
			panic(r)
		}
	}()
	bad := func() (any, *exception) {
		return nil, cannotConvert(jv.Kind.String(), u)
	}
	overflow := func() (any, *exception) {
		return nil, &exception{typ: "OverflowException", msg: overflowMsg(clrName(u)), pos: -1}
	}
	format := func(msg string) (any, *exception) {
		return nil, &exception{typ: "FormatException", msg: msg, pos: -1}
	}
	switch {
	case u == tString:
		switch jv.Kind {
		case JBytes:
			return b64(jv.V.([]byte)), nil
		case JString, JUri, JRaw:
			return jv.V, nil
		case JFloat:
			return jfloatString(jv.V), nil
		case JDate:
			return jvalueString(jv), nil
		}
		return jvalueString(jv), nil
	case u == tBool:
		switch jv.Kind {
		case JBoolean:
			return jv.V, nil
		case JInteger, JFloat:
			return toF64(jv.V) != 0, nil
		case JString:
			return convertToBool(jv.V), nil
		}
		return bad()
	case u.num == nkDecimal:
		// Newtonsoft's operator: (decimal)BigInteger, else Convert.ToDecimal of
		// the value (a double keeps 15 significant digits, a string has no
		// exponent)
		switch jv.Kind {
		case JInteger:
			if bi, ok := jv.V.(*big.Int); ok {
				d, ok := decFromBig(new(big.Int).Abs(bi), 0, bi.Sign() < 0)
				if !ok {
					return overflow()
				}
				return d, nil
			}
			return decFromInt64(jv.V.(int64)), nil
		case JFloat, JString, JBoolean:
			return convertToDecimal(jv.V), nil
		}
		return bad()
	case u.isNumeric():
		var f float64
		switch jv.Kind {
		case JInteger:
			if bi, ok := jv.V.(*big.Int); ok {
				f, _ = new(big.Float).SetInt(bi).Float64()
				if u.num == nkULong && bi.IsUint64() {
					return boxedNum(u, int64(bi.Uint64())), nil
				}
				if u.isIntegral() {
					return overflow() // (long)BigInteger throws OverflowException
				}
			} else if u.isIntegral() {
				lo, hi := intRange(u.num)
				x := jv.V.(int64)
				if u.num == nkULong && x < 0 || u.num != nkULong && u.num != nkLong && (float64(x) < lo || float64(x) > hi) {
					return overflow()
				}
				return boxedNum(u, x), nil
			} else {
				f = float64(jv.V.(int64))
			}
		case JFloat:
			f = toF64(jv.V)
		case JString:
			if u.isIntegral() {
				lo, hi := intRange(u.num)
				return boxedNum(u, convertToInt64(jv.V, lo, hi, clrName(u))), nil
			}
			f = convertToDouble(jv.V)
		case JBoolean:
			if jv.V.(bool) {
				f = 1
			}
		default:
			return bad()
		}
		if u.isIntegral() {
			lo, hi := intRange(u.num)
			r := math.RoundToEven(f)
			if math.IsNaN(r) || r < lo || r > hi {
				return overflow()
			}
			return boxedNum(u, int64(r)), nil
		}
		if u.num == nkFloat {
			return float32(f), nil
		}
		return f, nil
	}
	switch defName(u) {
	case "DateTime":
		switch d := jv.V.(type) {
		case time.Time:
			return d, nil
		case DateTimeOffset:
			return withKind(d.UTC(), 2), nil
		case string:
			t, err := parseDateTime(d, false)
			if err != "" {
				return format("String was not recognized as a valid DateTime.")
			}
			return t, nil
		}
	case "DateTimeOffset":
		switch d := jv.V.(type) {
		case time.Time:
			return dtoFromDateTime(d), nil
		case DateTimeOffset:
			return d, nil
		case string:
			t, err := parseDateTime(d, true)
			if err != "" {
				return format("String was not recognized as a valid DateTime.")
			}
			return DateTimeOffset{t}, nil
		}
	case "Guid":
		switch d := jv.V.(type) {
		case Guid:
			return d, nil
		case string:
			g, err := parseGuid(d, "")
			if err != "" {
				return format(err)
			}
			return g, nil
		}
	case "TimeSpan":
		switch d := jv.V.(type) {
		case time.Duration:
			return d, nil
		case string:
			t, ok := parseTimeSpan(d)
			if !ok {
				return format("String was not recognized as a valid TimeSpan.")
			}
			return t, nil
		}
	case "Uri":
		if s, ok := jv.V.(string); ok {
			return newUri(s), nil
		}
	}
	if u.kind == tkArray && u.elem == tByte {
		switch d := jv.V.(type) {
		case []byte:
			return d, nil
		case string:
			return fromBase64(d), nil
		}
	}
	return bad()
}

// ---- FromObject and serialisation of Go values ----

// fromObject is JToken.FromObject: it serialises a value to a token.
func fromObject(f *frame, v any) JToken {
	chargeToken(f)
	switch x := v.(type) {
	case JToken:
		return x.clone(f)
	case nil:
		return &JValue{Kind: JNull}
	case *Dict:
		o := &JObject{}
		for i, k := range x.keys {
			o.set(f, f.str(k), fromObject(f, x.vals[i]))
		}
		return o
	case *Anon:
		o := &JObject{}
		for i, n := range x.Names {
			o.set(f, n, fromObject(f, x.Vals[i]))
		}
		return o
	case KeyValuePair:
		o := &JObject{}
		o.set(f, "Key", fromObject(f, x.Key))
		o.set(f, "Value", fromObject(f, x.Value))
		return o
	case map[string]string:
		o := &JObject{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			o.set(f, k, &JValue{Kind: JString, V: x[k]})
		}
		return o
	case map[string]any:
		o := &JObject{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			o.set(f, k, fromObject(f, x[k]))
		}
		return o
	case *Jwt:
		o := &JObject{}
		for _, k := range x.order {
			vals := x.Claims[k]
			if len(vals) == 1 {
				o.set(f, k, &JValue{Kind: JString, V: vals[0]})
			} else {
				o.set(f, k, fromObject(f, vals))
			}
		}
		return o
	case *url.URL:
		return &JValue{Kind: JString, V: x.String()}
	case []byte:
		return &JValue{Kind: JBytes, V: x}
	case string:
		return &JValue{Kind: JString, V: x}
	}
	if j := jvalueOf(v); j != nil {
		return j
	}
	if isIterable(v) {
		a := &JArray{}
		iterate(f, v, func(e any) bool {
			a.add(f, fromObject(f, e))
			return true
		})
		return a
	}
	throw("JsonSerializationException", "cannot serialise a value of type %s to JSON", dotnetTypeName(v))
	return nil
}

func b64(b []byte) string { return base64Std(b) }
