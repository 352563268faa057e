package cycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
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

// unitTable holds the key and stored state of each unit of a cycle's
// graph (the change at position i of its order on target j), each
// looked up once: the bases stage and decide both need them, and a
// look-up by unit key (a hash of a long key) for 10k units in each stage
// was a tenth of their time.
type unitTable struct {
	// names are the targets, sorted; target maps a name to its index.
	names  []string
	target map[string]int
	stored map[string]*state.Unit
	// keys and units hold the unit at i*len(names)+j: its key ("" until
	// looked up) and its stored state (nil for a new unit).
	keys  []string
	units []*state.Unit
}

// newUnitTable returns the table of the units of the n changes of a
// graph on targets (names), in stored.
func newUnitTable[V any](n int, targets map[string]V, stored map[string]*state.Unit) *unitTable {
	u := &unitTable{names: sortedKeys(targets), target: make(map[string]int, len(targets)), stored: stored}
	for j, name := range u.names {
		u.target[name] = j
	}
	u.keys = make([]string, n*len(u.names))
	u.units = make([]*state.Unit, n*len(u.names))
	return u
}

// unit returns the key and stored state of the unit of change c, at
// position i of the graph's order, on target j.
func (u *unitTable) unit(c *change.Change, i, j int) (string, *state.Unit) {
	at := i*len(u.names) + j
	if u.keys[at] == "" {
		u.keys[at] = change.UnitKey(c.Key, u.names[j])
		u.units[at] = u.stored[u.keys[at]]
	}
	return u.keys[at], u.units[at]
}

// evaluator fingerprints units for decide, memoised along the graph. It
// is pure: the bases it needs were resolved before (bases.go). It names
// changes by their position in the graph's order and targets by their
// index in the unit table: map look-ups by long keys, several per unit
// and dependency, were a third of decide's time at 10k units.
type evaluator struct {
	in    decideInput
	units *unitTable
	// infos holds each target's info at its index in units.
	infos []targetInfo
	// memo holds the evaluation of the change at position i on target j
	// at i*len(infos)+j; nil until the unit is evaluated.
	memo []*evaluation
	// items holds the fingerprint item of the change at each position,
	// made on first use: a change is an item of its own units and of its
	// dependents'.
	items []fingerprint.Item
	made  []bool
	// slab, itemSlab and contentSlab hold the memory not handed out yet:
	// evaluations, Input.Items and Item.Content are allocated by the
	// batch: one allocation per unit for each was half of decide's
	// allocations.
	slab        []evaluation
	itemSlab    []fingerprint.Item
	contentSlab []string
}

func newEvaluator(in decideInput) *evaluator {
	n := len(in.graph.Order)
	units := in.units
	if units == nil {
		units = newUnitTable(n, in.targets, in.stored)
	}
	ev := &evaluator{in: in, units: units, items: make([]fingerprint.Item, n), made: make([]bool, n)}
	for _, name := range units.names {
		ev.infos = append(ev.infos, in.targets[name])
	}
	ev.memo = make([]*evaluation, n*len(ev.infos))
	return ev
}

// slabSize is how many values one allocation of a slab holds at most.
const slabSize = 1024

// take returns the first n values of *slab, capped at n so that appending
// to them never writes into the slab, refilling it when it holds fewer
// than n. They are never nil, n being 0 or not: an empty Item.Content is
// not a nil one (JSON [] and null).
func take[T any](slab *[]T, n, hint int) []T {
	if *slab == nil || len(*slab) < n {
		*slab = make([]T, max(n, min(max(hint, 1), slabSize)))
	}
	out := (*slab)[:n:n]
	*slab = (*slab)[n:]
	return out
}

// newEvaluation returns a new, zero evaluation.
func (ev *evaluator) newEvaluation() *evaluation {
	return &take(&ev.slab, 1, len(ev.in.graph.Order))[0]
}

// item returns fingerprint.ItemOf the change at position i, made once.
// Its Content is a copy of the change's, taken from a slab.
func (ev *evaluator) item(i int) fingerprint.Item {
	if ev.made[i] {
		return ev.items[i]
	}
	c, _ := ev.in.graph.At(i)
	it := fingerprint.Item{Key: string(c.Key), Version: c.Version}
	if c.Content != nil {
		it.Content = take(&ev.contentSlab, len(c.Content), 8*len(ev.in.graph.Order))
		copy(it.Content, c.Content)
	}
	ev.items[i], ev.made[i] = it, true
	return it
}

// unit fingerprints the change at position i of the graph's order on
// target j, once: a dependency comes before its dependents in the
// graph's order, and the graph guarantees that a ready change's
// dependencies are ready too.
func (ev *evaluator) unit(i, j int) *evaluation {
	m := &ev.memo[i*len(ev.infos)+j]
	if *m != nil {
		return *m
	}
	c, node := ev.in.graph.At(i)
	t, info := ev.units.names[j], ev.infos[j]
	uk, stored := ev.units.unit(c, i, j)
	e := ev.newEvaluation()
	e.unit, e.target = uk, t
	*m = e
	if c.Waiting != "" {
		e.wait = c.Waiting
		return e
	}

	e.stored = stored
	base, wait, err := ev.base(c, info.resolver, stored)
	if err != nil || wait != "" {
		e.wait, e.err = wait, err
		return e
	}
	e.base = base
	in := fingerprint.Input{
		Target:       t,
		TargetConfig: info.configHash,
		BaseURL:      c.Base.URL,
		BaseBranch:   c.Base.Branch,
	}
	if base.Exact {
		in.BaseCommit = base.Commit
	}
	in.Items = take(&ev.itemSlab, len(node.Closure)+1, len(ev.in.graph.Order))[:0]
	held := func(change.Key) bool { return false }
	if len(node.Closure) > 0 {
		held = inBase(ev.in.changes, stored, base, in.BaseCommit)
	}
	for n, k := range node.Closure {
		if !held(k) {
			e.closure = append(e.closure, k)
			in.Items = append(in.Items, ev.item(ev.in.graph.ClosureAt(i)[n]))
		}
	}
	in.Items = append(in.Items, ev.item(i))
	for n, d := range node.Deps {
		if held(d) {
			continue
		}
		de := ev.unit(ev.in.graph.DepsAt(i)[n], j)
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
			if json.Unmarshal([]byte(stored.Inputs), &in) == nil {
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
// commit from the bases resolved this cycle by resolver (targetInfo). A
// branch whose resolution waits makes the unit wait; one that failed
// makes it wait with an error.
func (ev *evaluator) base(c *change.Change, resolver string, stored *state.Unit) (targets.Base, string, error) {
	b, resolve := basePlan(c, stored)
	if !resolve {
		return b, "", nil
	}
	a, ok := ev.in.bases[baseKey{resolver: resolver, url: c.Base.URL, branch: c.Base.Branch}]
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
