package setup

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent returns the collector's target now.
func gcPercent() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// TestTuneRuntimeLeavesAnOperatorsGOGC: without GOGC, trawl collects at
// GCPercent; with it, at what the operator said.
func TestTuneRuntimeLeavesAnOperatorsGOGC(t *testing.T) {
	defer debug.SetGCPercent(gcPercent())
	t.Setenv("GOGC", "100")
	debug.SetGCPercent(100)
	TuneRuntime()
	if got := gcPercent(); got != 100 {
		t.Errorf("with GOGC=100 set, the target is %d", got)
	}
	if err := os.Unsetenv("GOGC"); err != nil { // t.Setenv restores it
		t.Fatal(err)
	}
	TuneRuntime()
	if got := gcPercent(); got != GCPercent {
		t.Errorf("without GOGC, the target is %d, want %d", got, GCPercent)
	}
}
