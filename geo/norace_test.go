//go:build !race

package geo

// raceEnabled is true when the tests run under the race detector, which
// makes the brute-force comparisons several times slower.
const raceEnabled = false
