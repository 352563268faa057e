package patchwork

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// recTarget is a CI target that records what it is asked to build and
// resolves every branch to base.
type recTarget struct {
	mu       sync.Mutex
	base     string
	requests []targets.Request
}

var (
	_ cycle.Target       = (*recTarget)(nil)
	_ cycle.BaseResolver = (*recTarget)(nil)
)

func (t *recTarget) Name() string       { return "kernelci" }
func (t *recTarget) ConfigHash() string { return "config" }

func (t *recTarget) ResolveBase(context.Context, string, string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.base, nil
}

func (t *recTarget) Trigger(_ context.Context, r targets.Request) (targets.Job, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests = append(t.requests, r)
	return targets.Job{ID: fmt.Sprintf("job-%d", len(t.requests)), BaseCommit: r.Base.Commit}, nil
}

// take returns the requests made since the last call.
func (t *recTarget) take() []targets.Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.requests
	t.requests = nil
	return r
}

func (t *recTarget) setBase(c string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.base = c
}

// memStore keeps the state in memory.
type memStore struct{ st *state.State }

func (m *memStore) Load() (*state.State, error) { return m.st, nil }
func (m *memStore) Save(st *state.State) error  { m.st = st; return nil }

// world is the real Patchwork source of netdev on the fake, in a cycle.
type world struct {
	srv    *server
	target *recTarget
	runner *cycle.Runner
}

func newWorld(t *testing.T, phase pwfake.Phase, policy change.Policy) *world {
	t.Helper()
	srv := newServer(t, phase, nil)
	o := srv.opts("netdev")
	o.Base.Policy = policy
	src := srv.newSource(t, o)
	tgt := &recTarget{base: strings.Repeat("a", 40)}
	r := cycle.New(cycle.Options{Sources: []cycle.Source{src}, Targets: []cycle.Target{tgt},
		Store: &memStore{st: state.New()}, GoneGrace: time.Hour, Now: func() time.Time { return testNow }})
	return &world{srv: srv, target: tgt, runner: r}
}

// run runs one cycle and returns its units by series id.
func (w *world) run(t *testing.T, mode cycle.Mode) map[int64]cycle.UnitReport {
	t.Helper()
	rep, err := w.runner.Run(t.Context(), mode, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]cycle.UnitReport{}
	for _, u := range rep.Units {
		_, num, _ := strings.Cut(string(u.Change), "/series/")
		var id int64
		fmt.Sscan(num, &id)
		out[id] = u
	}
	return out
}

// requestPatches are the ids of the patches of a request, in order.
func requestPatches(r targets.Request) []int64 {
	var ids []int64
	for _, p := range r.Patches {
		ids = append(ids, p.ID)
	}
	return ids
}

// request returns the request of series id among rs.
func request(t *testing.T, rs []targets.Request, id int64) targets.Request {
	t.Helper()
	for _, r := range rs {
		if r.Change == seriesKeys("netdev", id)[0] {
			return r
		}
	}
	t.Fatalf("series %d was not triggered", id)
	return targets.Request{}
}

// accept marks the patches of series 1 (1 to 4) accepted, applied as
// commit, as a maintainer does (recorded: patches-detail-9-accepted).
func accept(t *testing.T, f *pwfake.Fake, commit string) {
	t.Helper()
	for id := int64(1); id <= 4; id++ {
		if err := f.Decide(id, "accepted", commit); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAcceptedDependencyStaysUntilTheBaseHoldsIt: series 16 depends on
// series 1 (recorded Depends-on URL). When series 1 is accepted, series 16
// is not rebuilt without it on a base that cannot hold it: it keeps series
// 1's patches, and the acceptance alone triggers nothing. Only when its
// base moves (follow) is it rebuilt, on the new base, without them.
func TestAcceptedDependencyStaysUntilTheBaseHoldsIt(t *testing.T) {
	const applied = "1c3d5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f9"
	for _, policy := range []change.Policy{change.PolicyPinned, change.PolicyFollow} {
		t.Run(string(policy), func(t *testing.T) {
			w := newWorld(t, pwfake.P2DependsOn, policy)
			w.run(t, cycle.Act)
			first := request(t, w.target.take(), 16)
			if got := requestPatches(first); !slices.Equal(got, []int64{1, 2, 3, 4, 27, 28, 29, 30}) {
				t.Fatalf("series 16 first built with patches %v", got)
			}

			accept(t, w.srv.fake, applied)
			units := w.run(t, cycle.Act)
			if got := w.target.take(); len(got) != 0 {
				t.Errorf("accepting series 1 triggered %d builds, want none: %v", len(got), requestPatches(got[0]))
			}
			if u := units[16]; u.Outcome != cycle.OutcomeUnchanged || !slices.Contains(u.Deps, seriesKeys("netdev", 1)[0]) {
				t.Errorf("series 16 after series 1 was accepted: %s %s, built on %v", u.Outcome, u.Detail, u.Deps)
			}
			if u := units[1]; u.Outcome != cycle.OutcomeGone {
				t.Errorf("series 1 accepted: %s, want gone", u.Outcome)
			}

			// The base moves past the accepted series.
			w.target.setBase(strings.Repeat("b", 40))
			units = w.run(t, cycle.Act)
			reqs := w.target.take()
			if policy == change.PolicyPinned {
				if len(reqs) != 0 || units[16].Outcome != cycle.OutcomeUnchanged {
					t.Errorf("pinned base: a base move triggered %d builds, series 16 %s", len(reqs), units[16].Outcome)
				}
				return
			}
			r := request(t, reqs, 16)
			if got := requestPatches(r); !slices.Equal(got, []int64{27, 28, 29, 30}) || r.Base.Commit != strings.Repeat("b", 40) {
				t.Errorf("after the base moved series 16 is built with %v on %s, want without series 1 on the new base", got, r.Base.Commit)
			}
		})
	}
}

// TestDependencyLookupFailureIsUnknown: when the look-up of a dependency
// that left the snapshot fails, its dependent is unknown for the cycle:
// neither built without it (as if merged) nor blocked or forgotten.
func TestDependencyLookupFailureIsUnknown(t *testing.T) {
	w := newWorld(t, pwfake.P2DependsOn, change.PolicyPinned)
	w.run(t, cycle.Act)
	w.target.take()
	accept(t, w.srv.fake, "")
	w.srv.fake.FailPath("/api/1.3/patches/?per_page=250&project=netdev&series=1", http.StatusBadGateway)
	units := w.run(t, cycle.Act)
	if got := w.target.take(); len(got) != 0 {
		t.Errorf("a failed look-up triggered %d builds", len(got))
	}
	u := units[16]
	if u.Outcome != cycle.OutcomeUnknown || !strings.Contains(u.Detail, "502") {
		t.Errorf("series 16 with a failed dependency look-up: %s %q, want unknown", u.Outcome, u.Detail)
	}
	if units[4].Outcome != cycle.OutcomeUnchanged {
		t.Errorf("series 4, which depends on nothing: %s", units[4].Outcome)
	}
}

// TestDependencyFollowsRevisionLine: a Depends-on naming v2 of "A sample
// series" (series 3, marked superseded) follows the revision line to v3
// (series 15, recorded: p2-03-series-list-q-sample finds v1, v2 and v3),
// instead of reading as closed without being merged. v3 has 1 of 2 patches
// here, so the dependent waits for it.
func TestDependencyFollowsRevisionLine(t *testing.T) {
	w := newWorld(t, pwfake.P2OnePatch, change.PolicyPinned)
	for _, id := range []int64{7, 8} {
		if err := w.srv.fake.Decide(id, "superseded", ""); err != nil {
			t.Fatal(err)
		}
	}
	// Patch 1 of series 1 (recorded: mbox-series-1) names v2's cover letter.
	w.srv.fake.EditText("dsa_master_netdev().\n\nReviewed-by:",
		"dsa_master_netdev().\n\nDepends-on: <1473632795-9971-1-git-send-email-stephenfinucane@gmail.com>\nReviewed-by:")
	units := w.run(t, cycle.Plan)
	u := units[1]
	if u.Outcome != cycle.OutcomeWaiting || !strings.Contains(u.Detail, "series/15 waits: 1 of 2 patches received") {
		t.Errorf("series 1, depending on v2: %s %q, want waiting for v3", u.Outcome, u.Detail)
	}
	if units[15].Outcome != cycle.OutcomeWaiting || units[15].Detail != "1 of 2 patches received" {
		t.Errorf("series 15: %s %q", units[15].Outcome, units[15].Detail)
	}

	// Complete, v3 is what series 1 is built on.
	if err := w.srv.fake.SetPhase(pwfake.P2V3Complete); err != nil {
		t.Fatal(err)
	}
	units = w.run(t, cycle.Plan)
	if u := units[1]; u.Outcome != cycle.OutcomeTrigger || !slices.Equal(u.Deps, seriesKeys("netdev", 15)) {
		t.Errorf("series 1 with v3 complete: %s %q on %v", u.Outcome, u.Detail, u.Deps)
	}
}

// TestDependencyOutcomes: each kind of dependency trouble gives its unit a
// clear outcome, and the others build.
func TestDependencyOutcomes(t *testing.T) {
	const cover16 = "Depends-on: <20261121050000.4242-0-stephenfinucane@example.org>"
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("<m%d@example.org>", i)
	}
	tests := []struct {
		name   string
		edits  [][2]string
		unit   int64
		want   cycle.Outcome
		detail string
	}{
		{"self", [][2]string{{cover16, "Depends-on: <cover.1795236401.git.alice@example.org>"}}, 16, cycle.OutcomeTrigger, ""},
		{"unknown message-id", [][2]string{{cover16, "Depends-on: <nosuch@example.org>"}}, 16, cycle.OutcomeBlocked,
			`unresolved dependency "<nosuch@example.org>"`},
		{"cycle", [][2]string{{"dsa_master_netdev().\n\nReviewed-by:", "dsa_master_netdev().\n\nDepends-on: <cover.1795236401.git.alice@example.org>\nReviewed-by:"}},
			1, cycle.OutcomeBlocked, "dependency cycle: pw:patchwork.test/netdev/series/1 -> pw:patchwork.test/netdev/series/16 -> pw:patchwork.test/netdev/series/1"},
		{"very long line", [][2]string{{cover16, "Depends-on: " + strings.Join(many, ", ")}}, 16, cycle.OutcomeBlocked,
			"names 41 dependencies, more than the 32 allowed: none was looked up"},
		{"lines over the cap", [][2]string{{cover16, "Depends-on: " + strings.Join(many, "\nDepends-on: ")}}, 16, cycle.OutcomeBlocked,
			"names 41 dependencies, more than the 32 allowed: none was looked up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, pwfake.P2DependsOn, change.PolicyPinned)
			for _, e := range tt.edits {
				w.srv.fake.EditText(e[0], e[1])
			}
			before := w.srv.fake.Requests()
			units := w.run(t, cycle.Plan)
			if u := units[tt.unit]; u.Outcome != tt.want || u.Detail != tt.detail {
				t.Errorf("series %d: %s %q, want %s %q", tt.unit, u.Outcome, u.Detail, tt.want, tt.detail)
			}
			if units[4].Outcome != cycle.OutcomeTrigger {
				t.Errorf("series 4: %s %q", units[4].Outcome, units[4].Detail)
			}
			if strings.HasPrefix(tt.detail, "names") {
				after := w.srv.fake.Requests()
				if n := after["/api/1.3/covers/"] - before["/api/1.3/covers/"]; n != 0 {
					t.Errorf("%d message-id look-ups over the cap, want none", n)
				}
			}
		})
	}
}

// TestUnresolvedMsgIDBackoff: a message-id nobody holds is asked at most
// once per Fetch after its first look-up, and less and less often.
func TestUnresolvedMsgIDBackoff(t *testing.T) {
	var mu sync.Mutex
	lookups := 0
	srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("msgid") == "nosuch@example.org" {
				mu.Lock()
				lookups++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	srv.fake.EditText("Depends-on: <20261121050000.4242-0-stephenfinucane@example.org>", "Depends-on: <nosuch@example.org>")
	s := srv.newSource(t, srv.opts("netdev"))
	var perFetch []int
	for range 16 {
		changes, err := s.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// The cycle offers the unresolved message-id to every source that
		// resolves them, this one included: it must not cost more.
		if _, err := s.ResolveMsgID(t.Context(), "nosuch@example.org"); err != nil {
			t.Fatal(err)
		}
		if deps := byKey(t, changes, seriesKeys("netdev", 16)[0]).Deps; deps[0].Key != "" || deps[0].Raw != "<nosuch@example.org>" {
			t.Fatalf("series 16 deps %+v", deps)
		}
		mu.Lock()
		perFetch = append(perFetch, lookups)
		lookups = 0
		mu.Unlock()
	}
	// Both listings (patches, covers) at first; then one at a time, 2, 4,
	// 8 … Fetches after the last look-up (the wheel's budget, one
	// re-check a Fetch, allows it: nothing else is unresolved): Fetches
	// 3, 7, 15, and at least on the Fetch of its slot of 64.
	want := []int{2, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}
	if !slices.Equal(perFetch, want) {
		t.Errorf("message-id look-ups per Fetch %v, want %v", perFetch, want)
	}
}

// TestDependencyOutsideTheListingAskedOnASlowerSchedule: a dependency that
// left the snapshot is asked about with at most one request per tick after
// its first look-up (which reads its states and its revision line; the
// source's own look-up is not repeated by the cycle; it was asked with and
// without project= before): a re-check of an open one asks its states and
// its revision line in turn. It is not asked on every tick: a merged series whose
// patches name their commits and a closed one are final, never asked
// again; one still open (deferred), or merged without its commits yet, is
// asked again 2, 4, 8 … ticks after its last look-up while the wheel's
// budget allows (alone, it does) and at least on the ticks of its slot
// (series 1 holds class 12 of 16: ticks 3, 7, then 12, 28 …), and on the
// tick the listing changed. The dependent's outcome stays the same
// throughout.
func TestDependencyOutsideTheListingAskedOnASlowerSchedule(t *testing.T) {
	const applied = "1c3d5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f9"
	tests := []struct {
		name    string
		state   string // of series 1's patches
		commit  string
		change  int // the tick before which the listing changes; 0: never
		outcome cycle.Outcome
		asked   []int // the ticks series 1 is asked about on
	}{
		{"open outside the actionable states", "deferred", "", 0, cycle.OutcomeBlocked, []int{1, 3, 7, 12}},
		{"open, the listing changes", "deferred", "", 6, cycle.OutcomeBlocked, []int{1, 3, 6, 12}},
		{"closed", "rejected", "", 4, cycle.OutcomeBlocked, []int{1}},
		{"merged with its commits", "accepted", applied, 4, cycle.OutcomeTrigger, []int{1}},
		{"merged, commits not known yet", "accepted", "", 0, cycle.OutcomeTrigger, []int{1, 3, 7, 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			asked := 0
			srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/api/1.3/patches/" && r.URL.Query().Get("series") == "1" {
						mu.Lock()
						asked++
						mu.Unlock()
					}
					if r.URL.Path == "/api/1.3/series/" && r.URL.Query().Has("q") {
						// Only series 1's revision line is searched.
						mu.Lock()
						asked++
						mu.Unlock()
					}
					h.ServeHTTP(w, r)
				})
			})
			for id := int64(1); id <= 4; id++ {
				if err := srv.fake.Decide(id, tt.state, tt.commit); err != nil {
					t.Fatal(err)
				}
			}
			src := srv.newSource(t, srv.opts("netdev"))
			r := cycle.New(cycle.Options{Sources: []cycle.Source{src}, Targets: []cycle.Target{&recTarget{base: "c1"}},
				Store: &memStore{st: state.New()}, GoneGrace: time.Hour, Now: func() time.Time { return testNow }})
			var got []int
			for tick := 1; tick <= 12; tick++ {
				if tick == tt.change {
					// Another series leaves the listing.
					if err := srv.fake.Decide(7, "deferred", ""); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := r.Run(t.Context(), cycle.Plan, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range rep.Units {
					if u.Change == seriesKeys("netdev", 16)[0] && u.Outcome != tt.outcome {
						t.Errorf("tick %d: series 16 on series 1 %s: %s %q, want %s", tick, tt.state, u.Outcome, u.Detail, tt.outcome)
					}
				}
				mu.Lock()
				switch {
				case tick == 1 && asked > 2:
					t.Errorf("tick 1: series 1 was asked about with %d requests, want at most 2 (its states, its revision line)", asked)
				case tick > 1 && asked > 1:
					t.Errorf("tick %d: series 1 was asked about with %d requests, want at most one", tick, asked)
				case asked > 0:
					got = append(got, tick)
				}
				asked = 0
				mu.Unlock()
			}
			if !slices.Equal(got, tt.asked) {
				t.Errorf("series 1 was asked about on ticks %v, want %v", got, tt.asked)
			}
		})
	}
}

// TestDependencyOnANewerRevisionOutsideTheListing: a dependency on v2 of
// "A sample series" (superseded) whose v3 (series 15) is deferred, outside
// the listing, follows its line to v3, and is then re-checked as v3 with
// one request per tick at most (v3's states and its line, in turn; it was
// three, v2's states, the search and v3's states, on every re-check); v3
// accepted with its commits is found within two re-check intervals, the
// dependent is built, and v3 is not asked about again.
func TestDependencyOnANewerRevisionOutsideTheListing(t *testing.T) {
	const applied = "1c3d5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f9"
	var mu sync.Mutex
	asked := 0
	srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if (r.URL.Path == "/api/1.3/patches/" && slices.Contains([]string{"2", "3", "15"}, q.Get("series"))) ||
				(r.URL.Path == "/api/1.3/series/" && q.Has("q")) {
				mu.Lock()
				asked++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	// Series 16 names series 1 (accepted with its commits: final) and,
	// instead of series 1's cover letter, v2's.
	srv.fake.EditText("Depends-on: <20261121050000.4242-0-stephenfinucane@example.org>",
		"Depends-on: <1473632795-9971-1-git-send-email-stephenfinucane@gmail.com>")
	accept(t, srv.fake, applied)
	for id, state := range map[int64]string{7: "superseded", 8: "superseded", 27: "deferred", 28: "deferred"} {
		if err := srv.fake.Decide(id, state, ""); err != nil {
			t.Fatal(err)
		}
	}
	src := srv.newSource(t, srv.opts("netdev"))
	r := cycle.New(cycle.Options{Sources: []cycle.Source{src}, Targets: []cycle.Target{&recTarget{base: "c1"}},
		Store: &memStore{st: state.New()}, GoneGrace: time.Hour, Now: func() time.Time { return testNow }})
	const acceptedOn = 20
	var got []int
	built := 0
	for tick := 1; tick <= acceptedOn+2*maxDepEvery; tick++ {
		if tick == acceptedOn {
			for _, id := range []int64{27, 28} {
				if err := srv.fake.Decide(id, "accepted", applied); err != nil {
					t.Fatal(err)
				}
			}
		}
		rep, err := r.Run(t.Context(), cycle.Plan, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range rep.Units {
			if u.Change != seriesKeys("netdev", 16)[0] {
				continue
			}
			switch {
			case u.Outcome == cycle.OutcomeTrigger && built == 0:
				built = tick
			case u.Outcome != cycle.OutcomeBlocked && built == 0:
				t.Errorf("tick %d: series 16: %s %q, want blocked until v3 is found accepted", tick, u.Outcome, u.Detail)
			}
		}
		mu.Lock()
		if tick > 1 && asked > 1 {
			t.Errorf("tick %d: v2 and v3 were asked about with %d requests, want at most one", tick, asked)
		}
		if asked > 0 {
			got = append(got, tick)
			if built != 0 && built < tick {
				t.Errorf("tick %d: v3 asked about again after it was found accepted on tick %d", tick, built)
			}
		}
		asked = 0
		mu.Unlock()
	}
	if built < acceptedOn || built >= acceptedOn+2*maxDepEvery {
		t.Errorf("v3 accepted before tick %d: series 16 built on it on tick %d, want within %d ticks", acceptedOn, built, 2*maxDepEvery)
	}
	t.Logf("asked on ticks %v; built on tick %d", got, built)
}

var (
	_ cycle.Owner         = (*Source)(nil)
	_ cycle.Follower      = (*Source)(nil)
	_ cycle.MsgIDResolver = (*Source)(nil)
	_ cycle.MergedLoader  = (*Source)(nil)
)

// otherForge is a source of another forge with one change that names
// Patchwork dependencies.
type otherForge struct{ deps []change.Ref }

func (o *otherForge) Name() string { return "github" }
func (o *otherForge) Fetch(context.Context) ([]change.Change, error) {
	return []change.Change{{Key: "gh:o/r#1", Source: "github", Content: []string{"sha"}, HeadSHA: "sha",
		Base:    change.Base{URL: "https://git.example.org/r.git", Branch: "main", Policy: change.PolicyPinned},
		Targets: []string{"kernelci"}, Deps: slices.Clone(o.deps)}}, nil
}

// TestOtherForgeDependencyFollowsRevisionLine: a pull request naming v1 or
// v2 of "A sample series" (both marked superseded; v3 is series 15) is built
// on v3, not blocked as closed without being merged.
func TestOtherForgeDependencyFollowsRevisionLine(t *testing.T) {
	for _, ref := range []change.Ref{
		{Raw: "<1473632795-9971-1-git-send-email-stephenfinucane@gmail.com>"}, // v2's cover letter
		{Raw: testBase + "/project/netdev/list/?series=2", Key: seriesKeys("netdev", 2)[0]},
	} {
		t.Run(ref.Raw, func(t *testing.T) {
			srv := newServer(t, pwfake.P2V3Complete, nil)
			for _, id := range []int64{7, 8} {
				if err := srv.fake.Decide(id, "superseded", ""); err != nil {
					t.Fatal(err)
				}
			}
			pw := srv.newSource(t, srv.opts("netdev"))
			r := cycle.New(cycle.Options{Sources: []cycle.Source{pw, &otherForge{deps: []change.Ref{ref}}},
				Targets: []cycle.Target{&recTarget{base: "c1"}}, Store: &memStore{st: state.New()},
				GoneGrace: time.Hour, Now: func() time.Time { return testNow }})
			rep, err := r.Run(t.Context(), cycle.Plan, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range rep.Units {
				if u.Change == "gh:o/r#1" && (u.Outcome != cycle.OutcomeTrigger || !slices.Equal(u.Deps, seriesKeys("netdev", 15))) {
					t.Errorf("pull request naming an older revision: %s %q on %v, want built on series 15", u.Outcome, u.Detail, u.Deps)
				}
			}
		})
	}
}

// TestOtherForgeKeepsAcceptedSeries: a pull request built on series 1 is
// not rebuilt without it when series 1 is accepted: the acceptance alone
// triggers nothing across forges either. (Phase 1: no series depends on
// series 1, so only the cycle's look-up can carry it.)
func TestOtherForgeKeepsAcceptedSeries(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	pw := srv.newSource(t, srv.opts("netdev"))
	tgt := &recTarget{base: "c1"}
	pr := &otherForge{deps: []change.Ref{{Raw: testBase + "/project/netdev/list/?series=1", Key: seriesKeys("netdev", 1)[0]}}}
	r := cycle.New(cycle.Options{Sources: []cycle.Source{pw, pr}, Targets: []cycle.Target{tgt},
		Store: &memStore{st: state.New()}, GoneGrace: time.Hour, Now: func() time.Time { return testNow }})
	if _, err := r.Run(t.Context(), cycle.Act, nil); err != nil {
		t.Fatal(err)
	}
	first := tgt.take()
	var built bool
	for _, q := range first {
		if q.Change == "gh:o/r#1" {
			built = slices.Equal(requestPatches(q), []int64{1, 2, 3, 4})
		}
	}
	if !built {
		t.Fatal("the pull request was not built on series 1")
	}
	accept(t, srv.fake, "1c3d5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f9")
	rep, err := r.Run(t.Context(), cycle.Act, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tgt.take(); len(got) != 0 {
		t.Errorf("accepting series 1 triggered %d builds, want none", len(got))
	}
	for _, u := range rep.Units {
		if u.Change == "gh:o/r#1" && (u.Outcome != cycle.OutcomeUnchanged || !slices.Equal(u.Deps, seriesKeys("netdev", 1))) {
			t.Errorf("pull request after series 1 was accepted: %s on %v", u.Outcome, u.Deps)
		}
	}
}
