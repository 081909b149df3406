package policies

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
)

func mustJToken(t testing.TB, s string) expr.JToken {
	tok, err := expr.ParseJToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// envelopeValues are Go values of every type the cache keeps, with their edge
// cases.
func envelopeValues(t testing.TB) map[string]any {
	jwt, err := expr.ParseJwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0.")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"nil":                  nil,
		"empty string":         "",
		"string":               `quotes " \ and lines` + "\n\t",
		"unicode":              "héllo 😀",
		"token":                strings.Repeat("eyJ0eXAiOiJKV1Qi.", 70),
		"invalid UTF-8":        "a\xff\xfeb",
		"true":                 true,
		"false":                false,
		"int min":              int32(math.MinInt32),
		"int max":              int32(math.MaxInt32),
		"long min":             int64(math.MinInt64),
		"long max":             int64(math.MaxInt64),
		"Go int":               int(-7),
		"short":                int16(math.MinInt16),
		"ushort":               uint16(math.MaxUint16),
		"uint":                 uint32(math.MaxUint32),
		"ulong":                uint64(math.MaxUint64),
		"byte":                 uint8(255),
		"sbyte":                int8(-128),
		"double":               0.1,
		"negative zero":        math.Copysign(0, -1),
		"+Inf":                 math.Inf(1),
		"-Inf":                 math.Inf(-1),
		"NaN":                  math.NaN(),
		"smallest double":      5e-324,
		"float":                float32(1.1),
		"decimal":              expr.NewDecimal(-110, 2),
		"char":                 expr.Char('x'),
		"lone surrogate":       expr.Char(0xD800),
		"DateTime Utc":         time.Date(2024, 2, 29, 23, 59, 59, 123456700, time.UTC),
		"DateTime Local":       time.Date(2024, 1, 1, 0, 0, 0, 0, exprLocal()),
		"DateTime Unspecified": time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 0)),
		"DateTime odd offset":  time.Date(2024, 6, 1, 12, 0, 0, 0, time.FixedZone("", 3600+30)),
		"DateTime max":         time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.FixedZone("", 0)),
		"DateTimeOffset":       expr.DateTimeOffset{Time: time.Date(2024, 1, 2, 3, 4, 5, 500, time.FixedZone("", -(9*3600+30*60)))},
		"TimeSpan":             time.Duration(-1),
		"TimeSpan max":         time.Duration(math.MaxInt64),
		"Guid":                 expr.Guid{0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f, 0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e},
		"byte[]":               []byte{0, 1, 254, 255},
		"empty byte[]":         []byte{},
		"string[]":             []string{"a", "", "\xff"},
		"empty string[]":       []string{},
		"int[]":                []int32{math.MinInt32, 0, math.MaxInt32},
		"long[]":               []int64{math.MinInt64, math.MaxInt64},
		"double[]":             []float64{1.5, math.Inf(-1)},
		"bool[]":               []bool{true, false},
		"object[]":             []any{nil, "x", int32(1), []any{int64(2), expr.Guid{}}, &expr.List{Items: []any{"in"}}},
		"List":                 &expr.List{Items: []any{"a", int32(1), time.Duration(5)}},
		"JObject":              mustJToken(t, `{"access_token":"t","expires_in":3599,"nested":{"a":[1,2.5,null,true]},"when":"2024-01-02T03:04:05Z"}`),
		"JArray":               mustJToken(t, `[1,"two",{"three":3}]`),
		"JValue":               mustJToken(t, `"text"`),
		"Jwt":                  jwt,
	}
}

// same reports whether b is a as the expression language sees it: times with
// their instant, offset and Kind; tokens by their JSON; NaN equal to NaN.
func same(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		_, xo := x.Zone()
		_, yo := y.Zone()
		return ok && x.Equal(y) && xo == yo && x.Location().String() == y.Location().String() &&
			(x.Location() == exprLocal()) == (y.Location() == exprLocal()) && (x.Location() == time.UTC) == (y.Location() == time.UTC)
	case expr.DateTimeOffset:
		y, ok := b.(expr.DateTimeOffset)
		_, xo := x.Zone()
		_, yo := y.Zone()
		return ok && x.Equal(y.Time) && xo == yo
	case float64:
		y, ok := b.(float64)
		return ok && (x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y))
	case expr.JToken:
		y, ok := b.(expr.JToken)
		return ok && reflect.TypeOf(a) == reflect.TypeOf(b) && x.JSON(false) == y.JSON(false)
	case *expr.Jwt:
		y, ok := b.(*expr.Jwt)
		return ok && x.Raw == y.Raw && reflect.DeepEqual(x.Claims, y.Claims)
	case []float64:
		y, ok := b.([]float64)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for name, v := range envelopeValues(t) {
		t.Run(name, func(t *testing.T) {
			data, err := encodeCachedValue(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeCachedValue(data)
			if err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			if !same(v, got) {
				t.Errorf("%#v came back as %#v (stored %s)", v, got, data)
			}
			if again, _ := encodeCachedValue(got); !bytes.Equal(again, data) {
				t.Errorf("encoded twice differently:\n%s\n%s", data, again)
			}
		})
	}
}

func TestEnvelopeUncacheable(t *testing.T) {
	deep := any("x")
	for range maxEnvelopeDepth + 1 {
		deep = []any{deep}
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"IResponse", &exchange.Response{}, "a value of type IResponse cannot be cached"},
		{"JProperty", &expr.JProperty{Name: "a"}, "a value of type JProperty cannot be cached"},
		{"other", &expr.StringBuilder{}, "a value of type StringBuilder cannot be cached; cache a string, a number"},
		{"a Go map", map[string]any{}, "a value of type map[string]interface {} cannot be cached"},
		{"inside a List", &expr.List{Items: []any{1, &exchange.Response{}}}, "item 1: a value of type IResponse"},
		{"too deep", deep, "the value nests more than 32 arrays deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeCachedValue(tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEnvelopeDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `{"t":"int"}`, `{"t":"int","v":"1"}`, `{"t":"int","v":2147483648}`,
		`{"t":"byte","v":256}`, `{"t":"DateTime","v":{"k":"martian","t":"2024-01-01T00:00:00Z"}}`,
		`{"t":"Guid","v":"00"}`, `{"t":"JObject","v":"[1]"}`, `{"t":"JArray","v":"{"}`, `{"t":"Jwt","v":"x"}`,
		`{"t":"mystery","v":1}`, `{"t":"string","v":{"b64":"!!"}}`, `{"t":"object[]","v":[{"t":"int","v":"x"}]}`,
		strings.Repeat(`{"t":"object[]","v":[`, 40) + `{"t":"null"}` + strings.Repeat(`]}`, 40),
	} {
		if v, err := decodeCachedValue([]byte(in)); err == nil {
			t.Errorf("%s decoded as %#v", in, v)
		}
	}
}

// FuzzDecodeCachedValue: what a shared Redis holds is not trusted to be ours.
// Decoding never panics, and what decodes encodes to a stable form.
func FuzzDecodeCachedValue(f *testing.F) {
	for _, v := range envelopeValues(f) {
		data, err := encodeCachedValue(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"t":"string","v":{"b64":"/w=="}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeCachedValue(data)
		if err != nil {
			return
		}
		enc, err := encodeCachedValue(v)
		if err != nil {
			t.Fatalf("%q decoded to %#v, which does not encode: %v", data, v, err)
		}
		v2, err := decodeCachedValue(enc)
		if err != nil {
			t.Fatalf("%s does not decode: %v", enc, err)
		}
		if enc2, _ := encodeCachedValue(v2); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
	})
}

func BenchmarkEnvelope(b *testing.B) {
	for _, name := range []string{"token", "int max", "JObject"} {
		v := envelopeValues(b)[name]
		data, _ := encodeCachedValue(v)
		b.Run("encode "+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				encodeCachedValue(v)
			}
		})
		b.Run("decode "+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				decodeCachedValue(data)
			}
		})
	}
}
