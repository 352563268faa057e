package setup

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target trawl runs with, unless the
// GOGC environment variable sets one. What a process keeps between ticks
// (the state it compares with, what the sources remember) is most of its
// live heap at the peak of a tick, and the runtime's default of 100 lets
// the heap grow to twice the live heap before it collects: at 10k units,
// 205 to 225 MB resident at the peak of a tick, against 180 to 195 with
// 60, for about a tenth more CPU (BenchmarkTick in pkg/sim, README
// "Running in production").
const GCPercent = 60

// TuneRuntime sets the garbage collector's target to GCPercent, unless
// GOGC is set: an operator's GOGC (and GOMEMLIMIT, which the runtime
// reads itself) wins. cmd/trawl calls it once at start.
func TuneRuntime() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
