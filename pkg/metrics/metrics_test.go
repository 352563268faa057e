package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
)

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCyclesBecomeMetrics feeds two cycles (one with a failed source) and
// reads the exposition.
func TestCyclesBecomeMetrics(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{Version: "v1.2.3", Now: func() time.Time { return now },
		Clients: func() map[string]httpx.Counts {
			return map[string]httpx.Counts{"patchwork netdev": {Network: 7, Revalidated: 3, Cache: 2, Failed: 1, Bytes: 4096}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	m.SourceFetched("netdev", 3, 2*time.Second, nil)
	m.SourceFetched("bpf", 0, time.Second, errors.New("502"))
	rep := &cycle.Report{Mode: cycle.Act, Started: now.Add(-time.Minute), Duration: 30 * time.Second,
		Scope: []string{"netdev", "bpf"}, Errors: 1, UnknownSources: []cycle.SourceError{{Source: "bpf", Err: "502"}},
		Units: []cycle.UnitReport{
			{Source: "netdev", Target: "kernelci", Outcome: cycle.OutcomeTriggered, Reason: cycle.ReasonNew},
			{Source: "netdev", Target: "kernelci", Outcome: cycle.OutcomeTriggered, Reason: cycle.ReasonChanged},
			{Source: "netdev", Target: "kernelci", Outcome: cycle.OutcomeFailed, Reason: cycle.ReasonNew},
			{Source: "netdev", Target: "kernelci", Outcome: cycle.OutcomeUnchanged},
			{Source: "bpf", Target: "kernelci", Outcome: cycle.OutcomeUnknown},
		},
		Reports: cycle.ReportCounts{Posted: 2, Found: 1, Retrying: 1}}
	st := state.New()
	st.Outbox = []*state.Post{{Created: now.Add(-90 * time.Second)}, {Created: now.Add(-10 * time.Second)}}
	m.CycleEnded(rep, st, nil)
	got := scrape(t, reg)
	for _, want := range []string{
		`trawl_cycles_total{result="failed"} 1`,
		`trawl_cycles_total{result="ok"} 0`,
		`trawl_cycle_duration_seconds_sum{result="failed"} 30`,
		`trawl_source_up{source="bpf"} 0`,
		`trawl_source_up{source="netdev"} 1`,
		`trawl_source_last_success_timestamp_seconds{source="netdev"} 1.79629917e+09`,
		`trawl_units{outcome="triggered",source="netdev"} 2`,
		`trawl_units{outcome="failed",source="netdev"} 1`,
		`trawl_units{outcome="unchanged",source="netdev"} 1`,
		`trawl_triggers_total{outcome="triggered",reason="new",target="kernelci"} 1`,
		`trawl_triggers_total{outcome="triggered",reason="changed",target="kernelci"} 1`,
		`trawl_triggers_total{outcome="failed",reason="new",target="kernelci"} 1`,
		`trawl_reports_total{outcome="posted"} 2`,
		`trawl_reports_total{outcome="found"} 1`,
		`trawl_reports_total{outcome="refused"} 0`,
		`trawl_outbox_entries 2`,
		`trawl_outbox_oldest_age_seconds 90`,
		`trawl_http_requests_total{client="patchwork netdev",outcome="revalidated"} 3`,
		`trawl_http_requests_total{client="patchwork netdev",outcome="failed"} 1`,
		`trawl_http_received_bytes_total{client="patchwork netdev"} 4096`,
		`trawl_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		`go_goroutines`,
		`process_cpu_seconds_total`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	for _, bad := range []string{`trawl_source_last_success_timestamp_seconds{source="bpf"}`, `source="bpf",outcome`, `trawl_units{outcome="unknown",source="bpf"}`} {
		if strings.Contains(got, bad) {
			t.Errorf("exposition holds %s: an unknown source's units and success are not known this cycle", bad)
		}
	}

	// The next cycle: netdev's units are recounted, not added to.
	rep2 := &cycle.Report{Mode: cycle.Act, Started: now, Duration: time.Second, Scope: []string{"netdev"},
		Units: []cycle.UnitReport{{Source: "netdev", Target: "kernelci", Outcome: cycle.OutcomeUnchanged}}}
	m.CycleEnded(rep2, state.New(), nil)
	got = scrape(t, reg)
	for _, want := range []string{`trawl_cycles_total{result="ok"} 1`, `trawl_units{outcome="unchanged",source="netdev"} 1`,
		`trawl_outbox_entries 0`, `trawl_outbox_oldest_age_seconds 0`} {
		if !strings.Contains(got, want) {
			t.Errorf("after the second cycle, exposition lacks %s", want)
		}
	}
	if strings.Contains(got, `trawl_units{outcome="triggered",source="netdev"}`) {
		t.Error("a source's outcome counts from an earlier cycle survived its next cycle")
	}
}

// TestPrometheusNames checks every metric trawl registers against the
// Prometheus naming rules: the trawl_ prefix, base units, _total only on
// counters.
func TestPrometheusNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg, Options{Version: "dev", Clients: func() map[string]httpx.Counts { return map[string]httpx.Counts{"c": {}} }}); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		if !strings.HasPrefix(name, "trawl_") {
			t.Errorf("%s lacks the trawl_ prefix", name)
		}
		isCounter := f.GetType().String() == "COUNTER"
		if strings.HasSuffix(name, "_total") != isCounter {
			t.Errorf("%s: _total suffix and type %s disagree", name, f.GetType())
		}
		for _, bad := range []string{"_ms", "_minutes", "_milliseconds"} {
			if strings.Contains(name, bad) {
				t.Errorf("%s is not in base units", name)
			}
		}
	}
}
