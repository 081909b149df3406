package policies

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/randtext"
)

// TestValidTenant compares validTenant with the regular expression it
// replaces, on boundary cases and random strings.
func TestValidTenant(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
	inputs := []string{"", "a", ".a", "-a", "a.", "contoso.onmicrosoft.com", "72f988bf-86f1-41af-91ab-2d7cd011db47",
		strings.Repeat("a", 253), strings.Repeat("a", 254), "a/b", "a_b", "é"}
	inputs = append(inputs, randtext.Strings(rand.New(rand.NewPCG(3, 4)), 5000, 259, "aZ09.-", "_/")...)
	for _, s := range inputs {
		if got, want := validTenant(s), re.MatchString(s); got != want {
			t.Errorf("validTenant(%q) = %v, want %v", s, got, want)
		}
	}
}
