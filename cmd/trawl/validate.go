package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/setup"
)

// validate is `trawl validate`: the configuration was loaded; check what
// it needs from this machine (secrets, commands, directories) and, unless
// offline, ask each forge whether the project exists.
func validate(ctx context.Context, cfg *config.Config, path string, offline bool, stdout, stderr io.Writer) int {
	if err := cfg.CheckLocal(); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitConfig
	}
	if !offline {
		app, err := setup.New(cfg, setup.Options{Version: readVersion().Version, ReadOnly: true})
		if err != nil {
			fmt.Fprintf(stderr, "trawl validate: %v\n", err)
			return exitRuntime
		}
		defer func() { _ = app.Close() }()
		cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CycleTimeout))
		defer cancel()
		if err := app.CheckProjects(cctx); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			return exitConfig
		}
	}
	how := "projects checked on their forges"
	if offline {
		how = "offline: projects not checked"
	}
	fmt.Fprintf(stdout, "%s: valid (%d sources, %d targets; secrets, commands and directories checked; %s)\n",
		path, len(cfg.Sources), len(cfg.Targets), how)
	return exitOK
}
