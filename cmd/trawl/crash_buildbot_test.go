package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets/buildbot/bbmaster"
)

// The crash suite's Buildbot world runs against a real master (Debian's
// buildbot, see pkg/targets/buildbot/bbmaster), started once for the
// crash run of that type and shared by its rounds: a master takes
// seconds to start, a round's trawl runs take well under one each. Each
// round's changes carry a project of their own, so a round neither sees
// nor adopts another's.
var crashBB struct {
	mu     sync.Mutex
	master *bbmaster.Master
	rounds int
}

// crashBuildbot returns the shared master, started on first use and
// killed when t ends, and the project of a new round.
func crashBuildbot(t *testing.T) (*bbmaster.Master, string) {
	t.Helper()
	crashBB.mu.Lock()
	defer crashBB.mu.Unlock()
	if crashBB.master == nil {
		dir, err := os.MkdirTemp("", "trawl-crash-buildbot-")
		if err != nil {
			t.Fatal(err)
		}
		m, err := bbmaster.Start(dir)
		if err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		t.Logf("buildbot master started in %s", m.Started.Round(time.Millisecond))
		crashBB.master = m
		t.Cleanup(func() {
			crashBB.mu.Lock()
			defer crashBB.mu.Unlock()
			crashBB.master.Stop()
			crashBB.master = nil
			os.RemoveAll(dir)
		})
	}
	crashBB.rounds++
	return crashBB.master, fmt.Sprintf("crash%d", crashBB.rounds)
}

// buildbotTarget is the target block of a Buildbot world.
func (w *crashWorld) buildbotTarget(t *testing.T) string {
	w.bb, w.bbProject = crashBuildbot(t)
	if err := os.WriteFile(filepath.Join(w.dir, "bb.password"), []byte(bbmaster.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every unit runs at once: the suite is about kills, not the queue. A
	// trawl killed with its POST on the wire makes the next one wait
	// post_grace for the change; the loaded master of a test run adds it
	// well within 10s, and rounds settle sooner than with the default 2m.
	return fmt.Sprintf("max_running: %d\n    buildbot: {url: %s, user: %s, password_file: bb.password, builders: [%s], project: %s, category: %s, post_grace: 10s}",
		units+prs, w.bb.URL, bbmaster.User, bbmaster.Builder, w.bbProject, bbmaster.Category)
}

// advanceBuildbot lets the master finish the builds it holds: after a
// third of the killed runs, so that trawl is killed both while builds run
// and after they ended, and after every run once the kills are over, so
// that the round settles without polling a loaded master for long.
func (w *crashWorld) advanceBuildbot(t *testing.T, rng *rand.Rand) {
	w.bbAdvances++
	if w.bbAdvances <= killsPerRound && rng.IntN(3) != 0 {
		return
	}
	// Generous: on two cores shared with the rest of the race-enabled
	// suite, the master's builds once took longer than two minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := w.bb.WaitBuilds(ctx, w.bbProject+"/"); err != nil {
		t.Fatal(err)
	}
}

// verifyBuildbot counts the round's changes on the master by job key:
// each must have been posted once and built once.
func (w *crashWorld) verifyBuildbot(t *testing.T, bad func(string, ...any)) (triggers int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	changes, err := w.bb.Changes(ctx, w.bbProject+"/")
	if err != nil {
		t.Fatal(err)
	}
	perJob := map[string]int{}
	for _, c := range changes {
		perJob[c.Property("trawl_job")]++
		builds, err := w.bb.Builds(ctx, c.ChangeID)
		if err != nil {
			t.Fatal(err)
		}
		if len(builds) != 1 {
			bad("buildbot change %d (unit %s): %d builds, want 1", c.ChangeID, c.Property("trawl_unit"), len(builds))
		}
	}
	for job, n := range perJob {
		if n > 1 {
			bad("buildbot job %s posted %d times", job, n)
		}
	}
	return len(perJob)
}
