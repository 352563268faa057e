package kcifake

import "strings"

// The node store's index: for the fields the KernelCI target filters on
// with a selective equality (parent, treeid, artifacts.patch0), the
// nodes holding each value, in insertion order. A query with such a
// condition walks only those nodes instead of the whole store, so that a
// world of 10,000 patchsets does not measure the fake: the target's
// adoption query (artifacts.patch0) and subtree query (treeid) are made
// for every unit.
//
// An entry is a superset: a node stays listed under a value it no longer
// holds (TakeOverPatchsets drops the patch artifacts), and the query's
// filter, which every candidate passes through as it does for a full
// scan, rejects it. So the answers are those of a full scan, in the same
// order. What may add a value to a stored node (Seed replacing a node,
// Delete) rebuilds the index.

// indexed are the dotted field paths the index holds.
var indexed = []string{"parent", "treeid", "artifacts.patch0"}

// indexValue returns n's value of an indexed field path, and whether it
// has one.
func indexValue(n *Node, path string) (string, bool) {
	switch path {
	case "parent":
		if n.Parent == nil {
			return "", false
		}
		return *n.Parent, true
	case "treeid":
		return n.TreeID, true
	case "artifacts.patch0":
		v, ok := n.Artifacts["patch0"]
		return v, ok
	}
	return "", false
}

// indexLocked adds n to the index. The caller holds f.mu.
func (f *Fake) indexLocked(n *Node) {
	if f.index == nil {
		f.index = map[string]map[string][]*Node{}
	}
	for _, path := range indexed {
		v, ok := indexValue(n, path)
		if !ok {
			continue
		}
		if f.index[path] == nil {
			f.index[path] = map[string][]*Node{}
		}
		f.index[path][v] = append(f.index[path][v], n)
	}
}

// reindexLocked rebuilds the index from the store. The caller holds f.mu.
func (f *Fake) reindexLocked() {
	f.index = nil
	for _, n := range f.nodes {
		f.indexLocked(n)
	}
}

// candidatesLocked returns the nodes a query with conds has to look at:
// the index's shortest list among its equality conditions on an indexed
// field, or every node. The caller holds f.mu.
func (f *Fake) candidatesLocked(conds []cond) []*Node {
	best, found := f.nodes, false
	for _, c := range conds {
		want, isStr := c.want.(string)
		if c.op != "" || !isStr {
			continue
		}
		path := strings.Join(c.path, ".")
		for _, p := range indexed {
			if p != path {
				continue
			}
			if l := f.index[p][want]; !found || len(l) < len(best) {
				best, found = l, true
			}
		}
	}
	return best
}
