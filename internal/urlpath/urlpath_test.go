package urlpath

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		// Kept as they are.
		{"", "", nil},
		{"/", "/", nil},
		{"/a/b", "/a/b", nil},
		{"/a/b/", "/a/b/", nil},
		{"/a//b", "/a//b", nil},
		{"//a", "//a", nil},
		{"/a%2Fb", "/a%2Fb", nil},
		{"/a%2fb", "/a%2fb", nil},
		{"/a%5Cb", "/a%5Cb", nil},
		{"/a%20b/%C3%A9/%3A", "/a%20b/%C3%A9/%3A", nil},
		{"/items;v=1/x;y", "/items;v=1/x;y", nil},
		{"/a/.../b", "/a/.../b", nil},
		{"/a/..b/b..", "/a/..b/b..", nil},
		{"/file.txt/.hidden", "/file.txt/.hidden", nil},
		{"/100%25", "/100%25", nil},
		{"/%2520", "/%2520", nil},
		{"/%252F", "/%252F", nil},
		{"/a%2F%2Fb", "/a%2F%2Fb", nil},
		{"keys", "/keys", nil},
		{"keys/", "/keys/", nil},
		// Dot segments resolved (RFC 3986 §5.2.4).
		{"/a/../b", "/b", nil},
		{"/a/./b", "/a/b", nil},
		{"/a/b/..", "/a/", nil},
		{"/a/b/.", "/a/b/", nil},
		{"/a/..", "/", nil},
		{"/.", "/", nil},
		{"/a/%2e%2e/b", "/b", nil},
		{"/a/%2E%2e/b", "/b", nil},
		{"/a/.%2e/b", "/b", nil},
		{"/a/%2e./b", "/b", nil},
		{"/a/%2e/b", "/a/b", nil},
		{"/a//../b", "/a/b", nil},
		{"/a/b/../../c/", "/c/", nil},
		{"a/../b", "/b", nil},
		{".//a", "//a", nil},
		// Escaped where the path may not have the byte.
		{"/a b", "/a%20b", nil},
		{"/a\\b", "/a%5Cb", nil},
		{"/é", "/%C3%A9", nil},
		{"/a\"<>{}|^`[]#", "/a%22%3C%3E%7B%7D%7C%5E%60%5B%5D%23", nil},
		{"/x/../a b", "/a%20b", nil},
		// Refused.
		{"/..", "", ErrAboveRoot},
		{"/../a", "", ErrAboveRoot},
		{"/a/../../b", "", ErrAboveRoot},
		{"/%2e%2e/a", "", ErrAboveRoot},
		{"..", "", ErrAboveRoot},
		{"../keys", "", ErrAboveRoot},
		{"/..%2fsecret", "", ErrDotData},
		{"/..%2Fsecret", "", ErrDotData},
		{"/%2e%2e%2fsecret", "", ErrDotData},
		{"/%2e%2e%5csecret", "", ErrDotData},
		{"/..%5csecret", "", ErrDotData},
		{"/..\\secret", "", ErrDotData},
		{"/a\\..\\b", "", ErrDotData},
		{"/a%2f..%2fb", "", ErrDotData},
		{"/.%2fa", "", ErrDotData},
		{"/..;/a", "", ErrDotData},
		{"/..;jsessionid=1/a", "", ErrDotData},
		{"/.;x/a", "", ErrDotData},
		{"/%2e%2e;x/a", "", ErrDotData},
		{"/%252e%252e%252fsecret", "", ErrDotData},
		{"/%252E%252E/a", "", ErrDotData},
		{"/..%252fa", "", ErrDotData},
		{"/%2e%2e%25zz%2f", "/%2e%2e%25zz%2f", nil}, // "..%zz" is no dot segment, decoded once or twice
		{"/%c0%ae%c0%ae/a", "", ErrOverlong},
		{"/\xc0\xae", "", ErrOverlong},
		{"/%c0%af", "", ErrOverlong},
		{"/%e0%80%ae", "", ErrOverlong},
		{"/%25c0%25ae", "", ErrOverlong},
		{"/a%00b", "", ErrControl},
		{"/a%0d%0aX:1", "", ErrControl},
		{"/a%7f", "", ErrControl},
		{"/a%2500", "", ErrControl},
		{"/a\x00", "", ErrControl},
		{"/a\tb", "", ErrControl},
		{"/a%zz", "", ErrEscape},
		{"/a%2", "", ErrEscape},
		{"/a%u002e", "", ErrEscape},
	}
	for _, tt := range tests {
		got, err := Clean(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"/a/b", "/a/b", nil},
		{"/a b/%2F", "/a%20b/%2F", nil},
		{"/a/../b", "", ErrDotSegment},
		{"/a/./b", "", ErrDotSegment},
		{"/a/%2e%2e", "", ErrDotSegment},
		{"/..%2f", "", ErrDotData},
	}
	for _, tt := range tests {
		got, err := Check(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Check(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestCleanDoesNotAllocateForCleanPaths(t *testing.T) {
	for _, p := range []string{"/orders/r49/17", "/a%2Fb/c%20d/", "/items;v=1"} {
		if n := testing.AllocsPerRun(100, func() { Clean(p) }); n != 0 {
			t.Errorf("Clean(%q): %v allocations, want 0", p, n)
		}
	}
}

func TestSegment(t *testing.T) {
	for in, want := range map[string]string{"a b": "a%20b", "../x": "..%2Fx", "a/b": "a%2Fb", "": "", "100%": "100%25",
		"a;v=1": "a;v=1", "x:y@z": "x:y@z", "é": "%C3%A9", `a\b`: "a%5Cb", "%2F": "%252F"} {
		if got, err := Segment(in); got != want || err != nil {
			t.Errorf("Segment(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{".", ".."} {
		if _, err := Segment(in); !errors.Is(err, ErrDotSegment) {
			t.Errorf("Segment(%q): %v, want ErrDotSegment", in, err)
		}
	}
}

func TestSetPathKeepsEscapes(t *testing.T) {
	for _, p := range []string{"/base/a%2fb", "/a%2Fb/c", "/a%3A%41", "/plain", "/"} {
		u := &url.URL{Scheme: "http", Host: "h"}
		SetPath(u, p)
		if got := u.RequestURI(); got != p {
			t.Errorf("SetPath(%q): RequestURI %q", p, got)
		}
		if got := Escaped(u); got != p {
			t.Errorf("SetPath(%q): Escaped %q", p, got)
		}
	}
}

// FuzzClean checks the properties the gateway relies on: Clean never panics, is
// idempotent, yields no dot segment in any form a decoding backend would read,
// never decodes an escape (so %2F stays %2F) and always returns an absolute path.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"/a/../b", "/..%2f", "/%2e%2e/x", "/a%2Fb/./c/", "//x/..", "/%252e%252e%252f", "/a\\..\\b", "/..;/x", "/%c0%ae", "keys/../x", "/a b/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := Clean(p)
		if err != nil {
			return
		}
		again, err := Clean(got)
		if err != nil || again != got {
			t.Fatalf("Clean(%q) = %q, but Clean(%q) = %q, %v", p, got, got, again, err)
		}
		for _, seg := range strings.Split(got, "/") {
			if dotValue(seg) != 0 {
				t.Fatalf("Clean(%q) = %q has the dot segment %q", p, got, seg)
			}
			if piece, ok := naiveDotPiece(seg); ok {
				t.Fatalf("Clean(%q) = %q has the segment %q, which a naive backend reads as %q", p, got, seg, piece)
			}
		}
		// Clean only removes whole segments and escapes bytes: it never decodes, so the
		// escapes of the result (other than those it added) all come from the input.
		if n, m := strings.Count(strings.ToUpper(got), "%2F"), strings.Count(strings.ToUpper(p), "%2F"); n > m {
			t.Fatalf("Clean(%q) = %q has more %%2F than its input", p, got)
		}
		abs := p
		if p != "" && p[0] != '/' {
			abs = "/" + p
		}
		if strings.Count(got, "/") > strings.Count(abs, "/") {
			t.Fatalf("Clean(%q) = %q has more separators than its input: it decoded one", p, got)
		}
		if (p == "") != (got == "") || got != "" && got[0] != '/' {
			t.Fatalf("Clean(%q) = %q is not an absolute path", p, got)
		}
	})
}

// naiveDotPiece is the fuzz test's oracle, written apart from the code it checks:
// it decodes seg the way careless backends do (percent-decoding twice, '\' as
// '/', overlong UTF-8 as ASCII, ";params" dropped) and returns a "." or ".."
// piece it finds.
func naiveDotPiece(seg string) (string, bool) {
	overlongs := strings.NewReplacer("\xc0\xae", ".", "\xc0\xaf", "/", "\xe0\x80\xae", ".", "\xc1\x9c", "\\")
	for range 2 {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		seg = overlongs.Replace(seg)
	}
	for _, piece := range strings.FieldsFunc(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
		piece, _, _ = strings.Cut(piece, ";")
		if piece == "." || piece == ".." {
			return piece, true
		}
	}
	return "", false
}
