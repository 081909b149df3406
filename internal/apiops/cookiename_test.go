package apiops

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/randtext"
)

// TestValidCookieName compares validCookieName with the regular expression
// it replaces, on boundary cases and random strings.
func TestValidCookieName(t *testing.T) {
	re := regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,128}$")
	inputs := []string{"", "a", "SESSION", "a b", "a;b", "a=b", strings.Repeat("a", 128), strings.Repeat("a", 129), "é", "\"a\""}
	inputs = append(inputs, randtext.Strings(rand.New(rand.NewPCG(5, 6)), 5000, 134, "aZ09!#$%&'*+-.^_`|~", " ;=\",()/")...)
	for _, s := range inputs {
		if got, want := validCookieName(s), re.MatchString(s); got != want {
			t.Errorf("validCookieName(%q) = %v, want %v", s, got, want)
		}
	}
}
