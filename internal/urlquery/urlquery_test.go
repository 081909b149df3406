package urlquery

import "testing"

func TestEdit(t *testing.T) {
	const raw = "b=2&%24filter=Name%20eq%20'x'&a=1&flag&a=0&sig=AbC%2BdEf%3D"
	tests := []struct {
		name, got, want string
	}{
		{"set a new one at the end", Set(raw, "zz", []string{"1"}), raw + "&zz=1"},
		{"set replaces all values where the first was", Set(raw, "a", []string{"x y"}), "b=2&%24filter=Name%20eq%20'x'&a=x+y&flag&sig=AbC%2BdEf%3D"},
		{"set by the decoded name", Set(raw, "$filter", []string{"a&b"}), "b=2&%24filter=a%26b&a=1&flag&a=0&sig=AbC%2BdEf%3D"},
		{"set a flag", Set(raw, "flag", []string{""}), "b=2&%24filter=Name%20eq%20'x'&a=1&flag=&a=0&sig=AbC%2BdEf%3D"},
		{"add after the last", Add(raw, "a", []string{"2", "3"}), "b=2&%24filter=Name%20eq%20'x'&a=1&flag&a=0&a=2&a=3&sig=AbC%2BdEf%3D"},
		{"add a new one", Add(raw, "c", []string{"1"}), raw + "&c=1"},
		{"delete every value", Del(raw, "a"), "b=2&%24filter=Name%20eq%20'x'&flag&sig=AbC%2BdEf%3D"},
		{"delete what is not there", Del(raw, "nope"), raw},
		{"delete the only one", Del("key=1", "key"), ""},
		{"empty query", Set("", "a", []string{"1"}), "a=1"},
		{"empty pieces are kept", Set("a=1&&b=2&", "b", []string{"3"}), "a=1&&b=3&"},
		{"set to no values deletes", Set(raw, "b", nil), "%24filter=Name%20eq%20'x'&a=1&flag&a=0&sig=AbC%2BdEf%3D"},
		{"a malformed escape is compared as written", Del("%zz=1&a=2", "%zz"), "a=2"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"a=1&b=%2B%20":      "a=1&b=%2B%20",
		"q=a b#c":           "q=a%20b%23c",
		"q=50%&r=%zz&s=%4":  "q=50%25&r=%25zz&s=%254",
		"q=é\x00<\"":        "q=%C3%A9%00%3C%22",
		"path=/a/b?x:y@z,;": "path=/a/b?x:y@z,;",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
	if !Has(raw, "$filter") || !Has(raw, "flag") || Has(raw, "zz") {
		t.Error("Has")
	}
}

// FuzzEdit checks that an edit leaves every other parameter's bytes alone.
func FuzzEdit(f *testing.F) {
	f.Add("a=1&b=%20&c", "b", "x")
	f.Fuzz(func(t *testing.T, raw, name, v string) {
		got := Del(Set(raw, name, []string{v}), name)
		if want := Del(raw, name); got != want {
			t.Fatalf("Del(Set(%q)) = %q, Del = %q", raw, got, want)
		}
		if !Has(Set(raw, name, []string{v}), name) {
			t.Fatalf("Set(%q, %q) lost it", raw, name)
		}
	})
}
