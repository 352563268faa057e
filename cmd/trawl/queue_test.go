package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestMaxRunningBoundsExecBuilds runs `trawl once` as cron would, against
// the recorded Patchwork (6 units) and a GitHub holding many pull requests,
// with an exec target of max_running 8. Each build records itself in a
// directory of running builds and counts it when it starts: never more than
// 8 run at once, the first tick starts 8 and queues the rest, and later
// ticks start the queue as builds end, until every unit is built exactly
// once and reported. TRAWL_QUEUE_PRS sets the number of pull requests
// (default 18) to measure a larger first tick.
func TestMaxRunningBoundsExecBuilds(t *testing.T) {
	const maxRunning = 8
	prCount := 18
	if s := os.Getenv("TRAWL_QUEUE_PRS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("TRAWL_QUEUE_PRS: %v", err)
		}
		prCount = n
	}
	total := units + prCount
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	t.Cleanup(pwSrv.Close)
	gh := ghfake.New(ghfake.Options{Tokens: []string{"ghp_test"}})
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	for i := range prCount {
		gh.AddPR("rock-core/base-types", ghfake.PR{Title: fmt.Sprintf("PR %d", i), HeadRef: fmt.Sprintf("topic-%d", i),
			HeadSHA: fmt.Sprintf("%040x", i+1), BaseSHA: strings.Repeat("d", 40)})
	}
	write("pw.token", pwfake.BotToken, 0o600)
	write("gh.token", "ghp_test", 0o600)

	running := filepath.Join(dir, "running")
	if err := os.Mkdir(running, 0o700); err != nil {
		t.Fatal(err)
	}
	counts, runs, gate := filepath.Join(dir, "counts"), filepath.Join(dir, "runs"), filepath.Join(dir, "gate")
	// A build marks itself running, then counts the running builds: the
	// count taken by the last of builds running together sees them all.
	// It ends when the test opens the gate.
	script := write("ci.sh", fmt.Sprintf(`#!/bin/sh
touch %[1]s/$TRAWL_JOB
ls %[1]s | wc -l >> %[2]s
echo "$TRAWL_UNIT" >> %[3]s
while [ ! -e %[4]s ]; do sleep 0.02; done
rm -f %[1]s/$TRAWL_JOB
echo built
`, running, counts, runs, gate), 0o755)
	config := write("trawl.yaml", fmt.Sprintf(`state_dir: state
http: {retries: 0}
log: {level: error}
targets:
  - name: ci
    type: exec
    max_running: %d
    exec: {command: [%s], timeout: 1m}
sources:
  - name: netdev
    type: patchwork
    targets: [ci]
    base: {tree: net-next, url: %s, branch: main}
    patchwork: {url: %s, project: netdev, lookback: 10000d, token_file: pw.token}
    report: {context: ci}
  - name: gh
    type: github
    targets: [ci]
    github: {repo: rock-core/base-types, api_url: %s, host: ghe.test, token_file: gh.token}
    report: {context: ci}
`, maxRunning, script, bareRepo(t, dir), pwSrv.URL, ghSrv.URL), 0o600)
	statePath := filepath.Join(dir, "state", "state.json")

	lines := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	// settle lets every build started end, and waits until its supervisor
	// has recorded the outcome.
	settle := func() {
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(gate)
		deadline := time.Now().Add(30 * time.Second)
		for {
			left, _ := os.ReadDir(running)
			records, _ := filepath.Glob(filepath.Join(dir, "state", "exec", "ci", "*.json"))
			done := 0
			for _, rec := range records {
				if b, _ := os.ReadFile(rec); strings.Contains(string(b), `"done": true`) {
					done++
				}
			}
			if len(left) == 0 && done == len(records) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("builds still running after 30s: %d running, %d of %d records done", len(left), done, len(records))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	for tick := 1; ; tick++ {
		if tick > total/maxRunning+3 {
			t.Fatalf("not every unit built after %d ticks", tick-1)
		}
		start := time.Now()
		code, out, errs := trawl(t, "once", "-c", config)
		took := time.Since(start)
		if code != exitOK {
			t.Fatalf("tick %d: exit %d\n%s\n%s", tick, code, out, errs)
		}
		summary := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
		t.Logf("tick %d (%s): %s", tick, took.Round(time.Millisecond), strings.TrimSpace(summary))
		triggered, queued := strings.Count(out, "\ntriggered "), strings.Count(out, "\nqueued ")
		if triggered > maxRunning {
			t.Errorf("tick %d triggered %d units, more than max_running %d", tick, triggered, maxRunning)
		}
		if tick == 1 && (triggered != maxRunning || queued != total-maxRunning) {
			t.Errorf("first tick: triggered %d, queued %d; want %d and %d\n%s", triggered, queued, maxRunning, total-maxRunning, out)
		}
		if queued > 0 && !strings.Contains(out, fmt.Sprintf("queued %d (max_running)", queued)) {
			t.Errorf("tick %d: the summary does not count the %d queued units:\n%s", tick, queued, summary)
		}
		if tick == 1 {
			// While the first builds run, a tick starts nothing: the
			// running count comes from the jobs trawl follows.
			code, out, errs := trawl(t, "once", "-c", config)
			if code != exitOK {
				t.Fatalf("tick 1 again: exit %d\n%s\n%s", code, out, errs)
			}
			if n, q := strings.Count(out, "\ntriggered "), strings.Count(out, "\nqueued "); n != 0 || q != total-maxRunning {
				t.Errorf("tick while %d builds run: triggered %d, queued %d; want 0 and %d\n%s", maxRunning, n, q, total-maxRunning, out)
			}
		}
		settle()
		st, err := state.ReadOnly(statePath).Load()
		if err != nil {
			t.Fatal(err)
		}
		buildable := 0
		reported := 0
		for _, u := range st.Units {
			if u.Status == "blocked" {
				continue // one recorded series depends on one that is not there
			}
			buildable++
			if u.Result == nil || u.Result.State != targets.StateSuccess || len(u.Reports) == 0 {
				continue
			}
			ok := true
			for _, r := range u.Reports {
				ok = ok && r.State == targets.StateSuccess && r.Fingerprint == u.Fingerprint && r.Failed == ""
			}
			if ok {
				reported++
			}
		}
		if buildable != total {
			t.Fatalf("tick %d: %d buildable units in the state, want %d", tick, buildable, total)
		}
		if queued == 0 && triggered == 0 && reported == total {
			break
		}
	}

	peak := 0
	for _, c := range lines(counts) {
		n, err := strconv.Atoi(c)
		if err != nil {
			t.Fatalf("counts: %v", err)
		}
		peak = max(peak, n)
	}
	t.Logf("%d units, max_running %d: at most %d builds ran at once", total, maxRunning, peak)
	if peak != maxRunning {
		t.Errorf("%d builds ran at once, want max_running %d (the gate holds each tick's builds together)", peak, maxRunning)
	}
	built := lines(runs)
	slices.Sort(built)
	if len(built) != total || len(slices.Compact(built)) != total {
		t.Errorf("%d runs of %d distinct units, want each of the %d units built once", len(lines(runs)), len(built), total)
	}
}
