package graph

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
)

// TestPositionsMatchKeys checks that the graph read by position (At,
// DepsAt, ClosureAt), as the cycle walks it, is the graph read by key:
// the same change (the first of its key in the input), the same node, the
// same dependencies and closure in the same order.
func TestPositionsMatchKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cs := randomChanges(rng, 400, 20)
	// Duplicates: the first of a key wins, wherever it stands.
	for i := range 20 {
		dup := chg(fmt.Sprintf("pw:x/series/%d", rng.IntN(len(cs))))
		dup.Title = fmt.Sprintf("duplicate %d", i)
		cs = append(cs, dup)
	}
	res := Build(cs, map[string]bool{"gh": true}, Limits{MaxClosure: 5})
	first := map[change.Key]*change.Change{}
	for i := range cs {
		if first[cs[i].Key] == nil {
			first[cs[i].Key] = &cs[i]
		}
	}
	at := func(ps []int) []change.Key {
		if ps == nil {
			return nil
		}
		keys := make([]change.Key, len(ps))
		for i, p := range ps {
			keys[i] = res.Order[p]
		}
		return keys
	}
	var withDeps, withClosure int
	for i, k := range res.Order {
		c, n := res.At(i)
		if c != first[k] {
			t.Errorf("At(%d) = change %p (%s), want the first %s of the input %p", i, c, c.Key, k, first[k])
		}
		if n != res.Nodes[k] {
			t.Errorf("At(%d): node %p, want Nodes[%s] %p", i, n, k, res.Nodes[k])
		}
		if got := at(res.DepsAt(i)); !slices.Equal(got, n.Deps) || (got == nil) != (n.Deps == nil) {
			t.Errorf("%s: DepsAt names %v, want Deps %v", k, got, n.Deps)
		}
		if got := at(res.ClosureAt(i)); !slices.Equal(got, n.Closure) || (got == nil) != (n.Closure == nil) {
			t.Errorf("%s: ClosureAt names %v, want Closure %v", k, got, n.Closure)
		}
		withDeps += min(len(n.Deps), 1)
		withClosure += min(len(n.Closure), 1)
	}
	if withDeps == 0 || withClosure == 0 {
		t.Fatalf("%d changes with dependencies, %d with a closure: the test checks nothing", withDeps, withClosure)
	}
}

// TestKeysSharingAPrefix checks the look-up of dependencies among keys
// that share a prefix, one of them the prefix itself.
func TestKeysSharingAPrefix(t *testing.T) {
	a, dup := chg("pw:x/series/1"), chg("pw:x/series/1")
	dup.Title = "a later duplicate"
	cs := []change.Change{
		chg("pw:x/series/12", on("pw:x/series/1"), on("pw:x/series/123")),
		a,
		chg("pw:x/series/13", on("pw:x/series/1"), on("pw:x/series/12")),
		dup,
		chg("pw:y/series/1", on("pw:x/series/1")),
	}
	res := Build(cs, nil, Limits{})
	if want := ks("pw:x/series/1", "pw:x/series/12", "pw:x/series/13", "pw:y/series/1"); !slices.Equal(res.Order, want) {
		t.Fatalf("Order = %v, want %v", res.Order, want)
	}
	if c, _ := res.At(0); c != &cs[1] {
		t.Errorf("pw:x/series/1 is %q, want the first of its key", c.Title)
	}
	want := map[change.Key]Node{
		"pw:x/series/1":  {Status: Ready},
		"pw:x/series/12": {Status: Blocked, Reason: `dependency pw:x/series/123 ("<pw:x/series/123@msgid>") is not an open, buildable change`, Deps: ks("pw:x/series/1"), Closure: ks("pw:x/series/1")},
		"pw:x/series/13": {Status: Blocked, Reason: `depends on pw:x/series/12: dependency pw:x/series/123 ("<pw:x/series/123@msgid>") is not an open, buildable change`,
			Deps: ks("pw:x/series/1", "pw:x/series/12"), Closure: ks("pw:x/series/1", "pw:x/series/12")},
		"pw:y/series/1": {Status: Ready, Deps: ks("pw:x/series/1"), Closure: ks("pw:x/series/1")},
	}
	for k, w := range want {
		if n := res.Nodes[k]; !reflect.DeepEqual(*n, w) {
			t.Errorf("%s = %+v, want %+v", k, *n, w)
		}
	}
}
