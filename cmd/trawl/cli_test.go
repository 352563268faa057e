package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// world is a recorded Patchwork and a KernelCI, on loopback, with a
// configuration pointing at them.
type world struct {
	pw     *pwfake.Fake
	kci    *kcifake.Fake
	config string
	state  string
}

func newWorld(t testing.TB) *world { return newWorldWith(t, worldOpts{}) }

// worldOpts varies a world: wrappers around the KernelCI pipeline and the
// Patchwork handlers, and whether trawl posts checks.
type worldOpts struct {
	wrapPipeline, wrapPatchwork func(http.Handler) http.Handler
	checks                      bool
}

func newWorldWith(t testing.TB, o worldOpts) *world {
	t.Helper()
	wrapPipeline := o.wrapPipeline
	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pwh http.Handler = pw
	if o.wrapPatchwork != nil {
		pwh = o.wrapPatchwork(pw)
	}
	pwSrv := httptest.NewServer(pwh)
	t.Cleanup(pwSrv.Close)
	kci := kcifake.New(kcifake.Options{Secret: []byte("test-secret")})
	api := httptest.NewServer(kci.APIHandler())
	t.Cleanup(api.Close)
	var ph http.Handler = kci.PipelineHandler()
	if wrapPipeline != nil {
		ph = wrapPipeline(ph)
	}
	pipe := httptest.NewServer(ph)
	t.Cleanup(pipe.Close)
	const url = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	kci.AddCheckout("net-next", url, "main", strings.Repeat("ab", 20))

	dir := t.TempDir()
	token := filepath.Join(dir, "kci.jwt")
	if err := os.WriteFile(token, []byte(kci.Token("ci@example.org", "patchset")), 0o600); err != nil {
		t.Fatal(err)
	}
	report := ""
	if o.checks {
		if err := os.WriteFile(filepath.Join(dir, "pw.token"), []byte(pwfake.BotToken), 0o600); err != nil {
			t.Fatal(err)
		}
		report = "      token_file: pw.token\n    report:\n      context: kernelci\n"
	}
	cfg := fmt.Sprintf(`state_dir: state
http:
  retries: 0
log:
  level: error
targets:
  - name: kernelci
    type: kernelci
    kernelci:
      api_url: %s
      pipeline_url: %s
      token_file: kci.jwt
      patch_domains: [127.0.0.1]
sources:
  - name: netdev
    type: patchwork
    targets: [kernelci]
    base: {tree: net-next, url: %s, branch: main}
    patchwork:
      url: %s
      project: netdev
      lookback: 10000d
%s`, api.URL, pipe.URL, url, pwSrv.URL, report)
	path := filepath.Join(dir, "trawl.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &world{pw: pw, kci: kci, config: path, state: filepath.Join(dir, "state", "state.json")}
}

func trawl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "usage: trawl"},
		{[]string{"nosuch"}, exitUsage, `unknown command "nosuch"`},
		{[]string{"once", "-bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"once", "-c", "x.yaml", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"version"}, exitOK, "trawl "},
		{[]string{"help"}, exitOK, "commands:"},
		{[]string{"validate", "-c", "../../examples/patchwork-kernelci.yaml", "--offline"}, exitConfig, "token_env: environment variable KCI_TOKEN is unset or empty"},
		{[]string{"validate", "-c", "/nonexistent/trawl.yaml"}, exitConfig, "/nonexistent/trawl.yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := trawl(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.out) {
				t.Fatalf("exit %d, output %q %q; want exit %d containing %q", code, out, errs, tc.code, tc.out)
			}
		})
	}
}

func TestInvalidConfigNamesFileLineAndKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("state_dir: x\nsurprise: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := trawl(t, "once", "-c", path)
	if code != exitConfig || !strings.Contains(errs, path+":2: surprise") {
		t.Fatalf("exit %d, stderr %q; want %d naming %s:2: surprise", code, errs, exitConfig, path)
	}
}

func TestOnceTwiceTriggersEachUnitOnce(t *testing.T) {
	w := newWorld(t)
	code, out, errs := trawl(t, "once", "-c", w.config)
	if code != exitOK {
		t.Fatalf("first once: exit %d\n%s\n%s", code, out, errs)
	}
	first := w.kci.Submissions()
	if first != 6 || !strings.Contains(out, "triggered 6") {
		t.Fatalf("first once submitted %d patchsets, want 6:\n%s", first, out)
	}
	code, out, _ = trawl(t, "once", "-c", w.config)
	if code != exitOK || w.kci.Submissions() != first || !strings.Contains(out, "triggered 0") || !strings.Contains(out, "unchanged 6") {
		t.Fatalf("second once: exit %d, submissions %d (want %d):\n%s", code, w.kci.Submissions(), first, out)
	}
}

func TestPlanTriggersAndWritesNothing(t *testing.T) {
	w := newWorld(t)
	code, out, errs := trawl(t, "plan", "-c", w.config)
	if code != exitOK || !strings.Contains(out, "would trigger 6") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errs)
	}
	if w.kci.Submissions() != 0 {
		t.Fatalf("plan submitted %d patchsets", w.kci.Submissions())
	}
	if _, err := os.Stat(w.state); !os.IsNotExist(err) {
		t.Fatalf("plan wrote the state file (stat: %v)", err)
	}
}

// TestMain lets a test run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("TRAWL_TEST_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func TestKilledBetweenTriggerAndStateWriteMakesNoDuplicate(t *testing.T) {
	accepted := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	w := newWorldWith(t, worldOpts{wrapPipeline: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(rw, r) // the patchset node is created...
			once.Do(func() { close(accepted) })
			<-release // ...and trawl never hears back: it is killed first
		})
	}})
	killAfter(t, w, accepted)
	close(release)
	submitted := w.kci.Submissions()
	if submitted == 0 {
		t.Fatal("no submission before the kill")
	}

	code, out, errs := trawl(t, "once", "-c", w.config)
	if code != exitOK {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
	}
	if got := w.kci.Submissions(); got != 6 {
		t.Fatalf("after the restart KernelCI holds %d submissions, want exactly 6 (one per unit)\n%s", got, out)
	}
	seen := map[string]bool{}
	for _, n := range w.kci.Patchsets() {
		key := fmt.Sprint(n.Artifacts)
		if seen[key] {
			t.Fatalf("duplicate patchset %v", n.Artifacts)
		}
		seen[key] = true
	}
	// Requests the child sent just before the kill may still reach the
	// pipeline after it: how many jobs exist then varies, but each unit
	// has exactly one, and the restart adopted what it found.
	var triggered, adopted int
	if _, err := fmt.Sscanf(out[strings.Index(out, "units: triggered"):], "units: triggered %d, adopted %d", &triggered, &adopted); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if adopted < 1 || triggered+adopted != 6 {
		t.Fatalf("restart triggered %d and adopted %d, want the killed run's jobs adopted and the rest triggered:\n%s", triggered, adopted, out)
	}
}

func TestFailedSourceIsUnknownNotGone(t *testing.T) {
	w := newWorld(t)
	if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("once: %d\n%s%s", code, out, errs)
	}
	w.pw.FailPath("/api/1.3/patches/", 502)
	code, out, _ := trawl(t, "once", "-c", w.config)
	if code != exitCycle || !strings.Contains(out, "source netdev unknown this cycle") || !strings.Contains(out, "502") {
		t.Fatalf("once with a failing source: exit %d\n%s", code, out)
	}
	store := state.ReadOnly(w.state)
	st, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	for k, u := range st.Units {
		if u.GoneSince != nil {
			t.Fatalf("unit %s marked gone after a failed fetch", k)
		}
	}
	if len(st.Units) != 7 {
		t.Fatalf("state has %d units, want the 7 of the first cycle kept", len(st.Units))
	}
}

func TestStateLockedByAnotherTrawl(t *testing.T) {
	w := newWorld(t)
	holder, err := state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	code, _, errs := trawl(t, "once", "-c", w.config)
	if code != exitRuntime || !strings.Contains(errs, "in use by another trawl") {
		t.Fatalf("exit %d, stderr %q; want %d and the lock named", code, errs, exitRuntime)
	}
	if w.kci.Submissions() != 0 {
		t.Fatal("triggered while the state was locked")
	}
	// plan reads beside the lock holder.
	if code, out, errs := trawl(t, "plan", "-c", w.config); code != exitOK {
		t.Fatalf("plan beside a running trawl: exit %d\n%s%s", code, out, errs)
	}
}

func TestRunServesMetricsAndStopsGracefully(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.config, append([]byte("listen: "+addr+"\n"), cfg...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "-c", w.config}, &out, &errb) }()

	deadline := time.Now().Add(30 * time.Second)
	for w.kci.Submissions() < 6 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the daemon's first cycle submitted %d patchsets, want 6\n%s", w.kci.Submissions(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	body := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := body("/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	if m := body("/metrics"); !strings.Contains(m, `trawl_http_requests_total{client="kernelci-api kernelci",outcome="network"}`) {
		t.Errorf("/metrics lacks the request counters:\n%s", m)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run exited %d\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop after the signal")
	}
	if w.kci.Submissions() != 6 {
		t.Fatalf("submissions = %d after stop, want 6", w.kci.Submissions())
	}
}

func TestStatusShowsUnitsBesideARunningTrawl(t *testing.T) {
	w := newWorld(t)
	if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("once: %d\n%s%s", code, out, errs)
	}
	holder, err := state.Open(w.state) // a daemon holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	code, out, errs := trawl(t, "status", "-c", w.config)
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s", code, errs)
	}
	for _, want := range []string{"/series/1@kernelci", "status     triggered", "triggered  ", "on kernelci, job ", "status     blocked: git pull request without a diff", "7 units, 0 reports queued"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

// killAfter runs `trawl once` on w in a child process and kills it with
// SIGKILL as soon as happened is closed.
func killAfter(t *testing.T, w *world, happened chan struct{}) {
	t.Helper()
	child := exec.Command(os.Args[0], "once", "-c", w.config)
	child.Env = append(os.Environ(), "TRAWL_TEST_RUN_MAIN=1")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-happened:
	case <-time.After(30 * time.Second):
		_ = child.Process.Kill()
		t.Fatal("the child trawl never got that far")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
}

func TestKilledInTheMiddleOfReportingLosesNoCheckAndDuplicatesNone(t *testing.T) {
	posted := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	w := newWorldWith(t, worldOpts{checks: true, wrapPatchwork: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(rw, r)
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/checks/") {
				once.Do(func() { close(posted) }) // the first check is stored...
				<-release                         // ...and trawl is killed before it hears back
			}
		})
	}})
	killAfter(t, w, posted)
	close(release)
	// Reports are posted several at a time: each post in flight was
	// stored, and none was heard back.
	if n := w.pw.PostCount(); n < 1 || n > 8 {
		t.Fatalf("%d checks posted before the kill, want 1 to 8 (the posts in flight)", n)
	}

	code, out, errs := trawl(t, "once", "-c", w.config)
	if code != exitOK {
		t.Fatalf("restart: exit %d\n%s\n%s", code, out, errs)
	}
	// Every patch of the six triggered series (15 patches) carries exactly
	// one pending check of ours: none lost, none twice.
	ours := map[int64]int{}
	for id := int64(1); id <= 30; id++ {
		for _, c := range w.pw.Checks(id) {
			if c.Context == "kernelci" {
				ours[id]++
				if c.State != "pending" || !strings.Contains(c.Description, "[trawl ") {
					t.Errorf("patch %d: check %+v", id, c)
				}
			}
		}
	}
	total := 0
	for id, n := range ours {
		if n != 1 {
			t.Errorf("patch %d has %d pending checks, want 1", id, n)
		}
		total += n
	}
	if total != 15 {
		t.Fatalf("%d patches carry our check, want the 15 patches of the 6 triggered series", total)
	}
	if w.kci.Submissions() != 6 {
		t.Fatalf("submissions = %d, want 6 (the killed run's jobs adopted)", w.kci.Submissions())
	}
}
