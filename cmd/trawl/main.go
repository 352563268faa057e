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
)

// version, when set at build time with -ldflags "-X main.version=...",
// overrides the module version the go command records (see readVersion).
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
