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

// FuzzODataQuery: validate-odata-request's query checker never panics, gives
// a bounded number of findings, and its messages are bounded (a quoted value
// is cut at 100 bytes, at most 4 bytes each once escaped) and free of
// control characters whatever the client sent.
func FuzzODataQuery(f *testing.F) {
	for _, s := range []string{"$filter=Name%20eq%20'Milk'&$top=10", "$expand=A($filter=b;$top=1)", "$top=1&TOP=2", "$search=%22a", "$filter=('')",
		"$foo%0A=1", "%24top=x", "@p=1&$filter=a%20eq%20@p", "$format=application/json;x=%22", "=&&=", "$filter=\"\\"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, v401 bool) {
		fs := checkODataQuery(nil, raw, v401)
		if len(fs) > maxODataFindings {
			t.Fatalf("%d findings", len(fs))
		}
		for _, fd := range fs {
			if len(fd.Details) > 600 || strings.ContainsFunc(fd.Details, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("details %q", fd.Details)
			}
			if fd.Reason != ReasonInvalidQueryOption && fd.Reason != ReasonUnknownQueryOption || fd.Action != actionPrevent {
				t.Fatalf("finding %+v", fd)
			}
		}
	})
}
