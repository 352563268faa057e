package gitlab

import (
	"context"
	"testing"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestClaimAndChangeState(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, nil)
	w.addMR(3, nil)
	w.fake.Merge(mainID, 1)
	w.fake.Close(mainID, 2)
	s := w.source(t, w.opts())
	own := change.GitLabKey(s.host, mainPath, 1)
	for key, want := range map[change.Key]change.Claim{
		own:                                      change.ClaimOwn,
		change.GitLabKey(s.host, "other/lib", 4): change.ClaimHost,
		change.GitLabKey("gitlab.com", mainPath, 1): change.ClaimNone,
		"gh:" + change.Key(mainPath) + "#1":         change.ClaimNone,
	} {
		if got := s.Claim(key); got != want {
			t.Errorf("Claim(%s) = %v, want %v", key, got, want)
		}
	}
	for iid, want := range map[int64]change.State{1: change.StateMerged, 2: change.StateClosed, 3: change.StateOpen} {
		got, err := s.ChangeState(context.Background(), change.GitLabKey(s.host, mainPath, iid))
		if err != nil || got != want {
			t.Errorf("ChangeState(!%d) = %q, %v; want %q", iid, got, err, want)
		}
	}
}

func TestReporterPostsOnTheSourceProjectOnce(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(7, func(m *glfake.MR) { m.SourceProjectID = forkID })
	s := w.source(t, w.opts())
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := changes[0]
	r, err := s.Reporter(ReporterOpts{Name: "gitlab:main", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	items := r.Items(&c)
	if len(items) != 1 || items[0] != "alice/project@"+c.HeadSHA {
		t.Fatalf("Items = %v, want the fork's project and the head", items)
	}
	for i, st := range []targets.State{targets.StatePending, targets.StateFail, targets.StateFail} {
		posted, _ := r.Map(st)
		m := report.Message{Change: string(c.Key), Target: "ci", Fingerprint: "0123456789abcdef", State: st, Summary: string(st)}
		done, err := r.Report(context.Background(), items[0], m, posted)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if want := []report.Done{report.Posted, report.Posted, report.Found}[i]; done != want {
			t.Errorf("report %d (%s) ended %v, want %v", i, st, done, want)
		}
	}
	// GitLab moves a pending status to its next state; a repeated failed
	// post would add a second status, which the look-before-post prevents.
	got := w.fake.Statuses()
	if len(got) != 1 || got[0].ProjectID != forkID || got[0].State != "failed" || got[0].Name != "trawl" {
		t.Fatalf("statuses = %+v, want one on the fork, pending moved to failed, the repeat skipped", got)
	}
}

func TestRelayLinksAndStatuses(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	desc := "Source-git change.\nRelay-CI-from: !42\n"
	w.addMR(7, func(m *glfake.MR) { m.Description = &desc })
	w.addMR(42, nil)
	s := w.source(t, w.opts())
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src := byIID(t, changes, 7)
	dist := byIID(t, changes, 42)
	if len(src.Relays) != 1 || src.Relays[0].Key != dist.Key {
		t.Fatalf("relays = %+v, want MR 42", src.Relays)
	}
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	item := r.Items(&dist)[0]
	for _, st := range []targets.State{targets.StatePending, targets.StateFail} {
		posted, _ := r.Map(st)
		if _, err := r.Report(context.Background(), item, report.Message{Fingerprint: "f", State: st, Summary: "build", Context: "ci/build"}, posted); err != nil {
			t.Fatal(err)
		}
	}
	head, statuses, err := s.Statuses(context.Background(), dist.Key)
	if err != nil {
		t.Fatal(err)
	}
	if head != dist.HeadSHA || len(statuses) != 1 || statuses[0].Context != "ci/build" || statuses[0].State != targets.StateFail {
		t.Fatalf("Statuses = %s %+v, want the newest ci/build: failed", head, statuses)
	}
}
