package expr

import (
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Jwt is API Management's Jwt: a token's header and claims, parsed without
// verifying the signature (validate-jwt does that).
type Jwt struct {
	// Raw is the compact token.
	Raw    string
	Header map[string][]string
	// Claims maps each claim to its values as strings: a string claim is one
	// value, an array claim several, numbers and booleans in their JSON text,
	// objects as compact JSON.
	Claims map[string][]string
	order  []string
}

// ParseJwt parses a compact JWS token ("header.payload.signature"). A leading
// "Bearer " is ignored. The signature is not verified.
func ParseJwt(token string) (*Jwt, error) { return parseJwt(nil, token) }

// parseJwt is ParseJwt charging f for the decoded segments and their tokens.
func parseJwt(f *frame, token string) (*Jwt, error) {
	t := strings.TrimSpace(token)
	if len(t) > 7 && strings.EqualFold(t[:7], "Bearer ") {
		t = strings.TrimSpace(t[7:])
	}
	if strings.Count(t, ".") != 2 {
		return nil, errors.New("a JWT has three dot-separated parts")
	}
	parts := strings.Split(t, ".")
	f.allocN(len(parts[0])+len(parts[1]), 2) // decoded, then as text
	hdr, err := decodeSegment(parts[0])
	if err != nil {
		return nil, errors.New("the JWT header is not base64url")
	}
	pl, err := decodeSegment(parts[1])
	if err != nil {
		return nil, errors.New("the JWT payload is not base64url")
	}
	ht, err := parseJSON(f, string(hdr))
	if err != nil {
		return nil, errors.New("the JWT header is not JSON")
	}
	pt, err := parseJSON(f, string(pl))
	if err != nil {
		return nil, errors.New("the JWT payload is not JSON")
	}
	ho, ok1 := ht.(*JObject)
	po, ok2 := pt.(*JObject)
	if !ok1 || !ok2 {
		return nil, errors.New("the JWT header and payload must be JSON objects")
	}
	j := &Jwt{Raw: t, Header: map[string][]string{}, Claims: map[string][]string{}}
	for _, p := range ho.props {
		f.alloc(dictEntryBytes)
		j.Header[p.Name] = claimStrings(p.Value)
	}
	for _, p := range po.props {
		f.alloc(dictEntryBytes)
		j.Claims[p.Name] = claimStrings(p.Value)
		j.order = append(j.order, p.Name)
	}
	return j, nil
}

func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

func claimStrings(t JToken) []string {
	switch x := t.(type) {
	case *JArray:
		out := make([]string, 0, len(x.Items))
		for _, it := range x.Items {
			out = append(out, claimStrings(it)...)
		}
		return out
	case *JValue:
		switch x.Kind {
		case JString, JUri:
			return []string{x.V.(string)}
		case JDate:
			// dates in claims keep their ISO form
			return []string{strings.Trim(x.JSON(false), `"`)}
		case JBoolean:
			if x.V.(bool) {
				return []string{"true"}
			}
			return []string{"false"}
		case JInteger:
			if b, ok := x.V.(*big.Int); ok {
				return []string{b.String()}
			}
			return []string{strconv.FormatInt(x.V.(int64), 10)}
		case JFloat:
			return []string{jfloatString(x.V)}
		case JNull:
			return []string{""}
		}
		return []string{jvalueString(x)}
	}
	return []string{t.JSON(false)}
}

func (j *Jwt) claim(name string) string {
	if v, ok := j.Claims[name]; ok && len(v) > 0 {
		return v[0]
	}
	return nullStr
}

func (j *Jwt) timeClaim(name string) any {
	v, ok := j.Claims[name]
	if !ok || len(v) == 0 {
		return nil
	}
	f, err := strconv.ParseFloat(v[0], 64)
	if err != nil {
		return nil
	}
	return time.Unix(int64(f), 0).UTC()
}

// BasicAuthCredentials is the result of AsBasic.
type BasicAuthCredentials struct {
	UserID   string
	Password string
}

// ParseBasic parses an "Authorization: Basic ..." value.
func ParseBasic(value string) (*BasicAuthCredentials, bool) {
	v := strings.TrimSpace(value)
	if len(v) < 6 || !strings.EqualFold(v[:6], "Basic ") {
		return nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:]))
	if err != nil {
		return nil, false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, false
	}
	return &BasicAuthCredentials{UserID: user, Password: pass}, true
}

// jwtClaims is the Claims dictionary of a Jwt.
type jwtClaims struct{ j *Jwt }

func declJwt(u *universe) {
	jd := u.decl("Jwt", tkClass, "")
	jd.is = func(v any) bool { _, ok := v.(*Jwt); return ok }
	jd.prop("Algorithm string", f1(func(j *Jwt) string {
		if v, ok := j.Header["alg"]; ok && len(v) > 0 {
			return v[0]
		}
		return nullStr
	}))
	jd.prop("Type string", f1(func(j *Jwt) string {
		if v, ok := j.Header["typ"]; ok && len(v) > 0 {
			return v[0]
		}
		return nullStr
	}))
	jd.prop("Id string", f1(func(j *Jwt) string { return j.claim("jti") }))
	jd.prop("Issuer string", f1(func(j *Jwt) string { return j.claim("iss") }))
	jd.prop("Subject string", f1(func(j *Jwt) string { return j.claim("sub") }))
	jd.prop("Audiences IEnumerable<string>", f1(func(j *Jwt) []string { return append([]string{}, j.Claims["aud"]...) }))
	jd.prop("ExpirationTime DateTime?", f1(func(j *Jwt) any { return j.timeClaim("exp") }))
	jd.prop("IssuedAt DateTime?", f1(func(j *Jwt) any { return j.timeClaim("iat") }))
	jd.prop("NotBefore DateTime?", f1(func(j *Jwt) any { return j.timeClaim("nbf") }))
	jd.prop("Claims _Claims", f1(func(j *Jwt) jwtClaims { return jwtClaims{j} }))
	jd.method("ToString() string", f1(func(j *Jwt) string { return j.Raw }))

	cl := u.internal("_Claims", "IReadOnlyDictionary<string, string[]>")
	cl.is = func(v any) bool { _, ok := v.(jwtClaims); return ok }
	cl.elem = func(*Type) *Type { return u.kvType(tString, arrayOf(tString)) }
	cl.index("this[string name] string[]", f2(func(c jwtClaims, k string) []string {
		v, ok := c.j.Claims[k]
		if !ok {
			throw("KeyNotFoundException", "The given key '%s' was not present in the dictionary", k)
		}
		return append([]string(nil), v...)
	}), nil)
	cl.method("ContainsKey(string name) bool", f2(func(c jwtClaims, k string) bool { _, ok := c.j.Claims[k]; return ok }))
	cl.method("TryGetValue(string name, out string[] value) bool", f3(func(c jwtClaims, k string, out *outRef) bool {
		v, ok := c.j.Claims[k]
		if ok {
			out.set(append([]string(nil), v...))
		} else {
			out.set(nil)
		}
		return ok
	}))
	cl.method("GetValueOrDefault(string name) string", f2(func(c jwtClaims, k string) string {
		if v, ok := c.j.Claims[k]; ok {
			return strings.Join(v, ",")
		}
		return nullStr
	}))
	cl.method("GetValueOrDefault(string name, string defaultValue) string", f3(func(c jwtClaims, k, d string) string {
		if v, ok := c.j.Claims[k]; ok {
			return strings.Join(v, ",")
		}
		return d
	}))
	// .NET's GetValueOrDefault<TKey, TValue> on IReadOnlyDictionary<string,
	// string[]>, as in Microsoft's samples: Claims.GetValueOrDefault("roles",
	// new string[0]). With a null default C# prefers the string overload above
	// (it is not generic); so does lastmile, which declares it first.
	cl.method("GetValueOrDefault(string name, string[] defaultValue) string[]", f3(func(c jwtClaims, k string, d []string) []string {
		if v, ok := c.j.Claims[k]; ok {
			return append([]string(nil), v...)
		}
		return d
	}))
	cl.prop("Count int", f1(func(c jwtClaims) int32 { return int32(len(c.j.Claims)) }))
	cl.prop("Keys IEnumerable<string>", f1(func(c jwtClaims) []string { return append([]string{}, c.j.order...) }))

	ba := u.decl("BasicAuthCredentials", tkClass, "")
	ba.is = func(v any) bool { _, ok := v.(*BasicAuthCredentials); return ok }
	ba.prop("UserId string", f1(func(b *BasicAuthCredentials) string { return b.UserID }))
	ba.prop("Password string", f1(func(b *BasicAuthCredentials) string { return b.Password }))

	u.extension("AsJwt(this string input) Jwt", x1(func(f *frame, s string) *Jwt {
		if isNull(s) {
			return nil
		}
		j, err := parseJwt(f, s)
		if err != nil {
			return nil
		}
		return j
	}))
	u.extension("TryParseJwt(this string input, out Jwt result) bool", x2(func(f *frame, s string, out *outRef) bool {
		if isNull(s) {
			out.set(nil)
			return false
		}
		j, err := parseJwt(f, s)
		if err != nil {
			out.set(nil)
			return false
		}
		out.set(j)
		return true
	}))
	u.extension("AsBasic(this string input) BasicAuthCredentials", f1(func(s string) *BasicAuthCredentials {
		if isNull(s) {
			return nil
		}
		b, ok := ParseBasic(s)
		if !ok {
			return nil
		}
		return b
	}))
	u.extension("TryParseBasic(this string input, out BasicAuthCredentials result) bool", f2(func(s string, out *outRef) bool {
		if isNull(s) {
			out.set(nil)
			return false
		}
		b, ok := ParseBasic(s)
		if !ok {
			out.set(nil)
			return false
		}
		out.set(b)
		return true
	}))
}

// ---- message bodies ----

func bodyBytes(f *frame, b *exchange.Body, preserve bool) []byte {
	data, err := b.Bytes(preserve)
	if err != nil {
		bodyException(err)
	}
	f.alloc(len(data))
	return data
}

// bodyString is the body as text; f is charged for the copy (and its repair
// when it is not UTF-8).
func bodyString(f *frame, data []byte) string {
	f.allocN(len(data), 2)
	s := string(data)
	s = strings.TrimPrefix(s, "\uFEFF")
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parseForm parses application/x-www-form-urlencoded content into an ordered
// dictionary of lists.
func parseForm(f *frame, s string) *Dict {
	d := newDict(false)
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		f.alloc(len(part)) // unescaped key and value
		if l, ok := d.Get(k); ok {
			l.(*List).Items = push(f, l.(*List).Items, v)
		} else {
			f.alloc(dictEntryBytes + 2*slotBytes)
			d.set(k, &List{Items: []any{v}})
		}
	}
	return d
}

// formEncode writes a form's keys and values, URL-encoded, charging f as it
// writes.
func formEncode(f *frame, d *Dict) string {
	b := sink{f: f}
	for i, k := range d.keys {
		ks := urlEncode(f.str(k))
		iterate(f, d.vals[i], func(v any) bool {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(ks)
			b.WriteByte('=')
			b.WriteString(urlEncode(f.str(v)))
			return true
		})
	}
	return b.String()
}

func declBody(u *universe, body *typeDef) {
	body.method("As<T>(bool preserveContent = false) T", func(c *checker, cs *site, args []*operand) *operand {
		to := cs.targs[0]
		kind := ""
		switch {
		case to == tString:
			kind = "string"
		case to.kind == tkArray && to.elem == tByte:
			kind = "bytes"
		default:
			switch defName(to) {
			case "JObject", "JToken", "JArray", "XNode", "XElement", "XDocument":
				kind = defName(to)
			}
		}
		if kind == "" {
			c.errorf(cs.n, "As<%s> is not supported: a body can be read as string, byte[], JObject, JToken, JArray, XNode, XElement or XDocument", to.Name)
			return errOpOf(to, cs.n)
		}
		bg, pg := getAs[*exchange.Body](args[0]), args[1].boolFn()
		pos := cs.pos
		return fromAny(to, cs.n, func(f *frame) any {
			b, preserve := bg(f), pg(f)
			f.pos = pos
			data := bodyBytes(f, b, preserve)
			switch kind {
			case "string":
				return bodyString(f, data)
			case "bytes":
				f.alloc(len(data))
				return append([]byte(nil), data...)
			case "JObject":
				return parseJObject(f, bodyString(f, data))
			case "JArray":
				return parseJArray(f, bodyString(f, data))
			case "JToken":
				return parseJSONOrThrow(f, bodyString(f, data))
			default:
				return parseXMLBody(f, bodyString(f, data), kind)
			}
		})
	})
	body.method("AsFormUrlEncodedContent(bool preserveContent = false) IDictionary<string, IList<string>>", x2(func(f *frame, b *exchange.Body, preserve bool) *Dict {
		return parseForm(f, bodyString(f, bodyBytes(f, b, preserve)))
	}))
	u.extension("ToQueryString(this IDictionary<string, IList<string>> form) string", x1(func(f *frame, d *Dict) string {
		if d == nil {
			throw("ArgumentNullException", "Value cannot be null")
		}
		return "?" + formEncode(f, d)
	}))
	u.extension("ToFormUrlEncodedContent(this IDictionary<string, IList<string>> form) string", x1(func(f *frame, d *Dict) string {
		if d == nil {
			throw("ArgumentNullException", "Value cannot be null")
		}
		return formEncode(f, d)
	}))
	_ = sort.Strings
}
