//go:build race

package cycle_test

// raceEnabled says the tests run under the race detector, which makes the
// fault suite about ten times slower: make test runs it in full without
// the detector and for a short run with it.
const raceEnabled = true
