package cycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// distGit owns the linked merge request and reads its statuses.
type distGit struct {
	*ownerSource
	head     string
	statuses []report.Status
	err      error
}

func (d *distGit) Statuses(context.Context, change.Key) (string, []report.Status, error) {
	return d.head, d.statuses, d.err
}

// prReporter posts commit statuses on a PR's head.
type prReporter struct{ fakeReporter }

func (p *prReporter) Items(c *change.Change) []string { return []string{c.HeadSHA} }

func TestRelayCopiesLinkedStatusesOnce(t *testing.T) {
	const distKey = "gl:gitlab.com/redhat/rpms/kernel!42"
	dist := &distGit{ownerSource: &ownerSource{fakeSource: &fakeSource{name: "dist-git"}, own: "gl:gitlab.com/redhat/rpms/kernel!"}, head: "d1"}
	srcGit := &ownerSource{fakeSource: &fakeSource{name: "source-git"}, own: "gl:gitlab.com/redhat/src/kernel!"}
	mr := pr("source-git", "gl:gitlab.com/redhat/src/kernel!7")
	mr.Targets = nil // nothing to build: the CI runs on dist-git
	mr.Relays = []change.Ref{{Raw: "https://gitlab.com/redhat/rpms/kernel/-/merge_requests/42", Key: distKey}}
	srcGit.changes = []change.Change{mr}
	rp := &prReporter{fakeReporter{fail: map[string]error{}}}
	h := newHarness(t)
	h.r = New(Options{Sources: []Source{srcGit, dist}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour,
		Relays: map[string]Reporter{"source-git": rp}, Reporters: map[string][]Reporter{"source-git": {rp}},
		Now: func() time.Time { return h.now }})
	head := mr.HeadSHA

	dist.statuses = []report.Status{{Context: "ci/build", State: targets.StatePending, Description: "running"}}
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{head + ":relay/ci/build=pending"}) {
		t.Fatalf("posted %v, want the pending build relayed", got)
	}
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("posted %v again", got)
	}
	dist.statuses = []report.Status{
		{Context: "ci/build", State: targets.StateSuccess, Description: "passed"},
		{Context: "relay/other", State: targets.StateFail}, // relayed onto dist-git by someone: not relayed back
	}
	h.run(t, Act)
	if got := rp.take(); !eq(got, []string{head + ":relay/ci/build=success"}) {
		t.Fatalf("posted %v, want only the build's success", got)
	}

	dist.err = errors.New("GET https://gitlab.com/api/v4/...: 502 Bad Gateway")
	h.now = h.now.Add(2 * time.Hour)
	rep := h.run(t, Act)
	if rep.Errors != 1 || len(rp.take()) != 0 {
		t.Fatalf("errors %d: a failed read must be an error and post nothing", rep.Errors)
	}
	if u := h.store.st.Units[relayPrefix(mr.Key, distKey)+"ci/build"]; u == nil || u.GoneSince != nil {
		t.Fatalf("relay record %+v: a failed read is not a removed link", u)
	}

	dist.err = nil
	mr.Relays = nil
	srcGit.changes = []change.Change{mr}
	rep = h.run(t, Act)
	if rep.Count.Gone != 1 {
		t.Fatalf("gone %d, want the relay record gone with its link", rep.Count.Gone)
	}
}

// savedFirst is a dist-git source that, when its statuses are read, checks
// that the triggers of the cycle are persisted already.
type savedFirst struct {
	*distGit
	store *memStore
	unit  string
	reads int
	early []string
}

func (s *savedFirst) Statuses(ctx context.Context, key change.Key) (string, []report.Status, error) {
	s.reads++
	if u := s.store.st; u == nil || u.Units[s.unit] == nil || u.Units[s.unit].Job == nil {
		s.early = append(s.early, string(key))
	}
	return s.distGit.Statuses(ctx, key)
}

// TestRelayReadsAfterTheFirstSave checks rule 2 across the relays: reading
// the statuses to relay is network I/O, and it happens only once the
// cycle's triggers are on disk.
func TestRelayReadsAfterTheFirstSave(t *testing.T) {
	const distKey = "gl:gitlab.com/redhat/rpms/kernel!42"
	h := newHarness(t)
	dist := &savedFirst{distGit: &distGit{ownerSource: &ownerSource{fakeSource: &fakeSource{name: "dist-git"}, own: "gl:gitlab.com/redhat/rpms/kernel!"}, head: "d1",
		statuses: []report.Status{{Context: "ci/build", State: targets.StatePending}}}, store: h.store}
	srcGit := &ownerSource{fakeSource: &fakeSource{name: "source-git"}, own: "gl:gitlab.com/redhat/src/kernel!"}
	mr := pr("source-git", "gl:gitlab.com/redhat/src/kernel!7")
	mr.Relays = []change.Ref{{Raw: "!42", Key: distKey}}
	srcGit.changes = []change.Change{mr}
	dist.unit = change.UnitKey(mr.Key, h.tgt.name)
	rp := &prReporter{fakeReporter{fail: map[string]error{}}}
	h.r = New(Options{Sources: []Source{srcGit, dist}, Targets: []Target{h.tgt}, Store: h.store, GoneGrace: time.Hour,
		Relays: map[string]Reporter{"source-git": rp}, Reporters: map[string][]Reporter{"source-git": {rp}},
		Now: func() time.Time { return h.now }})
	h.run(t, Act)
	if h.tgt.triggers() != 1 || dist.reads != 1 {
		t.Fatalf("%d triggers, %d status reads; want one of each", h.tgt.triggers(), dist.reads)
	}
	if len(dist.early) > 0 {
		t.Fatalf("statuses of %v read before the trigger of %s was saved", dist.early, dist.unit)
	}
}
