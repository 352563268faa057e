package cycle

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
)

// posterReporter is a fakeReporter that can post without looking: it
// counts its look-ups apart, and records what the store held when each
// post was made.
type posterReporter struct {
	*fakeReporter
	store    *memStore
	mu       sync.Mutex
	looked   []string
	started  []string // the items the saved state marked started, at each Post
	inFlight int
	maxIn    int
	hold     time.Duration
}

func (p *posterReporter) Report(ctx context.Context, item string, m report.Message, posted string) (report.Done, error) {
	p.mu.Lock()
	p.looked = append(p.looked, item)
	p.mu.Unlock()
	return p.fakeReporter.Report(ctx, item, m, posted)
}

func (p *posterReporter) Post(_ context.Context, item string, m report.Message, posted string) error {
	p.fakeReporter.mu.Lock()
	err := p.fail[item]
	p.fakeReporter.mu.Unlock()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.inFlight++
	p.maxIn = max(p.maxIn, p.inFlight)
	for _, q := range p.store.st.Outbox {
		if slices.Contains(q.Items, item) && slices.Contains(q.Started, item) {
			p.started = append(p.started, item)
		}
	}
	p.mu.Unlock()
	time.Sleep(p.hold)
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	p.fakeReporter.mu.Lock()
	defer p.fakeReporter.mu.Unlock()
	p.posts = append(p.posts, item+":"+posted)
	return nil
}

func posterHarness(t *testing.T, n int) (*harness, *posterReporter) {
	t.Helper()
	var cs = benchChanges(n)
	for i := range cs {
		cs[i].Deps = nil
	}
	h := newHarness(t, cs...)
	rp := &posterReporter{fakeReporter: &fakeReporter{fail: map[string]error{}}, store: h.store}
	h.r = h.runnerWith(rp)
	return h, rp
}

// TestReportsArePostedWithoutLookingFirst: a report no earlier run began
// costs one request per item (no look-up), and the items are recorded as
// started on disk before the first post.
func TestReportsArePostedWithoutLookingFirst(t *testing.T) {
	h, rp := posterHarness(t, 3)
	rep := h.run(t, Act)
	if rep.Reports.Posted != 3 {
		t.Fatalf("reports %+v, want 3 posted", rep.Reports)
	}
	items := 0
	for _, c := range h.src.changes {
		items += len(c.Patches)
	}
	if got := rp.take(); len(got) != items {
		t.Fatalf("posted %d checks, want %d (one per patch): %v", len(got), items, got)
	}
	if len(rp.looked) != 0 {
		t.Errorf("looked up %v before posting; nothing could have been posted before", rp.looked)
	}
	if len(rp.started) != items {
		t.Errorf("%d of %d posts were recorded as started on disk before they were made", len(rp.started), items)
	}
	if len(h.store.st.Outbox) != 0 {
		t.Errorf("outbox %+v after every post succeeded", h.store.st.Outbox)
	}
}

// TestStartedItemsAreLookedUpFirst: an item whose post began in an
// earlier run but is not recorded as done (the post failed, or the run
// ended: its request may have reached the server) is looked up before it
// is posted again; an item never begun is posted directly.
func TestStartedItemsAreLookedUpFirst(t *testing.T) {
	h := newHarness(t, series(1, 1, "a", "b"), series(2, 1, "c")) // patches 10, 11 and 20
	rp := &posterReporter{fakeReporter: &fakeReporter{fail: map[string]error{"10": errors.New("connection reset")}}, store: h.store}
	h.r = h.runnerWith(rp)
	rep := h.run(t, Act)
	if rep.Reports.Retrying != 1 || rep.Reports.Posted != 1 {
		t.Fatalf("first run: reports %+v, want series 2 posted and series 1 retrying", rep.Reports)
	}
	if len(rp.looked) != 0 {
		t.Fatalf("first run looked up %v", rp.looked)
	}
	rp.take()
	// The failed post of patch 10 had reached the server after all.
	rp.fail = map[string]error{}
	rp.there = map[string]bool{"10:pending": true}
	h.now = h.now.Add(2 * time.Minute)
	rep = h.run(t, Act)
	if !slices.Equal(rp.looked, []string{"10", "11"}) {
		t.Errorf("looked up %v, want the items of the begun report: 10 and 11", rp.looked)
	}
	if got := rp.take(); !slices.Equal(got, []string{"11:pending"}) {
		t.Errorf("posted %v, want only 11 (10 was found there)", got)
	}
	if rep.Reports.Posted != 1 || len(h.store.st.Outbox) != 0 {
		t.Errorf("second run: reports %+v, outbox %+v", rep.Reports, h.store.st.Outbox)
	}
}

// TestPostsRunConcurrentlyWithinABound: the reports of many units are
// posted concurrently, never more than postWorkers at once per reporter.
func TestPostsRunConcurrentlyWithinABound(t *testing.T) {
	h, rp := posterHarness(t, 40)
	rp.hold = 5 * time.Millisecond
	rep := h.run(t, Act)
	if rep.Reports.Posted != 40 {
		t.Fatalf("reports %+v, want 40 posted", rep.Reports)
	}
	if rp.maxIn < 2 || rp.maxIn > postWorkers {
		t.Errorf("at most %d posts in flight, want 2 to %d", rp.maxIn, postWorkers)
	}
}

// TestAdoptedJobsReportsAreLookedUpFirst: after a lost state the target's
// jobs are adopted, and their reports may be on the server already: every
// item is looked up first, and nothing is posted twice.
func TestAdoptedJobsReportsAreLookedUpFirst(t *testing.T) {
	h := newHarness(t, series(1, 1, "a", "b")) // patches 10 and 11
	rp := &posterReporter{fakeReporter: &fakeReporter{fail: map[string]error{}}, store: h.store}
	h.r = h.runnerWith(rp)
	h.run(t, Act)
	if got := rp.take(); !slices.Equal(got, []string{"10:pending", "11:pending"}) {
		t.Fatalf("first run posted %v", got)
	}
	rp.there = map[string]bool{"10:pending": true, "11:pending": true}
	h.store.st = nil // the state file is lost
	h.r = h.runnerWith(rp)
	rep := h.run(t, Act)
	if rep.Count.Adopted != 1 {
		t.Fatalf("counts %+v, want the job adopted", rep.Count)
	}
	if !slices.Equal(rp.looked, []string{"10", "11"}) || len(rp.take()) != 0 || rep.Reports.Found != 1 {
		t.Errorf("looked up %v, reports %+v: want both patches looked up, found, nothing posted", rp.looked, rep.Reports)
	}
}
