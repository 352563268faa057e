package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/state"
)

// The crash worlds of the targets that run on a forge's own CI: a GitLab
// project whose pipelines build the units (gitlab-pipeline) and a GitHub
// workflow whose runs do (github-workflow). Each fake counts what it
// created; a unit with two pipelines or two runs is a duplicate.

// forgeCIWorkflow is the workflow of the github-workflow world, as the
// README documents it.
const forgeCIWorkflow = `name: trawl
run-name: ${{ inputs.trawl_run }}
on:
  workflow_dispatch:
    inputs:
      trawl_run: {type: string, required: true}
      trawl_unit: {type: string, required: true}
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: make}]}
`

// forgeCITarget starts the fake CI of kind and returns the target's
// configuration lines.
func (w *crashWorld) forgeCITarget(t *testing.T, kind string) string {
	t.Helper()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Every unit runs at once: the suite is about kills, not the queue. A
	// trawl killed between recording a creation and sending it makes the
	// next one wait post_grace for a job the fake never got; the fakes
	// answer at once, and 100ms instead of the default 2m lets the quick
	// rounds of trawl once settle.
	running := units + prs
	switch kind {
	case "gitlab-pipeline":
		w.gl = glfake.New(glfake.Options{Token: "glpat-crash"})
		w.gl.AddProject(glfake.Project{ID: 7, Path: "ci/kernel", Private: true})
		w.gl.AddTriggerToken(7, "glptt-crash")
		srv := httptest.NewServer(w.gate.wrap(w.gl))
		t.Cleanup(srv.Close)
		write("gl.token", "glpat-crash")
		write("gl.trigger", "glptt-crash")
		return fmt.Sprintf("max_running: %d\n    gitlab-pipeline: {url: %s, project: ci/kernel, ref: main, trigger_token_file: gl.trigger, token_file: gl.token, post_grace: 100ms}",
			running, srv.URL)
	case "github-workflow":
		w.ghci = ghfake.New(ghfake.Options{Tokens: []string{"ghp_crash_ci"}})
		w.ghci.AddWorkflow("ci/kernel", ghfake.Workflow{Path: ".github/workflows/trawl.yml", Content: forgeCIWorkflow})
		srv := httptest.NewServer(w.gate.wrap(w.ghci))
		t.Cleanup(srv.Close)
		write("ghci.token", "ghp_crash_ci")
		return fmt.Sprintf("max_running: %d\n    github-workflow: {api_url: %s, repo: ci/kernel, workflow: trawl.yml, ref: main, token_file: ghci.token, post_grace: 100ms}",
			running, srv.URL)
	}
	t.Fatalf("no forge CI world for %s", kind)
	return ""
}

// advanceForgeCI ends some of the pipelines or runs still going, with
// success.
func (w *crashWorld) advanceForgeCI(rng *rand.Rand) {
	if w.gl != nil {
		for _, p := range w.gl.Pipelines() {
			if p.Status == "created" && rng.IntN(2) == 0 {
				w.gl.SetPipelineStatus(p.ID, "success")
			}
		}
	}
	if w.ghci != nil {
		for _, r := range w.ghci.Runs() {
			if r.Status != "completed" && rng.IntN(2) == 0 {
				w.ghci.FinishRun(r.ID, "success")
			}
		}
	}
}

// verifyForgeCI counts the pipelines or runs created and reports any unit
// attempt that has more than one. It logs how many of the units' jobs were
// adopted: those a killed trawl had triggered without saving them.
func (w *crashWorld) verifyForgeCI(t *testing.T, bad func(string, ...any)) int {
	st, err := state.ReadOnly(w.state).Load()
	if err != nil {
		t.Fatal(err)
	}
	adopted := 0
	for _, u := range st.Units {
		if u.Job != nil && u.Job.Adopted {
			adopted++
		}
	}
	t.Logf("%s: %d of %d units' jobs adopted after a kill", w.kind, adopted, len(st.Units))
	seen := map[string]int{}
	n := 0
	if w.gl != nil {
		for _, p := range w.gl.Pipelines() {
			vars := map[string]string{}
			for _, v := range p.Variables {
				vars[v.Key] = v.Value
			}
			seen[vars["TRAWL_UNIT"]+" "+vars["TRAWL_FINGERPRINT"]+" "+vars["TRAWL_ATTEMPT"]]++
			n++
		}
	}
	if w.ghci != nil {
		for _, r := range w.ghci.Runs() {
			seen[r.DisplayTitle]++
			n++
		}
	}
	for k, c := range seen {
		if c > 1 {
			bad("%s: %d jobs of one unit attempt: %s", w.kind, c, k)
		}
	}
	return n
}

// triggerGate, once armed, holds the answer to the first trigger the
// fake CI served (the pipeline or run exists) until the test lets it go:
// a trawl killed meanwhile never learns of its job.
type triggerGate struct {
	mu      sync.Mutex
	armed   bool
	once    sync.Once
	served  chan struct{}
	release chan struct{}
}

// arm makes the next trigger wait; served is closed when it was served.
func (g *triggerGate) arm() (served, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.served, g.release = true, make(chan struct{}), make(chan struct{})
	return g.served, g.release
}

// wrap serves next, holding the first trigger's answer while armed.
func (g *triggerGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(rw, r)
		trigger := r.Method == http.MethodPost &&
			(strings.HasSuffix(r.URL.Path, "/trigger/pipeline") || strings.HasSuffix(r.URL.Path, "/dispatches"))
		g.mu.Lock()
		armed, served, release := g.armed, g.served, g.release
		g.mu.Unlock()
		if !trigger || !armed {
			return
		}
		g.once.Do(func() { close(served) })
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
	})
}

// TestForgeCIKilledBetweenTriggerAndStateWrite: trawl is killed (SIGKILL)
// right after the forge created a pipeline or run for it, before trawl
// heard back, so its state never names the job. The next trawl adopts the
// job instead of creating a second one: one job per unit, no duplicates.
func TestForgeCIKilledBetweenTriggerAndStateWrite(t *testing.T) {
	for _, kind := range []string{"gitlab-pipeline", "github-workflow"} {
		t.Run(kind, func(t *testing.T) {
			w := newCrashWorld(t, kind)
			served, release := w.gate.arm()
			killAfter(t, &world{config: w.config}, served)
			close(release)
			before := w.verifyForgeCI(t, func(string, ...any) {})
			if before == 0 {
				t.Fatal("the killed trawl created no job")
			}
			for i := 0; !w.settled(t); i++ {
				if i == 20 {
					t.Fatal("never settled")
				}
				if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK && code != exitCycle {
					t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
				}
				w.advance(t, rand.New(rand.NewPCG(1, uint64(i))))
			}
			st, err := state.ReadOnly(w.state).Load()
			if err != nil {
				t.Fatal(err)
			}
			adopted := 0
			for _, u := range st.Units {
				if u.Job != nil && u.Job.Adopted {
					adopted++
				}
			}
			triggers, _, _, bad := w.verify(t)
			t.Logf("%s: %d jobs when trawl was killed; after restarts %d jobs for %d units, %d adopted", kind, before, triggers, w.units, adopted)
			if adopted == 0 {
				t.Error("no job was adopted: the kill did not land between trigger and state write")
			}
			for _, v := range bad {
				t.Error(v)
			}
		})
	}
}
