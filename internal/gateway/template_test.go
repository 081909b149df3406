package gateway

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		tmpl, path, query string
		want              map[string]string // nil: no match
	}{
		{"/items", "/items", "", map[string]string{}},
		{"/items", "/ITEMS", "", map[string]string{}},
		{"/items", "/items/1", "", nil},
		{"/items/{id}", "/items/42", "", map[string]string{"id": "42"}},
		{"/items/{id}", "/items/a%20b", "", map[string]string{"id": "a b"}},
		{"/items/{id}", "/items", "", nil},
		{"/items/{id}.json", "/items/7.json", "", map[string]string{"id": "7"}},
		{"/{a}-{b}", "/x-y", "", map[string]string{"a": "x", "b": "y"}},
		{"/files/{*path}", "/files/a/b/c.txt", "", map[string]string{"path": "a/b/c.txt"}},
		{"/files/{*path}", "/files", "", map[string]string{"path": ""}},
		{"/search?q={q}", "/search", "q=go", map[string]string{"q": "go"}},
		{"/search?q={q}", "/search", "", nil},
		{"/", "/", "", map[string]string{}},
		{"/", "/x", "", nil},
		// A literal segment as a backend reads it: escapes decoded, without
		// ";parameters".
		{"/items/admin", "/items/%61dmin", "", map[string]string{}},
		{"/items/admin", "/items/ADM%49N", "", map[string]string{}},
		{"/items/admin", "/items/admin;x=1", "", map[string]string{}},
		{"/items/admin", "/items/%61dmin;jsessionid=1", "", map[string]string{}},
		{"/items/a b", "/items/a%20b", "", map[string]string{}},
		{"/items/admin", "/items/admin%2F", "", nil},
		{"/items/admin", "/items/;admin", "", nil},
	}
	for _, tt := range tests {
		tm, err := ParseTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", tt.tmpl, err)
		}
		q, _ := url.ParseQuery(tt.query)
		got := map[string]string{}
		ok := tm.match(splitPath(tt.path), q, &got, nil)
		if !ok {
			got = nil
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s ~ %s?%s (-want +got):\n%s", tt.tmpl, tt.path, tt.query, diff)
		}
	}
	for _, bad := range []string{"/a/{*rest}/b", "/a}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) succeeded", bad)
		}
	}
}

// FuzzTemplate checks that no URL template or request path makes routing panic,
// and that a template matches the path it was built from with its parameters
// filled in.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/items/{id}", "/{a}-{b}.json", "/files/{*rest}", "/search?q={q}&x=1", "/", "/a}", "/{", "/{*x}/y"} {
		f.Add(s, "/items/42?q=1")
	}
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		tm, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		u, err := url.Parse(path)
		if err != nil {
			return
		}
		tm.match(splitPath(u.EscapedPath()), u.Query(), new(map[string]string), nil)
		// A template without parameters matches its own path.
		if !strings.ContainsAny(tmpl, "{}?%") {
			if !tm.match(splitPath(tmpl), url.Values{}, new(map[string]string), nil) {
				t.Errorf("template %q does not match itself", tmpl)
			}
		}
	})
}

// TestTemplateMatchRaw checks that path parameters keep the client's escapes for
// rewrite-uri, while expressions see them decoded.
func TestTemplateMatchRaw(t *testing.T) {
	tests := []struct {
		tmpl, path    string
		want, wantRaw map[string]string
	}{
		{"/items/{id}", "/items/a%2fb", map[string]string{"id": "a/b"}, map[string]string{"id": "a%2fb"}},
		{"/items/{id}.json", "/items/a%3Ab.json", map[string]string{"id": "a:b"}, map[string]string{"id": "a%3Ab"}},
		{"/files/{*rest}", "/files/a%2Fb/c%20d", map[string]string{"rest": "a/b/c d"}, map[string]string{"rest": "a%2Fb/c%20d"}},
		{"/items/{id}", "/items/42", map[string]string{"id": "42"}, nil},
		{"/search?q={q}", "/search?q=a%2Fb", map[string]string{"q": "a/b"}, nil},
	}
	for _, tt := range tests {
		tm, err := ParseTemplate(tt.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(tt.path)
		got := map[string]string{}
		var raw map[string]string
		if !tm.match(splitPath(u.EscapedPath()), u.Query(), &got, &raw) {
			t.Fatalf("%s does not match %s", tt.tmpl, tt.path)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s ~ %s: params (-want +got):\n%s", tt.tmpl, tt.path, diff)
		}
		if diff := cmp.Diff(tt.wantRaw, raw); diff != "" {
			t.Errorf("%s ~ %s: raw (-want +got):\n%s", tt.tmpl, tt.path, diff)
		}
	}
}
