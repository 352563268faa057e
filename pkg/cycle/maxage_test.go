package cycle

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestReportOlderThanMaxAgeIsDropped: a report that keeps failing is
// retried with backoff until it is older than its source's report.max_age;
// then it is dropped with a log line and counted, and never posted.
func TestReportOlderThanMaxAgeIsDropped(t *testing.T) {
	h, _, rp := reportingHarness(t, series(1, 1, "a"))
	core, logs := observer.New(zap.WarnLevel)
	rp.fail["10"] = &httpx.StatusError{Method: "POST", URL: "https://pw/api/1.3/patches/10/checks/", Status: 503}
	h.r = New(Options{
		Sources: []Source{h.src}, Targets: []Target{&pollTarget{fakeTarget: h.tgt, result: targets.Result{State: targets.StatePending, Summary: "pending"}}},
		Store: h.store, GoneGrace: 30 * 24 * time.Hour,
		Reporters:    map[string][]Reporter{"netdev": {rp}},
		ReportMaxAge: map[string]time.Duration{"netdev": 7 * 24 * time.Hour},
		Now:          func() time.Time { return h.now },
		Logger:       zap.New(core),
	})
	h.run(t, Act)
	if len(h.store.st.Outbox) != 1 {
		t.Fatalf("outbox holds %d reports, want the failing one", len(h.store.st.Outbox))
	}
	// Six days of hourly retries: still kept.
	for range 6 * 24 {
		h.now = h.now.Add(time.Hour)
		h.run(t, Act)
	}
	if len(h.store.st.Outbox) != 1 || h.r.Expired() != 0 {
		t.Fatalf("report dropped before max_age: outbox %d, expired %d", len(h.store.st.Outbox), h.r.Expired())
	}
	h.now = h.now.Add(24*time.Hour + time.Minute)
	rep := h.run(t, Act)
	if len(h.store.st.Outbox) != 0 || h.r.Expired() != 1 || rep.Reports.Dropped != 1 {
		t.Fatalf("after max_age: outbox %d, expired %d, counts %+v; want it dropped and counted", len(h.store.st.Outbox), h.r.Expired(), rep.Reports)
	}
	if n := logs.FilterMessage("report dropped: older than report.max_age; not retried").Len(); n != 1 {
		t.Fatalf("%d log lines for the dropped report, want 1", n)
	}
	delete(rp.fail, "10")
	h.now = h.now.Add(time.Hour)
	h.run(t, Act)
	if got := rp.take(); len(got) != 0 {
		t.Fatalf("posted %v after the report expired; want nothing (the same state is not queued again)", got)
	}
}
