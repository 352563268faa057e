package cycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestShouldReport(t *testing.T) {
	last := func(fp string, s targets.State, posted string) *state.Reported {
		return &state.Reported{Fingerprint: fp, State: s, Posted: posted}
	}
	for _, tc := range []struct {
		name   string
		last   *state.Reported
		state  targets.State
		posted string
		want   bool
	}{
		{"first report", nil, targets.StatePending, "pending", true},
		{"same state twice", last("f1", targets.StatePending, "pending"), targets.StatePending, "pending", false},
		{"pending to success", last("f1", targets.StatePending, "pending"), targets.StateSuccess, "success", true},
		{"conclusive then pending", last("f1", targets.StateFail, "fail"), targets.StatePending, "pending", false},
		{"same posted word for another state", last("f1", targets.StateInfra, "warning"), targets.StateWarning, "warning", false},
		{"conclusive to another conclusive (re-run)", last("f1", targets.StateInfra, "warning"), targets.StateSuccess, "success", true},
		{"new fingerprint starts over with pending", last("f1", targets.StateSuccess, "success"), targets.StatePending, "pending", true},
		{"refused before: same state not retried", &state.Reported{Fingerprint: "f1", State: targets.StateFail, Posted: "fail", Failed: "403"}, targets.StateFail, "fail", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := "f1"
			if tc.name == "new fingerprint starts over with pending" {
				fp = "f2"
			}
			if got := shouldReport(tc.last, fp, tc.state, tc.posted); got != tc.want {
				t.Fatalf("shouldReport = %v, want %v", got, tc.want)
			}
		})
	}
}

// pollTarget is a fakeTarget whose jobs have results.
type pollTarget struct {
	*fakeTarget
	mu     sync.Mutex
	result targets.Result
	err    error
}

func (p *pollTarget) Result(context.Context, targets.Job) (targets.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result, p.err
}

func (p *pollTarget) set(s targets.State, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.result = targets.Result{State: s, Summary: summary}
}

// fakeReporter posts on each patch of a series, like Patchwork checks.
type fakeReporter struct {
	mu        sync.Mutex
	posts     []string // "item:state"
	fail      map[string]error
	noPending bool // like ResultsDB: results are final, pending is not posted
	// there holds "item:posted" reports already on the server: looking
	// before posting finds them, and nothing is posted.
	there map[string]bool
}

func (f *fakeReporter) Name() string { return "patchwork" }
func (f *fakeReporter) Map(s targets.State) (string, bool) {
	if f.noPending && s == targets.StatePending {
		return "", false
	}
	if s == targets.StateInfra {
		return "warning", true
	}
	return string(s), true
}
func (f *fakeReporter) Items(c *change.Change) []string {
	var items []string
	for _, p := range c.Patches {
		items = append(items, fmt.Sprint(p.ID))
	}
	return items
}
func (f *fakeReporter) Report(_ context.Context, item string, m report.Message, posted string) (report.Done, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[item]; err != nil {
		return 0, err
	}
	if m.Context != "" {
		posted = m.Context + "=" + posted
	}
	if f.there[item+":"+posted] {
		return report.Found, nil
	}
	f.posts = append(f.posts, item+":"+posted)
	return report.Posted, nil
}

func (f *fakeReporter) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.posts
	f.posts = nil
	return p
}

func reportingHarness(t *testing.T, changes ...change.Change) (*harness, *pollTarget, *fakeReporter) {
	h := newHarness(t, changes...)
	pt := &pollTarget{fakeTarget: h.tgt}
	pt.set(targets.StatePending, "pending: builds 0/2 done")
	rp := &fakeReporter{fail: map[string]error{}}
	h.r = New(Options{
		Sources: []Source{h.src}, Targets: []Target{pt}, Store: h.store, GoneGrace: time.Hour,
		Reporters: map[string][]Reporter{"netdev": {rp}},
		Now:       func() time.Time { return h.now },
	})
	return h, pt, rp
}

func eq(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestReportsFollowTheJobExactly(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a", "b")) // patches 10 and 11
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:pending", "11:pending"}) {
		t.Fatalf("after trigger posted %v, want pending on every patch", got)
	}
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("unchanged pending posted again: %v", got)
	}
	pt.set(targets.StateFail, "builds 2/2 passed; tests 1 failed")
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:fail", "11:fail"}) {
		t.Fatalf("conclusive result posted %v, want fail on every patch", got)
	}
	pt.set(targets.StatePending, "re-run")
	h.run(t, Act)
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("posted %v after a conclusive state; want nothing (no downgrade, no repeat)", got)
	}
	u := h.store.st.Units[unit(1)]
	if u.Result == nil || u.Result.State != targets.StateFail || u.Reports["patchwork"].Posted != "fail" {
		t.Fatalf("state: result %+v reports %+v", u.Result, u.Reports)
	}
}

// TestFoundReportsAreCountedApartFromPosts checks that a report that
// looking before posting found on every item (the state was lost after it
// was posted) is counted as already there, not as posted, in the cycle
// summary and in `trawl status`; a report posted on some items and found
// on others counts as posted.
func TestFoundReportsAreCountedApartFromPosts(t *testing.T) {
	h, _, rp := reportingHarness(t, series(1, 1, "a", "b"), series(2, 1, "c", "d")) // patches 10, 11 and 20, 21
	rp.there = map[string]bool{"10:pending": true, "11:pending": true, "20:pending": true}
	rep := h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"21:pending"}) {
		t.Fatalf("posted %v, want only the patch whose check was not there", got)
	}
	if rep.Reports.Posted != 1 || rep.Reports.Found != 1 {
		t.Fatalf("counts %+v, want 1 posted (series 2) and 1 already there (series 1)", rep.Reports)
	}
	if s := rep.Summary(); !strings.Contains(s, "reports posted 1, already there 1,") {
		t.Errorf("summary %q does not count the found report apart", s)
	}
	if r := h.store.st.Units[unit(1)].Reports["patchwork"]; r == nil || !r.Found {
		t.Errorf("series 1 report recorded as %+v, want found", r)
	}
	if r := h.store.st.Units[unit(2)].Reports["patchwork"]; r == nil || r.Found {
		t.Errorf("series 2 report recorded as %+v, want posted", r)
	}
	var b strings.Builder
	if err := WriteStatus(&b, h.store.st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"reported   patchwork: pending found already there at ",
		"2 units, 0 reports queued, 1 found already there (not posted)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("trawl status lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRetryableFailureBacksOffAndResumesWithoutDuplicates(t *testing.T) {
	h, _, rp := reportingHarness(t, series(1, 1, "a", "b"))
	rp.fail["11"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/11/checks/", Status: 502}
	rep := h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:pending"}) || rep.Reports.Retrying != 1 || rep.Reports.Queued != 1 {
		t.Fatalf("posted %v, counts %+v; want patch 10 only and one queued retry", got, rep.Reports)
	}
	delete(rp.fail, "11")
	h.now = h.now.Add(30 * time.Second) // before the backoff ends
	h.r = h.runnerWith(rp)              // and the process restarted meanwhile
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("retried before the backoff: %v", got)
	}
	h.now = h.now.Add(time.Minute)
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"11:pending"}) {
		t.Fatalf("after backoff posted %v, want only the patch not done yet", got)
	}
	if len(h.store.st.Outbox) != 0 {
		t.Fatalf("outbox not empty: %+v", h.store.st.Outbox)
	}
}

func TestPermanentRefusalIsRecordedAndNotRetried(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a"))
	rp.fail["10"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/10/checks/", Status: 403, Message: "You do not have permission to perform this action."}
	rep := h.run(t, Act)
	if rep.Reports.Failed != 1 || rep.Errors != 1 {
		t.Fatalf("counts %+v errors %d, want one refused report", rep.Reports, rep.Errors)
	}
	got := h.store.st.Units[unit(1)].Reports["patchwork"]
	if got == nil || got.Failed == "" || len(h.store.st.Outbox) != 0 {
		t.Fatalf("refusal not recorded or still queued: %+v outbox %d", got, len(h.store.st.Outbox))
	}
	h.now = h.now.Add(3 * time.Hour)
	rep = h.run(t, Act)
	if rep.Reports.Failed != 0 || len(rp.take()) != 0 {
		t.Fatalf("refused report retried: %+v", rep.Reports)
	}
	pt.set(targets.StateSuccess, "all passed")
	delete(rp.fail, "10")
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:success"}) {
		t.Fatalf("a new state after a refusal posted %v, want it tried once", got)
	}
}

func TestOldFingerprintResultNeverLandsOnNewRevision(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a"))
	rp.fail["10"] = &httpx.StatusError{Status: 503}
	h.run(t, Act) // pending queued, failing
	pt.set(targets.StateFail, "old revision failed")
	h.src.changes = []change.Change{series(1, 1, "a2")} // content changed: new fingerprint, new job
	delete(rp.fail, "10")
	h.now = h.now.Add(2 * time.Minute)
	pt.set(targets.StatePending, "new job pending")
	h.run(t, Act)
	for _, p := range h.store.st.Outbox {
		t.Fatalf("outbox still holds %+v", p)
	}
	posts := rp.take()
	if !eq(posts, []string{"10:pending"}) {
		t.Fatalf("posted %v, want only the new fingerprint's pending", posts)
	}
	u := h.store.st.Units[unit(1)]
	if u.Reports["patchwork"].Fingerprint != u.Fingerprint {
		t.Fatalf("reported fingerprint %s, unit has %s", u.Reports["patchwork"].Fingerprint, u.Fingerprint)
	}
}

// runnerWith is a restarted process with a reporting target and reporter.
func (h *harness) runnerWith(rp Reporter) *Runner {
	return New(Options{
		Sources: []Source{h.src}, Targets: []Target{&pollTarget{fakeTarget: h.tgt, result: targets.Result{State: targets.StatePending, Summary: "pending"}}},
		Store: h.store, GoneGrace: time.Hour,
		Reporters: map[string][]Reporter{"netdev": {rp}},
		Now:       func() time.Time { return h.now },
	})
}

func TestQueuedResultOfOldFingerprintIsDropped(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a"))
	rp.noPending = true
	pt.set(targets.StateFail, "old revision failed")
	rp.fail["10"] = &httpx.StatusError{Status: 503}
	h.run(t, Act)
	if len(h.store.st.Outbox) != 1 {
		t.Fatalf("outbox = %d entries, want the failing result queued", len(h.store.st.Outbox))
	}
	delete(rp.fail, "10")
	h.src.changes = []change.Change{series(1, 1, "a2")} // new revision: new fingerprint
	pt.set(targets.StatePending, "new job pending")
	h.now = h.now.Add(2 * time.Hour)
	rep := h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("posted %v: the old fingerprint's result landed on the new revision", got)
	}
	if rep.Reports.Dropped != 1 || len(h.store.st.Outbox) != 0 {
		t.Fatalf("dropped %d, outbox %d; want the stale report dropped", rep.Reports.Dropped, len(h.store.st.Outbox))
	}
}

func TestInfrastructureErrorsAreRetriedByPolicy(t *testing.T) {
	h, pt, rp := reportingHarness(t, series(1, 1, "a"))
	h.r = New(Options{
		Sources: []Source{h.src}, Targets: []Target{pt}, Store: h.store, GoneGrace: time.Hour,
		Reporters:  map[string][]Reporter{"netdev": {rp}},
		RetryInfra: map[string]int{"netdev": 2},
		Now:        func() time.Time { return h.now },
	})
	h.run(t, Act)
	pt.set(targets.StateInfra, "tests: 1 infra error")
	h.run(t, Act) // the result is polled and reported as a warning
	if got := rp.take(); !eq(got, []string{"10:pending", "10:warning"}) {
		t.Fatalf("posted %v", got)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		rep := h.run(t, Act)
		if rep.Count.Triggered != 1 || rep.Units[0].Reason != ReasonRetry {
			t.Fatalf("attempt %d: triggered %d reason %v, want a retry", attempt, rep.Count.Triggered, rep.Units[0].Reason)
		}
		last := h.tgt.created[len(h.tgt.created)-1]
		if last.Attempt != attempt || len(last.Exclude) != attempt {
			t.Fatalf("retry request attempt %d excludes %v", last.Attempt, last.Exclude)
		}
		// The retry's job is polled in the same cycle: still an
		// infrastructure error, so the next cycle retries again.
	}
	rep := h.run(t, Act)
	if rep.Count.Triggered != 0 || h.tgt.triggers() != 3 {
		t.Fatalf("triggered %d (total %d): the policy allows 2 retries", rep.Count.Triggered, h.tgt.triggers())
	}
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("posted %v: a retry must not downgrade the posted warning to pending, nor repeat it", got)
	}
	pt.set(targets.StateFail, "tests: 1 failed")
	h.src.changes = []change.Change{series(1, 1, "b")} // a new revision starts over
	h.run(t, Act)
	h.run(t, Act)
	if rep := h.run(t, Act); rep.Count.Triggered != 0 {
		t.Fatal("a failure was retried: only infrastructure errors are")
	}
	if u := h.store.st.Units[unit(1)]; u.Attempt != 0 || u.PreviousJobs != nil {
		t.Fatalf("new fingerprint kept attempt %d, previous %v", u.Attempt, u.PreviousJobs)
	}
}

func TestFailedPollIsAnErrorOfTheCycle(t *testing.T) {
	h, pt, _ := reportingHarness(t, series(1, 1, "a"))
	if rep := h.run(t, Act); rep.Errors != 0 {
		t.Fatalf("first cycle: %d errors", rep.Errors)
	}
	pt.mu.Lock()
	pt.err = fmt.Errorf("kernelci kci: result of job j: %w", context.DeadlineExceeded)
	pt.mu.Unlock()
	rep := h.run(t, Act)
	if rep.Errors != 1 {
		t.Fatalf("a poll that ran out of time: %d errors, want 1", rep.Errors)
	}
	if u := h.store.st.Units[unit(1)]; u.Job == nil || u.Result == nil || u.Result.State != targets.StatePending {
		t.Fatalf("unit after a failed poll: job %+v result %+v, want the job kept and pending", u.Job, u.Result)
	}
}

func TestVanishedJobTriggersAgain(t *testing.T) {
	h, pt, _ := reportingHarness(t, series(1, 1, "a"))
	h.run(t, Act)
	first := h.store.st.Units[unit(1)].Job.ID
	pt.mu.Lock()
	pt.err = fmt.Errorf("kernelci kci: result of job %s: patchset node: %w", first, targets.ErrJobGone)
	pt.mu.Unlock()
	h.tgt.mu.Lock()
	clear(h.tgt.jobs) // gone from the target: nothing to adopt
	h.tgt.mu.Unlock()
	h.run(t, Act)
	if u := h.store.st.Units[unit(1)]; u.Job != nil || u.Fingerprint != "" || !strings.Contains(u.Reason, "vanished") {
		t.Fatalf("after the job vanished: job %+v fingerprint %q reason %q", u.Job, u.Fingerprint, u.Reason)
	}
	pt.mu.Lock()
	pt.err = nil
	pt.mu.Unlock()
	rep := h.run(t, Act)
	u := h.store.st.Units[unit(1)]
	if outcomes(rep)[unit(1)] != OutcomeTriggered || u.Job == nil || u.Job.ID == first || len(h.tgt.created) != 2 {
		t.Fatalf("next cycle: %v, job %+v after %d triggers; want a new job", outcomes(rep), u.Job, len(h.tgt.created))
	}
}

// waitLimited is a fakeTarget that bounds waits.
type waitLimited struct {
	*fakeTarget
	limit time.Duration
}

func (w waitLimited) MaxWait() time.Duration { return w.limit }

func TestWaitingLongerThanTheTargetAllows(t *testing.T) {
	h := newHarness(t, series(1, 1, "a"))
	h.tgt.waitFor["main"] = true
	tgt := waitLimited{fakeTarget: h.tgt, limit: time.Hour}
	h.r = New(Options{Sources: []Source{h.src}, Targets: []Target{tgt}, Store: h.store, GoneGrace: time.Hour,
		Now: func() time.Time { return h.now }})
	steps := []struct {
		after  time.Duration
		errors int
	}{{0, 0}, {50 * time.Minute, 0}, {20 * time.Minute, 1}, {time.Hour, 1}}
	for _, s := range steps {
		h.now = h.now.Add(s.after)
		rep := h.run(t, Act)
		if outcomes(rep)[unit(1)] != OutcomeWaiting || rep.Errors != s.errors {
			t.Fatalf("after %s more: %v with %d errors, want waiting with %d", s.after, outcomes(rep), rep.Errors, s.errors)
		}
	}
	var b strings.Builder
	if err := WriteStatus(&b, h.store.st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"waiting    since 2026-11-21 05:00:00Z", "longer than the 1h0m0s target kci allows", "no checkout of"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	h.tgt.waitFor["main"] = false
	h.run(t, Act)
	if u := h.store.st.Units[unit(1)]; u.WaitingSince != nil {
		t.Errorf("waiting since %v after the wait ended", u.WaitingSince)
	}
}

func TestWaitIsRetriedAfterItsTimeNotDropped(t *testing.T) {
	h, _, rp := reportingHarness(t, series(1, 1, "a"))
	reset := h.now.Add(2 * time.Hour)
	rp.fail["10"] = &report.WaitError{
		Err:   &httpx.StatusError{Method: "POST", URL: "https://api.github.com/repos/o/r/statuses/x", Status: 403, Message: "API rate limit exceeded"},
		Until: reset,
	}
	rep := h.run(t, Act)
	if rep.Reports.Retrying != 1 || rep.Reports.Failed != 0 || len(h.store.st.Outbox) != 1 {
		t.Fatalf("counts %+v outbox %d; want the 403 rate limit kept for a retry", rep.Reports, len(h.store.st.Outbox))
	}
	if next := h.store.st.Outbox[0].NextAttempt; !next.Equal(reset) {
		t.Fatalf("next attempt %v, want the reset %v", next, reset)
	}
	delete(rp.fail, "10")
	h.now = reset.Add(-time.Minute)
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("retried before the reset: %v", got)
	}
	h.now = reset
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:pending"}) {
		t.Fatalf("after the reset posted %v, want the report", got)
	}
}

// TestHeldPostCostsNoAttempt: a post the reporter holds back by its own
// pace (nothing sent) is tried again from the time it names, and counts
// no attempt, so that its backoff does not grow while it waits its turn;
// the next cycle posts it.
func TestHeldPostCostsNoAttempt(t *testing.T) {
	h, _, rp := reportingHarness(t, series(1, 1, "a"))
	turn := h.now.Add(30 * time.Second)
	rp.fail["10"] = &report.WaitError{Err: errors.New("held back for a later cycle"), Until: turn, Held: true}
	rep := h.run(t, Act)
	if rep.Reports.Retrying != 1 || rep.Reports.Failed != 0 || len(h.store.st.Outbox) != 1 {
		t.Fatalf("counts %+v outbox %d; want the held post kept", rep.Reports, len(h.store.st.Outbox))
	}
	if p := h.store.st.Outbox[0]; p.Attempts != 0 || !p.NextAttempt.Equal(turn) {
		t.Fatalf("attempts %d, next %v; want 0 and its turn %v", p.Attempts, p.NextAttempt, turn)
	}
	delete(rp.fail, "10")
	h.now = h.now.Add(time.Minute)
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{"10:pending"}) {
		t.Fatalf("the next cycle posted %v, want the held report", got)
	}
}
