// Package metrics exports what trawl's cycles do as Prometheus metrics on
// trawl's own registry: cycle durations and failures, each source's health
// and last successful cycle, units by outcome, triggers by reason, reports
// by outcome, the outbox, the HTTP requests of every client, the build, and
// the Go and process collectors.
//
// No label or value carries a secret: labels are configured source,
// target and client names and fixed words.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Metrics follows cycles (it is a cycle.Observer) and exports them.
type Metrics struct {
	cycleDuration *prometheus.HistogramVec
	cycles        *prometheus.CounterVec
	sourceUp      *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	fetchDuration *prometheus.HistogramVec
	units         *prometheus.GaugeVec
	triggers      *prometheus.CounterVec
	reports       *prometheus.CounterVec

	now func() time.Time

	mu           sync.Mutex
	outbox       int
	outboxOldest time.Time // zero when the outbox is empty
}

var _ cycle.Observer = (*Metrics)(nil)

// Options configures New.
type Options struct {
	// Version is the trawl version, exported in trawl_build_info.
	Version string
	// Clients returns the request counts of every HTTP client by client
	// name; nil exports none.
	Clients func() map[string]httpx.Counts
	// Now is the clock for the outbox age; nil means time.Now.
	Now func() time.Time
}

// New registers every metric on reg.
func New(reg prometheus.Registerer, o Options) (*Metrics, error) {
	m := &Metrics{
		now: o.Now,
		cycleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trawl_cycle_duration_seconds",
			Help:    "How long cycles took, by result (ok, failed).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200},
		}, []string{"result"}),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trawl_cycles_total",
			Help: "Cycles run, by result: ok, or failed (the cycle, a source, a trigger or a base failed).",
		}, []string{"result"}),
		sourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trawl_source_up",
			Help: "1 when the source's last fetch was complete, 0 when it failed (the source is unknown).",
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trawl_source_last_success_timestamp_seconds",
			Help: "Unix time at which the last cycle that fetched the source completely ended without failing.",
		}, []string{"source"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trawl_source_fetch_duration_seconds",
			Help:    "How long fetching one source took.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300},
		}, []string{"source"}),
		units: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trawl_units",
			Help: "Units of each source by their outcome in the source's last cycle.",
		}, []string{"source", "outcome"}),
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trawl_triggers_total",
			Help: "Triggers by target, reason (new, changed, retry) and outcome (triggered, adopted, failed, waiting).",
		}, []string{"target", "reason", "outcome"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trawl_reports_total",
			Help: "Reports by outcome: posted, found (already there), retrying, refused, dropped, queued.",
		}, []string{"outcome"}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	cs := []prometheus.Collector{
		m.cycleDuration, m.cycles, m.sourceUp, m.lastSuccess, m.fetchDuration, m.units, m.triggers, m.reports,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trawl_outbox_entries",
			Help: "Reports waiting in the outbox after the last cycle.",
		}, m.outboxEntries),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trawl_outbox_oldest_age_seconds",
			Help: "Age of the oldest report waiting in the outbox (0 when empty).",
		}, m.outboxAge),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "trawl_build_info",
			Help:        "Always 1; the labels name the trawl version and the Go version it was built with.",
			ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if o.Clients != nil {
		cs = append(cs, clientCollector{o.Clients})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every reports outcome exists from the start, so rate() sees the
	// first increase.
	for _, o := range []string{"posted", "found", "retrying", "refused", "dropped", "queued"} {
		m.reports.WithLabelValues(o)
	}
	for _, r := range []string{"ok", "failed"} {
		m.cycles.WithLabelValues(r)
	}
	return m, nil
}

// SourceFetched records a source's fetch.
func (m *Metrics) SourceFetched(source string, _ int, took time.Duration, err error) {
	m.fetchDuration.WithLabelValues(source).Observe(took.Seconds())
	up := 1.0
	if err != nil {
		up = 0
	}
	m.sourceUp.WithLabelValues(source).Set(up)
}

// CycleEnded records a cycle's outcome.
func (m *Metrics) CycleEnded(rep *cycle.Report, st *state.State, err error) {
	if st != nil {
		m.mu.Lock()
		m.outbox, m.outboxOldest = len(st.Outbox), time.Time{}
		for _, p := range st.Outbox {
			if m.outboxOldest.IsZero() || p.Created.Before(m.outboxOldest) {
				m.outboxOldest = p.Created
			}
		}
		m.mu.Unlock()
	}
	result := "ok"
	if err != nil || rep == nil || rep.Errors > 0 {
		result = "failed"
	}
	m.cycles.WithLabelValues(result).Inc()
	if rep == nil {
		return
	}
	m.cycleDuration.WithLabelValues(result).Observe(rep.Duration.Seconds())
	if rep.Mode == cycle.Plan {
		return
	}
	unknown := map[string]bool{}
	for _, s := range rep.UnknownSources {
		unknown[s.Source] = true
	}
	byOutcome := map[string]map[string]int{}
	for _, s := range rep.Scope {
		byOutcome[s] = map[string]int{}
		if err == nil && !unknown[s] {
			m.lastSuccess.WithLabelValues(s).Set(float64(rep.Started.Add(rep.Duration).Unix()))
		}
	}
	for _, u := range rep.Units {
		if byOutcome[u.Source] != nil {
			byOutcome[u.Source][u.Outcome]++
		}
		switch u.Outcome {
		case cycle.OutcomeTriggered, cycle.OutcomeAdopted, cycle.OutcomeFailed:
			m.triggers.WithLabelValues(u.Target, u.Reason.String(), u.Outcome).Inc()
		case cycle.OutcomeWaiting:
			if u.Reason != cycle.ReasonUnchanged {
				m.triggers.WithLabelValues(u.Target, u.Reason.String(), u.Outcome).Inc()
			}
		}
	}
	for _, s := range rep.Scope {
		if unknown[s] {
			continue // its units were not decided: keep the last known counts
		}
		m.units.DeletePartialMatch(prometheus.Labels{"source": s})
		for o, n := range byOutcome[s] {
			m.units.WithLabelValues(s, o).Set(float64(n))
		}
	}
	r := rep.Reports
	for o, n := range map[string]int{"posted": r.Posted, "found": r.Found, "retrying": r.Retrying,
		"refused": r.Failed, "dropped": r.Dropped, "queued": r.Queued} {
		m.reports.WithLabelValues(o).Add(float64(n))
	}
}

func (m *Metrics) outboxEntries() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(m.outbox)
}

func (m *Metrics) outboxAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outboxOldest.IsZero() {
		return 0
	}
	return m.now().Sub(m.outboxOldest).Seconds()
}

// clientCollector exports the request counts of every HTTP client.
type clientCollector struct {
	counts func() map[string]httpx.Counts
}

var _ prometheus.Collector = clientCollector{}

var (
	requestsDesc = prometheus.NewDesc("trawl_http_requests_total",
		"HTTP requests of each forge and target client by outcome: network (a full response), revalidated (304, served from the cache), cache (no round trip), failed (no response).",
		[]string{"client", "outcome"}, nil)
	bytesDesc = prometheus.NewDesc("trawl_http_received_bytes_total",
		"Response body bytes each client received from the network.", []string{"client"}, nil)
)

// Describe sends the descriptors.
func (c clientCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- bytesDesc
}

// Collect sends the current counts.
func (c clientCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.counts() {
		for _, v := range []struct {
			outcome string
			n       int64
		}{{"network", n.Network}, {"revalidated", n.Revalidated}, {"cache", n.Cache}, {"failed", n.Failed}} {
			ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(v.n), name, v.outcome)
		}
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(n.Bytes), name)
	}
}
