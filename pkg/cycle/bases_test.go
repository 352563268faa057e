package cycle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
)

// countingTarget counts the base look-ups made on it, by branch.
type countingTarget struct {
	*fakeTarget
	mu      sync.Mutex
	lookups map[string]int
}

func (c *countingTarget) ResolveBase(ctx context.Context, url, branch string) (string, error) {
	c.mu.Lock()
	c.lookups[branch]++
	c.mu.Unlock()
	return c.fakeTarget.ResolveBase(ctx, url, branch)
}

// TestBasesResolvedOncePerBranch checks the bases stage: a branch is
// looked up once per cycle however many units stand on it, only for the
// units whose policy needs it (a pinned unit with its base recorded asks
// nothing on later ticks), and a follow unit asks on every tick.
func TestBasesResolvedOncePerBranch(t *testing.T) {
	onNext := series(3, 1, "c")
	onNext.Base.Branch = "next"
	onNext.Base.Policy = change.PolicyFollow
	h := newHarness(t, series(1, 1, "a"), series(2, 1, "b"), onNext)
	tgt := &countingTarget{fakeTarget: h.tgt, lookups: map[string]int{}}
	tgt.commit["next"] = "n1"
	h.r = New(Options{Sources: []Source{h.src}, Targets: []Target{tgt}, Store: h.store, GoneGrace: time.Hour,
		Now: func() time.Time { return h.now }})

	if rep := h.run(t, Act); rep.Count.Triggered != 3 {
		t.Fatalf("triggered %d, want 3", rep.Count.Triggered)
	}
	if tgt.lookups["main"] != 1 || tgt.lookups["next"] != 1 {
		t.Fatalf("first tick looked up %v, want main and next once each", tgt.lookups)
	}
	h.now = h.now.Add(time.Minute)
	if rep := h.run(t, Act); rep.Count.Unchanged != 3 {
		t.Fatalf("unchanged %d, want 3", rep.Count.Unchanged)
	}
	if tgt.lookups["main"] != 1 || tgt.lookups["next"] != 2 {
		t.Fatalf("second tick: lookups %v, want main still once (pinned) and next again (follow)", tgt.lookups)
	}
}
