package resultsdb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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

// TestReportPostsOnceAndLooksAfterAKill: a result no earlier run began
// costs one request (Post); a result whose post may have reached
// ResultsDB before trawl was killed (the cycle then calls Report) is
// looked up first and not posted again, since ResultsDB stores a repeated
// result as a second one (results are append-only: recorded
// post-201-trawl-same-item-newer).
func TestReportPostsOnceAndLooksAfterAKill(t *testing.T) {
	fake := rdbfake.New(rdbfake.Options{})
	var (
		mu   sync.Mutex
		sent []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Method)
		mu.Unlock()
		fake.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	since := func(n int) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent[n:])
	}
	r, err := New(Opts{Name: "rdb", URL: srv.URL, Testcase: "trawl.kernelci.build", HTTP: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	c := &change.Change{Key: "pw:pw.example.org/netdev/series/3"}
	item := r.Items(c)[0]
	posted, _ := r.Map(targets.StateFail)
	m := report.Message{Unit: string(c.Key) + "@kci", Change: string(c.Key), Target: "kci", Fingerprint: "f00d", State: targets.StateFail, Summary: "tests 1 failed"}
	if err := r.Post(t.Context(), item, m, posted); err != nil {
		t.Fatal(err)
	}
	if got := since(0); !slices.Equal(got, []string{http.MethodPost}) {
		t.Fatalf("post sent %v, want one POST", got)
	}
	// Killed before the post was recorded: the next run looks first.
	done, err := r.Report(t.Context(), item, m, posted)
	if err != nil || done != report.Found {
		t.Fatalf("report after a kill: %v, %v; want found", done, err)
	}
	if got := since(1); !slices.Equal(got, []string{http.MethodGet}) {
		t.Errorf("report after a kill sent %v, want one look-up", got)
	}
	if got := len(fake.Results()); got != 1 {
		t.Fatalf("ResultsDB holds %d results, want 1", got)
	}
}
