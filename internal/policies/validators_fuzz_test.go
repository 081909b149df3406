package policies

import (
	"strings"
	"testing"
)

// FuzzIsCallback: whatever jsonp accepts as a callback is a dotted path of
// ASCII identifiers, so it cannot end the call or start another statement.
func FuzzIsCallback(f *testing.F) {
	for _, s := range []string{"cb", "jQuery.cb_1$", "alert(1)//", "a..b", "1f", "", "f\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isCallback(s) {
			return
		}
		if s == "" || len(s) > maxCallback || strings.Contains(s, "..") || s[0] == '.' || s[len(s)-1] == '.' {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '.') {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
	})
}

// FuzzProxyURL: whatever proxy accepts is http://host[:port] and nothing
// else: no credentials, path or query to leak or misroute.
func FuzzProxyURL(f *testing.F) {
	for _, s := range []string{"http://p:8080", "https://p", "http://u:p@h", "p:80", "http://h/x?y", "http://[::1]:3128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := proxyURL(s)
		if err != nil {
			return
		}
		if u.Scheme != "http" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("accepted %q as %#v", s, u)
		}
	})
}

// FuzzCheckXML: checkXML never panics, and accepts only input with an
// element.
func FuzzCheckXML(f *testing.F) {
	for _, s := range []string{"<a/>", "<s:Envelope xmlns:s='x'><s:Body/></s:Envelope>", "<a><b></a>", "", "text"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, soap bool) {
		if checkXML([]byte(s), soap) == "" && !strings.Contains(s, "<") {
			t.Fatalf("accepted %q", s)
		}
	})
}
