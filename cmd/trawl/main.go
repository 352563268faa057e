// Command trawl polls patch trackers and forges, fingerprints every
// buildable unit and triggers CI only when a fingerprint changed.
//
// See README.md for the commands, the configuration and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trawl-ci/trawl/pkg/setup"
)

// version, when set at build time with -ldflags "-X main.version=...",
// overrides the module version the go command records (see readVersion).
var version string

// commit, when set at build time with -ldflags "-X main.commit=...", is
// the commit the binary was built from, for a build in which the go
// command records none (a git worktree, GOFLAGS=-buildvcs=false).
var commit string

func main() {
	setup.TuneRuntime()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
