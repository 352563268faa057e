package graph

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
)

// chg returns a change with key k from source "pw" and dependency refs.
func chg(k string, refs ...change.Ref) change.Change {
	return change.Change{Key: change.Key(k), Source: "pw", Title: "title of " + k, Deps: refs}
}

// on returns a resolved reference to k, written as "<k@msgid>".
func on(k string) change.Ref {
	return change.Ref{Raw: "<" + k + "@msgid>", Key: change.Key(k), Source: "pw"}
}

// ks converts strings to keys; nil for none.
func ks(s ...string) []change.Key {
	if len(s) == 0 {
		return nil
	}
	out := make([]change.Key, len(s))
	for i, k := range s {
		out[i] = change.Key(k)
	}
	return out
}

// chain returns n changes c00 <- c01 <- ... each depending on the previous.
func chain(n int) []change.Change {
	var cs []change.Change
	for i := range n {
		k := fmt.Sprintf("c%02d", i)
		if i == 0 {
			cs = append(cs, chg(k))
			continue
		}
		cs = append(cs, chg(k, on(fmt.Sprintf("c%02d", i-1))))
	}
	return cs
}

func TestBuild(t *testing.T) {
	ready := func(deps, closure []change.Key) Node { return Node{Status: Ready, Deps: deps, Closure: closure} }
	cycleAB := "dependency cycle: a -> b -> a"
	missing := change.Ref{Raw: "https://patchwork.example.org/project/x/list/?series=9", Key: "pw:x/series/9", Source: "pw"}
	missingReason := `dependency pw:x/series/9 ("https://patchwork.example.org/project/x/list/?series=9") is not an open, buildable change`
	remote := change.Ref{Raw: "https://github.com/o/r/pull/4", Key: "gh:o/r#4", Source: "gh"}
	remoteReason := "dependency gh:o/r#4: source gh is unknown this cycle"
	unbuildable := chg("a")
	unbuildable.Unbuildable = "pull request without a diff"
	long := chain(34)
	failed := on("x")
	failed.Unknown = `look-up of dependency "<x@msgid>" failed: 502 Bad Gateway`
	merged := chg("m", on("gone"))
	merged.Merged = true
	mergedRef := on("m")
	mergedRef.Merged = true
	mergedAway := on("n")
	mergedAway.Merged = true

	tests := []struct {
		name    string
		changes []change.Change
		unknown map[string]bool
		lim     Limits
		order   []change.Key
		nodes   map[string]Node // only the nodes worth checking
	}{
		{
			// A failed look-up never reads as merged: unknown this cycle.
			name:    "failed look-up",
			changes: []change.Change{chg("b", on("a"), failed), chg("a"), chg("c", on("b"))},
			order:   ks("a", "b", "c"),
			nodes: map[string]Node{
				"b": {Status: Unknown, Reason: failed.Unknown, Deps: ks("a"), Closure: ks("a")},
				"c": {Status: Unknown, Reason: "depends on b: " + failed.Unknown, Deps: ks("b"), Closure: ks("a", "b")},
			},
		},
		{
			// A merged change of the snapshot is in its dependents'
			// closures (the cycle decides whether their base holds it); its
			// own references are history; one absent is in the base.
			name:    "merged dependency",
			changes: []change.Change{chg("a", mergedRef, mergedAway), merged, chg("b", on("m"))},
			order:   ks("m", "a", "b"),
			nodes: map[string]Node{
				"m": ready(nil, nil),
				"a": ready(ks("m"), ks("m")),
				"b": ready(ks("m"), ks("m")),
			},
		},
		{
			name:    "chain",
			changes: []change.Change{chg("c", on("b")), chg("b", on("a")), chg("a")},
			order:   ks("a", "b", "c"),
			nodes: map[string]Node{
				"a": ready(nil, nil),
				"b": ready(ks("a"), ks("a")),
				"c": ready(ks("b"), ks("a", "b")),
			},
		},
		{
			name:    "diamond",
			changes: []change.Change{chg("d", on("c"), on("b")), chg("c", on("a")), chg("b", on("a")), chg("a")},
			order:   ks("a", "b", "c", "d"),
			nodes: map[string]Node{
				"b": ready(ks("a"), ks("a")),
				"c": ready(ks("a"), ks("a")),
				"d": ready(ks("b", "c"), ks("a", "b", "c")),
			},
		},
		{
			name: "dependencies go first even with larger keys",
			// a depends on z; b is free: b first (smallest free key), then z, then a.
			changes: []change.Change{chg("a", on("z")), chg("z"), chg("b")},
			order:   ks("b", "z", "a"),
			nodes: map[string]Node{
				"a": ready(ks("z"), ks("z")),
			},
		},
		{
			name: "closure follows the order, not the keys",
			// m depends on a and y; a depends on z.
			changes: []change.Change{chg("m", on("y"), on("a")), chg("a", on("z")), chg("y"), chg("z")},
			order:   ks("y", "z", "a", "m"),
			nodes: map[string]Node{
				"m": ready(ks("a", "y"), ks("y", "z", "a")),
			},
		},
		{
			name:    "deps sorted and deduplicated",
			changes: []change.Change{chg("a", on("c"), on("b"), on("c")), chg("b"), chg("c")},
			order:   ks("b", "c", "a"),
			nodes:   map[string]Node{"a": ready(ks("b", "c"), ks("b", "c"))},
		},
		{
			name:    "cycle of 2 and its dependents",
			changes: []change.Change{chg("d", on("c")), chg("c", on("a")), chg("b", on("a")), chg("a", on("b"))},
			order:   ks("a", "b", "c", "d"),
			nodes: map[string]Node{
				"a": {Status: Blocked, Reason: cycleAB, Deps: ks("b")},
				"b": {Status: Blocked, Reason: cycleAB, Deps: ks("a")},
				"c": {Status: Blocked, Reason: "depends on a: " + cycleAB, Deps: ks("a")},
				"d": {Status: Blocked, Reason: "depends on c, which depends on a: " + cycleAB, Deps: ks("c")},
			},
		},
		{
			name: "cycle of 3 after its dependency",
			// a -> c -> b -> a, and b needs base; base goes first.
			changes: []change.Change{chg("a", on("c")), chg("b", on("a"), on("base")), chg("c", on("b")), chg("base")},
			order:   ks("base", "a", "b", "c"),
			nodes: map[string]Node{
				"base": ready(nil, nil),
				"a":    {Status: Blocked, Reason: "dependency cycle: a -> c -> b -> a", Deps: ks("c")},
				"b":    {Status: Blocked, Reason: "dependency cycle: a -> c -> b -> a", Deps: ks("a", "base")},
				"c":    {Status: Blocked, Reason: "dependency cycle: a -> c -> b -> a", Deps: ks("b")},
			},
		},
		{
			name:    "component larger than its shortest cycle",
			changes: []change.Change{chg("a", on("b")), chg("b", on("a"), on("c")), chg("c", on("b"))},
			order:   ks("a", "b", "c"),
			nodes: map[string]Node{
				"c": {Status: Blocked, Reason: cycleAB + " (1 more in the same cycle: c)", Deps: ks("b")},
			},
		},
		{
			name:    "missing dependency from a known source",
			changes: []change.Change{chg("a", missing), chg("b", on("a"))},
			order:   ks("a", "b"),
			nodes: map[string]Node{
				"a": {Status: Blocked, Reason: missingReason},
				"b": {Status: Blocked, Reason: "depends on a: " + missingReason, Deps: ks("a"), Closure: ks("a")},
			},
		},
		{
			name:    "missing dependency from an unknown source",
			changes: []change.Change{chg("a", remote), chg("b", on("a"))},
			unknown: map[string]bool{"gh": true},
			order:   ks("a", "b"),
			nodes: map[string]Node{
				"a": {Status: Unknown, Reason: remoteReason},
				"b": {Status: Unknown, Reason: "depends on a: " + remoteReason, Deps: ks("a"), Closure: ks("a")},
			},
		},
		{
			name:    "a present dependency is an edge even when its source is unknown",
			changes: []change.Change{chg("a", change.Ref{Raw: "#4", Key: "b", Source: "gh"}), chg("b")},
			unknown: map[string]bool{"gh": true},
			order:   ks("b", "a"),
			nodes:   map[string]Node{"a": ready(ks("b"), ks("b"))},
		},
		{
			name:    "blocked wins over unknown",
			changes: []change.Change{chg("u", remote), chg("x", missing), chg("c", on("u"), on("x")), chg("d", remote, on("x"))},
			unknown: map[string]bool{"gh": true},
			order:   ks("u", "x", "c", "d"),
			nodes: map[string]Node{
				"c": {Status: Blocked, Reason: "depends on x: " + missingReason, Deps: ks("u", "x"), Closure: ks("u", "x")},
				"d": {Status: Blocked, Reason: "depends on x: " + missingReason, Deps: ks("x"), Closure: ks("x")},
			},
		},
		{
			name:    "first problem of a change is its reason",
			changes: []change.Change{chg("a", remote, missing, change.Ref{Raw: "<lost@msgid>"})},
			unknown: map[string]bool{"gh": true},
			order:   ks("a"),
			nodes:   map[string]Node{"a": {Status: Blocked, Reason: missingReason}},
		},
		{
			name: "merged references are part of the base",
			changes: []change.Change{chg("a",
				change.Ref{Raw: "#1", Key: "gh:o/r#1", Source: "gh", Merged: true},
				change.Ref{Raw: "<gone@msgid>", Merged: true},
				change.Ref{Raw: "#2", Key: "b", Source: "pw", Merged: true},
			), chg("b")},
			order: ks("a", "b"),
			nodes: map[string]Node{"a": ready(nil, nil)},
		},
		{
			name: "closed dependency blocks its dependents with that reason",
			changes: []change.Change{
				chg("a", change.Ref{Raw: "https://github.com/o/r/pull/1", Key: "gh:o/r#1", Source: "gh", Closed: true}),
				chg("b", on("a")),
			},
			order: ks("a", "b"),
			nodes: map[string]Node{
				"a": {Status: Blocked, Reason: `dependency gh:o/r#1 ("https://github.com/o/r/pull/1") was closed without being merged`},
				"b": {Status: Blocked, Reason: `depends on a: dependency gh:o/r#1 ("https://github.com/o/r/pull/1") was closed without being merged`, Deps: ks("a"), Closure: ks("a")},
			},
		},
		{
			name:    "unresolved reference",
			changes: []change.Change{chg("a", change.Ref{Raw: "<lost@msgid>", Source: "pw"})},
			order:   ks("a"),
			nodes:   map[string]Node{"a": {Status: Blocked, Reason: `unresolved dependency "<lost@msgid>"`}},
		},
		{
			name:    "reference to itself dropped",
			changes: []change.Change{chg("a", on("a"))},
			order:   ks("a"),
			nodes:   map[string]Node{"a": ready(nil, nil)},
		},
		{
			name:    "unbuildable propagates",
			changes: []change.Change{chg("c", on("b")), chg("b", on("a")), unbuildable},
			order:   ks("a", "b", "c"),
			nodes: map[string]Node{
				"a": {Status: Blocked, Reason: "pull request without a diff"},
				"b": {Status: Blocked, Reason: "depends on a: pull request without a diff", Deps: ks("a"), Closure: ks("a")},
				"c": {Status: Blocked, Reason: "depends on b, which depends on a: pull request without a diff", Deps: ks("b"), Closure: ks("a", "b")},
			},
		},
		{
			name:    "max closure",
			changes: append(chain(4), chg("e", on("c03"))),
			lim:     Limits{MaxClosure: 2},
			order:   ks("c00", "c01", "c02", "c03", "e"),
			nodes: map[string]Node{
				"c02": ready(ks("c01"), ks("c00", "c01")),
				"c03": {Status: Blocked, Reason: "too many dependencies: 3 > 2", Deps: ks("c02")},
				"e":   {Status: Blocked, Reason: "depends on c03: too many dependencies: 3 > 2", Deps: ks("c03")},
			},
		},
		{
			name:    "default max closure is 32",
			changes: long,
			order:   ks(keysOf(long)...),
			nodes: map[string]Node{
				"c32": ready(ks("c31"), ks(keysOf(long[:32])...)),
				"c33": {Status: Blocked, Reason: "too many dependencies: 33 > 32", Deps: ks("c32")},
			},
		},
		{
			name:    "duplicate keys: the first wins",
			changes: []change.Change{chg("a", missing), chg("a"), chg("b")},
			order:   ks("a", "b"),
			nodes:   map[string]Node{"a": {Status: Blocked, Reason: missingReason}},
		},
		{
			name:  "empty",
			order: ks(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.changes, tt.unknown, tt.lim)
			if !slices.Equal(got.Order, tt.order) {
				t.Errorf("Order = %v, want %v", got.Order, tt.order)
			}
			if len(got.Nodes) != len(got.Order) {
				t.Errorf("%d nodes for %d changes in Order", len(got.Nodes), len(got.Order))
			}
			for k, want := range tt.nodes {
				n := got.Nodes[change.Key(k)]
				if n == nil {
					t.Errorf("no node for %s", k)
					continue
				}
				if !reflect.DeepEqual(*n, want) {
					t.Errorf("node %s =\n  %+v\nwant\n  %+v", k, *n, want)
				}
			}
		})
	}
}

func keysOf(cs []change.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c.Key)
	}
	return out
}

func TestCycleReasonNamesAtMostEightOthers(t *testing.T) {
	// hub <-> m0..m9: the shortest cycle is hub -> m0 -> hub, nine others.
	cs := []change.Change{}
	hub := chg("hub")
	for i := range 10 {
		k := fmt.Sprintf("m%d", i)
		hub.Deps = append(hub.Deps, on(k))
		cs = append(cs, chg(k, on("hub")))
	}
	cs = append(cs, hub)
	got := Build(cs, nil, Limits{}).Nodes["m9"]
	want := "dependency cycle: hub -> m0 -> hub (9 more in the same cycle: m1, m2, m3, m4, m5, m6, m7, m8, and 1 more)"
	if got.Status != Blocked || got.Reason != want {
		t.Errorf("m9 = %v %q, want blocked %q", got.Status, got.Reason, want)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	cs := []change.Change{
		chg("pw:x/series/1"),
		chg("pw:x/series/2", on("pw:x/series/1")),
		chg("pw:x/series/3", on("pw:x/series/2"), on("pw:x/series/1")),
		chg("pw:x/series/4", on("pw:x/series/5")),
		chg("pw:x/series/5", on("pw:x/series/4")),
		chg("pw:x/series/6", on("pw:x/series/5"), on("pw:x/series/3")),
		chg("gh:o/r#1", on("pw:x/series/3")),
		chg("gh:o/r#2", change.Ref{Raw: "#9", Key: "gh:o/r#9", Source: "gh"}),
		chg("gh:o/r#3", on("gh:o/r#2"), on("gh:o/r#1")),
		chg("gl:g/p!1"),
		chg("gl:g/p!2", change.Ref{Raw: "!7", Key: "gl:g/p!7", Source: "gl"}),
	}
	unknown := map[string]bool{"gh": true}
	want := Build(cs, unknown, Limits{})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(cs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Build(shuffled, unknown, Limits{}); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d: Result differs:\n%+v\nwant\n%+v", i, got, want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Ready: "ready", Blocked: "blocked", Unknown: "unknown", 0: "Status(0)"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

// fuzzGraph decodes a small graph from data: up to 8 changes with keys
// k0..k7 (sometimes duplicated), references to present and absent keys,
// merged, unresolved and self references, and unbuildable changes. Source
// "gh" is unknown.
func fuzzGraph(data []byte) []change.Change {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	n := next()%8 + 1
	var cs []change.Change
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		if next()%16 == 15 {
			key = fmt.Sprintf("k%d", next()%n)
		}
		c := chg(key)
		if next()%8 == 7 {
			c.Unbuildable = "no diff"
		}
		for range next() % 4 {
			target := fmt.Sprintf("k%d", next()%10)
			ref := change.Ref{Raw: target, Key: change.Key(target), Source: "pw"}
			switch next() % 8 {
			case 0:
				ref.Merged = true
			case 1:
				ref.Key = ""
			case 2:
				ref.Key = c.Key
			case 3:
				ref.Source = "gh"
			}
			c.Deps = append(c.Deps, ref)
		}
		cs = append(cs, c)
	}
	return cs
}

func FuzzBuild(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 1, 1, 4, 0, 0, 1, 0, 4, 0, 0, 1, 2, 4})             // chain
	f.Add([]byte{2, 0, 0, 1, 1, 4, 0, 0, 1, 0, 4})                            // cycle of 2
	f.Add([]byte{4, 0, 7, 0, 0, 1, 9, 4, 0, 0, 1, 8, 3, 15, 1, 0, 2, 1, 4})   // unbuildable, missing, unknown
	f.Add([]byte{7, 0, 0, 3, 1, 4, 2, 4, 3, 4, 0, 0, 2, 3, 4, 4, 4, 0, 0, 1}) // mixed
	f.Fuzz(func(t *testing.T, data []byte) {
		cs := fuzzGraph(data)
		res := Build(cs, map[string]bool{"gh": true}, Limits{MaxClosure: 3})
		checkResult(t, cs, res)
	})
}

// checkResult checks the invariants every Result keeps.
func checkResult(t *testing.T, cs []change.Change, res Result) {
	t.Helper()
	pos := make(map[change.Key]int, len(res.Order))
	for i, k := range res.Order {
		if _, dup := pos[k]; dup {
			t.Fatalf("%s twice in Order %v", k, res.Order)
		}
		pos[k] = i
	}
	for _, c := range cs {
		if _, ok := pos[c.Key]; !ok {
			t.Fatalf("%s missing from Order %v", c.Key, res.Order)
		}
	}
	if len(res.Nodes) != len(res.Order) {
		t.Fatalf("%d nodes for %d keys in Order", len(res.Nodes), len(res.Order))
	}
	// reach returns every key reachable from k through Deps (not k itself
	// unless it is on a cycle).
	reach := func(k change.Key) map[change.Key]bool {
		seen := map[change.Key]bool{}
		stack := slices.Clone(res.Nodes[k].Deps)
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !seen[d] {
				seen[d] = true
				stack = append(stack, res.Nodes[d].Deps...)
			}
		}
		return seen
	}
	for _, k := range res.Order {
		n := res.Nodes[k]
		if (n.Status == Ready) != (n.Reason == "") {
			t.Errorf("%s: status %v with reason %q", k, n.Status, n.Reason)
		}
		if n.Status != Ready && n.Status != Blocked && n.Status != Unknown {
			t.Errorf("%s: invalid status %v", k, n.Status)
		}
		r := reach(k)
		if !r[k] {
			for _, d := range n.Deps {
				if pos[d] >= pos[k] {
					t.Errorf("%s (not in a cycle) at %d, its dependency %s at %d", k, pos[k], d, pos[d])
				}
			}
		}
		if n.Status != Ready {
			continue
		}
		if r[k] {
			t.Errorf("%s is Ready but on a cycle", k)
		}
		if len(n.Closure) != len(r) {
			t.Errorf("%s: Closure %v, reachable %v", k, n.Closure, r)
		}
		for i, d := range n.Closure {
			if !r[d] {
				t.Errorf("%s: Closure has %s, not a dependency", k, d)
			}
			if res.Nodes[d].Status != Ready {
				t.Errorf("%s is Ready but its closure member %s is %v", k, d, res.Nodes[d].Status)
			}
			if pos[d] >= pos[k] || (i > 0 && pos[n.Closure[i-1]] >= pos[d]) {
				t.Errorf("%s at %d: Closure %v not in Order %v", k, pos[k], n.Closure, res.Order)
			}
		}
	}
}

func TestRandomGraphsKeepInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		cs := randomChanges(rng, 60, 6)
		checkResult(t, cs, Build(cs, nil, Limits{MaxClosure: 10}))
	}
}

// randomChanges returns n changes with random dependencies: most point to
// earlier changes within window, about one in fifty points anywhere (and may
// close a cycle), some are unresolved.
func randomChanges(rng *rand.Rand, n, window int) []change.Change {
	cs := make([]change.Change, n)
	for i := range cs {
		cs[i] = chg(fmt.Sprintf("pw:x/series/%d", i))
		if i == 0 {
			continue
		}
		for range rng.IntN(3) {
			j := max(0, i-1-rng.IntN(window))
			switch r := rng.IntN(100); {
			case r < 2:
				j = rng.IntN(n)
			case r < 3:
				cs[i].Deps = append(cs[i].Deps, change.Ref{Raw: "<lost@msgid>"})
				continue
			}
			cs[i].Deps = append(cs[i].Deps, on(fmt.Sprintf("pw:x/series/%d", j)))
		}
	}
	return cs
}

func BenchmarkBuild5000(b *testing.B) {
	cs := randomChanges(rand.New(rand.NewPCG(5, 6)), 5000, 50)
	b.ReportAllocs()
	for b.Loop() {
		Build(cs, nil, Limits{})
	}
}

func BenchmarkBuild10000(b *testing.B) {
	cs := randomChanges(rand.New(rand.NewPCG(5, 6)), 10000, 50)
	b.ReportAllocs()
	for b.Loop() {
		Build(cs, nil, Limits{})
	}
}

// TestMinHeapPopsInOrder: the topological order takes the free component
// with the smallest key first, so the heap must pop in ascending order
// whatever the order of pushes, pops interleaved.
func TestMinHeapPopsInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		var h minHeap
		var want []int
		for range rng.IntN(50) {
			v := rng.IntN(30)
			h.push(v)
			want = append(want, v)
			if rng.IntN(4) == 0 {
				slices.Sort(want)
				if got := h.pop(); got != want[0] {
					t.Fatalf("round %d: popped %d, want the smallest of %v", round, got, want)
				}
				want = want[1:]
			}
		}
		slices.Sort(want)
		var rest []int
		for len(h) > 0 {
			rest = append(rest, h.pop())
		}
		if !slices.Equal(rest, want) {
			t.Fatalf("round %d: popped %v, want %v", round, rest, want)
		}
	}
}
