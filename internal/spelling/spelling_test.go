package spelling

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"", "abc", 3},
		{"set-header", "set-headr", 1},  // a deletion
		{"set-header", "set-haeder", 1}, // a swap of neighbours
		{"set-header", "set-hxader", 1}, // a substitution
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
	long := string(make([]byte, 65))
	if got := Distance(long, "a"); got < 1<<10 {
		t.Errorf("Distance of a 65-byte name = %d, want large", got)
	}
}

func TestNearest(t *testing.T) {
	names := []string{"set-header", "set-body", "set-variable", "rate-limit", "rate-limit-by-key"}
	for _, tt := range []struct {
		s, want string
		ok      bool
	}{
		{"set-headr", "set-header", true},
		{"Set-Haeder", "set-header", true},
		{"rate-limt", "rate-limit", true},
		{"rate-limit-by-ky", "rate-limit-by-key", true},
		{"bogus", "", false},
		{"xy", "", false},
	} {
		got, ok := Nearest(tt.s, names)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tt.s, got, ok, tt.want, tt.ok)
		}
	}
}
