//go:build !race

package storetest

// loadCallsPerWriter is the number of calls of its own each writer of the
// ordering test appends: fewer under the race detector, which makes the
// pure-Go SQLite engine over ten times slower.
const loadCallsPerWriter = 400
