package cycle

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
)

// ownerSource is a fakeSource that claims keys by prefix, answers
// look-ups from a table and may resolve message-ids.
type ownerSource struct {
	*fakeSource
	own, host string
	states    map[change.Key]change.State
	msgids    map[string]change.Key
	lookups   int
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
	return o.states[k], nil
}

func (o *ownerSource) ResolveMsgID(_ context.Context, id string) (change.Key, error) {
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
	if gh.lookups != 4 {
		t.Fatalf("look-ups = %d, want 2 per cycle (the merged and the closed PR), never the ignored host", gh.lookups)
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
