// Package randtext draws random strings for tests that compare a hand-written
// check with the rule it replaces (a regular expression, a standard library
// function).
package randtext

import (
	"math/rand/v2"
	"strings"
)

// Strings returns n strings of up to maxLen bytes. Half are drawn from valid
// alone, so that length and position decide; the others from valid and
// invalid together.
func Strings(rng *rand.Rand, n, maxLen int, valid, invalid string) []string {
	all := valid + invalid
	out := make([]string, n)
	for i := range out {
		pick := all
		if rng.IntN(2) == 0 {
			pick = valid
		}
		var b strings.Builder
		for range rng.IntN(maxLen + 1) {
			b.WriteByte(pick[rng.IntN(len(pick))])
		}
		out[i] = b.String()
	}
	return out
}
