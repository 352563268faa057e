package report

import (
	"slices"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// The outbox rules: when a result is reported, what a queued report
// becomes on each pass, how long a failed post waits, and which items are
// looked at before posting. They are pure; the cycle keeps the outbox in
// the state and applies them.

// Last is what a reporter last wrote for one unit (or refused, or dropped
// for its age: recorded the same way, so it is not queued again).
type Last struct {
	Fingerprint string
	State       targets.State
	Posted      string
}

// ShouldReport decides whether a result is to be reported, given what the
// reporter last wrote for the unit (nil: nothing yet). It is the exactness
// rule of reporting: never the same state twice for a fingerprint, and
// never pending after a conclusive state of the same fingerprint. A new
// fingerprint starts over.
func ShouldReport(last *Last, fp string, s targets.State, posted string) bool {
	if last == nil || last.Fingerprint != fp {
		return true
	}
	if last.Posted == posted {
		return false
	}
	if !s.Conclusive() && last.State.Conclusive() {
		return false
	}
	return true
}

// Covered reports whether a report queued for the same record and
// reporter (queued, to be posted as queuedPosted) makes a new one (m, to
// be posted as posted) needless: it is about the same fingerprint and
// says the same, or it is conclusive and m is not.
func Covered(queued Message, queuedPosted string, m Message, posted string) bool {
	if queued.Fingerprint != m.Fingerprint {
		return false
	}
	return queuedPosted == posted || (!m.State.Conclusive() && queued.State.Conclusive())
}

// Queued is what the outbox rules look at in a queued report.
type Queued struct {
	Fingerprint string
	Created     time.Time
	NextAttempt time.Time
}

// Fate is what a pass over the outbox does with one queued report.
type Fate int

const (
	// Due: post it now.
	Due Fate = iota
	// Later: keep it; its next attempt is not due yet.
	Later
	// Stale: drop it; its unit is gone or has another fingerprint since
	// it was queued, and an old revision's result never lands on a new
	// one.
	Stale
	// Orphaned: drop it; its reporter is no longer configured.
	Orphaned
	// Expired: drop it, recorded as reported; it waited longer than the
	// source's report.max_age.
	Expired
)

// Unit is what the outbox rules know of the record a queued report is
// about.
type Unit struct {
	// Exists is false when the record is gone from the state.
	Exists      bool
	Fingerprint string
}

// FateOf decides what happens to queued report q at now: u is its record,
// reporter says whether its reporter is still configured, and maxAge is
// its source's report.max_age (0: no bound). A report is checked in that
// order: stale, orphaned, expired, not yet due, due.
func FateOf(q Queued, u Unit, reporter bool, maxAge time.Duration, now time.Time) Fate {
	switch {
	case !u.Exists || u.Fingerprint != q.Fingerprint:
		return Stale
	case !reporter:
		return Orphaned
	case maxAge > 0 && now.Sub(q.Created) > maxAge:
		return Expired
	case q.NextAttempt.After(now):
		return Later
	}
	return Due
}

// The backoff of a failed post: the first retry after a minute, doubling
// up to an hour.
const (
	RetryFirst = time.Minute
	RetryMax   = time.Hour
)

// NextAttempt is when a report whose post failed for the attempts-th time
// (1 for the first failure) with err is tried again: after the backoff,
// and not before the time err names (RetryAt: a rate limit's reset, a
// Retry-After).
func NextAttempt(now time.Time, attempts int, err error) time.Time {
	wait := RetryFirst << min(max(attempts-1, 0), 6)
	if wait > RetryMax {
		wait = RetryMax
	}
	next := now.Add(wait)
	if at, ok := RetryAt(err); ok && at.After(next) {
		next = at
	}
	return next
}

// LookFirst lists the items of a report to look at before posting: those
// whose posting started on an earlier attempt (a crash or a failure may
// have left them posted but not recorded), or every item when the state
// of its posting may have been lost: the job was adopted (triggered by a
// run whose state was lost), or the record of the posts about to start
// could not be saved (unsaved).
func LookFirst(items, started []string, adopted, unsaved bool) []string {
	if adopted || unsaved {
		return slices.Clone(items)
	}
	return slices.Clone(started)
}

// Starting returns started with the items of a report whose posting starts
// now added: every item not done yet. The cycle saves them before the
// first post, so that a later attempt looks before posting them again.
func Starting(items, done, started []string) []string {
	for _, item := range items {
		if !slices.Contains(done, item) && !slices.Contains(started, item) {
			started = append(started, item)
		}
	}
	return started
}
