package policies

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidTenant compares validTenant with the regular expression it
// replaces, on boundary cases and random strings.
func TestValidTenant(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
	inputs := []string{"", "a", ".a", "-a", "a.", "contoso.onmicrosoft.com", "72f988bf-86f1-41af-91ab-2d7cd011db47",
		strings.Repeat("a", 253), strings.Repeat("a", 254), "a/b", "a_b", "é"}
	rng := rand.New(rand.NewPCG(3, 4))
	const chars = "aZ09.-_/"
	for range 5000 {
		n := rng.IntN(260)
		pick := chars
		if rng.IntN(2) == 0 {
			pick = "aZ09.-" // valid characters only: the length decides
		}
		var b strings.Builder
		for range n {
			b.WriteByte(pick[rng.IntN(len(pick))])
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		if got, want := validTenant(s), re.MatchString(s); got != want {
			t.Errorf("validTenant(%q) = %v, want %v", s, got, want)
		}
	}
}
