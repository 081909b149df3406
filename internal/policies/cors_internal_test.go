package policies

import (
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in   string
		want corsOrigin
		ok   bool
	}{
		{"https://app.example", corsOrigin{"https", "app.example", ""}, true},
		{"https://APP.Example:443", corsOrigin{"https", "app.example", ""}, true},
		{"HTTP://app.example:80", corsOrigin{"http", "app.example", ""}, true},
		{"http://app.example:443", corsOrigin{"http", "app.example", "443"}, true},
		{"https://app.example:8443", corsOrigin{"https", "app.example", "8443"}, true},
		{"http://localhost:08080", corsOrigin{"http", "localhost", "8080"}, true},
		{"http://127.0.0.1:3000", corsOrigin{"http", "127.0.0.1", "3000"}, true},
		{"http://[::1]:3000", corsOrigin{"http", "[::1]", "3000"}, true},
		{"https://[2001:DB8::1]", corsOrigin{"https", "[2001:db8::1]", ""}, true},
		{"chrome-extension://abcdefgh", corsOrigin{"chrome-extension", "abcdefgh", ""}, true},
		{"null", corsOrigin{}, false},
		{"", corsOrigin{}, false},
		{"app.example", corsOrigin{}, false},
		{"https://", corsOrigin{}, false},
		{"https://app.example/", corsOrigin{}, false},
		{"https://app.example/path", corsOrigin{}, false},
		{"https://app.example?x", corsOrigin{}, false},
		{"https://user@app.example", corsOrigin{}, false},
		{"https://app.example@evil.example", corsOrigin{}, false},
		{"https://app.example:", corsOrigin{}, false},
		{"https://app.example:65536", corsOrigin{}, false},
		{"https://app.example:+443", corsOrigin{}, false},
		{"https://app.example:-1", corsOrigin{}, false},
		{"https://app.example:443:443", corsOrigin{}, false},
		{"https://app%2eexample", corsOrigin{}, false},
		{"https://app.example\r\nX-Evil: 1", corsOrigin{}, false},
		{"https://[::1", corsOrigin{}, false},
		{"https://[::1]x", corsOrigin{}, false},
		{"https://[zz::1]", corsOrigin{}, false},
		{"1http://app.example", corsOrigin{}, false},
	}
	for _, tt := range tests {
		got, ok := parseOrigin(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseOrigin(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAllowsHeaders(t *testing.T) {
	p := &corsPolicy{headers: map[string]bool{"content-type": true, "x-a": true}}
	tests := []struct {
		lines []string
		want  string
		ok    bool
	}{
		{nil, "", true},
		{[]string{"Content-Type"}, "content-type", true},
		{[]string{"content-type, x-a", "X-A"}, "content-type, x-a, x-a", true},
		{[]string{"content-type,,  ,x-a"}, "content-type, x-a", true},
		{[]string{"content-type, x-b"}, "", false},
		{[]string{"content type"}, "", false},
		{[]string{"x-a\r\nx-evil"}, "", false},
	}
	for _, tt := range tests {
		got, ok := p.allowsHeaders(tt.lines)
		if got != tt.want || ok != tt.ok {
			t.Errorf("allowsHeaders(%q) = %q, %v; want %q, %v", tt.lines, got, ok, tt.want, tt.ok)
		}
	}
	any := &corsPolicy{anyHeader: true}
	many := ""
	for i := range maxRequestedHeaders + 1 {
		many += "x-h" + string(rune('a'+i%26)) + ","
	}
	if _, ok := any.allowsHeaders([]string{many}); ok {
		t.Errorf("a preflight asking for %d headers was allowed; the most is %d", maxRequestedHeaders+1, maxRequestedHeaders)
	}
}

// FuzzParseOrigin: whatever a client sends as Origin, parsing never panics,
// and an accepted origin is made of origin characters only, so echoing it
// cannot write anything else into the response.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example", "http://[::1]:80", "null", "https://a.example:443", "https://a@b", "x://y:65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, ok := parseOrigin(s)
		if !ok {
			return
		}
		for _, c := range []byte(s) {
			if c <= ' ' || c >= 0x7f || c == '@' || c == '/' && !strings.Contains(s, "://") || c == '?' || c == '#' || c == '%' {
				t.Fatalf("parseOrigin(%q) accepted %q", s, c)
			}
		}
		again, ok := parseOrigin(o.scheme + "://" + o.host + portSuffix(o.port))
		if !ok || again != o {
			t.Fatalf("parseOrigin(%q) = %+v, which does not parse back (%+v, %v)", s, o, again, ok)
		}
	})
}

func portSuffix(p string) string {
	if p == "" {
		return ""
	}
	return ":" + p
}
