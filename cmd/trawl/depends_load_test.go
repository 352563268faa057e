package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/setup"
)

// idleTicks runs ticks of `trawl once` through the real wiring on the
// recorded Patchwork (netdev) after editing the cover letter of series 3
// (recorded: covers-detail-3) to carry extra lines, and returns the
// requests of each tick: sent to the server (network), and all of them
// (cache hits included).
func idleTicks(t testing.TB, extra string, ticks int) (network, all []int64) {
	t.Helper()
	w := newWorld(t)
	w.pw.EditText("This is a sample cover letter.", "This is a sample cover letter.\n\n"+extra)
	cfg, err := config.LoadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	app, err := setup.New(cfg, setup.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for range ticks {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := app.Runner.Run(ctx, cycle.Act, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		network = append(network, rep.Requests.Network)
		all = append(all, rep.Requests.Requests())
	}
	return network, all
}

// unresolvable is a cover letter text with n Depends-on lines naming
// message-ids the instance does not hold.
func unresolvable(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Depends-on: <missing-%d@example.org>\n", i)
	}
	return b.String()
}

// TestDependsOnDoesNotAmplifyLoad: Depends-on lines naming message-ids the
// instance does not hold must not multiply the cost of a tick. 300 of them
// are over the dependency cap: the series is blocked before any look-up,
// and an idle tick costs what it costs without them. 30 of them (under the
// cap) cost at most one request each on a tick that re-checks them, and
// they are re-checked on a slower and slower schedule.
//
// Before this was fixed, 300 such lines took an idle tick from 26 requests
// (9 sent to the server) to 625 (608 sent).
//
//	go test ./cmd/trawl -run DependsOnDoesNotAmplifyLoad -v
func TestDependsOnDoesNotAmplifyLoad(t *testing.T) {
	const ticks = 8
	plainNet, plainAll := idleTicks(t, "", ticks)
	capNet, capAll := idleTicks(t, unresolvable(300), ticks)
	underNet, underAll := idleTicks(t, unresolvable(30), ticks)
	t.Logf("requests per tick, sent to the server / all (first tick, then idle ones):\n"+
		"  no Depends-on:              %v / %v\n  300 unresolvable (capped):  %v / %v\n  30 unresolvable (under cap): %v / %v",
		plainNet, plainAll, capNet, capAll, underNet, underAll)
	for i := 1; i < ticks; i++ {
		if capNet[i] > plainNet[i] {
			t.Errorf("idle tick %d with 300 capped references: %d requests, without them %d", i+1, capNet[i], plainNet[i])
		}
		if extra := underNet[i] - plainNet[i]; extra > 30 {
			t.Errorf("idle tick %d with 30 unresolvable references: %d requests more than without, want at most 1 each", i+1, extra)
		}
	}
	var extra int64
	for i := 1; i < ticks; i++ {
		extra += underNet[i] - plainNet[i]
	}
	// Re-checked on ticks 3 and 7 only (after 2, then 4 ticks), one listing
	// each time.
	if extra > 2*30 {
		t.Errorf("%d extra requests over %d idle ticks for 30 unresolvable references, want at most %d", extra, ticks-1, 2*30)
	}
}

// TestIncompleteSeriesWaiting: a series that has not received all its
// patches shows in plan, once and status as waiting, with how many patches
// arrived (recorded: p2-02-series-v3-detail-1-of-2, series 15 with 1 of 2).
func TestIncompleteSeriesWaiting(t *testing.T) {
	w := newWorld(t)
	if err := w.pw.SetPhase(pwfake.P2OnePatch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, want string }{ // want: a regular expression
		{"plan", `waiting +- +pw:127.0.0.1:PORT/netdev/series/15@kernelci +1 of 2 patches received\n`},
		{"once", `waiting +- +pw:127.0.0.1:PORT/netdev/series/15@kernelci +1 of 2 patches received\n`},
		{"status", `pw:127.0.0.1:PORT/netdev/series/15@kernelci\n +status +waiting: 1 of 2 patches received\n`},
	} {
		code, out, errs := trawl(t, tc.cmd, "-c", w.config)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s\n%s", tc.cmd, code, out, errs)
		}
		out = portRe.ReplaceAllString(out, "127.0.0.1:PORT")
		if !regexp.MustCompile(tc.want).MatchString(out) {
			t.Errorf("%s does not show series 15 waiting (%q):\n%s", tc.cmd, tc.want, out)
		}
	}
}

var portRe = regexp.MustCompile(`127\.0\.0\.1:\d+`)
