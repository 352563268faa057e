// Package targets holds what every CI backend shares: the request that
// describes one unit to build, the job a trigger creates, and the sentinel
// that makes a unit wait instead of fail.
//
// The backends themselves live in sub-packages (kernelci, ...). The cycle
// defines the small interface it needs from them.
package targets

import (
	"errors"

	"github.com/trawl-ci/trawl/pkg/change"
)

// ErrWaiting reports that a unit cannot be built yet (its base has no
// checkout on the target, say) and is to be tried again on a later tick.
// Wrap it with the reason: fmt.Errorf("no checkout node for %s: %w", c, ErrWaiting).
var ErrWaiting = errors.New("waiting")

// Base is the resolved base of a unit.
type Base struct {
	Tree   string
	URL    string
	Branch string
	// Commit is the base commit the unit is built on.
	Commit string
	// Exact reports that the commit is part of the unit's fingerprint (policy
	// follow, or tag with a base-commit): a job on another commit of the same
	// branch is then not the same job.
	Exact bool
}

// Request is one unit to build.
type Request struct {
	// Unit is the unit key (change.UnitKey).
	Unit        string
	Fingerprint string
	Change      change.Key
	Title       string
	WebURL      string
	Base        Base
	// Patches are the patches to apply, in order: every open dependency's
	// patches in topological order, then the change's own.
	Patches []change.Patch
	// Attempt is 0 for a unit's first build of a fingerprint and n for its
	// n-th retry after an infrastructure error.
	Attempt int
	// Exclude lists jobs of earlier attempts: a target must not adopt
	// them (they ended in an infrastructure error), but it still adopts a
	// job of this very attempt.
	Exclude []string
	// Heads lists every change of the unit that is a pull or merge request,
	// in topological order: its open dependencies first, the change last.
	// It is empty for a unit made of Patchwork series only.
	Heads []Head
}

// Head is the head commit of one pull or merge request of a unit: what a CI
// fetches to build it.
type Head struct {
	// Key is the change the head belongs to.
	Key change.Key `json:"key"`
	// Repo is the clone URL of the base repository, which holds the head
	// of every pull or merge request, forks included, under Ref.
	Repo string `json:"repo"`
	// Ref is the ref of Repo that holds the head: refs/pull/N/head on
	// GitHub, refs/merge-requests/N/head on GitLab.
	Ref string `json:"ref,omitempty"`
	// SHA is the head commit.
	SHA string `json:"sha"`
}

// Job is what a trigger created, or adopted, on a target.
type Job struct {
	Target string `json:"target"`
	// ID is the target's own reference (a KernelCI node id, a Jenkins queue
	// item URL).
	ID string `json:"id"`
	// URL is where a person can look at the job; may be empty.
	URL string `json:"url,omitempty"`
	// BaseCommit is the base commit the job builds on.
	BaseCommit string `json:"base_commit,omitempty"`
	// Adopted reports that the job existed already and was not created by
	// this trigger.
	Adopted bool `json:"adopted,omitempty"`
}

// State is the summarised result of a job.
type State string

// The result states. Infrastructure errors are kept apart from failures: a
// build that timed out or never ran says nothing about the change.
const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateWarning State = "warning"
	StateFail    State = "fail"
	StateInfra   State = "infra-error"
)

// Conclusive reports whether the state is final.
func (s State) Conclusive() bool { return s != StatePending && s != "" }

// Tally counts nodes (builds or tests) by outcome.
type Tally struct {
	Pass    int `json:"pass"`
	Fail    int `json:"fail"`
	Error   int `json:"error"` // infrastructure: timed out, incomplete, lab error
	Skip    int `json:"skip"`
	Running int `json:"running"`
}

// Total is the number of nodes counted.
func (t Tally) Total() int { return t.Pass + t.Fail + t.Error + t.Skip + t.Running }

// Result is one job's result, summarised.
type Result struct {
	State State `json:"state"`
	// Summary is one line a person reads, e.g. "builds 12/12 passed; tests
	// 140 passed, 2 failed, 1 infra error".
	Summary string `json:"summary"`
	// URL is where the details are.
	URL    string `json:"url,omitempty"`
	Builds Tally  `json:"builds"`
	Tests  Tally  `json:"tests"`
}

// ErrJobGone reports that a job no longer exists on its target (deleted, or
// the target's database was reset): it will never end. A poller wraps it;
// the cycle triggers the unit again.
var ErrJobGone = errors.New("job no longer exists")
