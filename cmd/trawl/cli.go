package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/demo"
	"github.com/trawl-ci/trawl/pkg/progress"
	"github.com/trawl-ci/trawl/pkg/setup"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Exit codes, documented in README.md.
const (
	exitOK      = 0 // success
	exitCycle   = 1 // the cycle ran, but a source or a trigger failed
	exitUsage   = 2 // bad command line
	exitConfig  = 3 // the configuration is invalid
	exitRuntime = 4 // trawl could not start or finish: state locked or unreadable, a secret unreadable
)

const usage = `usage: trawl <command> [flags]

commands:
  run -c FILE                poll on the configured schedules until SIGINT/SIGTERM; SIGHUP reloads FILE
  once -c FILE [--source S]  run one cycle (of every source, or of the named ones) and exit (for cron)
                             (run, once: --fresh-state moves an unreadable state file aside)
  plan -c FILE               run one cycle without triggering or writing anything; print every unit
  status -c FILE [--json]    print every unit's last trigger, job, result and what was reported where
  explain -c FILE UNIT       print a unit's fingerprint inputs now and at its last trigger, and what differs
  validate -c FILE [--offline]
                             check the configuration, its secrets, commands and directories, and
                             (unless --offline) that every forge project exists
  retrigger -c FILE UNIT...  build these units again on their next cycle
  forget -c FILE UNIT...     drop these units from the state
  demo                       run the embedded default: recorded Patchwork data, in-process KernelCI
  version                    print the version and the commit it was built from
`

// run is the whole command line program; main only adds signals and exits.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, readVersion())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		fs.SetOutput(stderr)
		verbose := fs.Bool("v", false, "also print trawl's own log lines")
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if _, err := demo.Run(ctx, demo.Options{Out: stdout, Log: stderr, Verbose: *verbose, Version: readVersion().Version}); err != nil {
			fmt.Fprintf(stderr, "trawl demo: %v\n", err)
			return exitRuntime
		}
		return exitOK
	case "run", "once", "plan", "validate", "status", "explain", "retrigger", "forget":
	default:
		fmt.Fprintf(stderr, "trawl: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}

	inv, ok := parse(cmd, rest, stderr)
	if !ok {
		return exitUsage
	}
	path := &inv.path
	cfg, err := config.LoadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitConfig
	}
	switch cmd {
	case "validate":
		return validate(ctx, cfg, *path, inv.offline, stdout, stderr)
	case "status":
		st, err := state.ReadOnly(cfg.StatePath()).Load()
		if err != nil {
			fmt.Fprintf(stderr, "trawl status: %v\n", err)
			return exitRuntime
		}
		write := cycle.WriteStatus
		if inv.asJSON {
			write = cycle.WriteStatusJSON
		}
		if err := write(stdout, st); err != nil {
			fmt.Fprintf(stderr, "trawl status: write: %v\n", err)
			return exitRuntime
		}
		return exitOK
	case "retrigger", "forget":
		return editUnits(cmd, cfg.StatePath(), inv.units, stdout, stderr)
	}

	if cmd == "run" {
		return runDaemon(ctx, *path, cfg, inv.fresh, stderr)
	}
	// On a terminal, a long tick shows a status line below the log lines.
	var term *progress.Terminal
	logTo := stderr
	if f, ok := stderr.(*os.File); ok && progress.IsTerminal(f) && (cmd == "once" || cmd == "plan") {
		term = progress.NewTerminal(stderr)
		logTo = term
	}
	log, err := setup.NewLogger(cfg.Log, logTo)
	if err != nil {
		fmt.Fprintf(stderr, "trawl: %v\n", err)
		return exitConfig
	}
	defer func() { _ = log.Sync() }()
	app, err := setup.New(cfg, setup.Options{Version: readVersion().Version, Logger: log, ReadOnly: cmd == "plan" || cmd == "explain", FreshState: inv.fresh})
	if err != nil {
		fmt.Fprintf(stderr, "trawl %s: %v\n", cmd, err)
		return exitRuntime
	}
	defer app.Close()

	switch cmd {
	case "explain":
		return explainUnit(ctx, app, cfg, inv.units[0], stdout, stderr)
	default:
		mode := cycle.Act
		if cmd == "plan" {
			mode = cycle.Plan
		}
		cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CycleTimeout))
		defer cancel()
		stopLine := func() {}
		if term != nil {
			line := progress.NewLine(term, app.Requests, nil)
			app.Runner.Observe(line)
			lctx, stop := context.WithCancel(cctx)
			done := make(chan struct{})
			go func() { defer close(done); line.Run(lctx, time.Second) }()
			stopLine = func() { stop(); <-done }
		}
		rep, err := app.Runner.Run(cctx, mode, inv.sources)
		stopLine()
		if err != nil {
			fmt.Fprintf(stderr, "trawl %s: %v\n", cmd, err)
			return exitRuntime
		}
		if err := rep.WriteTable(stdout); err != nil {
			fmt.Fprintf(stderr, "trawl %s: write: %v\n", cmd, err)
			return exitRuntime
		}
		if mode == cycle.Act {
			if err := app.Prune(); err != nil {
				log.Error("prune", zap.Error(err))
			}
		}
		if rep.Errors > 0 {
			return exitCycle
		}
		return exitOK
	}
}

// invocation is a parsed command line of a command that reads a
// configuration.
type invocation struct {
	cmd, path              string
	asJSON, offline, fresh bool
	sources, units         []string
}

// parse reads the flags and arguments of cmd; false means a bad command
// line, already explained on stderr.
func parse(cmd string, args []string, stderr io.Writer) (invocation, bool) {
	inv := invocation{cmd: cmd}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&inv.path, "c", "trawl.yaml", "configuration file")
	if cmd == "run" || cmd == "once" {
		fs.BoolVar(&inv.fresh, "fresh-state", false, "move an unreadable state file aside (state.json.aside-TIME) and start from an empty state")
	}
	switch cmd {
	case "status":
		fs.BoolVar(&inv.asJSON, "json", false, "print the status as JSON (see README: trawl status --json)")
	case "validate":
		fs.BoolVar(&inv.offline, "offline", false, "do not ask the forges whether the projects exist")
	case "once":
		fs.Func("source", "only this source's units are triggered and reported (repeatable)", func(v string) error {
			inv.sources = append(inv.sources, v)
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return inv, false
	}
	takesUnits := cmd == "retrigger" || cmd == "forget"
	switch {
	case cmd == "explain":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "usage: trawl explain -c FILE UNIT\n")
			return inv, false
		}
	case takesUnits && fs.NArg() == 0:
		fmt.Fprintf(stderr, "trawl %s: name at least one unit (trawl status lists them)\n", cmd)
		return inv, false
	case !takesUnits && fs.NArg() > 0:
		fmt.Fprintf(stderr, "trawl %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return inv, false
	}
	inv.units = fs.Args()
	return inv, true
}
