// Package demo runs trawl's main job on an embedded default: an in-process
// Patchwork serving the responses recorded from a real Patchwork 3.1.3
// server, and an in-process KernelCI API and pipeline. It needs no network,
// no configuration and no setup, and narrates a few ticks:
//
//  1. the recorded netdev project: every complete, actionable series
//     triggers once, and a pending check goes on each of its patches;
//  2. KernelCI has built and tested them: the results go on the patches as
//     checks (a lab timeout is a warning, not a failure);
//  3. nothing changed: nothing triggers and nothing is posted again;
//  4. the v3 cover letter and first patch of "A sample series" arrive: an
//     incomplete series is not buildable, nothing triggers;
//  5. v3 is complete: it alone triggers, and v2 is gone (superseded);
//  6. a series with Depends-on tags arrives: it triggers with its
//     dependencies' patches applied first;
//  7. the state file is deleted: the next tick adopts the jobs KernelCI
//     already has, and finds the checks already posted, instead of
//     submitting or posting them again.
//
// Between ticks the demo plays KernelCI's pipeline: it applies each new
// patchset, builds it and runs a test on it.
//
// Everything runs through the same wiring as `trawl once`: configuration
// loading, the cached HTTP stack, the Patchwork source, the KernelCI target
// and the cycle.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/setup"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// Options configures Run.
type Options struct {
	// Out receives the narration.
	Out io.Writer
	// Log receives trawl's own log lines when Verbose is set.
	Log     io.Writer
	Verbose bool
	Version string
	// Dir, when set, holds the demo's configuration and state; otherwise a
	// temporary directory is used and removed at the end.
	Dir string
}

// The base every demo series applies on: the tree the recorded netdev
// project names.
const (
	baseTree   = "net-next"
	baseURL    = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	baseBranch = "main"
	baseCommit = "8bcf2a45e1a4e4d5c9a3e9dd6a4f0b2c7d1e3f50"
)

const configTemplate = `# The demo's configuration: the same keys as a real one (see README.md).
state_dir: %s
cycle_timeout: 2m
log:
  level: %s
targets:
  - name: kernelci
    type: kernelci
    kernelci:
      api_url: %s
      pipeline_url: %s
      token_file: %s
      # The recorded Patchwork is served on loopback.
      patch_domains: [127.0.0.1]
sources:
  - name: netdev
    type: patchwork
    schedule: "@every 5m"
    targets: [kernelci]
    base:
      tree: ` + baseTree + `
      url: ` + baseURL + `
      branch: ` + baseBranch + `
      policy: pinned
    patchwork:
      url: %s
      project: netdev
      # The recorded mails date from 2016 to 2026: look back far enough.
      lookback: 10000d
      # ci-bot, a maintainer of the project: it may post checks.
      token_file: %s
    report:
      context: kernelci
`

// step is one narrated tick.
type step struct {
	title string
	phase pwfake.Phase
	// before runs before the tick (e.g. deleting the state file).
	before func(dir string) error
}

// Tick is what one narrated tick did.
type Tick struct {
	Title  string
	Report *cycle.Report
	// Submissions is the number of patchsets KernelCI received this tick.
	Submissions int
	// Checks describes the Patchwork checks posted this tick ("15 pending").
	Checks string
}

// Run runs the demo until it ends or ctx is cancelled, and returns what
// each tick did.
func Run(ctx context.Context, o Options) ([]Tick, error) {
	var ticks []Tick
	err := run(ctx, o, func(t Tick) { ticks = append(ticks, t) })
	return ticks, err
}

func run(ctx context.Context, o Options, record func(Tick)) error {
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trawl-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	pw, err := pwfake.New(pwfake.Options{Phase: pwfake.Phase1})
	if err != nil {
		return err
	}
	pwURL, stopPW, err := serve(ctx, pw)
	if err != nil {
		return err
	}
	defer stopPW()

	kci := kcifake.New(kcifake.Options{Secret: []byte("demo-secret-not-for-production"), AllowedDomains: []string{"127.0.0.1"}})
	apiURL, stopAPI, err := serve(ctx, kci.APIHandler())
	if err != nil {
		return err
	}
	defer stopAPI()
	pipeURL, stopPipe, err := serve(ctx, kci.PipelineHandler())
	if err != nil {
		return err
	}
	defer stopPipe()
	kci.AddCheckout(baseTree, baseURL, baseBranch, baseCommit)

	tokenFile := filepath.Join(dir, "kernelci.jwt")
	if err := os.WriteFile(tokenFile, []byte(kci.Token("demo@trawl.example", "patchset")+"\n"), 0o600); err != nil {
		return err
	}
	pwToken := filepath.Join(dir, "patchwork.token")
	if err := os.WriteFile(pwToken, []byte(pwfake.BotToken+"\n"), 0o600); err != nil {
		return err
	}
	level := "error"
	if o.Verbose {
		level = "info"
	}
	cfgPath := filepath.Join(dir, "trawl.yaml")
	cfgText := fmt.Sprintf(configTemplate, filepath.Join(dir, "state"), level, apiURL, pipeURL, tokenFile, pwURL, pwToken)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := config.LoadFile(cfgPath)
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	logOut := o.Log
	if logOut == nil {
		logOut = io.Discard
	}
	log, err := setup.NewLogger(cfg.Log, logOut)
	if err != nil {
		return err
	}
	app, err := setup.New(cfg, setup.Options{Version: o.Version, Logger: log})
	if err != nil {
		return err
	}
	defer app.Close()

	w := &narrator{w: o.Out}
	w.printf("trawl demo: an in-process Patchwork serving responses recorded from a real Patchwork 3.1.3\n")
	w.printf("(project netdev) and an in-process KernelCI API and pipeline. Nothing leaves this machine.\n\n")
	w.printf("  Patchwork  %s\n  KernelCI   %s (API), %s (pipeline)\n  base       %s %s at %s\n  config     %s\n\n",
		pwURL, apiURL, pipeURL, baseURL, baseBranch, baseCommit[:12], cfgPath)

	steps := []step{
		{title: "the recorded netdev project: every complete, actionable series triggers; pending checks go on its patches", phase: pwfake.Phase1},
		{title: "KernelCI has built and tested them: the results go on every patch as checks", phase: pwfake.Phase1},
		{title: "nothing changed: nothing triggers, nothing is posted again, and the tick is cheap", phase: pwfake.Phase1},
		{title: "the v3 cover letter and first patch of \"A sample series\" arrive: incomplete, not buildable yet", phase: pwfake.P2OnePatch},
		{title: "v3 is complete: only it triggers; v2 is superseded and gone", phase: pwfake.P2V3Complete},
		{title: "a series with Depends-on tags arrives: built with its dependencies' patches first", phase: pwfake.P2DependsOn},
		{title: "the state file is deleted (as after a crash): jobs are adopted, nothing is submitted or posted twice", phase: pwfake.P2DependsOn,
			before: func(string) error { return os.Remove(cfg.StatePath()) }},
	}
	ran := map[string]bool{}
	var lastCheck int64 = 1 << 62
	newChecks(pw, &lastCheck) // the recorded checks are not the demo's
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.before != nil {
			if err := s.before(dir); err != nil {
				return err
			}
		}
		if err := pw.SetPhase(s.phase); err != nil {
			return err
		}
		before := kci.Submissions()
		w.printf("── tick %d: %s\n", i+1, s.title)
		cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CycleTimeout))
		rep, err := app.Runner.Run(cctx, cycle.Act, nil)
		cancel()
		if err != nil {
			return err
		}
		w.table(rep)
		w.printf("   KernelCI patchset submissions this tick: %d (total %d)\n", kci.Submissions()-before, kci.Submissions())
		posted := newChecks(pw, &lastCheck)
		w.printf("   Patchwork checks posted this tick: %s\n\n", posted)
		record(Tick{Title: s.title, Report: rep, Submissions: kci.Submissions() - before, Checks: posted})
		if err := pipeline(kci, ran); err != nil {
			return err
		}

		if rep.Errors > 0 {
			return errors.New("the demo cycle reported errors; run with -v to see trawl's log")
		}
	}
	w.printf("Done. The same run against a real Patchwork and KernelCI: see README.md, \"Pointing trawl at a real Patchwork and KernelCI\".\n")
	log.Info("demo finished", zap.Int("submissions", kci.Submissions()))
	return w.err
}

// pipeline plays KernelCI's pipeline for the patchsets it has not run yet:
// the patchset service applies them, then one build and one test run. A
// series of Viresh Kumar's fails its test; one of Xiaolou's hits a lab
// timeout, an infrastructure error; the others pass.
func pipeline(kci *kcifake.Fake, ran map[string]bool) error {
	kci.Process()
	for _, n := range kci.Patchsets() {
		if ran[n.ID] {
			continue
		}
		ran[n.ID] = true
		test := kcifake.TestPlan{Name: "baseline-x86", Platform: "qemu-x86", Result: "pass"}
		for _, u := range n.Artifacts {
			switch {
			case strings.Contains(u, "viresh.kumar"):
				test.Result = "fail"
			case strings.Contains(u, "xiaolou4617"):
				test.Result, test.ErrorCode, test.ErrorMsg = "incomplete", "node_timeout", "the lab did not answer in time"
			}
		}
		plan := kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "kbuild-gcc-12-x86", Arch: "x86_64", Result: "pass", Tests: []kcifake.TestPlan{test}}}}
		if err := kci.Run(n.ID, plan); err != nil {
			return fmt.Errorf("demo pipeline: %w", err)
		}
	}
	kci.Settle()
	return nil
}

// newChecks describes the checks posted since *last (a check id) and
// moves *last past them. The first call only records where the recorded
// checks end.
func newChecks(pw *pwfake.Fake, last *int64) string {
	start := *last
	byState := map[string]int{}
	var maxID int64
	for id := int64(1); id <= 40; id++ {
		for _, c := range pw.Checks(id) {
			maxID = max(maxID, c.ID)
			if c.ID > start {
				byState[c.State]++
			}
		}
	}
	if start == 1<<62 {
		*last = maxID
		return ""
	}
	*last = max(start, maxID)
	if len(byState) == 0 {
		return "none"
	}
	var parts []string
	for _, st := range []string{"pending", "success", "warning", "fail"} {
		if n := byState[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ")
}

// narrator writes the demo's text and remembers the first write error.
type narrator struct {
	w   io.Writer
	err error
}

func (n *narrator) printf(format string, args ...any) {
	if n.err == nil {
		_, n.err = fmt.Fprintf(n.w, format, args...)
	}
}

// table prints the report indented under the tick's title.
func (n *narrator) table(rep *cycle.Report) {
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		n.err = err
		return
	}
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		n.printf("   %s\n", line)
	}
}

// serve runs h on a loopback port until stop is called. Stop may run once
// ctx is cancelled, so its shutdown deadline is measured from the call, not
// inherited from ctx's cancellation.
func serve(ctx context.Context, h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}
