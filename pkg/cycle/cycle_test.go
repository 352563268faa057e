package cycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// fakeSource yields whatever the test sets, or fails.
type fakeSource struct {
	name    string
	mu      sync.Mutex
	changes []change.Change
	err     error
}

func (s *fakeSource) Name() string { return s.name }
func (s *fakeSource) Fetch(context.Context) ([]change.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return append([]change.Change(nil), s.changes...), nil
}

// fakeTarget records triggers and adopts a job it already holds for the same
// unit and fingerprint, as a real target must.
type fakeTarget struct {
	name    string
	config  string
	mu      sync.Mutex
	jobs    map[string]targets.Job
	created []targets.Request
	fail    error
	commit  map[string]string // branch -> commit for ResolveBase
	waitFor map[string]bool
}

func newTarget(name string) *fakeTarget {
	return &fakeTarget{name: name, config: "cfg1", jobs: map[string]targets.Job{}, commit: map[string]string{"main": "c1"}, waitFor: map[string]bool{}}
}

func (t *fakeTarget) Name() string       { return t.name }
func (t *fakeTarget) ConfigHash() string { return t.config }
func (t *fakeTarget) ResolveBase(_ context.Context, url, branch string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waitFor[branch] {
		return "", fmt.Errorf("no checkout of %s %s: %w", url, branch, targets.ErrWaiting)
	}
	return t.commit[branch], nil
}
func (t *fakeTarget) Trigger(_ context.Context, r targets.Request) (targets.Job, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail != nil {
		return targets.Job{}, t.fail
	}
	k := fmt.Sprintf("%s/%s/%d", r.Unit, r.Fingerprint, r.Attempt)
	if j, ok := t.jobs[k]; ok {
		j.Adopted = true
		return j, nil
	}
	n := 1
	for _, c := range t.created {
		if c.Unit == r.Unit {
			n++
		}
	}
	// Triggers run concurrently: the id depends on the unit, not on the order.
	j := targets.Job{Target: t.name, ID: fmt.Sprintf("job-%s-%d", path.Base(string(r.Change)), n), BaseCommit: r.Base.Commit}
	t.jobs[k] = j
	t.created = append(t.created, r)
	return j, nil
}

func (t *fakeTarget) triggers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.created)
}

// memStore keeps the state as the JSON a real store would write, so every
// cycle starts from what was persisted, and can fail its next save.
type memStore struct {
	st       *state.State
	failSave error
	saves    int
}

func (m *memStore) Load() (*state.State, error) {
	if m.st == nil {
		return state.New(), nil
	}
	return clone(m.st), nil
}
func (m *memStore) Save(st *state.State) error {
	if m.failSave != nil {
		err := m.failSave
		m.failSave = nil
		return err
	}
	m.saves++
	m.st = clone(st)
	return nil
}

// clone copies st through JSON, as a save and a load would.
func clone(st *state.State) *state.State {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	out := state.New()
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

var base = change.Base{Tree: "net-next", URL: "https://git.example.org/net-next.git", Branch: "main", Policy: change.PolicyPinned}

func series(id int, version int, hashes ...string) change.Change {
	c := change.Change{
		Key:     change.Key(fmt.Sprintf("pw:pw.example.org/netdev/series/%d", id)),
		Source:  "netdev",
		Title:   fmt.Sprintf("series %d", id),
		Version: version,
		Content: hashes,
		Base:    base,
		Targets: []string{"kci"},
	}
	for i, h := range hashes {
		c.Patches = append(c.Patches, change.Patch{ID: int64(id*10 + i), Hash: h, MboxURL: fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", id*10+i)})
	}
	return c
}

type harness struct {
	src   *fakeSource
	tgt   *fakeTarget
	store *memStore
	now   time.Time
	r     *Runner
}

func newHarness(t *testing.T, changes ...change.Change) *harness {
	t.Helper()
	h := &harness{
		src:   &fakeSource{name: "netdev", changes: changes},
		tgt:   newTarget("kci"),
		store: &memStore{},
		now:   time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC),
	}
	h.r = h.runner()
	return h
}

// runner builds a fresh Runner, as a restarted process would.
func (h *harness) runner() *Runner {
	return New(Options{
		Sources:   []Source{h.src},
		Targets:   []Target{h.tgt},
		Store:     h.store,
		GoneGrace: time.Hour,
		Now:       func() time.Time { return h.now },
	})
}

func (h *harness) run(t *testing.T, mode Mode) *Report {
	t.Helper()
	rep, err := h.r.Run(context.Background(), mode, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func outcomes(rep *Report) map[string]Outcome {
	m := map[string]Outcome{}
	for _, u := range rep.Units {
		m[u.Unit] = u.Outcome
	}
	return m
}

func unit(id int) string {
	return change.UnitKey(change.Key(fmt.Sprintf("pw:pw.example.org/netdev/series/%d", id)), "kci")
}

func TestTriggerOnceOnUnchangedData(t *testing.T) {
	h := newHarness(t, series(1, 1, "a", "b"), series(2, 1, "c"))
	first := h.run(t, Act)
	if first.Count.Triggered != 2 || h.tgt.triggers() != 2 {
		t.Fatalf("first cycle: triggered %d (target saw %d), want 2", first.Count.Triggered, h.tgt.triggers())
	}
	h.now = h.now.Add(5 * time.Minute)
	second := h.run(t, Act)
	if second.Count.Triggered != 0 || second.Count.Unchanged != 2 || h.tgt.triggers() != 2 {
		t.Fatalf("second cycle: triggered %d unchanged %d (target saw %d), want 0/2/2", second.Count.Triggered, second.Count.Unchanged, h.tgt.triggers())
	}
	u := h.store.st.Units[unit(1)]
	if u.Job == nil || u.Job.ID != "job-1-1" || u.TriggeredAt == nil || u.Fingerprint == "" || len(u.Inputs) == 0 {
		t.Fatalf("state of triggered unit incomplete: %+v", u)
	}
	first0 := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	if !u.FirstSeen.Equal(first0) || !u.LastSeen.Equal(first0) {
		t.Fatalf("first/last seen after 5 minutes = %v/%v, want both %v (LastSeen kept to %v)", u.FirstSeen, u.LastSeen, first0, SeenResolution)
	}
	h.now = h.now.Add(SeenResolution)
	h.run(t, Act)
	u = h.store.st.Units[unit(1)]
	if !u.FirstSeen.Equal(first0) || !u.LastSeen.Equal(h.now) {
		t.Fatalf("first/last seen = %v/%v, want %v/%v", u.FirstSeen, u.LastSeen, first0, h.now)
	}
}

// TestIdleCycleChangesNoState: a cycle that finds nothing changed leaves
// the state as it was, so that its Save writes nothing (an idle tick at
// 10k units would otherwise encode and write a 30 MB file). A field
// stamped on every cycle fails it.
func TestIdleCycleChangesNoState(t *testing.T) {
	h := newHarness(t, series(1, 1, "a", "b"), series(2, 1, "c"))
	h.run(t, Act)
	h.now = h.now.Add(time.Minute)
	h.run(t, Act) // the jobs' results, reports
	before, err := json.Marshal(h.store.st)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.now = h.now.Add(time.Minute)
		if rep := h.run(t, Act); rep.Count.Triggered != 0 {
			t.Fatalf("idle cycle triggered %d", rep.Count.Triggered)
		}
		after, err := json.Marshal(h.store.st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("an idle cycle changed the state:\nbefore %s\nafter  %s", before, after)
		}
	}
}

func TestRestamp(t *testing.T) {
	at := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"same cycle", at, at},
		{"a minute later", at.Add(time.Minute), at},
		{"just under the resolution", at.Add(SeenResolution - time.Nanosecond), at},
		{"at the resolution", at.Add(SeenResolution), at.Add(SeenResolution)},
		{"an hour later", at.Add(time.Hour), at.Add(time.Hour)},
		{"clock set back", at.Add(-time.Minute), at.Add(-time.Minute)},
	} {
		if got := restamp(at, tc.now); !got.Equal(tc.want) {
			t.Errorf("%s: restamp(%v, %v) = %v, want %v", tc.name, at, tc.now, got, tc.want)
		}
	}
	if got := restamp(time.Time{}, at); !got.Equal(at) {
		t.Errorf("restamp of a zero stamp = %v, want %v", got, at)
	}
}

func TestChangedContentRetriggersWithReason(t *testing.T) {
	h := newHarness(t, series(1, 1, "a", "b"))
	h.run(t, Act)
	h.src.changes = []change.Change{series(1, 1, "a", "B")}
	rep := h.run(t, Act)
	if rep.Count.Triggered != 1 {
		t.Fatalf("triggered %d, want 1", rep.Count.Triggered)
	}
	u := rep.Units[0]
	if u.Reason != ReasonChanged || len(u.Why) == 0 || !strings.Contains(strings.Join(u.Why, ";"), "series/1") {
		t.Fatalf("reason %v why %q: want changed naming the series", u.Reason, u.Why)
	}
}

func TestCrashBetweenTriggerAndPersistAdoptsInsteadOfDuplicating(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.store.failSave = errors.New("killed before the state write")
	if _, err := h.r.Run(context.Background(), Act, nil); err == nil {
		t.Fatal("Run: want the save error")
	}
	h.r = h.runner() // restart: nothing persisted
	rep := h.run(t, Act)
	if h.tgt.triggers() != 1 {
		t.Fatalf("target created %d jobs, want 1", h.tgt.triggers())
	}
	if got := outcomes(rep)[unit(1)]; got != OutcomeAdopted {
		t.Fatalf("outcome after restart = %s, want adopted", got)
	}
	if h.store.st.Units[unit(1)].Job == nil {
		t.Fatal("adopted job not recorded in state")
	}
}

func TestUnknownSourceNeitherTriggersNorForgets(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.run(t, Act)
	h.src.err = errors.New("GET https://pw.example.org/api/1.3/patches/?page=2: 502 Bad Gateway")
	h.src.changes = nil
	h.now = h.now.Add(48 * time.Hour) // far past the grace period
	rep := h.run(t, Act)
	if len(rep.UnknownSources) != 1 || rep.Errors == 0 {
		t.Fatalf("unknown sources %v errors %d: want the failed source reported", rep.UnknownSources, rep.Errors)
	}
	if rep.Count.Gone != 0 || h.store.st.Units[unit(1)] == nil || h.store.st.Units[unit(1)].GoneSince != nil {
		t.Fatalf("a failed fetch read as gone: %+v", rep.Units)
	}
}

func TestGoneThenForgottenAfterGrace(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"), series(2, 1, "b"))
	h.run(t, Act)
	h.src.changes = []change.Change{series(2, 1, "b")} // series 1 superseded or archived
	h.now = h.now.Add(time.Minute)
	rep := h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeGone {
		t.Fatalf("outcome = %q, want gone", got)
	}
	if h.store.st.Units[unit(1)] == nil {
		t.Fatal("unit forgotten before its grace period")
	}
	h.now = h.now.Add(2 * time.Hour)
	rep = h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeForgotten {
		t.Fatalf("outcome = %q, want forgotten", got)
	}
	if _, ok := h.store.st.Units[unit(1)]; ok {
		t.Fatal("unit still in state after grace period")
	}
	if h.tgt.triggers() != 2 {
		t.Fatalf("triggers = %d, want 2 (gone units are not triggered)", h.tgt.triggers())
	}
}

func TestBasePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy change.Policy
		want   int // triggers after the base moves
	}{
		{change.PolicyPinned, 1},
		{change.PolicyFollow, 2},
		{change.PolicyTag, 1}, // no base-commit in the change: behaves as pinned
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			c := series(1, 1, "a")
			c.Base.Policy = tc.policy
			h := newHarness(t, c)
			h.run(t, Act)
			h.tgt.commit["main"] = "c2"
			rep := h.run(t, Act)
			if h.tgt.triggers() != tc.want {
				t.Fatalf("triggers = %d, want %d", h.tgt.triggers(), tc.want)
			}
			if tc.want == 2 && !strings.Contains(strings.Join(rep.Units[0].Why, ";"), "base commit") {
				t.Fatalf("why = %q, want the base move named", rep.Units[0].Why)
			}
			if tc.want == 1 {
				if got := h.store.st.Units[unit(1)].BaseCommit; got != "c1" {
					t.Fatalf("pinned base = %q, want c1", got)
				}
			}
		})
	}
}

func TestTagPolicyUsesBaseCommitOfTheChange(t *testing.T) {
	c := series(1, 1, "a")
	c.Base.Policy = change.PolicyTag
	c.BaseCommit = "feedface"
	h := newHarness(t, c)
	h.run(t, Act)
	if got := h.tgt.created[0].Base; got.Commit != "feedface" || !got.Exact {
		t.Fatalf("base = %+v, want the change's base-commit, exact", got)
	}
}

func TestWaitingBaseThenTrigger(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.tgt.waitFor["main"] = true
	rep := h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeWaiting || h.tgt.triggers() != 0 || rep.Errors != 0 {
		t.Fatalf("outcome %q triggers %d errors %d: want waiting, 0, 0", got, h.tgt.triggers(), rep.Errors)
	}
	h.tgt.waitFor["main"] = false
	rep = h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeTriggered {
		t.Fatalf("outcome %q, want triggered once the base resolves", got)
	}
}

func TestDependencyChangeRetriggersDependent(t *testing.T) {
	dep := series(1, 1, "a")
	top := series(2, 1, "b")
	top.Deps = []change.Ref{{Raw: "<cover@x>", Key: dep.Key, Source: "netdev"}}
	h := newHarness(t, dep, top)
	h.run(t, Act)
	if got := h.tgt.created; len(got) != 2 {
		t.Fatalf("created %d jobs, want 2", len(got))
	}
	for _, r := range h.tgt.created {
		if r.Change == top.Key && (len(r.Patches) != 2 || r.Patches[0].Hash != "a" || r.Patches[1].Hash != "b") {
			t.Fatalf("dependent request patches = %+v, want dependency's first", r.Patches)
		}
	}
	dep2 := series(1, 1, "a2")
	h.src.changes = []change.Change{dep2, top}
	rep := h.run(t, Act)
	if rep.Count.Triggered != 2 {
		t.Fatalf("triggered %d, want dependency and dependent", rep.Count.Triggered)
	}
	for _, u := range rep.Units {
		if u.Change == top.Key && !strings.Contains(strings.Join(u.Why, ";"), "dependency") {
			t.Fatalf("dependent why = %q, want the dependency named", u.Why)
		}
	}
}

func TestBlockedDependencyIsNotTriggered(t *testing.T) {
	top := series(2, 1, "b")
	top.Deps = []change.Ref{{Raw: "<gone@x>", Key: "pw:pw.example.org/netdev/series/99", Source: "netdev"}}
	h := newHarness(t, top)
	rep := h.run(t, Act)
	if got := outcomes(rep)[unit(2)]; got != OutcomeBlocked || h.tgt.triggers() != 0 {
		t.Fatalf("outcome %q triggers %d, want blocked and none", got, h.tgt.triggers())
	}
	if !strings.Contains(rep.Units[0].Detail, "series/99") {
		t.Fatalf("detail %q does not name the missing dependency", rep.Units[0].Detail)
	}
}

func TestFailedTriggerIsRetriedNextCycle(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.tgt.fail = errors.New("POST https://kci.example.org/api/patchset: 500 Internal Server Error")
	rep := h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeFailed || rep.Errors != 1 {
		t.Fatalf("outcome %q errors %d, want failed/1", got, rep.Errors)
	}
	h.tgt.fail = nil
	rep = h.run(t, Act)
	if got := outcomes(rep)[unit(1)]; got != OutcomeTriggered {
		t.Fatalf("outcome %q, want triggered on retry", got)
	}
}

func TestPlanNeitherTriggersNorWrites(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	rep := h.run(t, Plan)
	if got := outcomes(rep)[unit(1)]; got != OutcomeTrigger {
		t.Fatalf("plan outcome %q, want trigger", got)
	}
	if h.tgt.triggers() != 0 || h.store.saves != 0 {
		t.Fatalf("plan triggered %d and saved %d times", h.tgt.triggers(), h.store.saves)
	}
	if rep.Units[0].Fingerprint == "" {
		t.Fatal("plan shows no fingerprint")
	}
}

func TestScopeLeavesOtherSourcesAlone(t *testing.T) {
	other := &fakeSource{name: "bpf", changes: []change.Change{func() change.Change {
		c := series(7, 1, "z")
		c.Key, c.Source = "pw:pw.example.org/bpf/series/7", "bpf"
		return c
	}()}}
	h := newHarness(t, series(1, 1, "a"))
	h.r = New(Options{Sources: []Source{h.src, other}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour, Now: func() time.Time { return h.now }})
	rep, err := h.r.Run(context.Background(), Act, []string{"netdev"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count.Triggered != 1 || h.tgt.triggers() != 1 {
		t.Fatalf("triggered %d, want only the in-scope unit", rep.Count.Triggered)
	}
	if _, err := h.r.Run(context.Background(), Act, []string{"nosuch"}); err == nil {
		t.Fatal("unknown scope accepted")
	}
}

func TestPullRequestBaseNeedsNoResolution(t *testing.T) {
	c := series(1, 1, "a")
	c.BaseSHA = "forge-base"
	h := newHarness(t, c)
	h.tgt.waitFor["main"] = true // the branch itself cannot be resolved
	h.run(t, Act)
	if h.tgt.triggers() != 1 || h.tgt.created[0].Base.Commit != "forge-base" {
		t.Fatalf("triggers %d: want one built on the forge's base commit", h.tgt.triggers())
	}
	c.Base.Policy = change.PolicyFollow
	h2 := newHarness(t, c)
	h2.run(t, Act)
	if got := h2.tgt.created[0].Base.Commit; got != "c1" {
		t.Fatalf("follow built on %q, want the branch tip c1 (the forge's view can lag)", got)
	}
}
