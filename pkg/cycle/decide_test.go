package cycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The tests of decide use plain data only: a snapshot, the graph built
// from it, the bases as the bases stage would have resolved them, and
// stored units. No source, target, server or clock is involved.

const decideTarget = "kci"

// kciBase is the key under which the bases stage stores the resolution of
// the test base by the target itself.
var kciBase = baseKey{resolver: "target:" + decideTarget, url: base.URL, branch: base.Branch}

// fpOf is the fingerprint of c alone (no dependencies) on the test target,
// with the base commit in it when exact is set.
func fpOf(c change.Change, commit string) (string, fingerprint.Input) {
	in := fingerprint.Input{Target: decideTarget, TargetConfig: "cfg1", BaseURL: c.Base.URL, BaseBranch: c.Base.Branch,
		BaseCommit: commit, Items: []fingerprint.Item{fingerprint.ItemOf(&c)}}
	return fingerprint.Sum(in), in
}

// storedAs is a stored unit last triggered with fingerprint fp from inputs in.
func storedAs(c change.Change, fp string, in fingerprint.Input) *state.Unit {
	raw, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	return &state.Unit{Change: string(c.Key), Target: decideTarget, Source: c.Source, Fingerprint: fp, Inputs: string(raw),
		Job: &targets.Job{ID: "job-1"}, BaseCommit: "c1"}
}

func unitKey(c change.Change) string { return change.UnitKey(c.Key, decideTarget) }

func TestDecide(t *testing.T) {
	s1 := series(1, 1, "a")
	s1v2 := series(1, 1, "a", "b")
	fp1, in1 := fpOf(s1, "")
	follow := series(5, 1, "f")
	follow.Base.Policy = change.PolicyFollow
	fpFollowOld, inFollowOld := fpOf(follow, "c0")
	fpFollowNow, inFollowNow := fpOf(follow, "c1")
	dep := series(2, 1, "d")
	waitingDep := dep
	waitingDep.Waiting = "1 of 2 patches received"
	dependent := series(3, 1, "e")
	dependent.Deps = []change.Ref{{Raw: "<2@x>", Key: dep.Key, Source: "netdev", Checked: true}}
	closedDep := series(4, 1, "g")
	closedDep.Deps = []change.Ref{{Raw: "<9@x>", Key: "pw:pw.example.org/netdev/series/9", Source: "netdev", Closed: true, Checked: true}}
	unknownDep := pr("gh", "gh:o/r#1", change.Ref{Raw: "gl!1", Key: "gl:gitlab.com/o/r!1", Source: "gl"})
	incomplete := series(6, 1, "h")
	incomplete.Waiting = "2 of 3 patches received"
	merged := series(7, 1, "m")
	merged.Merged = true
	other := pr("elsewhere", "gh:o/elsewhere#1")
	noTarget := series(8, 1, "n")
	noTarget.Targets = []string{"not-configured"}

	retrigger := storedAs(s1, fp1, in1)
	retrigger.RetriggerRequested = &time.Time{}
	retrigger.Attempt, retrigger.PreviousJobs = 1, []string{"job-0"}
	infra := storedAs(s1, fp1, in1)
	infra.Result = &targets.Result{State: targets.StateInfra}

	type want struct {
		unit    string
		outcome Outcome
		reason  Reason
		detail  string // a substring of the detail, or of the first why
		// for a trigger: the base commit and the attempt asked for
		commit  string
		attempt int
		exclude []string
		// baseErr: the base failed, an error of the cycle
		baseErr bool
	}
	tests := []struct {
		name    string
		changes []change.Change
		unknown map[string]bool
		stored  map[string]*state.Unit
		bases   map[baseKey]baseAnswer
		retry   int
		want    []want
	}{
		{
			name:    "a new unit triggers on its resolved base",
			changes: []change.Change{s1},
			bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
			want:    []want{{unit: unitKey(s1), outcome: OutcomeTrigger, reason: ReasonNew, commit: "c1"}},
		},
		{
			name:    "an unchanged fingerprint triggers nothing",
			changes: []change.Change{s1},
			stored:  map[string]*state.Unit{unitKey(s1): storedAs(s1, fp1, in1)},
			want:    []want{{unit: unitKey(s1), outcome: OutcomeUnchanged, reason: ReasonUnchanged}},
		},
		{
			name:    "new content triggers as changed, saying what moved, on the pinned base",
			changes: []change.Change{s1v2},
			stored:  map[string]*state.Unit{unitKey(s1v2): storedAs(s1, fp1, in1)},
			want:    []want{{unit: unitKey(s1v2), outcome: OutcomeTrigger, reason: ReasonChanged, detail: "content", commit: "c1"}},
		},
		{
			name:    "under follow a base move is a change",
			changes: []change.Change{follow},
			stored:  map[string]*state.Unit{unitKey(follow): storedAs(follow, fpFollowOld, inFollowOld)},
			bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
			want:    []want{{unit: unitKey(follow), outcome: OutcomeTrigger, reason: ReasonChanged, detail: "base commit c0 -> c1", commit: "c1"}},
		},
		{
			name:    "under follow an unmoved base is no change",
			changes: []change.Change{follow},
			stored:  map[string]*state.Unit{unitKey(follow): storedAs(follow, fpFollowNow, inFollowNow)},
			bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
			want:    []want{{unit: unitKey(follow), outcome: OutcomeUnchanged, reason: ReasonUnchanged}},
		},
		{
			name:    "a base the target has no checkout of yet makes the unit wait, without error",
			changes: []change.Change{s1},
			bases:   map[baseKey]baseAnswer{kciBase: {err: fmt.Errorf("no checkout: %w", targets.ErrWaiting)}},
			want:    []want{{unit: unitKey(s1), outcome: OutcomeWaiting, detail: "no checkout"}},
		},
		{
			name:    "a base that failed to resolve makes the unit wait, as an error",
			changes: []change.Change{s1},
			bases:   map[baseKey]baseAnswer{kciBase: {err: errors.New("git ls-remote: timeout")}},
			want:    []want{{unit: unitKey(s1), outcome: OutcomeWaiting, detail: "unresolved this cycle: git ls-remote: timeout", baseErr: true}},
		},
		{
			name:    "a dependency's wait is the dependent's",
			changes: []change.Change{waitingDep, dependent},
			bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
			want: []want{
				{unit: unitKey(dep), outcome: OutcomeWaiting, detail: "1 of 2 patches received"},
				{unit: unitKey(dependent), outcome: OutcomeWaiting, detail: "dependency " + string(dep.Key) + " waits: 1 of 2 patches received"},
			},
		},
		{
			name:    "a closed dependency blocks, an unknown source's makes unknown",
			changes: []change.Change{closedDep, unknownDep},
			unknown: map[string]bool{"gl": true},
			want: []want{
				{unit: unitKey(unknownDep), outcome: OutcomeUnknown, detail: "source gl is unknown"},
				{unit: unitKey(closedDep), outcome: OutcomeBlocked, detail: "was closed without being merged"},
			},
		},
		{
			name:    "an incomplete series waits; merged, out-of-scope and untargeted changes are no units",
			changes: []change.Change{incomplete, merged, other, noTarget},
			want:    []want{{unit: unitKey(incomplete), outcome: OutcomeWaiting, detail: "2 of 3 patches received"}},
		},
		{
			name:    "a retrigger asks for a new attempt that adopts none of the earlier jobs",
			changes: []change.Change{s1},
			stored:  map[string]*state.Unit{unitKey(s1): retrigger},
			want: []want{{unit: unitKey(s1), outcome: OutcomeTrigger, reason: ReasonRetrigger, detail: WhyRetrigger, commit: "c1",
				attempt: 2, exclude: []string{"job-0", "job-1"}}},
		},
		{
			name:    "an infrastructure error is retried while the policy allows",
			changes: []change.Change{s1},
			stored:  map[string]*state.Unit{unitKey(s1): infra},
			retry:   1,
			want: []want{{unit: unitKey(s1), outcome: OutcomeTrigger, reason: ReasonRetry, detail: "infrastructure error in job job-1: retry 1 of 1",
				commit: "c1", attempt: 1, exclude: []string{"job-1"}}},
		},
		{
			name:    "an infrastructure error is not retried when the policy says never",
			changes: []change.Change{s1},
			stored:  map[string]*state.Unit{unitKey(s1): infra},
			want:    []want{{unit: unitKey(s1), outcome: OutcomeUnchanged, reason: ReasonUnchanged}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := tt.stored
			if stored == nil {
				stored = map[string]*state.Unit{}
			}
			before, err := json.Marshal(stored)
			if err != nil {
				t.Fatal(err)
			}
			in := decideInput{
				changes:    changeIndex(tt.changes),
				graph:      graph.Build(tt.changes, tt.unknown, graph.Limits{}),
				scope:      map[string]struct{}{"netdev": {}, "gh": {}},
				targets:    map[string]targetInfo{decideTarget: {configHash: "cfg1", resolver: kciBase.resolver}},
				bases:      tt.bases,
				stored:     stored,
				retryInfra: map[string]int{"netdev": tt.retry},
			}
			got := decide(in)
			if len(got) != len(tt.want) {
				t.Fatalf("%d decisions, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				d, ur := got[i], got[i].report
				if ur.Unit != w.unit || ur.Outcome != w.outcome || ur.Reason != w.reason {
					t.Errorf("decision %d: %s %s (%s), want %s %s (%s)", i, ur.Unit, ur.Outcome, ur.Reason, w.unit, w.outcome, w.reason)
				}
				text := ur.Detail
				if len(ur.Why) > 0 {
					text += " | " + strings.Join(ur.Why, "; ")
				}
				if !strings.Contains(text, w.detail) {
					t.Errorf("decision %d: detail/why %q, want it to hold %q", i, text, w.detail)
				}
				if gotErr := d.eval != nil && d.eval.err != nil; gotErr != w.baseErr {
					t.Errorf("decision %d: base error %v, want %v", i, gotErr, w.baseErr)
				}
				if w.outcome != OutcomeTrigger {
					continue
				}
				if d.req.Unit != w.unit || d.req.Fingerprint == "" || d.req.Fingerprint != ur.Fingerprint || d.req.Base.Commit != w.commit {
					t.Errorf("decision %d: request %+v, want unit %s, the fingerprint %s and base %s", i, d.req, w.unit, ur.Fingerprint, w.commit)
				}
				if d.req.Attempt != w.attempt || !reflect.DeepEqual(d.req.Exclude, w.exclude) {
					t.Errorf("decision %d: attempt %d excluding %v, want %d excluding %v", i, d.req.Attempt, d.req.Exclude, w.attempt, w.exclude)
				}
			}
			after, err := json.Marshal(stored)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Errorf("decide modified the stored state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestDecideFingerprintCoversDependencies checks that a dependent's
// fingerprint names its dependency's: a change of the dependency is a
// change of the dependent.
func TestDecideFingerprintCoversDependencies(t *testing.T) {
	dep := series(2, 1, "d")
	dependent := series(3, 1, "e")
	dependent.Deps = []change.Ref{{Raw: "<2@x>", Key: dep.Key, Source: "netdev", Checked: true}}
	run := func(dep change.Change) decision {
		all := []change.Change{dep, dependent}
		ds := decide(decideInput{
			changes: changeIndex(all), graph: graph.Build(all, nil, graph.Limits{}),
			scope:   map[string]struct{}{"netdev": {}},
			targets: map[string]targetInfo{decideTarget: {configHash: "cfg1", resolver: kciBase.resolver}},
			bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
			stored:  map[string]*state.Unit{},
		})
		if len(ds) != 2 {
			t.Fatalf("%d decisions, want 2", len(ds))
		}
		return ds[1]
	}
	a, b := run(dep), run(series(2, 1, "d2"))
	if a.report.Fingerprint == b.report.Fingerprint {
		t.Fatal("the dependent's fingerprint did not move with its dependency's content")
	}
	if got := a.req.Patches; len(got) != 2 || got[0].Hash != "d" || got[1].Hash != "e" {
		t.Fatalf("request patches %+v, want the dependency's then the change's", got)
	}
}
