package config

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/randtext"
)

// TestPatternChecks compares the hand-written checks with the regular
// expressions they replace, on boundary cases and random strings drawn from
// the characters that matter.
func TestPatternChecks(t *testing.T) {
	checks := []struct {
		name  string
		check func(string) bool
		re    *regexp.Regexp
		chars string
		cases []string
	}{
		{"certificate id", validCertificateID, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`), "aZ09._-/ ",
			[]string{"", "a", "_a", "a_", "api-cert.v2", strings.Repeat("a", 80), strings.Repeat("a", 81), "é"}},
		{"sha256", validSHA256, regexp.MustCompile(`^[0-9a-fA-F]{64}$`), "09afAFgG",
			[]string{"", strings.Repeat("a", 63), strings.Repeat("F", 64), strings.Repeat("0", 65), strings.Repeat("g", 64)}},
		{"dns label", validDNSLabel, regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), "az09-A.",
			[]string{"", "a", "-", "a-", "-a", "a-b", "A", strings.Repeat("a", 63), strings.Repeat("a", 64)}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range checks {
		valid, invalid := c.chars[:len(c.chars)-2], c.chars[len(c.chars)-2:] // the last two are not valid
		inputs := slices.Concat(c.cases, randtext.Strings(rng, 5000, 89, valid, invalid))
		for _, s := range inputs {
			if got, want := c.check(s), c.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, want %v", c.name, s, got, want)
			}
		}
	}
}
