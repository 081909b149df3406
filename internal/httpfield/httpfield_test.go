package httpfield

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/randtext"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string // without terminators; the last is the empty line
		want    http.Header
		wantErr string
	}{
		{"fields", []string{"content-type: text/plain", "X-A:  1 ", "x-a: 2", ""}, http.Header{"Content-Type": {"text/plain"}, "X-A": {"1", "2"}}, ""},
		{"an empty value", []string{"X-Empty:", ""}, http.Header{"X-Empty": {""}}, ""},
		{"tab inside a value", []string{"X: a\tb", ""}, http.Header{"X": {"a\tb"}}, ""},
		{"obsolete folding", []string{"X: a", " b", ""}, nil, "obsolete line folding"},
		{"space before the colon", []string{"X : a", ""}, nil, "malformed header field"},
		{"no colon", []string{"X", ""}, nil, "malformed header field"},
		{"a CR in a value", []string{"X: a\rb", ""}, nil, "invalid character"},
		{"a leading CR is not trimmed", []string{"X:\ra", ""}, nil, "invalid character"},
		{"NUL", []string{"X: a\x00", ""}, nil, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var head strings.Builder
			var starts []int
			for _, l := range tc.lines {
				starts = append(starts, head.Len())
				head.WriteString(l)
			}
			got, err := Parse(head.String(), starts, 0)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParsePooled parses heads into maps that go back to the pool in
// between: each result holds its own head's fields only, and a map too large
// is not pooled.
func TestParsePooled(t *testing.T) {
	many := []string{"HTTP/1.1 200 OK"}
	for i := range 40 {
		many = append(many, fmt.Sprintf("X-%d: y", i))
	}
	heads := [][]string{
		{"HTTP/1.1 200 OK", "A: 1", "Secret-One: s1", ""},
		{"HTTP/1.1 200 OK", "B: 2", ""},
		{"HTTP/1.1 204 No Content", ""},
		append(many, ""),
		{"HTTP/1.1 200 OK", "D: 4", ""},
	}
	for _, lines := range heads {
		var head strings.Builder
		var starts []int
		for _, l := range lines {
			starts = append(starts, head.Len())
			head.WriteString(l)
		}
		want, err := Parse(head.String(), starts, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePooled(head.String(), starts, 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParsePooled(%q) (-want +got):\n%s", lines, diff)
		}
		n := len(got)
		Recycle(got)
		if want := map[bool]int{true: 0, false: n}[n <= maxReusedFields]; len(got) != want {
			t.Errorf("after Recycle of %d fields: %d left, want %d", n, len(got), want)
		}
	}
}

func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("a\r\nbb\nccc\r\n"+strings.Repeat("x", 100)+"\n"), 16)
	var buf []byte
	var err error
	for _, want := range []string{"a", "bb", "ccc"} {
		start := len(buf)
		if buf, err = ReadLine(br, buf, 50); err != nil || string(buf[start:]) != want {
			t.Fatalf("line %q, %v; want %q", buf[start:], err, want)
		}
	}
	if _, err = ReadLine(br, buf, 50); err != ErrLineTooLong {
		t.Errorf("a 100-byte line with max 50: %v", err)
	}
}

func TestSanitizeHasTokenCanonical(t *testing.T) {
	if got := Sanitize(" a\r\nSet-Cookie: x\nb "); got != "a Set-Cookie: x b" {
		t.Errorf("Sanitize = %q", got)
	}
	if got := Sanitize("a\x00b\x00"); got != "a b" {
		t.Errorf("Sanitize with NUL = %q, want %q", got, "a b")
	}
	if !HasToken([]string{"keep-alive, Close"}, "close") || HasToken([]string{"closed"}, "close") {
		t.Error("HasToken")
	}
	for in, want := range map[string]string{"content-length": "Content-Length", "X-CUSTOM-thing": "X-Custom-Thing", "Already-Fine": "Already-Fine"} {
		if got := CanonicalKey(in); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeTrimsAsTrimSpace(t *testing.T) {
	for _, v := range []string{"", "a", " a", "a\t", "\u00a0a\u0085", "a\u00a0", "\x00a\x7f", "a b", "é", "a\rb", "\n"} {
		want := strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", " ").Replace(v))
		if got := Sanitize(v); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestWriteField(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"X-A", "b", "X-A: b\r\n"},
		{"X-A", " b\t", "X-A: b\r\n"},
		{"X-A", "b\r\nX-Injected: 1", "X-A: b X-Injected: 1\r\n"},
		{"X A", "b", ""},
		{"X-A\r\nX-B", "b", ""},
		{"", "b", ""},
	} {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		WriteField(w, tc.name, tc.value)
		w.Flush()
		if got := buf.String(); got != tc.want {
			t.Errorf("WriteField(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

// TestCanonicalKeyAllocations: a name already canonical costs nothing, and
// neither does a usual one in another case.
func TestCanonicalKeyAllocations(t *testing.T) {
	for _, name := range []string{"Content-Type", "X-Request-Source", "content-type", "OCP-APIM-SUBSCRIPTION-KEY", "traceparent"} {
		if n := testing.AllocsPerRun(100, func() { CanonicalKey(name) }); n != 0 {
			t.Errorf("CanonicalKey(%q) made %v allocations, want none", name, n)
		}
	}
}

func BenchmarkCanonicalKey(b *testing.B) {
	names := []string{"Host", "User-Agent", "Accept", "Ocp-Apim-Subscription-Key", "X-Request-Source", "Content-Type", "Content-Length", "Server", "Date", "Connection"}
	for b.Loop() {
		for _, n := range names {
			CanonicalKey(n)
		}
	}
}

// TestCanonicalKeyAsTextproto compares CanonicalKey with
// textproto.CanonicalMIMEHeaderKey on random names, valid and not.
func TestCanonicalKeyAsTextproto(t *testing.T) {
	for _, name := range randtext.Strings(rand.New(rand.NewPCG(7, 8)), 20000, 69, "aZkK-09", "_ :\xe9") {
		if got, want := CanonicalKey(name), textproto.CanonicalMIMEHeaderKey(name); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", name, got, want)
		}
	}
}
