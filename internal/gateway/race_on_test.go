//go:build race

package gateway_test

// raceEnabled is true under the race detector, which changes how many bytes
// an allocation takes (not how many allocations there are).
const raceEnabled = true
