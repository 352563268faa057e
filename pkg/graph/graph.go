// Package graph resolves the dependency references of one snapshot's changes
// into a graph, finds what cannot be built (unresolved or missing
// dependencies, cycles, oversized closures) and orders the changes so that
// every dependency comes before its dependents.
//
// It is a pure step of the cycle: Build reads only its arguments, and the same
// arguments, in any order, give the same Result. The fingerprint step walks
// Result.Order and builds a unit for each Ready change from its Closure.
//
// Rules, applied to each change's references (change.Ref):
//   - a reference whose look-up failed (Unknown) makes the change Unknown:
//     it is never built without that dependency, nor forgotten;
//   - a reference to a merged change of the snapshot (change.Merged: a
//     dependency applied upstream that its dependents may still need) is an
//     edge: the merged change is in the closure, and the cycle decides, per
//     unit, whether the unit's base holds it already;
//   - any other merged reference is part of the base and is ignored;
//   - a reference with no Key could not be resolved by its source: the change
//     is Blocked;
//   - a reference to the change itself is dropped;
//   - a reference to another change of the snapshot is an edge;
//   - a reference to a change absent from the snapshot makes the change
//     Unknown when the reference's source is unknown this cycle (DESIGN.md
//     rule 1: a partial snapshot never acts as a complete one), and Blocked
//     otherwise (the dependency is closed, superseded or not buildable).
//
// A merged change has no dependencies of its own (they were applied before
// it) and is Ready. A change whose Unbuildable is set is Blocked with that
// reason. Every member of a dependency cycle (a strongly connected component
// of more than one change, found with Tarjan's algorithm) is Blocked. A
// change whose closure holds more than Limits.MaxClosure changes is Blocked.
// Blocked and Unknown propagate to every dependent, and Blocked wins over
// Unknown.
//
// When the input holds the same key twice, the first change wins and the
// later ones are ignored.
package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trawl-ci/trawl/pkg/change"
)

// Status says whether a change can be built this cycle.
type Status int

// The statuses of a change. The zero Status is not one of them.
const (
	// Ready: the change and every dependency in its closure can be built.
	Ready Status = iota + 1
	// Blocked: the change cannot be built until someone fixes something
	// (Node.Reason says what); it is reported, never triggered.
	Blocked
	// Unknown: the change depends on a source that could not be read
	// completely this cycle; it is neither triggered nor garbage-collected.
	Unknown
)

// String returns the status name for logs and reports.
func (s Status) String() string {
	switch s {
	case Ready:
		return "ready"
	case Blocked:
		return "blocked"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// DefaultMaxClosure is the closure limit used when Limits.MaxClosure is 0.
const DefaultMaxClosure = 32

// maxCycleMembers caps how many extra cycle members a cycle reason names.
const maxCycleMembers = 8

// Limits bounds what Build accepts as one buildable unit.
type Limits struct {
	// MaxClosure is the largest number of open dependencies (direct and
	// transitive) a change may have; a change with more is Blocked
	// ("too many dependencies: N > MaxClosure"). 0 means DefaultMaxClosure.
	MaxClosure int
}

// Node is what Build found about one change.
type Node struct {
	Status Status
	// Reason says why the change is Blocked or Unknown, naming the keys and
	// raw references involved; empty when Ready.
	Reason string
	// Deps are the direct open dependencies: resolved references to changes
	// of the snapshot, sorted by key, without duplicates.
	Deps []change.Key
	// Closure lists every open dependency, direct and transitive, in
	// topological order (dependencies first; ties in Result.Order's order),
	// without the change itself. It is nil when the change has no
	// dependency, and when it cannot be computed: the change is in or depends
	// on a cycle, or the closure is over the limit (such changes are
	// Blocked). Every Ready change has its full closure here.
	Closure []change.Key
}

// Result is the resolved graph of one snapshot.
type Result struct {
	// Order lists every change once (duplicates dropped), dependencies
	// before dependents; among changes free to go next, the smallest key
	// goes first. Members of a cycle come together, in key order, after the
	// dependencies of the cycle.
	Order []change.Key
	// Nodes holds the node of every change in Order.
	Nodes map[change.Key]*Node

	// The same graph by position in Order, for callers that walk it
	// (At, DepsAt, ClosureAt): a look-up by key costs a hash of the key,
	// which is most of what walking 10k changes by key costs.
	changes []*change.Change
	nodes   []Node
	// positions holds the positions of the Deps then the Closure of each
	// node, the node at position i's from first[i].
	positions []int
	first     []int
}

// At returns the change at position i of Order (the one Build kept for
// its key, as given to Build) and its node, Nodes[Order[i]].
func (r *Result) At(i int) (*change.Change, *Node) {
	return r.changes[i], &r.nodes[i]
}

// DepsAt returns the positions in Order of the node's Deps at position i,
// in the order of Deps.
func (r *Result) DepsAt(i int) []int {
	return r.span(r.first[i], len(r.nodes[i].Deps))
}

// ClosureAt returns the positions in Order of the node's Closure at
// position i, in the order of Closure.
func (r *Result) ClosureAt(i int) []int {
	return r.span(r.first[i]+len(r.nodes[i].Deps), len(r.nodes[i].Closure))
}

// span returns the n positions from positions[from], nil when n is 0.
func (r *Result) span(from, n int) []int {
	if n == 0 {
		return nil
	}
	return r.positions[from : from+n : from+n]
}

// vertex is the working state of one change; vertices are numbered in key
// order, so comparing indices compares keys.
type vertex struct {
	c          *change.Change
	deps       []int
	ownBlocked string
	ownUnknown string

	status    Status
	reason    string
	root      int   // the vertex whose own reason made this one non-Ready
	closure   []int // valid when closureOK
	closureOK bool
}

// Build resolves changes into a graph. unknownSources names the sources that
// could not be read completely this cycle; lim bounds the closures. See the
// package documentation for the rules.
func Build(changes []change.Change, unknownSources map[string]bool, lim Limits) Result {
	maxClosure := lim.MaxClosure
	if maxClosure <= 0 {
		maxClosure = DefaultMaxClosure
	}
	vs := vertices(changes, unknownSources)
	comp, sccs := components(vs)
	order := topoOrder(vs, comp, sccs)

	pos := make([]int, len(vs))
	for p, v := range order {
		pos[v] = p
	}
	cycleReasons := make(map[int]string)
	stamp := make([]int, len(vs))
	for p, v := range order {
		x := &vs[v]
		scc := sccs[comp[v]]
		inCycle := len(scc) > 1
		oversize := 0
		if !inCycle {
			oversize = closeOver(vs, v, pos, stamp, p+1, maxClosure)
		}
		switch {
		case inCycle:
			reason, ok := cycleReasons[comp[v]]
			if !ok {
				reason = cycleReason(vs, comp, scc)
				cycleReasons[comp[v]] = reason
			}
			x.status, x.reason, x.root = Blocked, reason, v
		case x.ownBlocked != "":
			x.status, x.reason, x.root = Blocked, x.ownBlocked, v
		case inherit(vs, v, Blocked):
		case oversize > 0:
			x.status, x.root = Blocked, v
			x.reason = fmt.Sprintf("too many dependencies: %d > %d", oversize, maxClosure)
		case x.ownUnknown != "":
			x.status, x.reason, x.root = Unknown, x.ownUnknown, v
		case inherit(vs, v, Unknown):
		default:
			x.status, x.root = Ready, v
		}
	}

	res := Result{
		Order:   make([]change.Key, len(order)),
		Nodes:   make(map[change.Key]*Node, len(order)),
		changes: make([]*change.Change, len(order)),
		nodes:   make([]Node, len(order)),
		first:   make([]int, len(order)),
	}
	// The key and position lists are laid out in one allocation each:
	// one per node was half of Build's allocations at 10k changes.
	total := 0
	for _, v := range order {
		total += len(vs[v].deps)
		if vs[v].closureOK {
			total += len(vs[v].closure)
		}
	}
	keyBuf := make([]change.Key, 0, total)
	res.positions = make([]int, 0, total)
	for p, v := range order {
		x := &vs[v]
		res.Order[p], res.changes[p] = x.c.Key, x.c
		n := &res.nodes[p]
		n.Status, n.Reason = x.status, x.reason
		res.first[p] = len(res.positions)
		n.Deps, keyBuf = keys(vs, x.deps, keyBuf)
		for _, d := range x.deps {
			res.positions = append(res.positions, pos[d])
		}
		if x.closureOK {
			n.Closure, keyBuf = keys(vs, x.closure, keyBuf)
			for _, w := range x.closure {
				res.positions = append(res.positions, pos[w])
			}
		}
		res.Nodes[x.c.Key] = n
	}
	return res
}

// vertices keeps the first change of each key, numbers them in key order and
// resolves their references into edges and own reasons.
func vertices(changes []change.Change, unknownSources map[string]bool) []vertex {
	// The keys are sorted beside their places in changes (the first of a
	// key first), deduplicated, and found again by binary search: two maps
	// by key were a quarter of Build at 10k changes. The keys of one
	// source share a long prefix ("pw:host/project/series/"): what follows
	// the prefix all keys share orders them alike, and compares faster.
	prefix := commonPrefix(changes)
	type keyAt struct {
		rest change.Key // the key without prefix
		at   int
	}
	sorted := make([]keyAt, len(changes))
	for i := range changes {
		sorted[i] = keyAt{changes[i].Key[len(prefix):], i}
	}
	slices.SortFunc(sorted, func(a, b keyAt) int {
		if c := strings.Compare(string(a.rest), string(b.rest)); c != 0 {
			return c
		}
		return a.at - b.at
	})
	sorted = slices.CompactFunc(sorted, func(a, b keyAt) bool { return a.rest == b.rest })
	vs := make([]vertex, len(sorted))
	for i, k := range sorted {
		vs[i].c = &changes[k.at]
	}
	index := func(k change.Key) (int, bool) {
		rest, ok := strings.CutPrefix(string(k), string(prefix))
		if !ok {
			return 0, false
		}
		// A plain binary search: slices.BinarySearchFunc calls its
		// comparison through a func value at every step.
		lo, hi := 0, len(sorted)
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); string(sorted[m].rest) < rest {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo, lo < len(sorted) && string(sorted[lo].rest) == rest
	}

	for i := range vs {
		x := &vs[i]
		x.ownBlocked = x.c.Unbuildable
		if x.c.Merged {
			continue
		}
		for _, r := range x.c.Deps {
			switch j, present := index(r.Key); {
			case r.Unknown != "":
				setFirst(&x.ownUnknown, r.Unknown)
			case r.Key != "" && r.Key != x.c.Key && present && vs[j].c.Merged:
				x.deps = append(x.deps, j)
			case r.Merged:
				// Part of the base, not a unit.
			case r.Closed:
				setFirst(&x.ownBlocked, fmt.Sprintf("dependency %s (%q) was closed without being merged", r.Key, r.Raw))
			case r.Key == "":
				setFirst(&x.ownBlocked, fmt.Sprintf("unresolved dependency %q", r.Raw))
			case r.Key == x.c.Key:
				// A reference to itself names nothing to build first.
			case present:
				x.deps = append(x.deps, j)
			case unknownSources[r.Source]:
				setFirst(&x.ownUnknown, fmt.Sprintf("dependency %s: source %s is unknown this cycle", r.Key, r.Source))
			default:
				setFirst(&x.ownBlocked, fmt.Sprintf("dependency %s (%q) is not an open, buildable change", r.Key, r.Raw))
			}
		}
		slices.Sort(x.deps)
		x.deps = slices.Compact(x.deps)
	}
	return vs
}

// commonPrefix returns the prefix all keys of changes share.
func commonPrefix(changes []change.Change) change.Key {
	if len(changes) == 0 {
		return ""
	}
	prefix := changes[0].Key
	for i := range changes[1:] {
		k := changes[i+1].Key
		if strings.HasPrefix(string(k), string(prefix)) {
			continue
		}
		n := 0
		for n < len(prefix) && n < len(k) && prefix[n] == k[n] {
			n++
		}
		prefix = prefix[:n]
	}
	return prefix
}

// setFirst sets *s to reason unless it holds a reason already: a change
// reports the first problem found, in the order of its references.
func setFirst(s *string, reason string) {
	if *s == "" {
		*s = reason
	}
}

// components finds the strongly connected components with Tarjan's
// algorithm. It returns each vertex's component and the components, each
// sorted by vertex index.
func components(vs []vertex) (comp []int, sccs [][]int) {
	const unvisited = -1
	index := make([]int, len(vs))
	low := make([]int, len(vs))
	onStack := make([]bool, len(vs))
	comp = make([]int, len(vs))
	for i := range index {
		index[i] = unvisited
	}
	var stack []int
	// The components are consecutive runs of one backing array: one
	// allocation per component was a tenth of Build's at 10k changes.
	members := make([]int, 0, len(vs))
	sccs = make([][]int, 0, len(vs))
	next := 0
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range vs[v].deps {
			if index[w] == unvisited {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		start := len(members)
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp[w] = len(sccs)
			members = append(members, w)
			if w == v {
				break
			}
		}
		scc := members[start:len(members):len(members)]
		slices.Sort(scc)
		sccs = append(sccs, scc)
	}
	for v := range vs {
		if index[v] == unvisited {
			strong(v)
		}
	}
	return comp, sccs
}

// topoOrder orders the vertices: Kahn's algorithm on the component graph,
// taking the free component with the smallest key first and emitting its
// members in key order.
func topoOrder(vs []vertex, comp []int, sccs [][]int) []int {
	pending := make([]int, len(sccs))
	dependents := make([][]int, len(sccs))
	for v := range vs {
		for _, w := range vs[v].deps {
			if comp[v] != comp[w] {
				pending[comp[v]]++
				dependents[comp[w]] = append(dependents[comp[w]], comp[v])
			}
		}
	}
	// The heap holds each free component's smallest vertex.
	free := make(minHeap, 0, len(sccs))
	for s, scc := range sccs {
		if pending[s] == 0 {
			free.push(scc[0])
		}
	}
	order := make([]int, 0, len(vs))
	for len(free) > 0 {
		s := comp[free.pop()]
		order = append(order, sccs[s]...)
		for _, d := range dependents[s] {
			pending[d]--
			if pending[d] == 0 {
				free.push(sccs[d][0])
			}
		}
	}
	return order
}

// closeOver computes vs[v]'s closure when every dependency has one, sorted
// by position in the order. It returns the closure's size when it is over
// maxClosure (the closure is then not kept), and 0 otherwise. stamp marks the
// vertices already counted, with mark, which differs on every call.
func closeOver(vs []vertex, v int, pos, stamp []int, mark, maxClosure int) int {
	x := &vs[v]
	var closure []int
	add := func(w int) {
		if stamp[w] != mark {
			stamp[w] = mark
			closure = append(closure, w)
		}
	}
	for _, d := range x.deps {
		if !vs[d].closureOK {
			return 0
		}
		for _, w := range vs[d].closure {
			add(w)
		}
		add(d)
	}
	if len(closure) > maxClosure {
		return len(closure)
	}
	slices.SortFunc(closure, func(a, b int) int { return pos[a] - pos[b] })
	x.closure, x.closureOK = closure, true
	return 0
}

// inherit makes v Blocked or Unknown (want) when one of its direct
// dependencies is, naming the smallest such dependency and the change the
// status came from. It reports whether it did.
func inherit(vs []vertex, v int, want Status) bool {
	x := &vs[v]
	for _, d := range x.deps {
		if vs[d].status != want {
			continue
		}
		r := vs[d].root
		x.status, x.root = want, r
		if r == d {
			x.reason = fmt.Sprintf("depends on %s: %s", vs[d].c.Key, vs[r].reason)
		} else {
			x.reason = fmt.Sprintf("depends on %s, which depends on %s: %s", vs[d].c.Key, vs[r].c.Key, vs[r].reason)
		}
		return true
	}
	return false
}

// cycleReason describes the cycle of component scc (more than one vertex):
// the shortest cycle through its smallest key, found breadth-first with
// dependencies in key order, then the other members if any.
func cycleReason(vs []vertex, comp []int, scc []int) string {
	start := scc[0]
	parent := map[int]int{start: start}
	queue := []int{start}
	closing := start
search:
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range vs[v].deps {
			if comp[w] != comp[start] {
				continue
			}
			if w == start {
				closing = v
				break search
			}
			if _, seen := parent[w]; !seen {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	path := []int{start}
	for v := closing; v != start; v = parent[v] {
		path = append(path, v)
	}
	slices.Reverse(path[1:])
	names := make([]string, 0, len(path)+1)
	onPath := make(map[int]bool, len(path))
	for _, v := range path {
		names = append(names, string(vs[v].c.Key))
		onPath[v] = true
	}
	names = append(names, string(vs[start].c.Key))
	reason := "dependency cycle: " + strings.Join(names, " -> ")

	var others []string
	for _, v := range scc {
		if !onPath[v] {
			others = append(others, string(vs[v].c.Key))
		}
	}
	if len(others) == 0 {
		return reason
	}
	total, more := len(others), ""
	if total > maxCycleMembers {
		more = fmt.Sprintf(", and %d more", total-maxCycleMembers)
		others = others[:maxCycleMembers]
	}
	return fmt.Sprintf("%s (%d more in the same cycle: %s%s)", reason, total, strings.Join(others, ", "), more)
}

// keys returns the keys of vertices idx (nil when there are none),
// appended to buf, and what is left of buf after them. The returned slice
// is capped at its length, so that appending to it never writes into buf.
func keys(vs []vertex, idx []int, buf []change.Key) ([]change.Key, []change.Key) {
	if len(idx) == 0 {
		return nil, buf
	}
	start := len(buf)
	for _, v := range idx {
		buf = append(buf, vs[v].c.Key)
	}
	return buf[start:len(buf):len(buf)], buf
}

// minHeap is a min-heap of vertex indices, typed: container/heap boxes
// every index pushed (an allocation each).
type minHeap []int

// push adds v.
func (h *minHeap) push(v int) {
	*h = append(*h, v)
	a := *h
	for i := len(a) - 1; i > 0; {
		parent := (i - 1) / 2
		if a[parent] <= a[i] {
			break
		}
		a[parent], a[i] = a[i], a[parent]
		i = parent
	}
}

// pop removes and returns the smallest index.
func (h *minHeap) pop() int {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(a) && a[l] < a[small] {
			small = l
		}
		if r < len(a) && a[r] < a[small] {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return top
}
