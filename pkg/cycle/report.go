package cycle

import (
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Outcome is what a cycle did with, or decided about, one unit. It is also
// the unit's status in the state file.
type Outcome = string

// The outcomes of a unit in one cycle.
const (
	// OutcomeTrigger: the unit is new or changed (a plan stops here).
	OutcomeTrigger Outcome = "trigger"
	// OutcomeTriggered: a job was created for the current fingerprint.
	OutcomeTriggered Outcome = "triggered"
	// OutcomeAdopted: the target already had the job; it was adopted.
	OutcomeAdopted Outcome = "adopted"
	// OutcomeQueued: new or changed, but its target runs max_running
	// builds already; it starts on a later cycle, oldest first.
	OutcomeQueued Outcome = "queued"
	// OutcomeUnchanged: the fingerprint equals the last triggered one.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeBlocked: a dependency is missing, closed, cyclic or unbuildable.
	OutcomeBlocked Outcome = "blocked"
	// OutcomeWaiting: the base cannot be resolved or built on yet.
	OutcomeWaiting Outcome = "waiting"
	// OutcomeUnknown: a source it depends on failed this cycle.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeFailed: the trigger failed; it is retried next cycle.
	OutcomeFailed Outcome = "failed"
	// OutcomeGone: no longer on its forge, kept for the grace period.
	OutcomeGone Outcome = "gone"
	// OutcomeForgotten: gone for longer than the grace period; removed.
	OutcomeForgotten Outcome = "forgotten"
)

// UnitReport is one unit's line in a cycle report.
type UnitReport struct {
	Unit   string
	Change change.Key
	// Source is the configured source that yields the change.
	Source  string
	Target  string
	Title   string
	Outcome Outcome
	Detail  string // why blocked, waiting, unknown or failed
	Reason  Reason // for ready units: new, changed or unchanged
	Why     []string
	// Deps are the open dependencies built with the change, in order.
	Deps        []change.Key
	Fingerprint string
	// Inputs are what Fingerprint was computed from this cycle; nil when
	// the unit has no fingerprint this cycle.
	Inputs *fingerprint.Input
	Job    *targets.Job
	// Result is the job's result, when it was polled this cycle.
	Result *targets.Result
}

// ReportCounts totals what the reporting pass did. Posted counts the
// reports for which a post was made; Found those that were already there
// on every item (looking before posting found them, after a lost state),
// so nothing was posted.
type ReportCounts struct {
	Posted, Found, Retrying, Failed, Dropped, Queued int
}

// SourceError records a source that was unknown this cycle.
type SourceError struct {
	Source string
	Err    string
}

// Counts totals the unit outcomes of a cycle.
type Counts struct {
	Units, Trigger, Triggered, Adopted, Unchanged, Blocked, Waiting, Unknown, Failed, Gone int
	// Queued counts the units waiting for a free slot of their target.
	Queued int
}

// Report is what one cycle saw and did.
type Report struct {
	Mode    Mode
	Started time.Time
	// Scope names the sources the cycle ran for, in configuration order.
	Scope          []string
	Duration       time.Duration
	Sources        int
	UnknownSources []SourceError
	Changes        int
	Units          []UnitReport
	Count          Counts
	// Errors counts failed sources, failed triggers and failed base
	// resolutions: what an operator must look at.
	Errors   int
	Reports  ReportCounts
	Requests httpx.Counts
}

func (r *Report) count() {
	var c Counts
	for _, u := range r.Units {
		switch u.Outcome {
		case OutcomeGone, OutcomeForgotten:
			c.Gone++
			continue
		case OutcomeTrigger:
			c.Trigger++
		case OutcomeTriggered:
			c.Triggered++
		case OutcomeAdopted:
			c.Adopted++
		case OutcomeUnchanged:
			c.Unchanged++
		case OutcomeBlocked:
			c.Blocked++
		case OutcomeWaiting:
			c.Waiting++
		case OutcomeQueued:
			c.Queued++
		case OutcomeUnknown:
			c.Unknown++
		case OutcomeFailed:
			c.Failed++
			r.Errors++
		}
		c.Units++
	}
	r.Count = c
}
