package policies

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
)

// A cached value is stored as a small typed JSON envelope, {"t":"int","v":42},
// so that it comes back with the type the expression language gave it:
// (int)context.Variables["n"] works on a looked-up int, (JObject) on a JObject.
// Every lookup decodes a fresh value, so requests never share a mutable object
// (a JObject, a List) through the cache, whichever cache holds it.
//
// The tags are the C# type names. Scalars keep their exact value: floats are
// written as text so that NaN and infinities survive, strings that are not
// valid UTF-8 as base64, DateTime with its Kind and offset. JSON tokens keep
// their JSON text and are parsed again, as Newtonsoft would read them back.
// A null is {"t":"null"}. The writer always puts "t" first, and the reader
// expects exactly that form (splitEnvelope).

// maxEnvelopeDepth bounds nested arrays and lists.
const maxEnvelopeDepth = 32

// encodeCachedValue writes v in its envelope, or says why it cannot be cached.
func encodeCachedValue(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > maxEnvelopeDepth {
		return fmt.Errorf("the value nests more than %d arrays deep", maxEnvelopeDepth)
	}
	tag, err := valueTag(v)
	if err != nil {
		return err
	}
	b.WriteString(`{"t":`)
	writeJSONString(b, tag)
	if v == nil {
		b.WriteByte('}')
		return nil
	}
	b.WriteString(`,"v":`)
	if err := encodePayload(b, v, depth); err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

// valueTag names v's type, or says that it cannot be cached.
func valueTag(v any) (string, error) {
	switch v.(type) {
	case nil:
		return "null", nil
	case string:
		return "string", nil
	case bool:
		return "bool", nil
	case int32:
		return "int", nil
	case int64:
		return "long", nil
	case int:
		return "goint", nil
	case int16:
		return "short", nil
	case uint16:
		return "ushort", nil
	case uint32:
		return "uint", nil
	case uint64:
		return "ulong", nil
	case uint8:
		return "byte", nil
	case int8:
		return "sbyte", nil
	case float64:
		return "double", nil
	case float32:
		return "float", nil
	case expr.Decimal:
		return "decimal", nil
	case expr.Char:
		return "char", nil
	case time.Time:
		return "DateTime", nil
	case expr.DateTimeOffset:
		return "DateTimeOffset", nil
	case time.Duration:
		return "TimeSpan", nil
	case expr.Guid:
		return "Guid", nil
	case []byte:
		return "byte[]", nil
	case []string:
		return "string[]", nil
	case []int32:
		return "int[]", nil
	case []int64:
		return "long[]", nil
	case []float64:
		return "double[]", nil
	case []bool:
		return "bool[]", nil
	case []any:
		return "object[]", nil
	case *expr.List:
		return "List", nil
	case *expr.JObject:
		return "JObject", nil
	case *expr.JArray:
		return "JArray", nil
	case *expr.JValue:
		return "JValue", nil
	case *expr.Jwt:
		return "Jwt", nil
	}
	return "", uncacheable(v)
}

// uncacheable explains why v cannot be cached and what to cache instead.
func uncacheable(v any) error {
	switch v.(type) {
	case *exchange.Response:
		return errors.New(`a value of type IResponse cannot be cached; cache what you need from it, such as its body: ((IResponse)context.Variables["name"]).Body.As<string>()`)
	case *exchange.Request:
		return errors.New("a value of type IRequest cannot be cached; cache what you need from it, such as a header or its body as a string")
	case *expr.JProperty:
		return errors.New("a value of type JProperty cannot be cached; cache the JObject that holds it, or its Value")
	case *expr.Dict:
		return errors.New("a value of type Dictionary cannot be cached; cache it as a JObject or a string")
	}
	name := fmt.Sprintf("%T", v)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return fmt.Errorf("a value of type %s cannot be cached; cache a string, a number, a bool, a DateTime, a TimeSpan, a Guid, an array, a List or a JSON token (JObject, JArray, JValue) instead", name)
}

func encodePayload(b *bytes.Buffer, v any, depth int) error {
	switch x := v.(type) {
	case string:
		writeString(b, x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int16:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case uint16:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case uint8:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case int8:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case float64:
		writeJSONString(b, strconv.FormatFloat(x, 'g', -1, 64))
	case float32:
		writeJSONString(b, strconv.FormatFloat(float64(x), 'g', -1, 32))
	case expr.Decimal:
		writeJSONString(b, x.String()) // with its scale: 1.10 stays 1.10
	case expr.Char:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case time.Time:
		kind := "unspecified"
		switch loc := x.Location(); {
		case loc == time.UTC || loc.String() == "UTC":
			kind = "utc"
		case loc == exprLocal():
			kind = "local"
		}
		// The instant in UTC and the offset apart: RFC 3339 has no room for an
		// offset with seconds.
		_, off := x.Zone()
		fmt.Fprintf(b, `{"k":%q,"t":%q,"o":%d}`, kind, x.UTC().Format(time.RFC3339Nano), off)
	case expr.DateTimeOffset:
		_, off := x.Zone()
		fmt.Fprintf(b, `{"t":%q,"o":%d}`, x.UTC().Format(time.RFC3339Nano), off)
	case time.Duration:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case expr.Guid:
		writeJSONString(b, hex.EncodeToString(x[:]))
	case []byte:
		writeJSONString(b, base64.StdEncoding.EncodeToString(x))
	case []string:
		writeArray(b, len(x), func(i int) { writeString(b, x[i]) })
	case []int32:
		writeArray(b, len(x), func(i int) { b.WriteString(strconv.FormatInt(int64(x[i]), 10)) })
	case []int64:
		writeArray(b, len(x), func(i int) { b.WriteString(strconv.FormatInt(x[i], 10)) })
	case []float64:
		writeArray(b, len(x), func(i int) { writeJSONString(b, strconv.FormatFloat(x[i], 'g', -1, 64)) })
	case []bool:
		writeArray(b, len(x), func(i int) { b.WriteString(strconv.FormatBool(x[i])) })
	case []any:
		return encodeItems(b, x, depth)
	case *expr.List:
		return encodeItems(b, x.Items, depth)
	case *expr.JObject:
		writeString(b, x.JSON(false))
	case *expr.JArray:
		writeString(b, x.JSON(false))
	case *expr.JValue:
		writeString(b, x.JSON(false))
	case *expr.Jwt:
		writeString(b, x.Raw)
	}
	return nil
}

func encodeItems(b *bytes.Buffer, items []any, depth int) error {
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encodeValue(b, it, depth+1); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	b.WriteByte(']')
	return nil
}

func writeArray(b *bytes.Buffer, n int, item func(int)) {
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		item(i)
	}
	b.WriteByte(']')
}

// writeString writes a JSON string, or {"b64":"..."} for text that is not
// valid UTF-8, which a JSON string cannot hold exactly.
func writeString(b *bytes.Buffer, s string) {
	if utf8.ValidString(s) {
		writeJSONString(b, s)
		return
	}
	b.WriteString(`{"b64":`)
	writeJSONString(b, base64.StdEncoding.EncodeToString([]byte(s)))
	b.WriteByte('}')
}

func writeJSONString(b *bytes.Buffer, s string) {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c != '"' && c != '\\' && c >= 0x20 && c < utf8.RuneSelf
	}
	if plain { // as tokens are: no escapes needed
		b.Grow(len(s) + 2)
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	data, _ := json.Marshal(s) // a string always marshals
	b.Write(data)
}

// exprLocal is the location the expression language gives DateTimes of Kind
// Local (DateTime.Now), so that a cached one comes back as Local.
var exprLocal = sync.OnceValue(func() *time.Location {
	p, err := expr.Compile("@(DateTime.Now)")
	if err == nil {
		if v, err := p.Eval(&exchange.Exchange{}); err == nil {
			if t, ok := v.(time.Time); ok {
				return t.Location()
			}
		}
	}
	return time.FixedZone("Local", 0) // what docs/expressions.md documents
})

// decodeCachedValue reads a value written by encodeCachedValue.
func decodeCachedValue(data []byte) (any, error) {
	return decodeValue(data, 0)
}

func decodeValue(data []byte, depth int) (any, error) {
	if depth > maxEnvelopeDepth {
		return nil, errors.New("nested too deep")
	}
	tag, payload, err := splitEnvelope(data)
	if err != nil {
		return nil, err
	}
	if tag == "null" {
		if payload != nil {
			return nil, errors.New("cached null with a value")
		}
		return nil, nil
	}
	if payload == nil {
		return nil, fmt.Errorf("cached %s without a value", tag)
	}
	v, err := decodePayload(tag, payload, depth)
	if err != nil {
		return nil, fmt.Errorf("cached %s: %w", tag, err)
	}
	return v, nil
}

// splitEnvelope reads {"t":"tag"} or {"t":"tag","v":payload} in exactly the
// form encodeValue writes, without a JSON pass over the payload: a lookup of a
// long token then costs one copy, not two scans. payload is nil when absent.
func splitEnvelope(data []byte) (tag string, payload json.RawMessage, err error) {
	const head = `{"t":"`
	rest, ok := bytes.CutPrefix(data, []byte(head))
	if !ok || len(rest) == 0 || rest[len(rest)-1] != '}' {
		return "", nil, errors.New("not a cached value")
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", nil, errors.New("not a cached value")
	}
	tag, rest = string(rest[:end]), rest[end+1:]
	if len(rest) == 1 {
		return tag, nil, nil
	}
	body, ok := bytes.CutPrefix(rest[:len(rest)-1], []byte(`,"v":`))
	if !ok || len(body) == 0 {
		return "", nil, errors.New("not a cached value")
	}
	return tag, body, nil
}

func decodePayload(tag string, raw json.RawMessage, depth int) (any, error) {
	switch tag {
	case "string":
		return readString(raw)
	case "bool":
		var v bool
		err := json.Unmarshal(raw, &v)
		return v, err
	case "int":
		n, err := strconv.ParseInt(string(raw), 10, 32)
		return int32(n), err
	case "long":
		return strconv.ParseInt(string(raw), 10, 64)
	case "goint":
		n, err := strconv.ParseInt(string(raw), 10, strconv.IntSize)
		return int(n), err
	case "short":
		n, err := strconv.ParseInt(string(raw), 10, 16)
		return int16(n), err
	case "ushort":
		n, err := strconv.ParseUint(string(raw), 10, 16)
		return uint16(n), err
	case "uint":
		n, err := strconv.ParseUint(string(raw), 10, 32)
		return uint32(n), err
	case "ulong":
		return strconv.ParseUint(string(raw), 10, 64)
	case "byte":
		n, err := strconv.ParseUint(string(raw), 10, 8)
		return uint8(n), err
	case "sbyte":
		n, err := strconv.ParseInt(string(raw), 10, 8)
		return int8(n), err
	case "char":
		n, err := strconv.ParseUint(string(raw), 10, 16)
		return expr.Char(n), err
	case "double":
		return readFloat(raw, 64)
	case "float":
		f, err := readFloat(raw, 32)
		return float32(f), err
	case "decimal":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		d, ok := expr.ParseDecimal(s)
		if !ok {
			return nil, fmt.Errorf("bad decimal %q", s)
		}
		return d, nil
	case "DateTime":
		var d struct {
			K, T string
			O    int
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, d.T)
		if err != nil {
			return nil, err
		}
		switch d.K {
		case "utc":
			return t.In(time.UTC), nil
		case "local":
			return t.In(exprLocal()), nil
		case "unspecified":
			return t.In(time.FixedZone("", d.O)), nil
		}
		return nil, fmt.Errorf("unknown DateTime kind %q", d.K)
	case "DateTimeOffset":
		var d struct {
			T string
			O int
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, d.T)
		if err != nil {
			return nil, err
		}
		return expr.DateTimeOffset{Time: t.In(time.FixedZone("", d.O))}, nil
	case "TimeSpan":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return time.Duration(n), err
	case "Guid":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		var g expr.Guid
		if n, err := hex.Decode(g[:], []byte(s)); err != nil || n != len(g) || len(s) != 2*len(g) {
			return nil, errors.New("not a Guid")
		}
		return g, nil
	case "byte[]":
		var v []byte
		err := json.Unmarshal(raw, &v)
		if v == nil && err == nil {
			v = []byte{}
		}
		return v, err
	case "string[]":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]string, len(items))
		for i, it := range items {
			s, err := readString(it)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case "int[]":
		return readArray(raw, func(s string) (int32, error) {
			n, err := strconv.ParseInt(s, 10, 32)
			return int32(n), err
		})
	case "long[]":
		return readArray(raw, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
	case "double[]":
		return readArray(raw, func(s string) (float64, error) { return readFloat(json.RawMessage(s), 64) })
	case "bool[]":
		return readArray(raw, strconv.ParseBool)
	case "object[]":
		return decodeItems(raw, depth)
	case "List":
		items, err := decodeItems(raw, depth)
		if err != nil {
			return nil, err
		}
		return &expr.List{Items: items}, nil
	case "JObject", "JArray", "JValue":
		s, err := readString(raw)
		if err != nil {
			return nil, err
		}
		tok, err := expr.ParseJToken(s)
		if err != nil {
			return nil, err
		}
		ok := false
		switch tok.(type) {
		case *expr.JObject:
			ok = tag == "JObject"
		case *expr.JArray:
			ok = tag == "JArray"
		case *expr.JValue:
			ok = tag == "JValue"
		}
		if !ok {
			return nil, errors.New("the JSON is another kind of token")
		}
		return tok, nil
	case "Jwt":
		s, err := readString(raw)
		if err != nil {
			return nil, err
		}
		return expr.ParseJwt(s)
	}
	return nil, errors.New("unknown type")
}

func readString(raw json.RawMessage) (string, error) {
	if plainJSONString(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	if len(raw) > 0 && raw[0] == '{' {
		var w struct{ B64 string }
		if err := json.Unmarshal(raw, &w); err != nil {
			return "", err
		}
		p, err := base64.StdEncoding.DecodeString(w.B64)
		return string(p), err
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// plainJSONString reports whether raw is a JSON string without escapes, whose
// text between the quotes is the string itself (as for a token).
func plainJSONString(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func readFloat(raw json.RawMessage, bits int) (float64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, bits)
}

func readArray[T any](raw json.RawMessage, parse func(string) (T, error)) ([]T, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, it := range items {
		v, err := parse(string(it))
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func decodeItems(raw json.RawMessage, depth int) ([]any, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, it := range items {
		v, err := decodeValue(it, depth+1)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}
