// Package spelling finds what a misspelt name was meant to be, for "did you
// mean" hints in configuration, policy and expression errors.
package spelling

import "strings"

// maxLen bounds the names compared: anything longer is not a typo of a name.
const maxLen = 64

// Distance is the edit distance between a and b in bytes: insertions,
// deletions, substitutions and swaps of two neighbours (optimal string
// alignment). It is large for names longer than 64 bytes.
func Distance(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return 1 << 20
	}
	var rows [3][maxLen + 1]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// Nearest returns the candidate closest to s, ignoring ASCII case, when it is
// close enough to be a plausible typo: at most a third of s's length apart,
// and at least 2 for short names.
func Nearest(s string, candidates []string) (string, bool) {
	if len(s) > maxLen {
		return "", false
	}
	best, bestDist := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := Distance(ls, strings.ToLower(c)); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(2, len(s)/3) {
		return "", false
	}
	return best, true
}
