package fingerprint_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
)

// world is what one cycle sees: the changes of a snapshot, the configuration
// hash of the target, and what each base branch resolves to this tick.
type world struct {
	changes      []change.Change
	targetConfig string
	commits      map[string]string // base URL -> commit of its branch
}

// find returns the change with key k, for a test to mutate.
func (w *world) find(k change.Key) *change.Change {
	for i := range w.changes {
		if w.changes[i].Key == k {
			return &w.changes[i]
		}
	}
	panic("no change " + k)
}

// units computes the fingerprint input of every Ready change on target
// "kernelci" as the cycle does: graph order, dependency items from the
// closure, direct dependencies' fingerprints memoised along the order, the
// base commit only when the base policy includes it.
func units(t *testing.T, w world) map[change.Key]fingerprint.Input {
	t.Helper()
	res := graph.Build(w.changes, nil, graph.Limits{})
	byKey := map[change.Key]*change.Change{}
	for i := range w.changes {
		byKey[w.changes[i].Key] = &w.changes[i]
	}
	sums := map[change.Key]string{}
	inputs := map[change.Key]fingerprint.Input{}
	for _, k := range res.Order {
		n := res.Nodes[k]
		if n.Status != graph.Ready {
			t.Fatalf("%s is %v: %s", k, n.Status, n.Reason)
		}
		c := byKey[k]
		in := fingerprint.Input{
			Target:       "kernelci",
			TargetConfig: w.targetConfig,
			BaseURL:      c.Base.URL,
			BaseBranch:   c.Base.Branch,
		}
		switch c.Base.Policy {
		case change.PolicyFollow:
			in.BaseCommit = w.commits[c.Base.URL]
		case change.PolicyTag:
			in.BaseCommit = c.BaseCommit
		}
		for _, d := range n.Closure {
			in.Items = append(in.Items, fingerprint.ItemOf(byKey[d]))
			if slices.Contains(n.Deps, d) {
				in.Deps = append(in.Deps, fingerprint.Dep{Key: string(d), Fingerprint: sums[d]})
			}
		}
		in.Items = append(in.Items, fingerprint.ItemOf(c))
		inputs[k] = in
		sums[k] = fingerprint.Sum(in)
	}
	return inputs
}

const (
	netNext = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	yTree   = "https://git.example.org/y.git"
	top     = change.Key("pw:x/series/3")
)

// scenario returns a snapshot: pw:x/series/3 (v2, two patches) depends on
// pw:x/series/1 (same source, same pinned base) and on pw:y/series/7 (another
// source whose base policy is follow).
func scenario() world {
	ref := func(raw string, k change.Key, src string) change.Ref {
		return change.Ref{Raw: raw, Key: k, Source: src}
	}
	pinned := change.Base{Tree: "net-next", URL: netNext, Branch: "main", Policy: change.PolicyPinned}
	return world{
		targetConfig: "cfg-1",
		commits:      map[string]string{netNext: "1a2b3c4d5e6f00000000", yTree: "aaaaaaaaaaaa00000000"},
		changes: []change.Change{
			{
				Key: top, Source: "x", Title: "[v2,0/2] net: fix the thing", WebURL: "https://pw.example.org/project/x/list/?series=3",
				Submitter: "Ann", Version: 2, Content: []string{"hash-3a", "hash-3b"},
				Patches: []change.Patch{{ID: 31, Name: "[v2,1/2] net: a", Hash: "hash-3a"}, {ID: 32, Name: "[v2,2/2] net: b", Hash: "hash-3b"}},
				Deps:    []change.Ref{ref("<s1@x.example.org>", "pw:x/series/1", "x"), ref("https://pw.example.org/project/y/list/?series=7", "pw:y/series/7", "y")},
				Base:    pinned, Targets: []string{"kernelci", "buildbot"},
			},
			{
				Key: "pw:x/series/1", Source: "x", Title: "net: prepare", Version: 1, Content: []string{"hash-1"},
				Base: pinned, Targets: []string{"kernelci"},
			},
			{
				Key: "pw:x/series/2", Source: "x", Title: "net: unrelated", Version: 1, Content: []string{"hash-2"},
				Base: pinned, Targets: []string{"kernelci"},
			},
			{
				Key: "pw:y/series/7", Source: "y", Title: "y: helper", Version: 1, Content: []string{"hash-7"},
				Base: change.Base{Tree: "y", URL: yTree, Branch: "next", Policy: change.PolicyFollow}, Targets: []string{"kernelci"},
			},
		},
	}
}

// TestFingerprintChangesWithBuildInputsOnly proves that the fingerprint of a
// unit changes when, and only when, something that decides its build
// changes, and that Explain names it.
func TestFingerprintChangesWithBuildInputsOnly(t *testing.T) {
	tests := []struct {
		name   string
		before func(w *world) // applied to both snapshots
		mutate func(w *world) // applied to the second only
		want   []string       // Explain; nil: same fingerprint
	}{
		{name: "title edited", mutate: func(w *world) { w.find(top).Title = "[v2,0/2] net: fix the thing properly" }},
		{name: "new comment: web URL and submitter touched", mutate: func(w *world) {
			w.find(top).WebURL = "https://pw.example.org/project/x/list/?series=3&comments=1"
			w.find(top).Submitter = "Ann <ann@example.org>"
		}},
		{name: "check posted: targets reordered", mutate: func(w *world) { w.find(top).Targets = []string{"buildbot", "kernelci"} }},
		{name: "state changed: dependency written differently, same key", mutate: func(w *world) {
			w.find(top).Deps[0].Raw = "https://pw.example.org/project/x/patch/s1@x.example.org/"
		}},
		{name: "patch names and ids changed", mutate: func(w *world) { w.find(top).Patches[0].Name = "[v2,1/2] net: a, reworded" }},
		{name: "merged dependency reference added", mutate: func(w *world) {
			c := w.find(top)
			c.Deps = append(c.Deps, change.Ref{Raw: "<old@x>", Key: "pw:x/series/0", Source: "x", Merged: true})
		}},
		{name: "unrelated change edited", mutate: func(w *world) { w.find("pw:x/series/2").Content = []string{"hash-2b"} }},
		{name: "base moved under pinned", mutate: func(w *world) { w.commits[netNext] = "7a8b9c0d1e2f00000000" }},
		{name: "base moved under tag without base-commit", before: func(w *world) { w.find(top).Base.Policy = change.PolicyTag },
			mutate: func(w *world) { w.commits[netNext] = "7a8b9c0d1e2f00000000" }},
		{
			name:   "patch content",
			mutate: func(w *world) { w.find(top).Content[1] = "hash-3b-fixed" },
			want:   []string{"pw:x/series/3: content changed (patch 2 of 2)"},
		},
		{
			name: "new revision",
			mutate: func(w *world) {
				c := w.find(top)
				c.Version, c.Content = 3, []string{"hash-3a-v3", "hash-3b-v3"}
			},
			want: []string{"pw:x/series/3: version 2 -> 3", "pw:x/series/3: content changed (patches 1, 2 of 2)"},
		},
		{
			name:   "dependency content",
			mutate: func(w *world) { w.find("pw:x/series/1").Content = []string{"hash-1b"} },
			want:   []string{"pw:x/series/1: content changed (patch 1 of 1)", "dependency pw:x/series/1 fingerprint changed"},
		},
		{
			name:   "dependency fingerprint changed: its followed base moved",
			mutate: func(w *world) { w.commits[yTree] = "bbbbbbbbbbbb00000000" },
			want:   []string{"dependency pw:y/series/7 fingerprint changed"},
		},
		{
			name: "dependency added",
			mutate: func(w *world) {
				c := w.find(top)
				c.Deps = append(c.Deps, change.Ref{Raw: "<s2@x.example.org>", Key: "pw:x/series/2", Source: "x"})
			},
			want: []string{"dependency pw:x/series/2 added"},
		},
		{
			name:   "dependency removed",
			mutate: func(w *world) { w.find(top).Deps = w.find(top).Deps[1:] },
			want:   []string{"dependency pw:x/series/1 removed"},
		},
		{
			name:   "base moved under follow",
			before: func(w *world) { w.find(top).Base.Policy = change.PolicyFollow },
			mutate: func(w *world) { w.commits[netNext] = "7a8b9c0d1e2f00000000" },
			want:   []string{"base commit 1a2b3c4d5e6f -> 7a8b9c0d1e2f"},
		},
		{
			name:   "base-commit changed under tag",
			before: func(w *world) { w.find(top).Base.Policy, w.find(top).BaseCommit = change.PolicyTag, "1a2b3c4d5e6f" },
			mutate: func(w *world) { w.find(top).BaseCommit = "7a8b9c0d1e2f" },
			want:   []string{"base commit 1a2b3c4d5e6f -> 7a8b9c0d1e2f"},
		},
		{
			name:   "base branch",
			mutate: func(w *world) { w.find(top).Base.Branch = "next" },
			want:   []string{"base branch main -> next"},
		},
		{
			name:   "target configuration",
			mutate: func(w *world) { w.targetConfig = "cfg-2" },
			// The dependencies' units are on the same target.
			want: []string{"target configuration changed", "dependency pw:x/series/1 fingerprint changed", "dependency pw:y/series/7 fingerprint changed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := scenario(), scenario()
			if tt.before != nil {
				tt.before(&old)
				tt.before(&next)
			}
			tt.mutate(&next)
			a, b := units(t, old)[top], units(t, next)[top]
			same := fingerprint.Sum(a) == fingerprint.Sum(b)
			if same != (tt.want == nil) {
				t.Errorf("fingerprint same = %v, want %v", same, tt.want == nil)
			}
			if got := fingerprint.Explain(a, b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Explain =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestUnitInputShape(t *testing.T) {
	in := units(t, scenario())[top]
	var keys []string
	for _, it := range in.Items {
		keys = append(keys, it.Key)
	}
	if want := []string{"pw:x/series/1", "pw:y/series/7", "pw:x/series/3"}; !slices.Equal(keys, want) {
		t.Errorf("items %v, want %v (dependencies in order, the change last)", keys, want)
	}
	if len(in.Deps) != 2 || in.Deps[0].Key != "pw:x/series/1" || in.Deps[1].Key != "pw:y/series/7" {
		t.Errorf("deps %+v, want pw:x/series/1 then pw:y/series/7", in.Deps)
	}
	if in.BaseCommit != "" {
		t.Errorf("pinned base put commit %q in the fingerprint", in.BaseCommit)
	}
}
