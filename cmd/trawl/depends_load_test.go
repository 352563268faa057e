package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestDependsOnDoesNotAmplifyLoad: a mail with 300 Depends-on lines naming
// unknown message-ids costs an idle tick no more requests than a mail
// without them, plus at most one per reference kept under the cap.
//
//	go test ./cmd/trawl -run DependsOnDoesNotAmplifyLoad -v
func TestDependsOnDoesNotAmplifyLoad(t *testing.T) {
	plainNet, plainAll := idleTicks(t, "", 3)
	heavyNet, heavyAll := idleTicks(t, unresolvable(300), 3)
	t.Logf("requests per tick (first, idle, idle), network/all: without Depends-on %v/%v, with 300 unresolvable %v/%v",
		plainNet, plainAll, heavyNet, heavyAll)
}
