package cycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	fetched []string
	ended   []*Report
	states  []*state.State
	errs    []error
}

var _ Observer = (*recorder)(nil)

func (r *recorder) SourceFetched(source string, _ int, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := source
	if err != nil {
		s += " failed"
	}
	r.fetched = append(r.fetched, s)
}

func (r *recorder) CycleEnded(rep *Report, st *state.State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended, r.states, r.errs = append(r.ended, rep), append(r.states, st), append(r.errs, err)
}

// TestObserversAndSummaryLevel: observers hear of every fetch and every
// end (a failed cycle included); the summary is at info level when all
// went well, warn when a source failed, error when the cycle failed.
func TestObserversAndSummaryLevel(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newHarness(t, series(1, 1, "a"), series(2, 2, "b"))
	h.r = New(Options{Sources: []Source{h.src}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour,
		Now: func() time.Time { return h.now }, Logger: zap.New(core)})
	rec := &recorder{}
	h.r.Observe(rec)

	rep := h.run(t, Act)
	if len(rec.ended) != 1 || rec.ended[0] != rep || rec.errs[0] != nil || len(rec.states[0].Units) != 2 {
		t.Fatalf("observer heard %v %v", rec.ended, rec.errs)
	}
	if len(rec.fetched) != 1 || rec.fetched[0] != "netdev" {
		t.Errorf("fetches heard: %v", rec.fetched)
	}
	if rep.Units[0].Inputs == nil || rep.Units[0].Source != "netdev" || len(rep.Scope) != 1 {
		t.Errorf("unit report lacks its inputs, source or the cycle its scope: %+v", rep.Units[0])
	}
	last := func() observer.LoggedEntry {
		all := logs.All()
		return all[len(all)-1]
	}
	if e := last(); e.Message != "cycle" || e.Level != zapcore.InfoLevel {
		t.Errorf("summary of a good cycle: %s at %s", e.Message, e.Level)
	}
	if n := logs.FilterMessage("cycle starting").Len(); n != 1 {
		t.Errorf("%d start lines", n)
	}
	if st := h.store.st.Units[unit(1)]; st.TriggerReason != "new" {
		t.Errorf("trigger reason stored = %q, want new", st.TriggerReason)
	}

	h.src.err = errors.New("GET https://pw.example.org/api: 502")
	h.run(t, Act)
	if e := last(); e.Message != "cycle ended with errors" || e.Level != zapcore.WarnLevel {
		t.Errorf("summary of a cycle with a failed source: %s at %s", e.Message, e.Level)
	}
	if rec.fetched[1] != "netdev failed" {
		t.Errorf("fetches heard: %v", rec.fetched)
	}

	h.src.err = nil
	h.store.failSave = errors.New("disk full")
	if _, err := h.r.Run(context.Background(), Act, nil); err == nil {
		t.Fatal("a failed save is not an error")
	}
	if e := last(); e.Message != "cycle failed" || e.Level != zapcore.ErrorLevel {
		t.Errorf("summary of a failed cycle: %s at %s", e.Message, e.Level)
	}
	if len(rec.errs) != 3 || rec.errs[2] == nil {
		t.Errorf("observer did not hear of the failed cycle: %v", rec.errs)
	}
}

// TestTriggerNamesWhatItSupersedes: a new revision's trigger line names
// the series it replaces.
func TestTriggerNamesWhatItSupersedes(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	v2 := series(2, 2, "b")
	v2.Supersedes = []change.Key{series(1, 1, "a").Key}
	h := newHarness(t, v2)
	h.r = New(Options{Sources: []Source{h.src}, Targets: []Target{h.tgt}, Store: h.store, Logger: zap.New(core),
		Now: func() time.Time { return h.now }})
	h.run(t, Act)
	lines := logs.FilterMessage("triggered").All()
	if len(lines) != 1 {
		t.Fatalf("%d trigger lines", len(lines))
	}
	got, _ := lines[0].ContextMap()["supersedes"].([]any)
	if len(got) != 1 || got[0] != "pw:pw.example.org/netdev/series/1" {
		t.Errorf("supersedes = %v", lines[0].ContextMap()["supersedes"])
	}
}
