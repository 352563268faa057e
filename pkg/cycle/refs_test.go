package cycle

import (
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
)

// TestChangeIndexAgreesWithTheGraph checks that the index of a snapshot
// holding a key twice names the first change of the key, as the graph
// does: decide reads a change through either, and both must be the one
// change the snapshot keeps.
func TestChangeIndexAgreesWithTheGraph(t *testing.T) {
	first, later := series(1, 1, "a"), series(1, 2, "b")
	all := []change.Change{series(2, 1, "c"), first, series(3, 1, "d"), later, series(2, 3, "e")}
	index := changeIndex(all)
	if len(index) != 3 {
		t.Fatalf("%d changes indexed, want 3", len(index))
	}
	g := graph.Build(all, nil, graph.Limits{})
	for i, k := range g.Order {
		c, _ := g.At(i)
		if index[k] != c {
			t.Errorf("%s: the index holds version %d, the graph version %d", k, index[k].Version, c.Version)
		}
		if c.Version != 1 {
			t.Errorf("%s: version %d kept, want the first, 1", k, c.Version)
		}
	}
}
