package cycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// evaluation is the fingerprint of one (change, target) pair, or why it has
// none this cycle.
type evaluation struct {
	// unit is the unit's key (change.UnitKey).
	unit   string
	target string
	fp     string
	in     fingerprint.Input
	base   targets.Base
	// wait, when set, says why the unit cannot be fingerprinted yet (its base
	// is not resolvable, a dependency waits); it is not an error.
	wait string
	// err is a failure to resolve the base that is not a plain wait.
	err error
	// closure is what the unit builds before its change: the node's
	// closure without the merged dependencies its base holds.
	closure []change.Key
	// stored is the unit's stored state, nil for a new unit.
	stored *state.Unit
}

// evaluator fingerprints units for decide, memoised along the graph. It
// is pure: the bases it needs were resolved before (bases.go).
type evaluator struct {
	in   decideInput
	memo map[unitRef]*evaluation
	// slab holds the evaluations not handed out yet: they are allocated
	// by the batch, one allocation per unit being a fifth of decide's.
	slab []evaluation
}

// unitRef names a unit as its change and target, a cheaper map key than
// change.UnitKey.
type unitRef struct {
	change change.Key
	target string
}

func newEvaluator(in decideInput) *evaluator {
	return &evaluator{in: in, memo: make(map[unitRef]*evaluation, len(in.changes))}
}

// newEvaluation returns a new, zero evaluation.
func (ev *evaluator) newEvaluation() *evaluation {
	if len(ev.slab) == 0 {
		ev.slab = make([]evaluation, min(max(len(ev.in.changes), 1), 1024))
	}
	e := &ev.slab[0]
	ev.slab = ev.slab[1:]
	return e
}

// dep fingerprints dependency key on target t: from the memo, as a
// dependency comes before its dependents in the graph's order.
func (ev *evaluator) dep(key change.Key, t string) *evaluation {
	if e, ok := ev.memo[unitRef{key, t}]; ok {
		return e
	}
	return ev.unit(ev.in.changes[key], ev.in.graph.Nodes[key], t)
}

// unit fingerprints change c, of graph node node, on target t; decide
// calls it once per unit, in the graph's order. The graph guarantees that
// a ready change's dependencies are ready too.
func (ev *evaluator) unit(c *change.Change, node *graph.Node, t string) *evaluation {
	uk := change.UnitKey(c.Key, t)
	e := ev.newEvaluation()
	e.unit, e.target = uk, t
	ev.memo[unitRef{c.Key, t}] = e
	if c.Waiting != "" {
		e.wait = c.Waiting
		return e
	}

	stored := ev.in.stored[uk]
	e.stored = stored
	base, wait, err := ev.base(c, t, stored)
	if err != nil || wait != "" {
		e.wait, e.err = wait, err
		return e
	}
	e.base = base
	in := fingerprint.Input{
		Target:       t,
		TargetConfig: ev.in.targets[t].configHash,
		BaseURL:      c.Base.URL,
		BaseBranch:   c.Base.Branch,
	}
	if base.Exact {
		in.BaseCommit = base.Commit
	}
	held := inBase(ev.in.changes, stored, base, in.BaseCommit)
	for _, k := range node.Closure {
		if !held(k) {
			e.closure = append(e.closure, k)
			in.Items = append(in.Items, fingerprint.ItemOf(ev.in.changes[k]))
		}
	}
	in.Items = append(in.Items, fingerprint.ItemOf(c))
	for _, d := range node.Deps {
		if held(d) {
			continue
		}
		de := ev.dep(d, t)
		if de.err != nil || de.wait != "" {
			e.wait = fmt.Sprintf("dependency %s waits: %s", d, firstNonEmpty(de.wait, errString(de.err)))
			return e
		}
		in.Deps = append(in.Deps, fingerprint.Dep{Key: string(d), Fingerprint: de.fp})
	}
	e.in = in
	e.fp = fingerprint.Sum(in)
	return e
}

// inBase returns whether the base of a unit holds change k already: k is
// merged upstream, and the base is known to hold it. That is so when the
// base is at one of the commits k was applied as (Patchwork's commit_ref),
// when the unit's last build did not carry k (the base was decided after k
// was merged: a new unit, or a dependency that was merged when it was
// named), or when the base moved since that build (follow, or a new
// base-commit). Otherwise the unit keeps k's content: a dependency being
// accepted changes nothing the unit builds on, so it triggers nothing.
func inBase(changes map[change.Key]*change.Change, stored *state.Unit, base targets.Base, commit string) func(change.Key) bool {
	// The stored inputs are decoded only for a unit with a merged
	// dependency: decoding them for every unit on every tick was most of
	// the CPU time of an idle cycle.
	var (
		last    *fingerprint.Input
		decoded bool
	)
	return func(k change.Key) bool {
		m := changes[k]
		if m == nil || !m.Merged {
			return false
		}
		if base.Commit != "" && slices.Contains(m.Commits, base.Commit) {
			return true
		}
		if !decoded && stored != nil && stored.Fingerprint != "" && len(stored.Inputs) > 0 {
			var in fingerprint.Input
			if json.Unmarshal(stored.Inputs, &in) == nil {
				last = &in
			}
		}
		decoded = true
		if last == nil || last.BaseCommit != commit {
			return true
		}
		return !slices.ContainsFunc(last.Items, func(it fingerprint.Item) bool { return it.Key == string(k) })
	}
}

// basePlan says where the unit's base commit comes from under the
// change's policy:
//   - follow: the branch's current commit, part of the fingerprint;
//   - tag: the change's own base-commit when it has one (part of the
//     fingerprint), else as pinned;
//   - pinned: the commit recorded when the unit was first seen, else the
//     forge's own view of a pull request's base, else the branch's current
//     commit; not part of the fingerprint.
//
// It returns the base, with its commit when no look-up is needed, and
// whether the branch is to be resolved. The bases stage and decide both
// ask it, so that decide finds every base it needs resolved.
func basePlan(c *change.Change, stored *state.Unit) (b targets.Base, resolve bool) {
	b = targets.Base{Tree: c.Base.Tree, URL: c.Base.URL, Branch: c.Base.Branch}
	switch {
	case c.Base.Policy == change.PolicyTag && c.BaseCommit != "":
		b.Commit, b.Exact = c.BaseCommit, true
		return b, false
	case c.Base.Policy == change.PolicyFollow:
		b.Exact = true
	case stored != nil && stored.BaseCommit != "":
		b.Commit = stored.BaseCommit
		return b, false
	case c.BaseSHA != "":
		// A pull or merge request comes with the forge's view of its
		// base: pinned when first seen, no git call needed. (Under follow
		// the branch tip is resolved instead: that view can lag.)
		b.Commit = c.BaseSHA
		return b, false
	}
	return b, true
}

// base decides the unit's base commit (basePlan), taking a branch's
// commit from the bases resolved this cycle. A branch whose resolution
// waits makes the unit wait; one that failed makes it wait with an error.
func (ev *evaluator) base(c *change.Change, t string, stored *state.Unit) (targets.Base, string, error) {
	b, resolve := basePlan(c, stored)
	if !resolve {
		return b, "", nil
	}
	a, ok := ev.in.bases[baseKey{resolver: ev.in.targets[t].resolver, url: c.Base.URL, branch: c.Base.Branch}]
	if !ok {
		a.err = fmt.Errorf("base %s %s was not resolved before the decision", c.Base.URL, c.Base.Branch)
	}
	switch {
	case errors.Is(a.err, targets.ErrWaiting):
		return b, fmt.Sprintf("base %s %s: %v", c.Base.URL, c.Base.Branch, a.err), nil
	case a.err != nil:
		return b, fmt.Sprintf("base %s %s unresolved this cycle", c.Base.URL, c.Base.Branch), a.err
	}
	b.Commit = a.commit
	return b, "", nil
}

// request describes a ready unit to its target: the patches and the heads
// of every open dependency in topological order, then the change's own.
func (ev *evaluator) request(unit string, c *change.Change, e *evaluation) targets.Request {
	r := targets.Request{
		Unit:        unit,
		Fingerprint: e.fp,
		Change:      c.Key,
		Title:       c.Title,
		WebURL:      c.WebURL,
		Base:        e.base,
	}
	for _, k := range append(slices.Clone(e.closure), c.Key) {
		d := ev.in.changes[k]
		r.Patches = append(r.Patches, d.Patches...)
		if d.HeadSHA != "" {
			r.Heads = append(r.Heads, targets.Head{Key: d.Key, Repo: d.Base.URL, Ref: d.FetchRef, SHA: d.HeadSHA})
		}
	}
	return r
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
