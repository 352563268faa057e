package cycle

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
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

// decideInput is everything decide looks at, as plain data. decide reads
// it and modifies none of it.
type decideInput struct {
	// changes indexes the snapshot, references resolved, by key.
	changes map[change.Key]*change.Change
	// graph is the dependency graph of the same snapshot: decide walks
	// its changes by position (graph.Result.At).
	graph graph.Result
	// scope is the set of sources the cycle runs for.
	scope map[string]struct{}
	// targets describes each configured target by name.
	targets map[string]targetInfo
	// bases are the base branches resolved this cycle (bases.go).
	bases map[baseKey]baseAnswer
	// stored are the units of the state as it was loaded.
	stored map[string]*state.Unit
	// units are the units of stored looked up by the bases stage, nil
	// when there was none (decide then looks them up itself).
	units *unitTable
	// retryInfra is, by source name, how many times an infrastructure
	// error is retried for the same fingerprint.
	retryInfra map[string]int
}

// targetInfo is what decide needs to know of a target.
type targetInfo struct {
	configHash string
	// resolver names what resolves the target's bases (baseKey.resolver).
	resolver string
}

// decision is what decide says about one unit: its line in the report,
// with the outcome and the reason, and what the later stages act on.
type decision struct {
	report UnitReport
	// eval is the unit's fingerprint, or why it has none; nil for a
	// blocked or unknown unit.
	eval *evaluation
	// req is what to trigger, when report.Outcome is OutcomeTrigger.
	req *targets.Request
	// supersedes are the older revisions the change replaces, for the
	// trigger's log line.
	supersedes []change.Key
}

// ready reports whether the unit has a fingerprint this cycle: it is
// neither blocked, unknown nor waiting.
func (d *decision) ready() bool {
	return d.eval != nil && d.eval.err == nil && d.eval.wait == ""
}

// decideInput gathers decide's input from the pass.
func (r *Runner) decideInput(p *pass) decideInput {
	in := decideInput{changes: p.changes, graph: p.graph, scope: p.scope, targets: map[string]targetInfo{},
		bases: p.bases, stored: p.st.Units, units: p.units, retryInfra: r.o.RetryInfra}
	for name, t := range r.targets {
		in.targets[name] = targetInfo{configHash: t.ConfigHash(), resolver: r.resolverID(t)}
	}
	return in
}

// decide is the pure heart of the cycle: for every unit of the scope (each
// change that is not merged, on each of its configured targets), in
// dependency order, it says what the cycle does and why. A unit is
// blocked or unknown as the graph says; it waits when it cannot be
// fingerprinted (its base, a dependency); otherwise it triggers when, and
// only when, its fingerprint is new or differs from the stored one, or
// an operator or the retry policy asks for a new build. It touches no
// network and changes nothing: record applies its decisions.
func decide(in decideInput) []decision {
	ev := newEvaluator(in)
	out := make([]decision, 0, len(in.graph.Order))
	for i := range in.graph.Order {
		c, node := ev.in.graph.At(i)
		if _, ok := in.scope[c.Source]; !ok || c.Merged {
			// A merged change is no unit: only its dependents carry it.
			continue
		}
		for _, t := range c.Targets {
			if j, ok := ev.units.target[t]; ok {
				out = append(out, ev.decideUnit(c, node, i, j))
			}
		}
	}
	return out
}

// decideUnit decides one unit: change c, of graph node node at position
// i of the graph's order, on target j.
func (ev *evaluator) decideUnit(c *change.Change, node *graph.Node, i, j int) decision {
	t := ev.units.names[j]
	d := decision{report: UnitReport{Change: c.Key, Source: c.Source, Target: t, Title: c.Title, Deps: node.Closure}}
	ur := &d.report
	switch node.Status {
	case graph.Blocked:
		ur.Unit, ur.Outcome, ur.Detail = change.UnitKey(c.Key, t), OutcomeBlocked, node.Reason
		return d
	case graph.Unknown:
		ur.Unit, ur.Outcome, ur.Detail = change.UnitKey(c.Key, t), OutcomeUnknown, node.Reason
		return d
	}
	e := ev.unit(i, j)
	uk := e.unit
	ur.Unit = uk
	d.eval = e
	ur.Fingerprint = e.fp
	if e.fp != "" {
		ur.Deps = e.closure
		ur.Inputs = &e.in
	}
	switch {
	case e.err != nil:
		// A base that cannot be resolved makes the unit wait; the
		// failure is still an error of this cycle (record counts it).
		ur.Outcome, ur.Detail = OutcomeWaiting, e.wait+": "+e.err.Error()
		return d
	case e.wait != "":
		ur.Outcome, ur.Detail = OutcomeWaiting, e.wait
		return d
	}
	stored := e.stored
	reason, why := compare(stored, e.fp, e.in)
	limit := ev.in.retryInfra[c.Source]
	switch {
	case reason == ReasonUnchanged && stored.RetriggerRequested != nil:
		reason, why = ReasonRetrigger, []string{WhyRetrigger}
	case reason == ReasonUnchanged && retryInfra(stored, limit):
		reason = ReasonRetry
		why = []string{fmt.Sprintf("infrastructure error in job %s: retry %d of %d", stored.Job.ID, stored.Attempt+1, limit)}
	}
	ur.Reason, ur.Why = reason, why
	if reason == ReasonUnchanged {
		ur.Outcome = OutcomeUnchanged
		return d
	}
	ur.Outcome = OutcomeTrigger
	req := ev.request(uk, c, e)
	d.req = &req
	if reason == ReasonRetry || (reason == ReasonRetrigger && stored.Job != nil) {
		// A new attempt: the target must not adopt the jobs of the
		// earlier ones.
		d.req.Attempt = stored.Attempt + 1
		d.req.Exclude = append(slices.Clone(stored.PreviousJobs), stored.Job.ID)
	}
	d.supersedes = c.Supersedes
	return d
}

// compare compares a unit's current fingerprint with the one stored for
// its last trigger. It is the only place that says whether a fingerprint
// moved: a unit is new when it has no fingerprint yet, changed when it has
// a different one. For a changed unit it explains which inputs moved, from
// the inputs stored with the old fingerprint.
func compare(stored *state.Unit, fp string, in fingerprint.Input) (Reason, []string) {
	if stored == nil || stored.Fingerprint == "" {
		return ReasonNew, nil
	}
	if stored.Fingerprint == fp {
		return ReasonUnchanged, nil
	}
	var old fingerprint.Input
	if len(stored.Inputs) == 0 || json.Unmarshal([]byte(stored.Inputs), &old) != nil {
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
