//go:build race

package expr

// raceEnabled is true under the race detector, which makes sync.Pool drop
// items on purpose: the library's pools (regexp's matchers among them) then
// allocate anew, and allocation counts say nothing about the budgets.
const raceEnabled = true
