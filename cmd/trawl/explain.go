package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/explain"
	"github.com/trawl-ci/trawl/pkg/setup"
	"github.com/trawl-ci/trawl/pkg/state"
)

// explainUnit runs a plan (nothing triggered, nothing written) to get the
// unit's fingerprint inputs now, and prints them beside those stored at
// its last trigger.
func explainUnit(ctx context.Context, app *setup.App, cfg *config.Config, unit string, stdout, stderr io.Writer) int {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CycleTimeout))
	defer cancel()
	rep, err := app.Runner.Run(cctx, cycle.Plan, nil)
	if err != nil {
		fmt.Fprintf(stderr, "trawl explain: %v\n", err)
		return exitRuntime
	}
	st, err := state.ReadOnly(cfg.StatePath()).Load()
	if err != nil {
		fmt.Fprintf(stderr, "trawl explain: %v\n", err)
		return exitRuntime
	}
	var ur *cycle.UnitReport
	for i := range rep.Units {
		if rep.Units[i].Unit == unit {
			ur = &rep.Units[i]
		}
	}
	u := st.Units[unit]
	if ur == nil && u == nil {
		fmt.Fprintf(stderr, "trawl explain: no unit %q in the state or on its source (see trawl status for the unit keys)\n", unit)
		return exitUsage
	}
	fp, in, why := "", (*fingerprint.Input)(nil), "not on its source this cycle"
	if ur != nil {
		fp, in, why = ur.Fingerprint, ur.Inputs, ur.Outcome
		if ur.Detail != "" {
			why += ": " + ur.Detail
		}
	}
	e, err := explain.Build(unit, fp, in, why, u)
	if err != nil {
		fmt.Fprintf(stderr, "trawl explain: %v\n", err)
		return exitRuntime
	}
	if err := e.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "trawl explain: write: %v\n", err)
		return exitRuntime
	}
	if len(rep.UnknownSources) > 0 {
		fmt.Fprintf(stdout, "\nnote: %d sources were unknown this cycle; the inputs now may be incomplete\n", len(rep.UnknownSources))
	}
	return exitOK
}
