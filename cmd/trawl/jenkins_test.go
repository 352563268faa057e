package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins/jenkinsfake"
)

// TestJenkinsExampleRuns runs examples/patchwork-jenkins.yaml as written,
// but for its addresses (the recorded Patchwork, a fake Jenkins with CSRF
// protection on, a local base repository) and the recorded data's age:
// every series is built on the job, the state keeps each build, and the
// builds' results come back as Patchwork checks.
func TestJenkinsExampleRuns(t *testing.T) {
	example, err := os.ReadFile(examples + "patchwork-jenkins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	t.Cleanup(pwSrv.Close)
	jk := jenkinsfake.New(jenkinsfake.Options{User: "trawl-bot", Job: "kernel/check-series", Parameters: jenkins.Parameters(), CSRF: true, StartAtOnce: true})
	jkSrv := httptest.NewServer(jk)
	t.Cleanup(jkSrv.Close)

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
	path := filepath.Join(dir, "trawl.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JENKINS_TOKEN", jenkinsfake.DefaultToken)
	t.Setenv("PATCHWORK_TOKEN", pwfake.BotToken)

	if code, out, errs := trawl(t, "once", "-c", path); code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out, errs)
	}
	builds := jk.Builds()
	if len(builds) != units || jk.Items() != units {
		t.Fatalf("%d builds from %d queue items, want %d", len(builds), jk.Items(), units)
	}
	st, err := state.ReadOnly(filepath.Join(dir, "trawl-state", "state.json")).Load()
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	for k, u := range st.Units {
		if u.Job == nil {
			continue // the recorded data's one blocked series
		}
		jobs++
		if !strings.HasPrefix(u.Job.ID, jkSrv.URL+"/job/kernel/job/check-series/") {
			t.Errorf("unit %s: job %s, want the build (queue_wait)", k, u.Job.ID)
		}
	}
	if jobs != units {
		t.Fatalf("%d jobs in the state, want %d", jobs, units)
	}
	for _, b := range builds {
		if err := jk.Finish(b.Number, jenkinsfake.Success); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := trawl(t, "once", "-c", path); code != exitOK {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errs)
	}
	success := 0
	for id := int64(1); id <= 60; id++ {
		for _, c := range pw.Checks(id) {
			if c.Context == "jenkins" && c.State == "success" {
				success++
			}
		}
	}
	if success != patches || jk.Items() != units {
		t.Fatalf("%d success checks, %d queue items; want %d and %d", success, jk.Items(), patches, units)
	}
}
