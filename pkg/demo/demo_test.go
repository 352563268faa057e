package demo

import (
	"bytes"
	"context"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/pkg/cycle"
)

var update = flag.Bool("update", false, "rewrite the golden demo output in ../../testdata")

// normalise removes from the demo's output what changes from run to run:
// loopback ports (and so the fingerprints of keys holding them), node ids,
// the temporary directory and byte counts.
func normalise(out string) string {
	for _, r := range []struct{ re, with string }{
		{`127\.0\.0\.1:\d+`, "127.0.0.1:PORT"},
		{`/tmp/trawl-demo[^/\s]*|/tmp/[^\s]*/trawl\.yaml`, "DIR"},
		{`\b[0-9a-f]{24}\b`, "NODE-ID"},
		{`\b[0-9a-f]{12}\b`, "FINGERPRINT"},
		{`\d+ bytes`, "N bytes"},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.with)
	}
	return out
}

// TestDemoTellsTheStoryItPromises runs the embedded default and checks each
// tick does what its narration says.
func TestDemoTellsTheStoryItPromises(t *testing.T) {
	var out bytes.Buffer
	ticks, err := Run(context.Background(), Options{Out: &out, Dir: t.TempDir(), Version: "test"})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if len(ticks) != 7 {
		t.Fatalf("%d ticks, want 7", len(ticks))
	}
	outcome := func(i int, series string) cycle.Outcome {
		for _, u := range ticks[i].Report.Units {
			if strings.HasSuffix(string(u.Change), "/series/"+series) {
				return u.Outcome
			}
		}
		return "absent"
	}
	for _, tc := range []struct {
		tick        int
		triggered   int
		adopted     int
		submissions int
		checks      string
		want        map[string]cycle.Outcome
	}{
		{0, 6, 0, 6, "15 pending", map[string]cycle.Outcome{"1": "triggered", "3": "triggered", "7": "blocked", "13": "absent"}},
		// 4 patches of series 4 fail their test; series 5 and 6 (2
		// patches each) hit a lab timeout: a warning, not a failure.
		{1, 0, 0, 0, "7 success, 4 warning, 4 fail", map[string]cycle.Outcome{"1": "unchanged", "3": "unchanged"}},
		{2, 0, 0, 0, "none", map[string]cycle.Outcome{"1": "unchanged"}},
		// Series 15 has 1 of its 2 patches: shown waiting, not triggered.
		{3, 0, 0, 0, "none", map[string]cycle.Outcome{"15": "waiting", "3": "unchanged"}},
		{4, 1, 0, 1, "2 pending", map[string]cycle.Outcome{"15": "triggered", "3": "gone"}},
		{5, 1, 0, 1, "2 pending, 2 success", map[string]cycle.Outcome{"16": "triggered", "15": "unchanged"}},
		// After the state is lost, only series 16's new result is posted:
		// every other check is found already there.
		{6, 0, 7, 0, "2 success", map[string]cycle.Outcome{"1": "adopted", "16": "adopted", "7": "blocked"}},
	} {
		tk := ticks[tc.tick]
		if tk.Checks != tc.checks {
			t.Errorf("tick %d (%s): checks posted %q, want %q", tc.tick+1, tk.Title, tk.Checks, tc.checks)
		}
		if tk.Report.Count.Triggered != tc.triggered || tk.Report.Count.Adopted != tc.adopted || tk.Submissions != tc.submissions {
			t.Errorf("tick %d (%s): triggered %d adopted %d submissions %d, want %d/%d/%d",
				tc.tick+1, tk.Title, tk.Report.Count.Triggered, tk.Report.Count.Adopted, tk.Submissions, tc.triggered, tc.adopted, tc.submissions)
		}
		for series, want := range tc.want {
			if got := outcome(tc.tick, series); got != want {
				t.Errorf("tick %d: series %s is %s, want %s", tc.tick+1, series, got, want)
			}
		}
		if tk.Report.Errors != 0 {
			t.Errorf("tick %d: %d errors", tc.tick+1, tk.Report.Errors)
		}
	}
	// An idle tick reads the one page of the Patchwork listing and
	// nothing else: what cannot change is kept from the first tick.
	if idle := ticks[2].Report.Requests; idle.Requests() != 1 {
		t.Errorf("idle tick requests %+v vs first %+v: want the listing alone", idle, ticks[0].Report.Requests)
	}
	for _, u := range ticks[5].Report.Units {
		if strings.HasSuffix(string(u.Change), "/series/16") && len(u.Deps) != 2 {
			t.Errorf("series 16 built on %v, want series 1 and 15", u.Deps)
		}
	}
	got := []byte(normalise(out.String()))
	const golden = "../../testdata/demo.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/demo -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the demo's narration differs from %s (run with -update after checking):\n%s", golden, got)
	}
}
