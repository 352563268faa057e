package sim

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/pkg/capture"
)

// recorded is where pwfake keeps its copies of the recorded Patchwork
// v3.1.3 answers (../shared/fixtures/patchwork).
const recorded = "../../forges/patchwork/pwfake/recorded"

// keys returns the keys of a JSON object in order, and those of its
// nested objects as "parent.key".
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	var walk func(dec *json.Decoder, prefix string)
	walk = func(dec *json.Decoder, prefix string) {
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k := prefix + tok.(string)
			out = append(out, k)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(v, []byte("{")) && k != "headers" && k != "tags" {
				sub := json.NewDecoder(bytes.NewReader(v))
				_, _ = sub.Token()
				walk(sub, k+".")
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	walk(dec, "")
	return out
}

// first returns the first element of the recorded JSON list in file, or
// the recorded object.
func first(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil || len(items) == 0 {
			t.Fatalf("%s: %v", file, err)
		}
		return items[0]
	}
	return b
}

// TestShapesMatchRecordings holds the simulated Patchwork to the recorded
// server: a series detail, a patch in a listing, a cover letter detail and
// a check and an event have the recorded fields, nested ones included, in the recorded
// order.
func TestShapesMatchRecordings(t *testing.T) {
	w := New(Options{Series: 5, PullRequests: -1, Seed: 1})
	var multi *pwSeries
	for _, s := range w.pw.series {
		if s.cover != 0 {
			multi = s
		}
	}
	if multi == nil {
		t.Fatal("no series with a cover letter")
	}
	if len(w.pw.events) == 0 {
		t.Fatal("no events")
	}
	// pwfake keeps no event; the event is held to ../shared's recording.
	shared, err := capture.Shared("patchwork")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		sim        []byte
	}{
		{"series", filepath.Join(recorded, "series-list-all.json"), multi.detail},
		{"patch", filepath.Join(recorded, "patches-list-series1.json"), multi.patches[0].list},
		{"cover", filepath.Join(recorded, "covers-detail-3.json"), w.pw.coverJSON(multi)},
		{"check", filepath.Join(recorded, "checks-list-patch-1.json"), mustJSON(pwCheckJSON{})},
		{"event", filepath.Join(shared, "events-series-created-netdev.json"), mustJSON(w.pw.events[0])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, got := keys(t, first(t, tc.file)), keys(t, tc.sim)
			if !slices.Equal(got, want) {
				t.Errorf("fields\n got %q\nwant %q (%s)", got, want, tc.file)
			}
		})
	}
}
