package expr

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// Differential tests: where .NET and Go's standard library agree on the
// semantics, expressions must produce what the standard library produces, for
// many random inputs.

func randomString(r *rand.Rand) string {
	alphabet := []rune("abcXYZ019 -_.~!*'()+/=?&%#@:;,\"<>\\é€😀\n\t")
	n := r.IntN(24)
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randomBytes(r *rand.Rand) []byte {
	b := make([]byte, r.IntN(70))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func evalWith(t *testing.T, p *Program, vars map[string]any) string {
	t.Helper()
	x := &exchange.Exchange{Variables: vars}
	s, err := p.EvalString(x)
	if err != nil {
		t.Fatalf("%s: %v", p.Source(), err)
	}
	return s
}

func mustCompile(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Compile(src)
	if err != nil {
		t.Fatalf("%s:\n%s", src, err.(ErrorList).Format("", src))
	}
	return p
}

func TestDifferentialBase64(t *testing.T) {
	enc := mustCompile(t, `@(Convert.ToBase64String((byte[])context.Variables["b"]))`)
	dec := mustCompile(t, `@(BitConverter.ToString(Convert.FromBase64String((string)context.Variables["s"])).Replace("-", ""))`)
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := randomBytes(r)
		want := base64.StdEncoding.EncodeToString(b)
		if got := evalWith(t, enc, map[string]any{"b": b}); got != want {
			t.Fatalf("ToBase64String(%x) = %q, want %q", b, got, want)
		}
		if got := evalWith(t, dec, map[string]any{"s": want}); got != strings.ToUpper(hex.EncodeToString(b)) {
			t.Fatalf("FromBase64String(%q) = %s, want %x", want, got, b)
		}
	}
}

func TestDifferentialHashes(t *testing.T) {
	type alg struct {
		expr string
		fn   func(key, data []byte) []byte
	}
	algs := []alg{
		{`new HMACSHA256((byte[])context.Variables["k"]).ComputeHash((byte[])context.Variables["d"])`, func(k, d []byte) []byte { m := hmac.New(sha256.New, k); m.Write(d); return m.Sum(nil) }},
		{`new HMACSHA1((byte[])context.Variables["k"]).ComputeHash((byte[])context.Variables["d"])`, func(k, d []byte) []byte { m := hmac.New(sha1.New, k); m.Write(d); return m.Sum(nil) }},
		{`new HMACSHA512((byte[])context.Variables["k"]).ComputeHash((byte[])context.Variables["d"])`, func(k, d []byte) []byte { m := hmac.New(sha512.New, k); m.Write(d); return m.Sum(nil) }},
		{`SHA256.Create().ComputeHash((byte[])context.Variables["d"])`, func(_, d []byte) []byte { s := sha256.Sum256(d); return s[:] }},
		{`SHA1.Create().ComputeHash((byte[])context.Variables["d"])`, func(_, d []byte) []byte { s := sha1.Sum(d); return s[:] }},
		{`MD5.Create().ComputeHash((byte[])context.Variables["d"])`, func(_, d []byte) []byte { s := md5.Sum(d); return s[:] }},
		{`SHA512.Create().ComputeHash((byte[])context.Variables["d"])`, func(_, d []byte) []byte { s := sha512.Sum512(d); return s[:] }},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, a := range algs {
		p := mustCompile(t, "@(Convert.ToHexString("+a.expr+"))")
		for range 100 {
			k, d := randomBytes(r), randomBytes(r)
			want := strings.ToUpper(hex.EncodeToString(a.fn(k, d)))
			if got := evalWith(t, p, map[string]any{"k": k, "d": d}); got != want {
				t.Fatalf("%s(k=%x, d=%x) = %s, want %s", a.expr, k, d, got, want)
			}
		}
	}
}

func TestDifferentialURLEscaping(t *testing.T) {
	esc := mustCompile(t, `@(Uri.EscapeDataString((string)context.Variables["s"]))`)
	unesc := mustCompile(t, `@(Uri.UnescapeDataString((string)context.Variables["s"]))`)
	wenc := mustCompile(t, `@(WebUtility.UrlEncode((string)context.Variables["s"]))`)
	wdec := mustCompile(t, `@(WebUtility.UrlDecode((string)context.Variables["s"]))`)
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		s := randomString(r)
		// url.QueryEscape escapes all but the RFC 3986 unreserved characters, with
		// upper-case hex, and writes spaces as '+': EscapeDataString writes %20.
		want := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
		got := evalWith(t, esc, map[string]any{"s": s})
		if got != want {
			t.Fatalf("EscapeDataString(%q) = %q, want %q", s, got, want)
		}
		if back := evalWith(t, unesc, map[string]any{"s": got}); back != s {
			t.Fatalf("UnescapeDataString(%q) = %q, want %q", got, back, s)
		}
		// WebUtility.UrlEncode keeps ! * ( ) and escapes ~, unlike QueryEscape.
		q := url.QueryEscape(s)
		q = strings.NewReplacer("%21", "!", "%2A", "*", "%28", "(", "%29", ")", "~", "%7E").Replace(q)
		if got := evalWith(t, wenc, map[string]any{"s": s}); got != q {
			t.Fatalf("WebUtility.UrlEncode(%q) = %q, want %q", s, got, q)
		}
		if got := evalWith(t, wdec, map[string]any{"s": q}); got != s {
			t.Fatalf("WebUtility.UrlDecode(%q) = %q, want %q", q, got, s)
		}
	}
}

func TestDifferentialAES(t *testing.T) {
	p := mustCompile(t, `@(Convert.ToHexString(((byte[])context.Variables["d"]).Encrypt("Aes", (byte[])context.Variables["k"], (byte[])context.Variables["iv"])))`)
	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		d := randomBytes(r)
		k := make([]byte, []int{16, 24, 32}[r.IntN(3)])
		iv := make([]byte, 16)
		for i := range k {
			k[i] = byte(r.UintN(256))
		}
		for i := range iv {
			iv[i] = byte(r.UintN(256))
		}
		block, _ := aes.NewCipher(k)
		n := 16 - len(d)%16
		padded := append(append([]byte(nil), d...), bytes.Repeat([]byte{byte(n)}, n)...)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
		want := strings.ToUpper(hex.EncodeToString(padded))
		if got := evalWith(t, p, map[string]any{"d": d, "k": k, "iv": iv}); got != want {
			t.Fatalf("Encrypt(%x) = %s, want %s", d, got, want)
		}
	}
}

func TestDifferentialUTF8(t *testing.T) {
	p := mustCompile(t, `@(Encoding.UTF8.GetString((byte[])context.Variables["b"]))`)
	r := rand.New(rand.NewPCG(9, 10))
	for range 500 {
		b := randomBytes(r)
		want := strings.ToValidUTF8(string(b), "\uFFFD")
		got := evalWith(t, p, map[string]any{"b": b})
		if got != want || !utf8.ValidString(got) {
			t.Fatalf("GetString(%x) = %q, want %q", b, got, want)
		}
	}
}
