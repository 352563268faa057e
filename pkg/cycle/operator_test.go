package cycle

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestRetriggerRequestedBuildsAgainWithoutAdopting: a unit marked by
// `trawl retrigger` is built again on the next cycle although its
// fingerprint did not change, as a new attempt whose request excludes the
// old job (so a target cannot adopt it), and the mark is cleared.
func TestRetriggerRequestedBuildsAgainWithoutAdopting(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"), series(2, 1, "b"))
	h.run(t, Act)
	old := h.store.st.Units[unit(1)].Job.ID
	asked := h.now
	h.store.st.Units[unit(1)].RetriggerRequested = &asked
	h.now = h.now.Add(5 * time.Minute)

	plan := h.run(t, Plan)
	if got := outcomes(plan)[unit(1)]; got != OutcomeTrigger {
		t.Fatalf("plan outcome %s, want trigger", got)
	}
	rep := h.run(t, Act)
	if rep.Count.Triggered != 1 || h.tgt.triggers() != 3 {
		t.Fatalf("triggered %d (target created %d jobs), want one new job", rep.Count.Triggered, h.tgt.triggers())
	}
	var ur UnitReport
	for _, u := range rep.Units {
		if u.Unit == unit(1) {
			ur = u
		}
	}
	if ur.Outcome != OutcomeTriggered || ur.Reason != ReasonRetrigger || !slices.Equal(ur.Why, []string{"retrigger requested"}) {
		t.Fatalf("unit: outcome %s reason %s why %q; want triggered, retrigger requested", ur.Outcome, ur.Reason, ur.Why)
	}
	req := h.tgt.created[len(h.tgt.created)-1]
	if req.Attempt != 1 || !slices.Equal(req.Exclude, []string{old}) {
		t.Fatalf("request attempt %d exclude %v; want attempt 1 excluding %s", req.Attempt, req.Exclude, old)
	}
	u := h.store.st.Units[unit(1)]
	if u.RetriggerRequested != nil || u.Job.ID == old {
		t.Fatalf("after the retrigger: mark %v, job %s (old %s)", u.RetriggerRequested, u.Job.ID, old)
	}
	if again := h.run(t, Act); again.Count.Triggered != 0 {
		t.Fatalf("the cycle after the retrigger triggered %d, want 0", again.Count.Triggered)
	}
}

// TestScopedCycleReadsDependenciesOfOtherSources: a cycle limited to one
// source (`trawl once --source netdev`) in a fresh process still reads the
// other sources its changes depend on, but triggers only its own units.
func TestScopedCycleReadsDependenciesOfOtherSources(t *testing.T) {
	dep := series(7, 1, "z")
	dep.Key, dep.Source = "pw:pw.example.org/bpf/series/7", "bpf"
	other := &fakeSource{name: "bpf", changes: []change.Change{dep}}
	top := series(1, 1, "a")
	top.Deps = []change.Ref{{Raw: "bpf 7", Key: dep.Key, Source: "bpf"}}
	h := newHarness(t, top)
	h.r = New(Options{Sources: []Source{h.src, other}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour, Now: func() time.Time { return h.now }})
	rep, err := h.r.Run(context.Background(), Act, []string{"netdev"})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); got[unit(1)] != OutcomeTriggered || len(got) != 1 {
		t.Fatalf("outcomes %v; want only netdev's unit, triggered", got)
	}
	if rep.Sources != 1 || rep.Changes != 1 {
		t.Fatalf("counted %d sources, %d changes; want only the scope's", rep.Sources, rep.Changes)
	}
	req := h.tgt.created[0]
	if len(req.Patches) != 2 || req.Patches[0].Hash != "z" {
		t.Fatalf("patches %+v; want the bpf dependency's first", req.Patches)
	}
}

// TestStatusJSONGolden pins the documented shape of `trawl status --json`
// on the same history as status.golden.
func TestStatusJSONGolden(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a", "b"), series(2, 1, "c"))
	h.run(t, Act)
	h.now = h.now.Add(10 * time.Minute)
	pt.set(targets.StateFail, "builds 2/2 passed; tests 1 failed")
	rp.fail["20"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/20/checks/", Status: 502}
	rp.fail["11"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/11/checks/", Status: 403, Message: "You do not have permission to perform this action."}
	h.run(t, Act)
	var b bytes.Buffer
	if err := WriteStatusJSON(&b, h.store.st); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json.golden", b.Bytes())
}

// TestUnitsOfRemovedSourcesAndTargetsAreForgotten: a unit whose source or
// target left the configuration is never swept by its source; it is gone
// at once and forgotten after the grace, so the state does not keep it
// for ever.
func TestUnitsOfRemovedSourcesAndTargetsAreForgotten(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.run(t, Act)
	h.store.st.Units["pw:pw.example.org/old/series/9@kci"] = &state.Unit{Change: "pw:pw.example.org/old/series/9", Target: "kci", Source: "old"}
	h.store.st.Units[change.UnitKey(series(1, 1, "a").Key, "gone-target")] = &state.Unit{Change: string(series(1, 1, "a").Key), Target: "gone-target", Source: "netdev"}
	h.now = h.now.Add(time.Minute)
	rep := h.run(t, Act)
	for _, u := range rep.Units {
		if u.Unit != unit(1) && u.Outcome != OutcomeGone {
			t.Fatalf("%s: %s, want gone", u.Unit, u.Outcome)
		}
	}
	if len(h.store.st.Units) != 3 {
		t.Fatalf("state has %d units, want 3 until the grace ends", len(h.store.st.Units))
	}
	h.now = h.now.Add(2 * time.Hour)
	h.run(t, Act)
	if len(h.store.st.Units) != 1 || h.store.st.Units[unit(1)] == nil {
		t.Fatalf("state units %v, want only the configured one", slices.Collect(maps.Keys(h.store.st.Units)))
	}
}
