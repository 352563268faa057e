package cycle

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// heldPoster is a Poster of its own name whose posts wait for release
// (when it is not nil) and are counted, with the most in flight at once.
type heldPoster struct {
	*fakeReporter
	name            string
	release         chan struct{}
	posted, in, max atomic.Int64
}

func (h *heldPoster) Name() string { return h.name }

func (h *heldPoster) Post(ctx context.Context, _ string, _ report.Message, _ string) error {
	n := h.in.Add(1)
	defer h.in.Add(-1)
	raise(&h.max, n)
	if h.release != nil {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.posted.Add(1)
	return nil
}

// raise sets m to n when n is larger.
func raise(m *atomic.Int64, n int64) {
	for {
		cur := m.Load()
		if n <= cur || m.CompareAndSwap(cur, n) {
			return
		}
	}
}

// TestReportersPostApart: each reporter posts within its own bound, and
// one whose posts are held (GitHub's paced statuses) holds up no other
// reporter's: every check of the other is posted meanwhile.
func TestReportersPostApart(t *testing.T) {
	cs := benchChanges(30)
	items := 0
	for i := range cs {
		cs[i].Deps = nil
		items += len(cs[i].Patches)
	}
	h := newHarness(t, cs...)
	slow := &heldPoster{fakeReporter: &fakeReporter{fail: map[string]error{}}, name: "slow", release: make(chan struct{})}
	fast := &heldPoster{fakeReporter: &fakeReporter{fail: map[string]error{}}, name: "fast"}
	h.r = New(Options{
		Sources: []Source{h.src}, Targets: []Target{&pollTarget{fakeTarget: h.tgt, result: targets.Result{State: targets.StatePending, Summary: "pending"}}},
		Store: h.store, GoneGrace: time.Hour,
		Reporters: map[string][]Reporter{"netdev": {slow, fast}},
		Now:       func() time.Time { return h.now },
	})
	done := make(chan *Report, 1)
	go func() { done <- h.run(t, Act) }()
	deadline := time.After(20 * time.Second)
	for fast.posted.Load() < int64(items) || slow.in.Load() < postWorkers {
		select {
		case <-deadline:
			close(slow.release)
			<-done
			t.Fatalf("%d of %d checks of the fast reporter posted while the slow one was held with %d in flight",
				fast.posted.Load(), items, slow.in.Load())
		case <-time.After(time.Millisecond):
		}
	}
	close(slow.release)
	rep := <-done
	if rep.Reports.Posted != 2*len(cs) || slow.posted.Load() != int64(items) {
		t.Errorf("reports %+v, %d posts of the held reporter; want every report of both posted", rep.Reports, slow.posted.Load())
	}
	if m := max(slow.max.Load(), fast.max.Load()); m > postWorkers {
		t.Errorf("%d posts of one reporter at once, want at most %d", m, postWorkers)
	}
}
