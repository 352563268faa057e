package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins/jenkinsfake"
)

// jenkinsWorld is examples/patchwork-jenkins.yaml as written, but for its
// addresses (the recorded Patchwork, a fake Jenkins with CSRF protection
// on, a local base repository) and the recorded data's age.
type jenkinsWorld struct {
	config string
	state  string
	pw     *pwfake.Fake
	jk     *jenkinsfake.Fake
	jkURL  string
}

// newJenkinsWorld builds the world; wrap, when set, wraps the fake
// Jenkins' handler.
func newJenkinsWorld(t *testing.T, wrap func(http.Handler) http.Handler) *jenkinsWorld {
	t.Helper()
	example, err := os.ReadFile(examples + "patchwork-jenkins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := &jenkinsWorld{state: filepath.Join(dir, "trawl-state", "state.json")}
	if w.pw, err = pwfake.New(pwfake.Options{}); err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(w.pw)
	t.Cleanup(pwSrv.Close)
	w.jk = jenkinsfake.New(jenkinsfake.Options{User: "trawl-bot", Job: "kernel/check-series", Parameters: jenkins.Parameters(), CSRF: true, StartAtOnce: true})
	var h http.Handler = w.jk
	if wrap != nil {
		h = wrap(h)
	}
	jkSrv := httptest.NewServer(h)
	t.Cleanup(jkSrv.Close)
	w.jkURL = jkSrv.URL

	cfg := string(example)
	for _, r := range [][2]string{
		{"https://ci.example.org/jenkins", jkSrv.URL},
		{"https://patchwork.kernel.org", pwSrv.URL},
		{"project: linux-wireless", "project: netdev\n      lookback: 10000d"},
		{"https://git.kernel.org/pub/scm/linux/kernel/git/wireless/wireless-next.git", bareRepo(t, dir)},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("the example no longer holds %q", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	w.config = filepath.Join(dir, "trawl.yaml")
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JENKINS_TOKEN", jenkinsfake.DefaultToken)
	t.Setenv("PATCHWORK_TOKEN", pwfake.BotToken)
	return w
}

// once runs `trawl once` and fails the test unless it succeeds.
func (w *jenkinsWorld) once(t *testing.T) {
	t.Helper()
	if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("trawl once: exit %d\n%s\n%s", code, out, errs)
	}
}

// jobs returns the units' jobs in the state.
func (w *jenkinsWorld) jobs(t *testing.T) map[string]string {
	t.Helper()
	st, err := state.ReadOnly(w.state).Load()
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]string{}
	for k, u := range st.Units {
		if u.Job != nil { // the recorded data's blocked series has none
			jobs[k] = u.Job.ID
		}
	}
	return jobs
}

// finish ends every build with SUCCESS, runs trawl once more and checks
// that every patch carries the success, and that no build was added.
func (w *jenkinsWorld) finish(t *testing.T) {
	t.Helper()
	for _, b := range w.jk.Builds() {
		if err := w.jk.Finish(b.Number, jenkinsfake.Success); err != nil {
			t.Fatal(err)
		}
	}
	w.once(t)
	success := 0
	for id := int64(1); id <= 60; id++ {
		for _, c := range w.pw.Checks(id) {
			if c.Context == "jenkins" && c.State == "success" {
				success++
			}
		}
	}
	if success != patches || w.jk.Items() != units {
		t.Fatalf("%d success checks, %d queue items; want %d and %d", success, w.jk.Items(), patches, units)
	}
}

// TestJenkinsExampleRuns: the example builds every series on the job, the
// state keeps each build (queue_wait), and the builds' results come back
// as Patchwork checks.
func TestJenkinsExampleRuns(t *testing.T) {
	w := newJenkinsWorld(t, nil)
	w.once(t)
	if len(w.jk.Builds()) != units || w.jk.Items() != units {
		t.Fatalf("%d builds from %d queue items, want %d", len(w.jk.Builds()), w.jk.Items(), units)
	}
	jobs := w.jobs(t)
	for k, id := range jobs {
		if !strings.HasPrefix(id, w.jkURL+"/job/kernel/job/check-series/") {
			t.Errorf("unit %s: job %s, want the build (queue_wait)", k, id)
		}
	}
	if len(jobs) != units {
		t.Fatalf("%d jobs in the state, want %d", len(jobs), units)
	}
	w.finish(t)
}

// TestJenkinsKilledBetweenTriggerAndStateWrite: trawl is killed (SIGKILL)
// after Jenkins queued its first builds and before it heard back, so
// before any state write; the next trawl adopts those builds instead of
// starting them again: one build per series.
func TestJenkinsKilledBetweenTriggerAndStateWrite(t *testing.T) {
	posted := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	w := newJenkinsWorld(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/buildWithParameters") {
				next.ServeHTTP(rw, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r) // the build is queued...
			once.Do(func() { close(posted) })
			<-release // ...and trawl is killed before it hears back
			for k, v := range rec.Header() {
				rw.Header()[k] = v
			}
			rw.WriteHeader(rec.Code)
		})
	})
	killAfter(t, &world{config: w.config}, posted)
	close(release)
	before := w.jk.Items()
	if before < 1 || before > 4 {
		t.Fatalf("%d builds queued before the kill, want 1 to 4 (trigger_concurrency)", before)
	}
	if _, err := os.Stat(w.state); err == nil && len(w.jobs(t)) > 0 {
		t.Fatal("the killed trawl wrote a job to the state")
	}

	w.once(t)
	if w.jk.Items() != units {
		t.Fatalf("%d queue items after the restart (%d before it), want %d: one per series", w.jk.Items(), before, units)
	}
	if len(w.jobs(t)) != units {
		t.Fatalf("%d jobs in the state, want %d", len(w.jobs(t)), units)
	}
	w.finish(t)
	t.Logf("killed after %d of %d triggers reached Jenkins; after the restart: %d queue items, %d builds", before, units, w.jk.Items(), len(w.jk.Builds()))
}
