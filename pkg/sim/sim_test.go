package sim

import (
	"testing"
)

// TestTinyWorld runs trawl against a small simulated world: the first tick
// triggers every unit, an idle tick triggers none, and a tick with churn
// triggers what changed.
func TestTinyWorld(t *testing.T) {
	h := newHarness(t, Options{Series: 60, PullRequests: 10, Seed: 7}, false)
	units := h.w.Units()
	rep := h.tick(t)
	if got := rep.Count.Triggered; got != units {
		t.Fatalf("cold tick triggered %d, want %d units; report %+v", got, units, rep.Count)
	}
	rep = h.tick(t)
	if rep.Count.Triggered != 0 {
		t.Fatalf("idle tick triggered %d, want 0", rep.Count.Triggered)
	}
	h.w.Change()
	rep = h.tick(t)
	if rep.Count.Triggered != 1 {
		t.Fatalf("after one new series: triggered %d, want 1", rep.Count.Triggered)
	}
}
