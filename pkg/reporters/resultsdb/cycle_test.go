package resultsdb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestReportIsIdempotentAcrossACrash(t *testing.T) {
	fake := rdbfake.New(rdbfake.Options{})
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	r, err := New(Opts{Name: "rdb", URL: srv.URL, Testcase: "trawl.kernelci.build", HTTP: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	c := &change.Change{Key: "pw:pw.example.org/netdev/series/3"}
	items := r.Items(c)
	if len(items) != 1 || items[0] != string(c.Key) {
		t.Fatalf("Items = %v, want the change key", items)
	}
	if _, ok := r.Map(targets.StatePending); ok {
		t.Fatal("pending mapped to an outcome: ResultsDB results are final")
	}
	posted, ok := r.Map(targets.StateFail)
	if !ok || posted != "FAILED" {
		t.Fatalf("Map(fail) = %q, %v", posted, ok)
	}
	m := report.Message{Unit: string(c.Key) + "@kci", Change: string(c.Key), Target: "kci", Fingerprint: "f00d", State: targets.StateFail, Summary: "tests 1 failed", URL: "https://kci.example.org/node/1"}
	ctx := context.Background()
	for i, want := range []report.Done{report.Posted, report.Found, report.Found} { // a restart re-reports what it cannot know was posted
		done, err := r.Report(ctx, items[0], m, posted)
		if err != nil {
			t.Fatal(err)
		}
		if done != want {
			t.Errorf("report %d ended %v, want %v", i, done, want)
		}
	}
	if got := len(fake.Results()); got != 1 {
		t.Fatalf("ResultsDB holds %d results, want 1", got)
	}
	m.Fingerprint = "beef" // a new revision's result is a new result
	if done, err := r.Report(ctx, items[0], m, posted); err != nil || done != report.Posted {
		t.Fatalf("new fingerprint: %v, %v; want posted", done, err)
	}
	if got := len(fake.Results()); got != 2 {
		t.Fatalf("ResultsDB holds %d results, want 2", got)
	}
	fake.FailNext(http.StatusServiceUnavailable)
	m.Fingerprint = "cafe"
	if _, err := r.Report(ctx, items[0], m, posted); err == nil || report.Permanent(err) {
		t.Fatalf("503 on look-up: err %v, want a retryable error", err)
	}
}
