package report

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestShouldReport(t *testing.T) {
	last := func(fp string, s targets.State, posted string) *Last {
		return &Last{Fingerprint: fp, State: s, Posted: posted}
	}
	for _, tc := range []struct {
		name   string
		last   *Last
		fp     string
		state  targets.State
		posted string
		want   bool
	}{
		{"first report", nil, "f1", targets.StatePending, "pending", true},
		{"same state twice", last("f1", targets.StatePending, "pending"), "f1", targets.StatePending, "pending", false},
		{"pending to success", last("f1", targets.StatePending, "pending"), "f1", targets.StateSuccess, "success", true},
		{"conclusive then pending", last("f1", targets.StateFail, "fail"), "f1", targets.StatePending, "pending", false},
		{"same posted word for another state", last("f1", targets.StateInfra, "warning"), "f1", targets.StateWarning, "warning", false},
		{"conclusive to another conclusive (re-run)", last("f1", targets.StateInfra, "warning"), "f1", targets.StateSuccess, "success", true},
		{"new fingerprint starts over with pending", last("f1", targets.StateSuccess, "success"), "f2", targets.StatePending, "pending", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldReport(tc.last, tc.fp, tc.state, tc.posted); got != tc.want {
				t.Fatalf("ShouldReport = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCovered(t *testing.T) {
	msg := func(fp string, s targets.State) Message { return Message{Unit: "u", Fingerprint: fp, State: s} }
	for _, tc := range []struct {
		name         string
		queued       Message
		queuedPosted string
		m            Message
		posted       string
		want         bool
	}{
		{"the same report queued", msg("f1", targets.StatePending), "pending", msg("f1", targets.StatePending), "pending", true},
		{"a conclusive one queued covers pending", msg("f1", targets.StateSuccess), "success", msg("f1", targets.StatePending), "pending", true},
		{"pending queued is replaced by conclusive", msg("f1", targets.StatePending), "pending", msg("f1", targets.StateFail), "fail", false},
		{"another fingerprint is never covered", msg("f0", targets.StateSuccess), "success", msg("f1", targets.StateSuccess), "success", false},
		{"another conclusive state replaces", msg("f1", targets.StateInfra), "warning", msg("f1", targets.StateSuccess), "success", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Covered(tc.queued, tc.queuedPosted, tc.m, tc.posted); got != tc.want {
				t.Fatalf("Covered = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFateOf(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q := Queued{Fingerprint: "f1", Created: now.Add(-2 * time.Hour), NextAttempt: now}
	later := q
	later.NextAttempt = now.Add(time.Minute)
	unit := Unit{Exists: true, Fingerprint: "f1"}
	for _, tc := range []struct {
		name     string
		q        Queued
		u        Unit
		reporter bool
		maxAge   time.Duration
		want     Fate
	}{
		{"due now", q, unit, true, 0, Due},
		{"not due yet", later, unit, true, 0, Later},
		{"unit gone", q, Unit{}, true, 0, Stale},
		{"fingerprint moved on", q, Unit{Exists: true, Fingerprint: "f2"}, true, 0, Stale},
		{"stale before orphaned", q, Unit{}, false, 0, Stale},
		{"reporter no longer configured", q, unit, false, 0, Orphaned},
		{"older than max_age", q, unit, true, time.Hour, Expired},
		{"expired even when not due", later, unit, true, time.Hour, Expired},
		{"within max_age", q, unit, true, 3 * time.Hour, Due},
		{"exactly max_age is not older", q, unit, true, 2 * time.Hour, Due},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FateOf(tc.q, tc.u, tc.reporter, tc.maxAge, now); got != tc.want {
				t.Fatalf("FateOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNextAttempt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	plain := errors.New("502 Bad Gateway")
	for _, tc := range []struct {
		attempts int
		err      error
		want     time.Duration
	}{
		{1, plain, time.Minute},
		{2, plain, 2 * time.Minute},
		{3, plain, 4 * time.Minute},
		{7, plain, time.Hour},   // 64 minutes, capped
		{100, plain, time.Hour}, // no overflow
		{1, &WaitError{Err: plain, Until: now.Add(10 * time.Minute)}, 10 * time.Minute},
		{7, &WaitError{Err: plain, Until: now.Add(time.Minute)}, time.Hour}, // never sooner than the backoff
		{1, fmt.Errorf("post: %w", &WaitError{Err: plain, Until: now.Add(3 * time.Hour)}), 3 * time.Hour},
	} {
		if got := NextAttempt(now, tc.attempts, tc.err).Sub(now); got != tc.want {
			t.Errorf("NextAttempt(attempt %d, %v) in %s, want %s", tc.attempts, tc.err, got, tc.want)
		}
	}
}

func TestLookFirstAndStarting(t *testing.T) {
	items := []string{"p1", "p2", "p3"}
	for _, tc := range []struct {
		name             string
		started          []string
		adopted, unsaved bool
		want             []string
	}{
		{"a first attempt looks at nothing", nil, false, false, nil},
		{"items an earlier attempt started are looked at", []string{"p2"}, false, false, []string{"p2"}},
		{"an adopted job may have been reported already", nil, true, false, items},
		{"an unsaved start record makes every item looked at", []string{"p2"}, false, true, items},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LookFirst(items, tc.started, tc.adopted, tc.unsaved); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("LookFirst = %v, want %v", got, tc.want)
			}
		})
	}
	if got := Starting(items, []string{"p1"}, []string{"p2"}); !reflect.DeepEqual(got, []string{"p2", "p3"}) {
		t.Fatalf("Starting = %v, want the started item kept and the one not done added", got)
	}
}
