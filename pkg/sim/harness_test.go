package sim

import (
	"context"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/setup"
)

// world is what a harness needs of a simulated world: a *World in this
// process, or a remote one in another.
type world interface {
	Units() int
	Change()
	Tick()
	Triggers() []time.Time
	ListPages() int64
	Stats() map[string]Counts
	WriteConfig(dir string, checks bool) (string, error)
}

// local is a *World in this process.
type local struct{ *World }

func (l local) Change()                  { l.World.Change(l.clock()) }
func (l local) Stats() map[string]Counts { return l.World.Stats.Snapshot() }

// harness is trawl, wired as `trawl once` wires it, against a started
// world.
type harness struct {
	w   world
	app *setup.App
}

func newHarness(tb testing.TB, o Options, checks bool) *harness {
	tb.Helper()
	w := New(o)
	w.Start()
	tb.Cleanup(w.Close)
	return wire(tb, local{w}, checks)
}

// wire builds trawl for world w.
func wire(tb testing.TB, w world, checks bool) *harness {
	tb.Helper()
	path, err := w.WriteConfig(tb.TempDir(), checks)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.LoadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	setup.TuneRuntime() // as cmd/trawl does
	app, err := setup.New(cfg, setup.Options{Version: "sim"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = app.Close() })
	return &harness{w: w, app: app}
}

// tick runs one cycle and fails on any error.
func (h *harness) tick(tb testing.TB) *cycle.Report {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rep, err := h.app.Runner.Run(ctx, cycle.Act, nil)
	if err != nil {
		tb.Fatalf("cycle: %v", err)
	}
	if rep.Errors > 0 {
		tb.Fatalf("cycle: %d errors: %+v", rep.Errors, rep.Count)
	}
	return rep
}
