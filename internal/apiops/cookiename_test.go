package apiops

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidCookieName compares validCookieName with the regular expression
// it replaces, on boundary cases and random strings.
func TestValidCookieName(t *testing.T) {
	re := regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,128}$")
	inputs := []string{"", "a", "SESSION", "a b", "a;b", "a=b", strings.Repeat("a", 128), strings.Repeat("a", 129), "é", "\"a\""}
	rng := rand.New(rand.NewPCG(5, 6))
	const chars = "aZ09!#$%&'*+-.^_`|~ ;=\",()/"
	for range 5000 {
		n := rng.IntN(135)
		pick := chars
		if rng.IntN(2) == 0 {
			pick = "aZ09!#$%&'*+-.^_`|~" // valid characters only: the length decides
		}
		var b strings.Builder
		for range n {
			b.WriteByte(pick[rng.IntN(len(pick))])
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		if got, want := validCookieName(s), re.MatchString(s); got != want {
			t.Errorf("validCookieName(%q) = %v, want %v", s, got, want)
		}
	}
}
