package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/buildbot/bbmaster"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins/jenkinsfake"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// The crash suite: the real trawl binary, killed with SIGKILL at random
// instants of `trawl once` (fetching, triggering, writing the state,
// posting checks) and started again, against a recorded Patchwork (and,
// beside exec and webhook, a GitHub with pull requests) and a fake of each
// target type that counts what it is asked. Whatever the instant, no
// trigger, check, commit status or ResultsDB result (the exec world's
// series also go to a ResultsDB) may be lost or duplicated. GitLab as a
// source is not in it; GitLab pipelines and GitHub workflow runs are, as
// targets (crash_forgeci_test.go).
//
// In CI it kills a few dozen times per target; TRAWL_TORTURE=1 (make
// torture) kills tortureKills times per target. TRAWL_TORTURE_SEED replays
// a run (the seed is logged).
const (
	ciKills       = 12
	tortureKills  = 250
	killsPerRound = 6
	// units is how many units the recorded Patchwork data makes buildable,
	// and patches how many patches they hold (each carries our check).
	units   = 6
	patches = 15
	// prs is how many pull requests the GitHub of the exec and webhook
	// worlds holds (KernelCI builds series only).
	prs = 3
)

// crashWorld is one target type's world: a recorded Patchwork that takes
// checks, the target's fake, and a configuration for the trawl binary.
type crashWorld struct {
	kind   string
	dir    string
	config string
	state  string
	pw     *pwfake.Fake
	gh     *ghfake.Fake  // exec, webhook: pull requests, commit statuses
	units  int           // how many units the world makes buildable
	kci    *kcifake.Fake // kernelci
	runs   string        // exec: each run appends "<job id> <unit>"
	// buildbot: the shared real master and this round's project on it
	bb         *bbmaster.Master
	bbProject  string
	bbAdvances int
	jk         *jenkinsfake.Fake
	gl         *glfake.Fake  // gitlab-pipeline: the CI project's pipelines
	rdb        *rdbfake.Fake // exec: the ResultsDB the series' results go to
	ghci       *ghfake.Fake  // github-workflow: the workflow's runs
	gate       triggerGate   // gitlab-pipeline, github-workflow: crash_forgeci_test.go

	mu         sync.Mutex
	deliveries map[string][]string // webhook: delivery id -> units, one per POST
}

func newCrashWorld(t *testing.T, kind string) *crashWorld {
	t.Helper()
	w := &crashWorld{kind: kind, dir: t.TempDir(), units: units, deliveries: map[string][]string{}}
	w.state = filepath.Join(w.dir, "state", "state.json")
	var err error
	if w.pw, err = pwfake.New(pwfake.Options{}); err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(w.pw)
	t.Cleanup(pwSrv.Close)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(w.dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("pw.token", pwfake.BotToken, 0o600)

	baseURL := "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	var target, reporters, pwReporters string
	switch kind {
	case "kernelci":
		w.kci = kcifake.New(kcifake.Options{Secret: []byte("test-secret")})
		api := httptest.NewServer(w.kci.APIHandler())
		t.Cleanup(api.Close)
		pipe := httptest.NewServer(w.kci.PipelineHandler())
		t.Cleanup(pipe.Close)
		w.kci.AddCheckout("net-next", baseURL, "main", strings.Repeat("ab", 20))
		write("kci.jwt", w.kci.Token("ci@example.org", "patchset"), 0o600)
		target = fmt.Sprintf("kernelci: {api_url: %s, pipeline_url: %s, token_file: kci.jwt, patch_domains: [127.0.0.1]}", api.URL, pipe.URL)
	case "exec":
		baseURL = bareRepo(t, w.dir)
		w.runs = filepath.Join(w.dir, "runs")
		// A build takes a little while, so that trawl is killed while
		// some run and others have finished.
		script := write("ci.sh", "#!/bin/sh\necho \"$TRAWL_JOB $TRAWL_UNIT\" >> "+w.runs+"\nsleep 0.2\necho built\n", 0o755)
		// Every unit runs at once: the suite is about kills, not the queue.
		target = fmt.Sprintf("max_running: %d\n    exec: {command: [%s], timeout: 1m}", units+prs, script)
		w.rdb = rdbfake.New(rdbfake.Options{})
		rdb := httptest.NewServer(w.rdb.Handler())
		t.Cleanup(rdb.Close)
		reporters = fmt.Sprintf("reporters:\n  - {name: rdb, type: resultsdb, resultsdb: {url: %s, testcase: trawl.ci}}\n", rdb.URL)
		pwReporters = ", reporters: [rdb]"
	case "webhook":
		baseURL = bareRepo(t, w.dir)
		hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			var body struct {
				Unit string `json:"unit"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
			w.mu.Lock()
			id := r.Header.Get("X-Trawl-Delivery")
			w.deliveries[id] = append(w.deliveries[id], body.Unit)
			w.mu.Unlock()
		}))
		t.Cleanup(hook.Close)
		write("hook.secret", "s3cret", 0o600)
		target = fmt.Sprintf("webhook: {url: %s, secret_file: hook.secret}", hook.URL)
	case "buildbot":
		baseURL = bareRepo(t, w.dir)
		target = w.buildbotTarget(t)
	case "jenkins":
		baseURL = bareRepo(t, w.dir)
		// Builds start at once, so that Jenkins' merge of queued requests
		// never hides a duplicate: only adoption prevents one.
		w.jk = jenkinsfake.New(jenkinsfake.Options{Parameters: jenkins.Parameters(), CSRF: true, CrumbForToken: true, StartAtOnce: true})
		jk := httptest.NewServer(w.jk)
		t.Cleanup(jk.Close)
		write("jenkins.token", jenkinsfake.DefaultToken, 0o600)
		// queue_wait 0s: the job reference stays the queue item, which
		// is read to find the build.
		target = fmt.Sprintf("max_running: %d\n    jenkins: {url: %s, job: %s, user: %s, token_file: jenkins.token, queue_wait: 0s}",
			units+prs, jk.URL, jenkinsfake.DefaultJob, jenkinsfake.DefaultUser)
	case "gitlab-pipeline", "github-workflow":
		baseURL = bareRepo(t, w.dir)
		target = w.forgeCITarget(t, kind)
	default:
		t.Fatalf("no crash world for %s", kind)
	}
	github := ""
	if kind != "kernelci" {
		w.gh = ghfake.New(ghfake.Options{Tokens: []string{"ghp_test"}})
		ghSrv := httptest.NewServer(w.gh)
		t.Cleanup(ghSrv.Close)
		for i := range prs {
			w.gh.AddPR("rock-core/base-types", ghfake.PR{Title: fmt.Sprintf("PR %d", i), HeadRef: fmt.Sprintf("topic-%d", i),
				HeadSHA: strings.Repeat(strconv.Itoa(i+1), 40), BaseSHA: strings.Repeat("d", 40)})
		}
		write("gh.token", "ghp_test", 0o600)
		w.units += prs
		github = fmt.Sprintf(`  - name: gh
    type: github
    targets: [ci]
    github: {repo: rock-core/base-types, api_url: %s, host: ghe.test, token_file: gh.token}
    report: {context: ci}
`, ghSrv.URL)
	}
	w.config = write("trawl.yaml", fmt.Sprintf(`state_dir: state
http: {retries: 0}
log: {level: error}
targets:
  - name: ci
    type: %s
    %s
sources:
  - name: netdev
    type: patchwork
    targets: [ci]
    base: {tree: net-next, url: %s, branch: main}
    patchwork: {url: %s, project: netdev, lookback: 10000d, token_file: pw.token}
    report: {context: ci%s}
%s%s`, kind, target, baseURL, pwSrv.URL, pwReporters, github, reporters), 0o600)
	return w
}

// advance moves the world on between two runs of trawl: KernelCI finishes
// some of the patchsets it holds (exec builds finish by themselves; a
// webhook's builds are never followed).
func (w *crashWorld) advance(t *testing.T, rng *rand.Rand) {
	if w.bb != nil {
		w.advanceBuildbot(t, rng)
	}
	if w.jk != nil {
		// Jenkins starts what is queued, and ends some running builds.
		for _, id := range w.jk.Queued() {
			if _, err := w.jk.Start(id); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range w.jk.Builds() {
			if b.Building && rng.IntN(2) == 0 {
				if err := w.jk.Finish(b.Number, jenkinsfake.Success); err != nil {
					t.Fatal(err)
				}
			}
		}
		return
	}
	w.advanceForgeCI(rng)
	if w.kci == nil {
		return
	}
	for _, n := range w.kci.Patchsets() {
		if n.State != "done" && rng.IntN(2) == 0 {
			if err := w.kci.Finish(n.ID, "pass"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// settled reports whether trawl has nothing left to do: every unit
// triggered, its final result known (a webhook's stays pending) and
// reported, and the outbox empty.
func (w *crashWorld) settled(t *testing.T) bool {
	st, err := state.ReadOnly(w.state).Load()
	if err != nil {
		t.Fatalf("state after a clean run: %v", err)
	}
	if len(st.Outbox) > 0 {
		return false
	}
	n := 0
	for _, u := range st.Units {
		if u.Job == nil {
			continue
		}
		n++
		rep := u.Reports["patchwork:netdev"]
		if u.Source == "gh" {
			rep = u.Reports["github:gh"]
		}
		if rep == nil || rep.Fingerprint != u.Fingerprint {
			return false
		}
		if w.kind != "webhook" && !rep.State.Conclusive() {
			return false
		}
		if rdb := u.Reports["rdb"]; w.rdb != nil && u.Source == "netdev" && (rdb == nil || rdb.Fingerprint != u.Fingerprint) {
			return false
		}
	}
	return n == w.units
}

// fpTag finds the short fingerprint at the end of a check description.
var fpTag = regexp.MustCompile(`\[trawl ([0-9a-f]+)\]$`)

// verify counts what the fakes received and returns every violation: a
// trigger or a check lost or duplicated, a result lost.
func (w *crashWorld) verify(t *testing.T) (triggers, redeliveries, checks int, violations []string) {
	bad := func(f string, a ...any) { violations = append(violations, fmt.Sprintf(f, a...)) }
	switch w.kind {
	case "kernelci":
		triggers = w.kci.Submissions()
		seen := map[string]bool{}
		for _, n := range w.kci.Patchsets() {
			key := fmt.Sprint(n.Artifacts)
			if seen[key] {
				bad("duplicate patchset %v", n.Artifacts)
			}
			seen[key] = true
		}
	case "exec":
		b, err := os.ReadFile(w.runs)
		if err != nil {
			t.Fatal(err)
		}
		perJob := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			job, _, _ := strings.Cut(line, " ")
			perJob[job]++
			triggers++
		}
		for job, n := range perJob {
			if n > 1 {
				bad("exec job %s ran %d times", job, n)
			}
		}
		triggers = len(perJob)
	case "jenkins":
		triggers = w.jk.Items()
		perUnit := map[string]int{}
		for _, b := range w.jk.Builds() {
			perUnit[b.Params[jenkins.ParamUnit]+" attempt "+b.Params[jenkins.ParamAttempt]]++
		}
		for u, n := range perUnit {
			if n > 1 {
				bad("jenkins: %d builds of %s", n, u)
			}
		}
	case "webhook":
		w.mu.Lock()
		for id, us := range w.deliveries {
			triggers++
			redeliveries += len(us) - 1
			if len(slices.Compact(slices.Sorted(slices.Values(us)))) != 1 {
				bad("delivery %s names several units %v", id, us)
			}
		}
		w.mu.Unlock()
	case "buildbot":
		triggers = w.verifyBuildbot(t, bad)
	case "gitlab-pipeline", "github-workflow":
		triggers = w.verifyForgeCI(t, bad)
	}
	if triggers != w.units {
		bad("%s: %d distinct jobs, want exactly %d (one per unit)", w.kind, triggers, w.units)
	}

	// Checks on Patchwork patches and commit statuses on GitHub heads,
	// by the item they are on and the fingerprint they are about.
	type posted struct{ item, state, description string }
	var all []posted
	for id := int64(1); id <= 60; id++ {
		for _, c := range w.pw.Checks(id) {
			if c.Context == "ci" {
				all = append(all, posted{fmt.Sprintf("patch %d", id), c.State, c.Description})
			}
		}
	}
	if w.gh != nil {
		for _, st := range w.gh.Statuses() {
			if st.Context == "ci" {
				all = append(all, posted{"commit " + st.SHA[:8], st.State, st.Description})
			}
		}
	}
	byItem := map[string]map[string][]string{}
	for _, p := range all {
		checks++
		m := fpTag.FindStringSubmatch(p.description)
		if m == nil {
			bad("%s: report without a fingerprint: %q", p.item, p.description)
			continue
		}
		if strings.Contains(p.description, "interrupted") {
			bad("%s: result lost: %q", p.item, p.description)
		}
		if byItem[p.item] == nil {
			byItem[p.item] = map[string][]string{}
		}
		byItem[p.item][m[1]] = append(byItem[p.item][m[1]], p.state)
	}
	withChecks := 0
	for item, byFP := range byItem {
		withChecks++
		if len(byFP) > 1 {
			bad("%s: reports of %d fingerprints in one world", item, len(byFP))
		}
		for fp, states := range byFP {
			// At most one pending, then exactly one conclusive state
			// (whatever the fake's result words as); a webhook's
			// builds are never followed, so exactly one pending.
			ok := slices.Equal(states, []string{"pending"})
			if w.kind != "webhook" {
				last := states[len(states)-1]
				ok = last != "pending" && (len(states) == 1 || len(states) == 2 && states[0] == "pending")
			}
			if !ok {
				bad("%s, fingerprint %s: reports %v, want one pending at most, then one final state", item, fp, states)
			}
		}
	}
	want := patches
	if w.gh != nil {
		want += prs
	}
	if withChecks != want {
		bad("%d patches and commits carry our reports, want %d", withChecks, want)
	}
	if w.rdb != nil {
		checks += w.verifyResultsDB(bad)
	}
	return triggers, redeliveries, checks, violations
}

// verifyResultsDB checks that every series unit has exactly one result
// in ResultsDB, for its fingerprint, and returns how many it holds.
func (w *crashWorld) verifyResultsDB(bad func(string, ...any)) int {
	results := w.rdb.Results()
	perUnit := map[string]int{}
	for _, r := range results {
		unit, fp := r.Data["unit"], r.Data["fingerprint"]
		if len(unit) != 1 || len(fp) != 1 {
			bad("resultsdb: result %d without one unit and one fingerprint: %v", r.ID, r.Data)
			continue
		}
		perUnit[unit[0]+" "+fp[0]]++
	}
	for u, n := range perUnit {
		if n > 1 {
			bad("resultsdb: %d results for %s", n, u)
		}
	}
	if want := w.units - w.prs(); len(perUnit) != want {
		bad("resultsdb: results for %d units, want %d (one per series)", len(perUnit), want)
	}
	return len(results)
}

// prs is how many of the world's units are pull requests.
func (w *crashWorld) prs() int {
	if w.gh == nil {
		return 0
	}
	return prs
}

// tally is what a crash run did, per target type.
type tally struct {
	rounds, kills, completed, restarts, triggers, redeliveries, checks int
	violations                                                         []string
}

// runOnce runs `trawl once` and kills it with SIGKILL after delay, unless
// it ends first. It reports whether it was killed and how long it ran.
func runOnce(t *testing.T, bin, config string, delay time.Duration) (killed bool, took time.Duration) {
	t.Helper()
	child := exec.Command(bin, "once", "-c", config)
	child.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	start := time.Now()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	ended := func(err error) (bool, time.Duration) {
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == exitCycle) {
			t.Fatalf("trawl once: %v\n%s", err, out.String())
		}
		return false, time.Since(start)
	}
	select {
	case err := <-done:
		return ended(err)
	case <-time.After(delay):
	}
	if err := child.Process.Signal(syscall.SIGKILL); errors.Is(err, os.ErrProcessDone) {
		return ended(<-done) // it ended just before the kill
	} else if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a killed trawl never ended")
	}
	return true, time.Since(start)
}

// crash runs rounds of killed and restarted `trawl once` on fresh worlds of
// one target type until kills kills were made.
func crash(t *testing.T, bin, kind string, kills int, rng *rand.Rand) tally {
	var tl tally
	// Kill instants are drawn over the length of a whole run, learnt from
	// the runs that end by themselves.
	span := 400 * time.Millisecond
	for tl.kills < kills {
		tl.rounds++
		w := newCrashWorld(t, kind)
		for range killsPerRound {
			killed, took := runOnce(t, bin, w.config, time.Duration(rng.Int64N(int64(span))))
			if killed {
				tl.kills++
				tl.restarts++
			} else {
				tl.completed++
				span = max(span*3/4+took*3/2/4, 50*time.Millisecond)
			}
			w.advance(t, rng)
		}
		// Then trawl runs undisturbed until the world has settled.
		for i := 0; ; i++ {
			if i == 40 {
				t.Fatalf("%s round %d never settled", kind, tl.rounds)
			}
			runOnce(t, bin, w.config, time.Minute)
			tl.completed++
			if w.settled(t) {
				break
			}
			w.advance(t, rng)
			time.Sleep(50 * time.Millisecond)
		}
		trig, redel, checks, bad := w.verify(t)
		tl.triggers += trig
		tl.redeliveries += redel
		tl.checks += checks
		for _, v := range bad {
			tl.violations = append(tl.violations, fmt.Sprintf("round %d: %s", tl.rounds, v))
		}
	}
	return tl
}

// buildTrawl builds the real binary into a temporary directory.
func buildTrawl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trawl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTortureKillAndRestart is the crash suite (see the top of the file).
// Run it in full with `make torture`.
func TestTortureKillAndRestart(t *testing.T) {
	kills := ciKills
	if os.Getenv("TRAWL_TORTURE") == "1" {
		kills = tortureKills
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TRAWL_TORTURE_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TRAWL_TORTURE_SEED: %v", err)
		}
	}
	t.Logf("seed %d (TRAWL_TORTURE_SEED replays it)", seed)
	bin := buildTrawl(t)
	kinds := []string{"kernelci", "exec", "webhook", "buildbot", "jenkins", "gitlab-pipeline", "github-workflow"}
	results := map[string]tally{}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(len(kind))))
			tl := crash(t, bin, kind, kills, rng)
			results[kind] = tl
			t.Logf("%s: %d rounds, %d kills, %d restarts, %d runs ended by themselves; %d distinct jobs (%d redelivered), %d checks; violations: %d",
				kind, tl.rounds, tl.kills, tl.restarts, tl.completed, tl.triggers, tl.redeliveries, tl.checks, len(tl.violations))
			sort.Strings(tl.violations)
			for _, v := range tl.violations {
				t.Error(v)
			}
		})
	}
	var total tally
	for _, tl := range results {
		total.kills += tl.kills
		total.violations = append(total.violations, tl.violations...)
	}
	t.Logf("total: %d kills and restarts, violations: %d", total.kills, len(total.violations))
}

// TestExecBuildFinishedWhileTrawlWasKilled: trawl is killed (SIGKILL)
// while its exec builds run; they finish while no trawl runs; the next
// trawl reads and reports every outcome, none "interrupted, result lost",
// and runs nothing again.
func TestExecBuildFinishedWhileTrawlWasKilled(t *testing.T) {
	w := newCrashWorld(t, "exec")
	gate := filepath.Join(w.dir, "go")
	script := "#!/bin/sh\necho \"$TRAWL_JOB $TRAWL_UNIT\" >> " + w.runs + "\nwhile [ ! -e " + gate + " ]; do sleep 0.02; done\necho built\n"
	if err := os.WriteFile(filepath.Join(w.dir, "ci.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		defer close(started)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if b, _ := os.ReadFile(w.runs); strings.Count(string(b), "\n") == w.units {
				return
			}
		}
	}()
	killAfter(t, &world{config: w.config}, started)

	// trawl is down: the builds finish.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	records, _ := filepath.Glob(filepath.Join(w.dir, "state", "exec", "ci", "*.json"))
	if len(records) != w.units {
		t.Fatalf("%d job records, want %d", len(records), w.units)
	}
	for _, rec := range records {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b, _ := os.ReadFile(rec); strings.Contains(string(b), `"done": true`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("build %s never finished", rec)
			}
		}
	}

	code, out, errs := trawl(t, "once", "-c", w.config)
	if code != exitOK {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
	}
	for id := int64(1); id <= 60; id++ {
		for _, c := range w.pw.Checks(id) {
			if c.Context == "ci" && c.State != "pending" && c.State != "success" {
				t.Errorf("patch %d: check %s %q; want the build's success", id, c.State, c.Description)
			}
		}
	}
	_, _, _, bad := w.verify(t)
	for _, v := range bad {
		t.Error(v)
	}
}
