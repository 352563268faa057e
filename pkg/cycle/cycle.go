// Package cycle runs one trawl cycle: fetch every source, build the
// dependency graph, fingerprint every unit, compare with the stored
// fingerprints, trigger what is new or changed, and persist the state.
//
// Everything between fetch and trigger is pure and works on the
// forge-neutral model of pkg/change; the cycle knows no forge and no CI by
// name. It enforces the rules of DESIGN.md that make a stateless poller
// safe: a source with any failed request is unknown for the cycle (none of
// its units is triggered or forgotten, nor any unit that depends on it);
// triggers come before the state write and targets adopt jobs that exist
// already; a base that cannot be resolved makes its units wait without
// touching their fingerprint.
//
// Runner.Run is the sequence of stages, one file each: fetch, resolve
// references and build the graph (refs.go), resolve bases, decide (pure:
// snapshot, graph, bases and stored state in, decisions with reasons out),
// record, queue (admit.go), trigger, sweep, persist, relay, results, post
// and persist again. What the cycle needs from sources, targets and the
// store, and every optional capability it looks for, is declared with its
// contract in capabilities.go; the reporting contract and the outbox rules
// are in pkg/report.
package cycle

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Options configures a Runner.
type Options struct {
	Sources []Source
	Targets []Target
	// Resolver resolves bases for targets that are not BaseResolvers
	// themselves (git ls-remote). May be nil if every target resolves.
	Resolver BaseResolver
	Store    Store
	// GoneGrace is how long a unit gone from its forge is kept before it is
	// forgotten.
	GoneGrace time.Duration
	// Concurrency bounds simultaneous triggers; 0 means 4.
	Concurrency int
	// MaxRunning bounds, by target name, the builds running at once: the
	// jobs trawl follows that have no final result yet. Units beyond it
	// are queued, oldest fingerprint first. A target not named, or 0, is
	// unbounded.
	MaxRunning map[string]int
	Limits     graph.Limits
	// Reporters lists, by source name, where the results of that source's
	// units are reported.
	Reporters map[string][]Reporter
	// Relays names, by source name, the reporter that relayed statuses are
	// posted through: the source's own commit status reporter.
	Relays map[string]Reporter
	// RetryInfra is, by source name, how many times a unit whose job ended
	// in an infrastructure error is triggered again for the same
	// fingerprint (0: never). A failure is never retried.
	RetryInfra map[string]int
	// ReportMaxAge is, by source name, how long a report may wait in the
	// outbox (retried after failures) before it is dropped with a log line
	// and counted by Expired; 0 means it waits for ever.
	ReportMaxAge map[string]time.Duration
	// Requests returns the running request counts of every HTTP client, so
	// a cycle can log what it cost. Nil means no counts.
	Requests func() httpx.Counts
	Logger   *zap.Logger
	Now      func() time.Time
}

// Mode says whether a cycle acts.
type Mode int

const (
	// Act triggers new and changed units and saves the state.
	Act Mode = iota
	// Plan computes everything, triggers nothing and writes nothing.
	Plan
)

// Runner runs cycles. Cycles never overlap: the state is read and written
// whole, so a cycle waits for the one before it.
type Runner struct {
	o   Options
	log *zap.Logger
	now func() time.Time
	// running admits one cycle at a time; a cycle waits for it under its
	// own deadline.
	running   chan struct{}
	sources   map[string]Source
	targets   map[string]Target
	reporters map[string][]Reporter
	order     []string // source names in configuration order
	// last is the latest complete snapshot of each source, used for the
	// dependencies of changes whose source is outside a cycle's scope.
	last map[string][]change.Change
	// expired counts the reports dropped for their age (ReportMaxAge).
	expired   atomic.Int64
	observers []Observer
}

// Expired is how many reports were dropped from the outbox for being older
// than their source's ReportMaxAge since the Runner was made.
func (r *Runner) Expired() int64 { return r.expired.Load() }

// New returns a Runner. Every target a change names must be among
// o.Targets (config validation guarantees it).
func New(o Options) *Runner {
	r := &Runner{
		o:         o,
		log:       o.Logger,
		now:       o.Now,
		sources:   map[string]Source{},
		targets:   map[string]Target{},
		reporters: o.Reporters,
		last:      map[string][]change.Change{},
		running:   make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.o.Concurrency <= 0 {
		r.o.Concurrency = 4
	}
	for _, s := range o.Sources {
		r.sources[s.Name()] = s
		r.order = append(r.order, s.Name())
	}
	for _, t := range o.Targets {
		r.targets[t.Name()] = t
	}
	return r
}

// Run runs one cycle over the sources named in scope (all sources when
// scope is empty). The error is reserved for what makes the cycle itself
// impossible (the state cannot be loaded or saved); failed sources and
// triggers are counted in the report and logged.
//
// A cycle is a sequence of stages, each in its own file. decide is pure:
// the stages before it read everything it looks at (all the network I/O of
// deciding), the stages after it act on what it decided. Nothing reaches
// the network between the triggers and the first save of the state
// (DESIGN.md, rule 2).
func (r *Runner) Run(ctx context.Context, mode Mode, scope []string) (rep *Report, err error) {
	select {
	case r.running <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("cycle: waiting for the previous cycle: %w", ctx.Err())
	}
	defer func() { <-r.running }()

	start := r.now()
	before := r.requests()
	var st *state.State
	defer func() { r.finish(rep, st, start, before, err) }()
	p, err := r.begin(mode, scope, start)
	if err != nil {
		return nil, err
	}
	rep = p.rep

	r.fetch(ctx, p)       // fetch.go
	r.resolveRefs(ctx, p) // refs.go
	// The state is read where the cycle first needs it, to compare, and
	// not before the fetch: what the sources hold while they fetch would
	// add to the loaded copy at the peak of a tick (at 10k units, 15 MB).
	if p.st, err = r.o.Store.Load(); err != nil {
		return rep, fmt.Errorf("cycle: load state: %w", err)
	}
	st = p.st
	r.resolveBases(ctx, p)                // bases.go
	r.record(p, decide(r.decideInput(p))) // decide.go, record.go
	r.queue(ctx, p)                       // admit.go
	if mode == Act {
		r.trigger(ctx, p) // trigger.go
	}
	r.waits(p)             // sweep.go
	r.sweep(p, sweepUnits) // sweep.go
	if mode == Plan {
		r.sweep(p, sweepRelays)
		return rep, nil
	}
	// Rule 2: the triggers are persisted before anything else happens.
	if err := r.persist(st, "save state"); err != nil { // persist.go
		return rep, err
	}
	r.relay(ctx, p)         // relay.go
	r.sweep(p, sweepRelays) // sweep.go
	r.results(ctx, p)       // results.go
	r.drain(ctx, p)         // post.go
	return rep, r.persist(st, "save state after reporting")
}

// pass is one cycle's working data, handed from stage to stage.
type pass struct {
	mode  Mode
	start time.Time
	// scope is the set of sources the cycle runs for.
	scope map[string]struct{}
	st    *state.State
	rep   *Report
	// all is the snapshot: every change fetched (or remembered) this
	// cycle, then with its references resolved; changes indexes it by key.
	all     []change.Change
	changes map[change.Key]*change.Change
	// unknown names the sources that failed this cycle or have no
	// snapshot.
	unknown map[string]bool
	graph   graph.Result
	bases   map[baseKey]baseAnswer
	// units are the units the bases stage looked up, for decide.
	units *unitTable
	// seen are the state records this cycle saw; sweep handles the others.
	seen    map[string]bool
	pending []*pendingTrigger
}

// begin checks the scope and starts the report; the state is loaded
// later (see Run). It returns no pass when the scope names an unknown
// source.
func (r *Runner) begin(mode Mode, names []string, start time.Time) (*pass, error) {
	scope, err := r.scope(names)
	if err != nil {
		return nil, err
	}
	p := &pass{mode: mode, start: start, scope: scope, rep: &Report{Mode: mode, Started: start},
		unknown: map[string]bool{}, seen: map[string]bool{}}
	for _, name := range r.order {
		if _, ok := scope[name]; ok {
			p.rep.Scope = append(p.rep.Scope, name)
		}
	}
	r.log.Info("cycle starting", zap.Strings("sources", p.rep.Scope), zap.Bool("plan", mode == Plan))
	return p, nil
}

// scope maps the requested source names to a set, rejecting unknown names.
func (r *Runner) scope(names []string) (map[string]struct{}, error) {
	set := map[string]struct{}{}
	if len(names) == 0 {
		for _, n := range r.order {
			set[n] = struct{}{}
		}
		return set, nil
	}
	for _, n := range names {
		if _, ok := r.sources[n]; !ok {
			return nil, fmt.Errorf("cycle: no source named %q", n)
		}
		set[n] = struct{}{}
	}
	return set, nil
}

func (r *Runner) requests() httpx.Counts {
	if r.o.Requests == nil {
		return httpx.Counts{}
	}
	return r.o.Requests()
}

// logSummary logs the cycle's last line: at info level, at warn level when
// a source, trigger or base failed, at error level when the cycle itself
// failed.
func (r *Runner) logSummary(rep *Report, err error) {
	level, msg := zap.InfoLevel, "cycle"
	switch {
	case err != nil:
		level, msg = zap.ErrorLevel, "cycle failed"
	case rep.Errors > 0:
		level, msg = zap.WarnLevel, "cycle ended with errors"
	}
	r.log.Log(level, msg,
		zap.Error(err),
		zap.Strings("scope", rep.Scope),
		zap.Bool("plan", rep.Mode == Plan),
		zap.Int("sources", rep.Sources),
		zap.Int("unknown_sources", len(rep.UnknownSources)),
		zap.Int("changes", rep.Changes),
		zap.Int("units", rep.Count.Units),
		zap.Int("triggered", rep.Count.Triggered),
		zap.Int("adopted", rep.Count.Adopted),
		zap.Int("unchanged", rep.Count.Unchanged),
		zap.Int("blocked", rep.Count.Blocked),
		zap.Int("waiting", rep.Count.Waiting),
		zap.Int("queued", rep.Count.Queued),
		zap.Int("unknown", rep.Count.Unknown),
		zap.Int("gone", rep.Count.Gone),
		zap.Int("reports_posted", rep.Reports.Posted),
		zap.Int("reports_already_there", rep.Reports.Found),
		zap.Int("reports_retrying", rep.Reports.Retrying),
		zap.Int("reports_refused", rep.Reports.Failed),
		zap.Int("errors", rep.Errors),
		zap.Int64("requests_network", rep.Requests.Network),
		zap.Int64("requests_revalidated", rep.Requests.Revalidated),
		zap.Int64("requests_cache", rep.Requests.Cache),
		zap.Int64("requests_failed", rep.Requests.Failed),
		zap.Int64("bytes", rep.Requests.Bytes),
		zap.Duration("duration", rep.Duration))
}
