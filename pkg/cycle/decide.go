package cycle

import (
	"encoding/json"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Reason says why a ready unit is (or is not) triggered this cycle.
type Reason int

// The trigger reasons, in the order of DESIGN.md "One cycle": new and
// changed units are triggered, unchanged ones are left alone.
const (
	ReasonUnchanged Reason = iota
	ReasonNew
	ReasonChanged
	// ReasonRetry: unchanged, but its job ended in an infrastructure
	// error and the source's policy retries it.
	ReasonRetry
	// ReasonRetrigger: unchanged, but an operator asked for a new build
	// (`trawl retrigger`).
	ReasonRetrigger
)

// WhyRetrigger is the reason given for a build an operator asked for.
const WhyRetrigger = "retrigger requested"

// String names the reason for logs and plans.
func (r Reason) String() string {
	switch r {
	case ReasonNew:
		return "new"
	case ReasonChanged:
		return "changed"
	case ReasonRetry:
		return "retry"
	case ReasonRetrigger:
		return "retrigger"
	}
	return "unchanged"
}

// decide compares a unit's current fingerprint with the one stored for its
// last trigger. It is the only place that says whether CI runs: a unit
// triggers when, and only when, it has no fingerprint yet or a different one.
// For a changed unit it explains which inputs moved, from the inputs stored
// with the old fingerprint.
func decide(stored *state.Unit, fp string, in fingerprint.Input) (Reason, []string) {
	if stored == nil || stored.Fingerprint == "" {
		return ReasonNew, nil
	}
	if stored.Fingerprint == fp {
		return ReasonUnchanged, nil
	}
	var old fingerprint.Input
	if len(stored.Inputs) == 0 || json.Unmarshal(stored.Inputs, &old) != nil {
		return ReasonChanged, []string{"fingerprint changed (previous inputs not recorded)"}
	}
	why := fingerprint.Explain(old, in)
	if len(why) == 0 {
		why = []string{"fingerprint format changed"}
	}
	return ReasonChanged, why
}

// retryInfra reports whether an unchanged unit is to be triggered again:
// its job ended in an infrastructure error and fewer than limit retries
// were made for its fingerprint.
func retryInfra(u *state.Unit, limit int) bool {
	return u.Job != nil && u.Result != nil && u.Result.State == targets.StateInfra && u.Attempt < limit
}
