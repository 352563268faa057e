package cycle

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestAdmit(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	start := admission{Start: true}
	q := func(pos int) admission { return admission{Position: pos} }
	tests := []struct {
		name    string
		cands   []candidate
		limit   map[string]int
		running map[string]int
		want    []admission
	}{
		{"no bound starts all", []candidate{{"a", at(0)}, {"a", at(1)}, {"a", at(2)}}, nil, nil,
			[]admission{start, start, start}},
		{"bound fills the free slots only", []candidate{{"a", at(0)}, {"a", at(1)}, {"a", at(2)}}, map[string]int{"a": 2}, nil,
			[]admission{start, start, q(1)}},
		{"running jobs take slots", []candidate{{"a", at(0)}, {"a", at(1)}}, map[string]int{"a": 2}, map[string]int{"a": 1},
			[]admission{start, q(1)}},
		{"full target starts nothing", []candidate{{"a", at(0)}}, map[string]int{"a": 2}, map[string]int{"a": 3},
			[]admission{q(1)}},
		{"oldest fingerprint first, not list order", []candidate{{"a", at(5)}, {"a", at(1)}, {"a", at(3)}}, map[string]int{"a": 1}, nil,
			[]admission{q(2), start, q(1)}},
		{"same instant keeps list order", []candidate{{"a", at(0)}, {"a", at(0)}, {"a", at(0)}}, map[string]int{"a": 1}, nil,
			[]admission{start, q(1), q(2)}},
		{"targets are bounded apart", []candidate{{"a", at(0)}, {"b", at(1)}, {"a", at(2)}, {"b", at(3)}}, map[string]int{"a": 1, "b": 2}, map[string]int{"b": 1},
			[]admission{start, start, q(1), q(1)}},
		{"a target without a bound beside one with", []candidate{{"a", at(0)}, {"hook", at(1)}, {"a", at(2)}, {"hook", at(3)}}, map[string]int{"a": 1}, nil,
			[]admission{start, start, q(1), start}},
		{"nothing to admit", nil, map[string]int{"a": 1}, nil, []admission{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := admit(tt.cands, tt.limit, tt.running)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("admit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunningJobs(t *testing.T) {
	job := &targets.Job{ID: "j"}
	res := func(s targets.State) *targets.Result { return &targets.Result{State: s} }
	st := state.New()
	st.Units = map[string]*state.Unit{
		"never triggered":  {Target: "a"},
		"just triggered":   {Target: "a", Job: job},
		"pending":          {Target: "a", Job: job, Result: res(targets.StatePending)},
		"succeeded":        {Target: "a", Job: job, Result: res(targets.StateSuccess)},
		"infra error":      {Target: "a", Job: job, Result: res(targets.StateInfra)},
		"gone but running": {Target: "b", Job: job, Status: OutcomeGone},
	}
	want := map[string]int{"a": 2, "b": 1}
	if got := runningJobs(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("runningJobs = %v, want %v", got, want)
	}
}

// slotTarget is a fakeTarget whose jobs stay pending until the test ends
// them.
type slotTarget struct {
	*fakeTarget
	mu    sync.Mutex
	ended map[string]bool // job id -> finished
	gone  map[string]bool // job id -> vanished from the target
	fail  error           // every poll fails with it
	polls int
}

func (s *slotTarget) Result(_ context.Context, j targets.Job) (targets.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	switch {
	case s.fail != nil:
		return targets.Result{}, s.fail
	case s.gone[j.ID]:
		return targets.Result{}, fmt.Errorf("job %s: %w", j.ID, targets.ErrJobGone)
	}
	if s.ended[j.ID] {
		return targets.Result{State: targets.StateSuccess, Summary: "built"}, nil
	}
	return targets.Result{State: targets.StatePending}, nil
}

func (s *slotTarget) end(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.ended[id] = true
	}
}

func newSlotHarness(t *testing.T, limit int, changes ...change.Change) (*harness, *slotTarget) {
	t.Helper()
	h := newHarness(t, changes...)
	st := &slotTarget{fakeTarget: h.tgt, ended: map[string]bool{}, gone: map[string]bool{}}
	h.r = newSlotRunner(h, st, limit)
	return h, st
}

func triggered(t *testing.T, tgt *fakeTarget) []string {
	t.Helper()
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	var units []string
	for _, r := range tgt.created {
		units = append(units, r.Unit)
	}
	return units
}

// TestQueuedUnitsStartAsSlotsFree: with max_running 2, five new units
// start two at a time; the others are queued (in the report and the
// state), neither triggered nor forgotten, and start, oldest first, as
// jobs end on later cycles; a plan shows the same queue.
func TestQueuedUnitsStartAsSlotsFree(t *testing.T) {
	h, tgt := newSlotHarness(t, 2, series(1, 1, "a"), series(2, 1, "b"), series(3, 1, "c"), series(4, 1, "d"), series(5, 1, "e"))

	plan := h.run(t, Plan)
	if plan.Count.Trigger != 2 || plan.Count.Queued != 3 || h.tgt.triggers() != 0 {
		t.Fatalf("plan: would trigger %d, queued %d (target saw %d); want 2, 3, 0", plan.Count.Trigger, plan.Count.Queued, h.tgt.triggers())
	}

	first := h.run(t, Act)
	if first.Count.Triggered != 2 || first.Count.Queued != 3 {
		t.Fatalf("first cycle: triggered %d queued %d, want 2 and 3", first.Count.Triggered, first.Count.Queued)
	}
	if got := triggered(t, h.tgt); !reflect.DeepEqual(got, []string{unit(1), unit(2)}) && !reflect.DeepEqual(got, []string{unit(2), unit(1)}) {
		t.Fatalf("first cycle triggered %v, want units 1 and 2", got)
	}
	for _, id := range []int{3, 4, 5} {
		u := h.store.st.Units[unit(id)]
		if u == nil || u.Status != OutcomeQueued || u.Fingerprint != "" || u.Current == "" || u.CurrentSince == nil {
			t.Fatalf("unit %d in the state: %+v; want queued with its current fingerprint and no trigger", id, u)
		}
		if !strings.Contains(u.Reason, "kci is at max_running (2 builds running)") {
			t.Errorf("unit %d: reason %q", id, u.Reason)
		}
	}
	var out strings.Builder
	if err := first.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 3 (max_running)") || !strings.Contains(out.String(), "queued  ") {
		t.Errorf("once output does not show the queue:\n%s", out.String())
	}
	out.Reset()
	if err := WriteStatus(&out, h.store.st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "status     queued: kci is at max_running (2 builds running); 2 queued before it") {
		t.Errorf("status does not show the queue:\n%s", out.String())
	}

	// Nothing ended: nothing starts, however many cycles and hours pass
	// (a queued unit is seen, never forgotten).
	for range 3 {
		h.now = h.now.Add(time.Hour)
		rep := h.run(t, Act)
		if rep.Count.Triggered != 0 || rep.Count.Queued != 3 || rep.Count.Gone != 0 {
			t.Fatalf("while full: triggered %d queued %d gone %d, want 0, 3, 0", rep.Count.Triggered, rep.Count.Queued, rep.Count.Gone)
		}
	}

	// One job ends between cycles: the next cycle sees it and starts the
	// oldest queued unit in its place.
	tgt.end("job-1-1")
	h.now = h.now.Add(time.Minute)
	h.r = newSlotRunner(h, tgt, 2) // a restart: the queue's order is in the state
	rep := h.run(t, Act)
	if rep.Count.Triggered != 1 || rep.Count.Queued != 2 {
		t.Fatalf("after one job ended: triggered %d queued %d, want 1 and 2", rep.Count.Triggered, rep.Count.Queued)
	}
	if got := triggered(t, h.tgt); got[2] != unit(3) {
		t.Fatalf("third trigger is %s, want the oldest queued, %s", got[2], unit(3))
	}

	// The rest end: all are built, each exactly once.
	for cycles := 0; h.tgt.triggers() < 5; cycles++ {
		if cycles > 5 {
			t.Fatalf("not every unit built after %d cycles: %v", cycles, triggered(t, h.tgt))
		}
		for _, r := range triggered(t, h.tgt) {
			tgt.end(h.store.st.Units[r].Job.ID)
		}
		h.now = h.now.Add(time.Minute)
		h.run(t, Act)
	}
	last := h.run(t, Act)
	if last.Count.Queued != 0 || last.Count.Unchanged != 5 || h.tgt.triggers() != 5 {
		t.Fatalf("at the end: queued %d unchanged %d triggers %d, want 0, 5, 5", last.Count.Queued, last.Count.Unchanged, h.tgt.triggers())
	}
}

func newSlotRunner(h *harness, tgt *slotTarget, limit int) *Runner {
	return New(Options{
		Sources:    []Source{h.src},
		Targets:    []Target{tgt},
		Store:      h.store,
		GoneGrace:  time.Hour,
		MaxRunning: map[string]int{"kci": limit},
		Now:        func() time.Time { return h.now },
	})
}

// TestQueueOrderIsWhenTheFingerprintWasFirstSeen: a unit queued earlier
// starts before one that arrived later, even when the later one comes
// first in the graph; a unit whose fingerprint changes joins the back.
func TestQueueOrderIsWhenTheFingerprintWasFirstSeen(t *testing.T) {
	h, tgt := newSlotHarness(t, 1, series(5, 1, "e"), series(6, 1, "f"))
	h.run(t, Act) // 5 runs, 6 queued
	h.now = h.now.Add(time.Minute)
	h.src.changes = append([]change.Change{series(1, 1, "a")}, h.src.changes...)
	h.run(t, Act) // 1 (first in the graph) queued behind 6
	tgt.end("job-5-1")
	h.now = h.now.Add(time.Minute)
	h.run(t, Act)
	got := triggered(t, h.tgt)
	if len(got) != 2 || got[1] != unit(6) {
		t.Fatalf("triggered %v; want 5 then 6, the older of the queue", got)
	}
	// 6's content changes while 1 waits: 6's new fingerprint is younger.
	h.src.changes = []change.Change{series(1, 1, "a"), series(5, 1, "e"), series(6, 1, "F")}
	tgt.end("job-6-1")
	h.now = h.now.Add(time.Minute)
	h.run(t, Act)
	if got := triggered(t, h.tgt); len(got) != 3 || got[2] != unit(1) {
		t.Fatalf("triggered %v; want 1 before the changed 6", got)
	}
}

// TestQueueAdoptsAfterALostState: the state is lost while jobs run (rule
// 3); the units admitted adopt their jobs, the others queue, and start (or
// adopt) later: nothing is built twice.
func TestQueueAdoptsAfterALostState(t *testing.T) {
	h, tgt := newSlotHarness(t, 2, series(1, 1, "a"), series(2, 1, "b"), series(3, 1, "c"))
	h.run(t, Act)
	h.store.st = nil // lost
	h.now = h.now.Add(time.Minute)
	rep := h.run(t, Act)
	if rep.Count.Adopted != 2 || rep.Count.Queued != 1 || h.tgt.triggers() != 2 {
		t.Fatalf("after the loss: adopted %d queued %d, target saw %d triggers; want 2, 1, 2", rep.Count.Adopted, rep.Count.Queued, h.tgt.triggers())
	}
	tgt.end("job-1-1", "job-2-1")
	h.now = h.now.Add(time.Minute)
	rep = h.run(t, Act)
	if rep.Count.Triggered != 1 || h.tgt.triggers() != 3 {
		t.Fatalf("after the jobs ended: triggered %d, target saw %d; want 1, 3", rep.Count.Triggered, h.tgt.triggers())
	}
}

// TestQueuedTriggerStillPrecedesTheStateWrite: a save that fails after the
// admitted triggers loses none of them: the next cycle adopts them and
// queues the rest again.
func TestQueuedTriggerStillPrecedesTheStateWrite(t *testing.T) {
	h, _ := newSlotHarness(t, 1, series(1, 1, "a"), series(2, 1, "b"))
	h.store.failSave = errors.New("killed before the state write")
	if _, err := h.r.Run(context.Background(), Act, nil); err == nil {
		t.Fatal("Run succeeded with a failing save")
	}
	if h.tgt.triggers() != 1 {
		t.Fatalf("target saw %d triggers before the failed save, want 1", h.tgt.triggers())
	}
	rep := h.run(t, Act)
	if rep.Count.Adopted != 1 || rep.Count.Queued != 1 || h.tgt.triggers() != 1 {
		t.Fatalf("next cycle: adopted %d queued %d, target saw %d; want 1, 1, 1", rep.Count.Adopted, rep.Count.Queued, h.tgt.triggers())
	}
}

// TestQueueRefreshFailures: a running job that cannot be polled keeps its
// slot and is an error of the cycle; one that vanished from its target
// frees it (its unit triggers again, as the results pass would decide).
func TestQueueRefreshFailures(t *testing.T) {
	h, tgt := newSlotHarness(t, 1, series(1, 1, "a"), series(2, 1, "b"))
	h.run(t, Act)
	tgt.mu.Lock()
	tgt.fail = errors.New("GET https://kci.example.org/latest/node/j: 502 Bad Gateway")
	tgt.ended["job-1-1"] = true
	tgt.mu.Unlock()
	rep := h.run(t, Act)
	if rep.Count.Triggered != 0 || rep.Count.Queued != 1 || rep.Errors == 0 {
		t.Fatalf("failing polls: triggered %d queued %d errors %d; want 0, 1 and an error", rep.Count.Triggered, rep.Count.Queued, rep.Errors)
	}
	tgt.mu.Lock()
	tgt.fail = nil
	delete(tgt.ended, "job-1-1")
	tgt.gone["job-1-1"] = true
	tgt.mu.Unlock()
	h.tgt.mu.Lock()
	clear(h.tgt.jobs) // gone from the target: nothing to adopt
	h.tgt.mu.Unlock()
	rep = h.run(t, Act)
	if got := triggered(t, h.tgt); rep.Count.Triggered != 1 || len(got) != 2 || got[1] != unit(2) {
		t.Fatalf("after the job vanished: triggered %d (%v); want unit 2 started in the freed slot", rep.Count.Triggered, got)
	}
	if u := h.store.st.Units[unit(1)]; u.Job != nil || u.Fingerprint != "" {
		t.Fatalf("unit 1 keeps its vanished job: %+v", u)
	}
}
