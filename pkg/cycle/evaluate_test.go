package cycle

import (
	"reflect"
	"testing"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/state"
)

// TestDecideInputsAreItemsOfTheChanges checks the items decide
// fingerprints, on two targets and along a chain of dependencies, against
// fingerprint.ItemOf: the same key, version and content (a nil content
// stays nil, an empty one empty: they are stored as JSON), in an input
// that shares no content with the snapshot's changes (the report keeps the
// inputs after the cycle), and the same fingerprint.
func TestDecideInputsAreItemsOfTheChanges(t *testing.T) {
	dep := series(1, 2, "a", "b")
	mid := series(2, 1, "c")
	mid.Deps = []change.Ref{{Raw: "<1@x>", Key: dep.Key, Source: "netdev", Checked: true}}
	top := series(3, 1)
	top.Content = []string{}
	top.Deps = []change.Ref{{Raw: "<2@x>", Key: mid.Key, Source: "netdev", Checked: true}}
	bare := series(4, 1)
	for _, c := range []*change.Change{&dep, &mid, &top, &bare} {
		c.Targets = []string{decideTarget, "other"}
	}
	all := []change.Change{top, bare, mid, dep}
	changes := changeIndex(all)
	ds := decide(decideInput{
		changes: changes, graph: graph.Build(all, nil, graph.Limits{}),
		scope: map[string]struct{}{"netdev": {}},
		targets: map[string]targetInfo{
			decideTarget: {configHash: "cfg1", resolver: kciBase.resolver},
			"other":      {configHash: "cfg2", resolver: "default"},
		},
		bases: map[baseKey]baseAnswer{
			kciBase: {commit: "c1"},
			{resolver: "default", url: base.URL, branch: base.Branch}: {commit: "c2"},
		},
		stored: map[string]*state.Unit{},
	})
	if len(ds) != 8 {
		t.Fatalf("%d decisions, want 8", len(ds))
	}
	fps := map[string]string{}
	for _, d := range ds {
		ur := d.report
		if ur.Inputs == nil {
			t.Fatalf("%s: no inputs (%s %s)", ur.Unit, ur.Outcome, ur.Detail)
		}
		if ur.Change == top.Key && !reflect.DeepEqual(ur.Deps, []change.Key{dep.Key, mid.Key}) {
			t.Errorf("%s: built with %v, want %s then %s", ur.Unit, ur.Deps, dep.Key, mid.Key)
		}
		var want []fingerprint.Item
		for _, k := range append(append([]change.Key(nil), ur.Deps...), ur.Change) {
			want = append(want, fingerprint.ItemOf(changes[k]))
		}
		if !reflect.DeepEqual(ur.Inputs.Items, want) {
			t.Errorf("%s: items %#v, want %#v", ur.Unit, ur.Inputs.Items, want)
		}
		for _, it := range ur.Inputs.Items {
			if c := changes[change.Key(it.Key)]; len(it.Content) > 0 && &it.Content[0] == &c.Content[0] {
				t.Errorf("%s: the item of %s shares its content with the change", ur.Unit, it.Key)
			}
		}
		if got := fingerprint.Sum(*ur.Inputs); ur.Fingerprint != got {
			t.Errorf("%s: fingerprint %s, want Sum(inputs) %s", ur.Unit, ur.Fingerprint, got)
		}
		fps[ur.Unit] = ur.Fingerprint
	}
	if len(fps) != 8 {
		t.Errorf("%d distinct units, want 8: %v", len(fps), fps)
	}
}

// TestDecideKeepsAnEmptyContent checks that a change whose content is
// empty, not nil, keeps it empty in its fingerprint's inputs, as ItemOf
// does, when it is the first item of the cycle.
func TestDecideKeepsAnEmptyContent(t *testing.T) {
	c := series(1, 1)
	c.Content = []string{}
	all := []change.Change{c}
	ds := decide(decideInput{
		changes: changeIndex(all), graph: graph.Build(all, nil, graph.Limits{}),
		scope:   map[string]struct{}{"netdev": {}},
		targets: map[string]targetInfo{decideTarget: {configHash: "cfg1", resolver: kciBase.resolver}},
		bases:   map[baseKey]baseAnswer{kciBase: {commit: "c1"}},
	})
	if len(ds) != 1 || ds[0].report.Inputs == nil {
		t.Fatalf("decisions %+v, want one with inputs", ds)
	}
	if got, want := ds[0].report.Inputs.Items, []fingerprint.Item{fingerprint.ItemOf(&c)}; !reflect.DeepEqual(got, want) || got[0].Content == nil {
		t.Errorf("items %#v, want %#v", got, want)
	}
}
