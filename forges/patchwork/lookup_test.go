package patchwork

import (
	"context"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestReporterDedupsByStateNotWording: two consecutive pending reports of
// one unit and fingerprint, worded differently (a restart words a running
// build anew), post one check per patch, not two.
func TestReporterDedupsByStateNotWording(t *testing.T) {
	const fp = "1111111111111111aaaa"
	e := newReporterEnv(t, pwfake.BotToken)
	for _, summary := range []string{"build triggered: job 7", "running since 2026-12-03T10:00:00Z"} {
		m := message(fp, targets.StatePending, summary, "")
		posted, _ := e.rp.Map(m.State)
		for _, item := range []string{"1", "2"} {
			if _, err := e.rp.Report(context.Background(), item, m, posted); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := e.srv.fake.PostCount(); n != 2 {
		t.Fatalf("%d checks posted, want one pending check on each of the 2 patches", n)
	}
	m := message(fp, targets.StateSuccess, "passed", "")
	posted, _ := e.rp.Map(m.State)
	if _, err := e.rp.Report(context.Background(), "1", m, posted); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.fake.PostCount(); n != 3 {
		t.Fatalf("%d checks posted, want the conclusive state posted", n)
	}
}
