package randtext

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestStrings(t *testing.T) {
	got := Strings(rand.New(rand.NewPCG(1, 2)), 2000, 10, "ab", "!")
	if len(got) != 2000 {
		t.Fatalf("got %d strings, want 2000", len(got))
	}
	var empty, full, mixed, clean int
	for _, s := range got {
		if len(s) > 10 || strings.Trim(s, "ab!") != "" {
			t.Fatalf("%q: longer than 10 or outside the alphabets", s)
		}
		switch len(s) {
		case 0:
			empty++
		case 10:
			full++
		}
		if strings.Contains(s, "!") {
			mixed++
		} else if len(s) > 3 {
			clean++
		}
	}
	if empty == 0 || full == 0 || mixed < 500 || clean < 500 {
		t.Errorf("empty %d, at the longest %d, with invalid bytes %d, long and valid %d: want every kind", empty, full, mixed, clean)
	}
}
