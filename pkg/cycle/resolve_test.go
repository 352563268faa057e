package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// ownerSource is a fakeSource that claims keys by prefix, answers
// look-ups from a table and may resolve message-ids.
type ownerSource struct {
	*fakeSource
	own, host string
	states    map[change.Key]change.State
	msgids    map[string]change.Key
	lookups   int
	// msgidLookups counts ResolveMsgID calls.
	msgidLookups int
	// fail makes look-ups fail.
	fail error
}

func (o *ownerSource) Claim(k change.Key) change.Claim {
	switch {
	case strings.HasPrefix(string(k), o.own):
		return change.ClaimOwn
	case o.host != "" && strings.HasPrefix(string(k), o.host):
		return change.ClaimHost
	}
	return change.ClaimNone
}

func (o *ownerSource) ChangeState(_ context.Context, k change.Key) (change.State, error) {
	o.lookups++
	if o.fail != nil {
		return "", o.fail
	}
	return o.states[k], nil
}

func (o *ownerSource) ResolveMsgID(_ context.Context, id string) (change.Key, error) {
	o.msgidLookups++
	if o.fail != nil {
		return "", o.fail
	}
	return o.msgids[id], nil
}

func pr(source, key string, refs ...change.Ref) change.Change {
	return change.Change{Key: change.Key(key), Source: source, Content: []string{"sha-" + key}, HeadSHA: "sha-" + key,
		Base: base, Targets: []string{"kci"}, Deps: refs}
}

// threeForges is one graph across GitHub, GitLab and Patchwork.
func threeForges(t *testing.T) (*harness, *ownerSource, *ownerSource, *ownerSource) {
	t.Helper()
	gh := &ownerSource{fakeSource: &fakeSource{name: "gh"}, own: "gh:rock-core/base-types#", host: "gh:",
		states: map[change.Key]change.State{"gh:rock-core/other#9": change.StateMerged, "gh:rock-core/other#10": change.StateClosed}}
	gl := &ownerSource{fakeSource: &fakeSource{name: "gl"}, own: "gl:gitlab.com/redhat/kernel!", host: "gl:gitlab.com/"}
	pw := &ownerSource{fakeSource: &fakeSource{name: "netdev"}, own: "pw:pw.example.org/netdev/",
		msgids: map[string]change.Key{"cover.42@example.org": "pw:pw.example.org/netdev/series/1"}}
	series1 := series(1, 1, "a")
	pw.changes = []change.Change{series1}
	// The MR needs the Patchwork series, named by its cover letter's message-id.
	gl.changes = []change.Change{pr("gl", "gl:gitlab.com/redhat/kernel!7", change.Ref{Raw: "<cover.42@example.org>"})}
	gh.changes = []change.Change{
		// The PR needs the MR (a URL on another forge), a merged PR and a
		// reference to a host nobody polls.
		pr("gh", "gh:rock-core/base-types#42",
			change.Ref{Raw: "https://gitlab.com/redhat/kernel/-/merge_requests/7", Key: "gl:gitlab.com/redhat/kernel!7"},
			change.Ref{Raw: "rock-core/other#9", Key: "gh:rock-core/other#9"},
			change.Ref{Raw: "https://gitea.example.org/o/r/pulls/3", Key: "gt:gitea.example.org/o/r#3"}),
		// This one needs a PR that was closed without being merged.
		pr("gh", "gh:rock-core/base-types#43", change.Ref{Raw: "rock-core/other#10", Key: "gh:rock-core/other#10"}),
	}
	h := newHarness(t)
	h.r = New(Options{Sources: []Source{gh, gl, pw}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour,
		Now: func() time.Time { return h.now }})
	return h, gh, gl, pw
}

func TestOneGraphAcrossThreeForges(t *testing.T) {
	h, gh, _, pw := threeForges(t)
	rep := h.run(t, Act)
	by := map[change.Key]UnitReport{}
	for _, u := range rep.Units {
		by[u.Change] = u
	}
	top := by["gh:rock-core/base-types#42"]
	if top.Outcome != OutcomeTriggered {
		t.Fatalf("PR 42: %s (%s), want triggered", top.Outcome, top.Detail)
	}
	want := []change.Key{"pw:pw.example.org/netdev/series/1", "gl:gitlab.com/redhat/kernel!7"}
	if len(top.Deps) != 2 || top.Deps[0] != want[0] || top.Deps[1] != want[1] {
		t.Fatalf("PR 42 built on %v, want %v (series first, then the MR)", top.Deps, want)
	}
	closed := by["gh:rock-core/base-types#43"]
	if closed.Outcome != OutcomeBlocked || !strings.Contains(closed.Detail, "closed without being merged") {
		t.Fatalf("PR 43: %s %q, want blocked: closed without being merged", closed.Outcome, closed.Detail)
	}
	if got := by["gl:gitlab.com/redhat/kernel!7"]; got.Outcome != OutcomeTriggered || len(got.Deps) != 1 {
		t.Fatalf("MR 7: %s deps %v, want triggered on the series", got.Outcome, got.Deps)
	}
	for _, r := range h.tgt.created {
		if r.Change != "gh:rock-core/base-types#42" {
			continue
		}
		if len(r.Patches) != 1 || r.Patches[0].Hash != "a" {
			t.Fatalf("PR 42 request patches %+v, want the series' patch", r.Patches)
		}
		if len(r.Heads) != 2 || r.Heads[0].SHA != "sha-gl:gitlab.com/redhat/kernel!7" || r.Heads[1].SHA != "sha-gh:rock-core/base-types#42" {
			t.Fatalf("PR 42 request heads %+v, want the MR's head then its own", r.Heads)
		}
	}

	// A new revision of the Patchwork series retriggers the MR and the PR.
	pw.changes = []change.Change{series(1, 2, "a2")}
	rep = h.run(t, Act)
	if rep.Count.Triggered != 3 {
		t.Fatalf("after the series changed: triggered %d, want the series, the MR and the PR", rep.Count.Triggered)
	}
	for _, u := range rep.Units {
		if u.Change == "gh:rock-core/base-types#42" && !strings.Contains(strings.Join(u.Why, ";"), "gl:gitlab.com/redhat/kernel!7") {
			t.Fatalf("PR 42 why = %q, want the changed dependency named", u.Why)
		}
	}
	if gh.lookups != 4 || pw.msgidLookups != 2 {
		t.Fatalf("look-ups = %d and %d, want 2 per cycle on GitHub (the merged and the closed PR), never the ignored host, and 1 message-id per cycle on Patchwork", gh.lookups, pw.lookups)
	}
}

func TestDependencyOnUnknownSourceWaitsForIt(t *testing.T) {
	h, _, gl, _ := threeForges(t)
	gl.err = context.DeadlineExceeded
	rep := h.run(t, Act)
	for _, u := range rep.Units {
		if u.Change == "gh:rock-core/base-types#42" && u.Outcome != OutcomeUnknown {
			t.Fatalf("PR 42 depends on an MR whose source failed: %s, want unknown", u.Outcome)
		}
	}
}

// TestFailedLookupIsUnknownNeverMerged: a dependency whose look-up fails
// makes its dependent unknown for the cycle: never built without it (as if
// merged), and asked once in the cycle however many changes name it.
func TestFailedLookupIsUnknownNeverMerged(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  change.Ref
	}{
		{"state", change.Ref{Raw: "rock-core/other#9", Key: "gh:rock-core/other#9"}},
		{"message-id", change.Ref{Raw: "<cover.42@example.org>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, gh, gl, pw := threeForges(t)
			gh.changes = []change.Change{
				pr("gh", "gh:rock-core/base-types#50", tc.ref),
				pr("gh", "gh:rock-core/base-types#51", tc.ref),
			}
			gl.changes = nil
			pw.changes = nil
			gh.fail = errors.New("GET https://api.github.com/repos/rock-core/other/pulls/9: 502 Bad Gateway")
			pw.fail = errors.New("GET https://pw.example.org/api/1.3/patches/?msgid=cover.42@example.org: 500 Internal Server Error")
			rep := h.run(t, Act)
			for _, u := range rep.Units {
				if u.Outcome != OutcomeUnknown || !strings.Contains(u.Detail, "failed") {
					t.Errorf("%s: %s %q, want unknown: the look-up failed", u.Unit, u.Outcome, u.Detail)
				}
			}
			if len(h.tgt.created) != 0 {
				t.Errorf("%d triggers with a failed dependency look-up", len(h.tgt.created))
			}
			if rep.Errors != 1 {
				t.Errorf("%d errors, want the failed look-up counted once", rep.Errors)
			}
			// Once per source that can answer, however many changes name it.
			if n := gh.lookups + gh.msgidLookups; n != 1 {
				t.Errorf("%d look-ups on GitHub for one dependency named twice, want 1", n)
			}
			if n := pw.lookups + pw.msgidLookups; tc.ref.Key == "" && n != 1 {
				t.Errorf("%d look-ups on Patchwork for one message-id named twice, want 1", n)
			}
		})
	}
}

// TestLookupsSkippedWhenSourceChecked: a reference its own source looked up
// this cycle (Checked) is not asked again, and a change naming more
// dependencies than a unit may hold is blocked before any look-up.
func TestLookupsSkippedWhenSourceChecked(t *testing.T) {
	h, gh, gl, pw := threeForges(t)
	gl.changes, pw.changes = nil, nil
	var many []change.Ref
	for i := range 40 {
		k := change.Key(fmt.Sprintf("gh:rock-core/other#%d", 100+i))
		many = append(many, change.Ref{Raw: string(k), Key: k})
	}
	gh.changes = []change.Change{
		pr("gh", "gh:rock-core/base-types#60", change.Ref{Raw: "rock-core/other#11", Key: "gh:rock-core/other#11", Checked: true}),
		pr("gh", "gh:rock-core/base-types#61", many...),
	}
	rep := h.run(t, Act)
	if gh.lookups != 0 {
		t.Errorf("%d look-ups, want none", gh.lookups)
	}
	for _, u := range rep.Units {
		if u.Change == "gh:rock-core/base-types#61" && (u.Outcome != OutcomeBlocked || u.Detail != "names 40 dependencies, more than the 32 allowed: none was looked up") {
			t.Errorf("PR 61: %s %q", u.Outcome, u.Detail)
		}
	}
}

// TestWaitingChange: a change that waits for its patches is reported
// waiting, never triggered, and its dependents wait with it.
func TestWaitingChange(t *testing.T) {
	s1 := series(1, 1, "a")
	s1.Waiting = "1 of 2 patches received"
	s2 := series(2, 1, "b")
	s2.Deps = []change.Ref{{Raw: "<s1@x>", Key: s1.Key, Source: "netdev"}}
	h := newHarness(t, s1, s2)
	rep := h.run(t, Act)
	got := map[change.Key]UnitReport{}
	for _, u := range rep.Units {
		got[u.Change] = u
	}
	if u := got[s1.Key]; u.Outcome != OutcomeWaiting || u.Detail != "1 of 2 patches received" {
		t.Errorf("series 1: %s %q", u.Outcome, u.Detail)
	}
	if u := got[s2.Key]; u.Outcome != OutcomeWaiting || u.Detail != "dependency "+string(s1.Key)+" waits: 1 of 2 patches received" {
		t.Errorf("series 2: %s %q", u.Outcome, u.Detail)
	}
	if len(h.tgt.created) != 0 {
		t.Errorf("%d triggers", len(h.tgt.created))
	}
}

// TestMergedDependencyKept: a dependency that is merged after its
// dependent was built with it stays in that unit (nothing triggers) until
// the base is at one of the commits it was applied as, or moves.
func TestMergedDependencyKept(t *testing.T) {
	dep := series(1, 1, "a")
	top := series(2, 1, "b")
	top.Deps = []change.Ref{{Raw: "<s1@x>", Key: dep.Key, Source: "netdev"}}
	h := newHarness(t, dep, top)
	h.run(t, Act)
	if len(h.tgt.created) != 2 {
		t.Fatalf("%d triggers, want 2", len(h.tgt.created))
	}
	merged := dep
	merged.Merged, merged.Commits = true, []string{"c9"}
	top.Deps[0].Merged, top.Deps[0].Checked = true, true
	h.src.changes = []change.Change{merged, top}
	rep := h.run(t, Act)
	if rep.Count.Triggered != 0 {
		t.Fatalf("the dependency's merge triggered %d", rep.Count.Triggered)
	}
	for _, u := range rep.Units {
		if u.Change == top.Key && (u.Outcome != OutcomeUnchanged || len(u.Deps) != 1) {
			t.Errorf("series 2 after its dependency merged: %s on %v", u.Outcome, u.Deps)
		}
		if u.Change == dep.Key && u.Outcome != OutcomeGone {
			t.Errorf("the merged series: %s, want gone", u.Outcome)
		}
	}
	// A new unit built now takes the base as holding the merged change.
	other := series(3, 1, "c")
	other.Deps = []change.Ref{{Raw: "<s1@x>", Key: dep.Key, Source: "netdev", Merged: true, Checked: true}}
	h.src.changes = []change.Change{merged, top, other}
	h.tgt.created = nil
	h.run(t, Act)
	if len(h.tgt.created) != 1 || h.tgt.created[0].Change != other.Key || len(h.tgt.created[0].Patches) != 1 {
		t.Fatalf("new unit on a merged dependency: %+v", h.tgt.created)
	}
}

func TestInBase(t *testing.T) {
	merged := &change.Change{Key: "m", Merged: true, Commits: []string{"c9"}}
	open := &change.Change{Key: "o"}
	changes := map[change.Key]*change.Change{"m": merged, "o": open}
	inputs := func(commit string, keys ...string) *state.Unit {
		in := fingerprint.Input{BaseCommit: commit}
		for _, k := range keys {
			in.Items = append(in.Items, fingerprint.Item{Key: k})
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		return &state.Unit{Fingerprint: "fp", Inputs: string(b)}
	}
	for _, tc := range []struct {
		name   string
		key    change.Key
		stored *state.Unit
		base   string // the unit's base commit
		exact  string // the base commit in the fingerprint
		want   bool
	}{
		{"open change", "o", inputs("", "o"), "c1", "", false},
		{"built with it, base pinned", "m", inputs("", "m"), "c1", "", false},
		{"built with it, base unmoved", "m", inputs("c1", "m"), "c1", "c1", false},
		{"built with it, base moved", "m", inputs("c1", "m"), "c2", "c2", true},
		{"base at its commit", "m", inputs("", "m"), "c9", "", true},
		{"not built with it", "m", inputs("", "o"), "c1", "", true},
		{"new unit", "m", nil, "c1", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := inBase(changes, tc.stored, targets.Base{Commit: tc.base}, tc.exact)
			if got := held(tc.key); got != tc.want {
				t.Errorf("inBase = %v, want %v", got, tc.want)
			}
		})
	}
}
