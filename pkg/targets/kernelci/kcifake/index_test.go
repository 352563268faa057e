package kcifake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

// TestIndexAnswersAsAFullScan: a query through the index answers the
// same nodes, in the same order and with the same total, as a scan of the
// whole store, after the store has changed under the index: patchsets
// taken over (their patch artifacts dropped), a node replaced by Seed
// with other values, a node deleted.
func TestIndexAnswersAsAFullScan(t *testing.T) {
	f := New(Options{})
	checkouts := []string{
		f.AddCheckout("net-next", "https://git.example.org/a.git", "main", "1111111111111111111111111111111111111111"),
		f.AddCheckout("net-next", "https://git.example.org/b.git", "main", "2222222222222222222222222222222222222222"),
	}
	var patchsets []string
	for i := range 40 {
		parent := checkouts[i%2]
		// Some patchsets share their first patch: a resubmission.
		patch0 := fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", i%15)
		id := f.AddNode(Node{Kind: "checkout", Name: "patchset", Parent: StrPtr(parent), State: "running",
			TreeID: fmt.Sprintf("tree-%d", i%7), Artifacts: map[string]string{"patch0": patch0, "patch1": patch0 + "2"}})
		patchsets = append(patchsets, id)
		if i%3 == 0 {
			f.AddNode(Node{Kind: "kbuild", Name: "kbuild-gcc", Parent: StrPtr(id), State: "done", TreeID: fmt.Sprintf("tree-%d", i%7)})
		}
	}
	f.mu.Lock()
	for _, id := range patchsets[:10] {
		f.byID[id].State = "done" // not taken over below
	}
	f.mu.Unlock()
	f.TakeOverPatchsets()
	f.Delete(patchsets[3])
	replaced, ok := f.Node(patchsets[20])
	if !ok {
		t.Fatal("patchset 20 is not stored")
	}
	replaced.Parent = StrPtr(checkouts[0])
	replaced.TreeID = "tree-seeded"
	replaced.Artifacts = map[string]string{"patch0": "https://pw.example.org/patch/seeded/mbox/"}
	f.Seed(replaced)
	for i := range 5 { // stored after the index's last rebuild
		f.AddNode(Node{Kind: "checkout", Name: "patchset", Parent: StrPtr(checkouts[0]), State: "running",
			TreeID: fmt.Sprintf("tree-%d", i), Artifacts: map[string]string{"patch0": fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", i)}})
	}

	var queries []url.Values
	for _, c := range checkouts {
		queries = append(queries, url.Values{"parent": {c}}, url.Values{"parent": {c}, "name": {"patchset"}, "limit": {"3"}, "offset": {"2"}})
	}
	for i := range 8 {
		queries = append(queries, url.Values{"treeid": {fmt.Sprintf("tree-%d", i)}})
	}
	for i := range 16 {
		queries = append(queries, url.Values{"name": {"patchset"}, "artifacts.patch0": {fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", i)},
			"data.kernel_revision.url": {"https://git.example.org/a.git"}})
		queries = append(queries, url.Values{"artifacts.patch0": {fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", i)}})
	}
	queries = append(queries,
		url.Values{"treeid": {"tree-seeded"}},
		url.Values{"artifacts.patch0": {"https://pw.example.org/patch/seeded/mbox/"}},
		url.Values{"parent": {patchsets[3]}},
		url.Values{"parent": {"null"}},
		url.Values{"parent__ne": {checkouts[0]}},
		url.Values{"kind": {"kbuild"}, "treeid": {"tree-1"}, "parent": {patchsets[1]}},
	)
	matched := 0
	for _, q := range queries {
		limit, offset, verr := pageParams(q)
		if verr != nil {
			t.Fatalf("%s: %v", q.Encode(), verr)
		}
		q.Del("limit")
		q.Del("offset")
		conds, detail := parseConds(q)
		if detail != "" {
			t.Fatalf("%s: %s", q.Encode(), detail)
		}
		got, gotTotal := f.query(conds, offset, limit)
		f.mu.Lock()
		want, wantTotal := filter(f.nodes, conds, offset, limit)
		f.mu.Unlock()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if gotTotal != wantTotal || string(g) != string(w) {
			t.Errorf("%s: the index answers %d nodes (total %d), a full scan %d (total %d)\n%s\n%s",
				q.Encode(), len(got), gotTotal, len(want), wantTotal, g, w)
		}
		matched += wantTotal
	}
	if matched < len(queries) {
		t.Fatalf("%d matches over %d queries: the queries test little", matched, len(queries))
	}
}

// BenchmarkAdoptionQuery is the KernelCI target's adoption query (name,
// tree, branch and first patch) in a store of 10,000 patchsets, through
// the index and as a full scan, the store's way before the index.
//
//	go test ./pkg/targets/kernelci/kcifake -run '^$' -bench AdoptionQuery
func BenchmarkAdoptionQuery(b *testing.B) {
	f := New(Options{})
	checkout := f.AddCheckout("net-next", "https://git.example.org/a.git", "main", "1111111111111111111111111111111111111111")
	for i := range 10000 {
		f.AddNode(Node{Kind: "checkout", Name: "patchset", Parent: StrPtr(checkout), State: "running", TreeID: fmt.Sprintf("tree-%d", i),
			Data:      map[string]any{"kernel_revision": map[string]any{"url": "https://git.example.org/a.git", "branch": "main"}},
			Artifacts: map[string]string{"patch0": fmt.Sprintf("https://pw.example.org/patch/%d/mbox/", i)}})
	}
	conds, detail := parseConds(url.Values{"name": {"patchset"}, "data.kernel_revision.url": {"https://git.example.org/a.git"},
		"data.kernel_revision.branch": {"main"}, "artifacts.patch0": {"https://pw.example.org/patch/5000/mbox/"}})
	if detail != "" {
		b.Fatal(detail)
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if _, n := f.query(conds, 0, 50); n != 1 {
				b.Fatalf("%d matches", n)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			f.mu.Lock()
			_, n := filter(f.nodes, conds, 0, 50)
			f.mu.Unlock()
			if n != 1 {
				b.Fatalf("%d matches", n)
			}
		}
	})
}
