package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// reportOnce asks r to report a failure of unit fp on head.
func reportOnce(r *Reporter, head, fp string) error {
	m := report.Message{Target: "buildbot", Fingerprint: fp, State: targets.StateFail, Summary: "tests failed"}
	posted, _ := r.Map(m.State)
	_, err := r.Report(context.Background(), head, m, posted)
	return err
}

// A rate limit answer, on the look-before-post GET or on the status POST,
// is a wait: not permanent, retried at the reset or after retry-after, and
// nothing is sent before then. A 403 that refuses permission is permanent.
func TestRateLimitAnswersAreWaits(t *testing.T) {
	reset := testStart.Add(time.Hour) // the fake's window end
	tests := []struct {
		refusal ghfake.Refusal
		until   time.Time // zero: a refusal, permanent
		says    string
	}{
		{ghfake.PrimaryLimit, reset, "rate limit resets at 2026-11-21T07:00:00Z"},
		{ghfake.PrimaryLimit429, reset, "429 Too Many Requests"},
		{ghfake.PrimaryNoReset, testStart.Add(time.Minute), "no rate limit reset given"},
		{ghfake.SecondaryRetryAfter, testStart.Add(time.Minute), "secondary rate limit"},
		{ghfake.Secondary, testStart.Add(time.Minute), "secondary rate limit"},
		{ghfake.Secondary429, testStart.Add(time.Minute), "secondary rate limit"},
		{ghfake.NotAccessible, time.Time{}, "403 Forbidden: Resource not accessible by integration"},
		{ghfake.AdminRights, time.Time{}, "403 Forbidden: Must have admin rights"},
	}
	for _, tc := range tests {
		for _, method := range []string{"GET", "POST"} {
			t.Run(fmt.Sprintf("%d %s", tc.refusal, method), func(t *testing.T) {
				e := newEnv(t, ghfake.Options{}, nil)
				e.addPRs(1)
				s := e.source(t, nil)
				r, err := s.Reporter(ReporterOpts{Name: "gh", Context: "trawl"})
				if err != nil {
					t.Fatal(err)
				}
				head := sha("head-1")
				e.fake.Refuse(method, tc.refusal, 1)
				err = reportOnce(r, head, "f1")
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("error %v, want one saying %q", err, tc.says)
				}
				for _, nonsense := range []string{"0001-01-01", "1970-01-01"} {
					if strings.Contains(err.Error(), nonsense) {
						t.Errorf("error %q names a nonsense time", err)
					}
				}
				if tc.until.IsZero() {
					if !report.Permanent(err) || !errors.Is(err, httpx.ErrForbidden) {
						t.Errorf("permission refusal %v is not permanent", err)
					}
					return
				}
				at, ok := report.RetryAt(err)
				if report.Permanent(err) || !ok || !at.Equal(tc.until) {
					t.Fatalf("Permanent %v, RetryAt %v %v; want a wait until %v", report.Permanent(err), at, ok, tc.until)
				}
				// Before the time nothing is sent.
				n := len(e.fake.Requests())
				e.clock.Add(at.Sub(testStart) - time.Second)
				if err := reportOnce(r, head, "f1"); report.Permanent(err) || err == nil {
					t.Errorf("report before the wait ended: %v, want a wait", err)
				}
				if got := len(e.fake.Requests()) - n; got != 0 {
					t.Errorf("%d requests sent before the wait ended", got)
				}
				// After it (and after the fake's window, for the primary
				// limit) the post goes through, once.
				e.clock.Add(time.Hour)
				if err := reportOnce(r, head, "f1"); err != nil {
					t.Fatalf("report after the wait: %v", err)
				}
				if st := e.fake.Statuses(); len(st) != 1 || st[0].State != "failure" {
					t.Errorf("statuses %+v, want the one post", st)
				}
			})
		}
	}
}

// Secondary limits without retry-after back off exponentially from a
// minute, and a success starts over.
func TestSecondaryLimitBacksOff(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	s := e.source(t, nil)
	r, err := s.Reporter(ReporterOpts{Name: "gh", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	head := sha("head-1")
	var waits []time.Duration
	e.fake.Refuse("POST", ghfake.Secondary, 3)
	for range 3 {
		at, ok := report.RetryAt(reportOnce(r, head, "f1"))
		if !ok {
			t.Fatal("no wait")
		}
		waits = append(waits, at.Sub(e.clock.Now()))
		e.clock.Add(at.Sub(e.clock.Now()))
	}
	if want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}; fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if err := reportOnce(r, head, "f1"); err != nil {
		t.Fatal(err)
	}
	e.fake.Refuse("POST", ghfake.Secondary, 1)
	if at, _ := report.RetryAt(reportOnce(r, head, "f2")); at.Sub(e.clock.Now()) != time.Minute {
		t.Errorf("after a success the wait is %v, want a minute again", at.Sub(e.clock.Now()))
	}
}

// pacedReporter is the status reporter of a source over prs pull
// requests whose waits for GitHub's pace move the test clock.
func pacedReporter(t *testing.T, prs int) (*env, *Reporter) {
	t.Helper()
	e := newEnv(t, ghfake.Options{Limit: 10000}, nil)
	e.addPRs(prs)
	s := e.source(t, func(o *Opts) {
		o.Sleep = func(ctx context.Context, d time.Duration) error { e.clock.Add(d); return ctx.Err() }
	})
	r, err := s.Reporter(ReporterOpts{Name: "gh", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

// A first tick over hundreds of pull requests posts every status: the
// reporter keeps under GitHub's content creation limits (80 a minute, 500
// an hour, which the fake enforces with its secondary limit 403), and what
// does not fit in the hour waits in the outbox, as the cycle keeps it, for
// the time the reporter names.
func TestFirstTickOverHundredsOfPRsLosesNothing(t *testing.T) {
	const prs = 540
	e, r := pacedReporter(t, prs)
	// The outbox: every pull request's head, and when it is due.
	due := map[string]time.Time{}
	for i := 1; i <= prs; i++ {
		due[sha(fmt.Sprintf("head-%d", i))] = testStart
	}
	// A tick every five minutes, as a cron schedule would run them.
	ticks := 0
	for len(due) > 0 && ticks < 30 {
		ticks++
		e.clock.Add(5 * time.Minute)
		next := time.Time{}
		for head, at := range due {
			if e.clock.Now().Before(at) {
				continue
			}
			err := reportOnce(r, head, "f1")
			if err == nil {
				delete(due, head)
				continue
			}
			if report.Permanent(err) {
				t.Fatalf("report on %s dropped: %v", head, err)
			}
			if until, ok := report.RetryAt(err); ok {
				due[head] = until
			}
		}
		for _, at := range due {
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if !next.IsZero() && next.After(e.clock.Now()) {
			e.clock.Add(next.Sub(e.clock.Now()))
		}
	}
	if len(due) != 0 || len(e.fake.Statuses()) != prs {
		t.Fatalf("after %d ticks %d reports left, %d statuses posted; want all %d", ticks, len(due), len(e.fake.Statuses()), prs)
	}
	if n := e.fake.Refused(); n != 0 {
		t.Errorf("GitHub refused %d requests with a rate limit; pacing should keep under it", n)
	}
	// 500 in the first hour, the rest after it.
	if elapsed := e.clock.Now().Sub(testStart); elapsed < time.Hour {
		t.Errorf("all %d posted within %v: more than 500 an hour", prs, elapsed)
	}
}

// Two sources posting with one account share its content creation pace.
func TestSourcesOfOneAccountSharePacing(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	e.fake.AddPR("rock-core/other", ghfake.PR{HeadRef: "x", HeadSHA: sha("other"), BaseSHA: sha("base")})
	writes := &Writes{}
	a := e.source(t, func(o *Opts) { o.Writes = writes })
	b := e.source(t, func(o *Opts) { o.Writes, o.Repo, o.Name = writes, "rock-core/other", "other" })
	for _, tc := range []struct {
		s    *Source
		repo string
		head string
	}{{a, testRepo, sha("head-1")}, {b, "rock-core/other", sha("other")}} {
		if err := tc.s.PostStatus(context.Background(), tc.repo, tc.head, Status{State: StatusSuccess, Context: "trawl"}); err != nil {
			t.Fatal(err)
		}
	}
	if w := e.sleeper.Waits(); len(w) != 1 || w[0] != 750*time.Millisecond {
		t.Errorf("waits %v, want the second source's post spaced 750ms after the first's", w)
	}
}

// A cycle with more statuses to post than a minute of GitHub's pace holds
// (80 a minute) posts a minute's worth and holds the others back, sending
// nothing for them: a held wait (the cycle counts no attempt) from their
// turn, so that the posting stage does not last for most of the cycle
// deadline. The next cycle, a schedule later, finds the pace idle and
// posts the next minute's worth.
func TestPostsBeyondAMinuteOfPaceAreHeldBack(t *testing.T) {
	const prs = 100
	e, r := pacedReporter(t, prs)
	cycle := func(from int) (posted, held int) {
		t.Helper()
		for i := from; i <= prs; i++ {
			err := reportOnce(r, sha(fmt.Sprintf("head-%d", i)), "f1")
			if err == nil {
				posted++
				continue
			}
			var w *report.WaitError
			if !errors.As(err, &w) || !w.Held || report.Permanent(err) || !w.Until.After(e.clock.Now()) {
				t.Fatalf("post %d: %v, want a held wait until a later time", i, err)
			}
			held++
		}
		return posted, held
	}
	// Posts 1 to 81 are paced within the minute (the first does not wait).
	if posted, held := cycle(1); posted != 81 || held != prs-81 {
		t.Fatalf("first cycle posted %d and held %d, want 81 and %d", posted, held, prs-81)
	}
	if n := e.fake.Refused(); n != 0 {
		t.Errorf("GitHub refused %d posts; the pace should keep under its limit", n)
	}
	e.clock.Add(time.Minute)
	if posted, held := cycle(82); posted != prs-81 || held != 0 {
		t.Fatalf("next cycle posted %d and held %d, want %d and 0", posted, held, prs-81)
	}
	if got := len(e.fake.Statuses()); got != prs {
		t.Fatalf("GitHub holds %d statuses, want %d", got, prs)
	}
}
