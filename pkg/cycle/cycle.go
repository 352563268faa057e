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
package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Source is what the cycle needs from a forge: every open, buildable change
// of one configured place, or an error if any request failed.
type Source interface {
	Name() string
	Fetch(ctx context.Context) ([]change.Change, error)
}

// Target is what the cycle needs from a CI backend. Trigger must be
// idempotent: it adopts a job that already exists for the same request
// rather than creating a second one, and returns an error wrapping
// targets.ErrWaiting when the unit cannot be built yet.
type Target interface {
	Name() string
	ConfigHash() string
	Trigger(ctx context.Context, r targets.Request) (targets.Job, error)
}

// BaseResolver resolves a branch of a tree to its current commit. A target
// that has its own view of the tree (KernelCI's checkout nodes) implements it
// and is asked first; the others use Options.Resolver.
type BaseResolver interface {
	ResolveBase(ctx context.Context, url, branch string) (string, error)
}

// WaitLimit is implemented by targets that bound how long a unit may wait
// on them (KernelCI: for a checkout of its base). A unit that has waited
// longer is an error of the cycle, logged and shown by status, naming why
// it waits.
type WaitLimit interface {
	MaxWait() time.Duration
}

// Store loads and saves the whole state.
type Store interface {
	Load() (*state.State, error)
	Save(*state.State) error
}

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
	inScope, err := r.scope(scope)
	if err != nil {
		return nil, err
	}
	rep = &Report{Mode: mode, Started: start}
	for _, name := range r.order {
		if _, ok := inScope[name]; ok {
			rep.Scope = append(rep.Scope, name)
		}
	}
	r.log.Info("cycle starting", zap.Strings("sources", rep.Scope), zap.Bool("plan", mode == Plan))
	if st, err = r.o.Store.Load(); err != nil {
		return rep, fmt.Errorf("cycle: load state: %w", err)
	}

	fetched := r.fetch(ctx, r.withoutSnapshot(inScope))
	var all []change.Change
	unknown := map[string]bool{}
	for _, name := range r.order {
		if f, ok := fetched[name]; ok {
			// A source outside the scope was fetched only for the
			// dependencies of the scope's changes: it is not counted.
			_, own := inScope[name]
			if own {
				rep.Sources++
			}
			if f.err != nil {
				unknown[name] = true
				if own {
					rep.Errors++
					rep.UnknownSources = append(rep.UnknownSources, SourceError{Source: name, Err: f.err.Error()})
				}
				r.log.Warn("source unknown this cycle", zap.String("source", name), zap.Error(f.err))
				continue
			}
			r.last[name] = f.changes
			all = append(all, f.changes...)
			if own {
				rep.Changes += len(f.changes)
			}
			continue
		}
		if prev, ok := r.last[name]; ok {
			all = append(all, prev...)
		} else {
			unknown[name] = true
		}
	}

	// A failed dependency look-up is an error of the cycle, like a failed
	// source: its dependents are unknown.
	var failed int
	all, failed = r.resolveRefs(ctx, all, unknown)
	rep.Errors += failed
	g := graph.Build(all, unknown, r.o.Limits)
	r.logGraph(g)
	ev := newEvaluator(ctx, r, st, all, g)
	seen := map[string]bool{}
	var pending []*pendingTrigger
	for _, key := range g.Order {
		c := ev.changes[key]
		if _, ok := inScope[c.Source]; !ok || c.Merged {
			// A merged change is no unit: only its dependents carry it.
			continue
		}
		for _, tname := range c.Targets {
			t, ok := r.targets[tname]
			if !ok {
				continue
			}
			uk := change.UnitKey(c.Key, tname)
			seen[uk] = true
			u := st.Units[uk]
			if u == nil {
				u = &state.Unit{Change: string(c.Key), Target: tname, Source: c.Source, FirstSeen: start}
				st.Units[uk] = u
			}
			u.Source = c.Source
			u.LastSeen = start
			u.GoneSince = nil
			node := g.Nodes[key]
			ur := UnitReport{Unit: uk, Change: c.Key, Source: c.Source, Target: tname, Title: c.Title, Deps: node.Closure}
			switch node.Status {
			case graph.Blocked:
				ur.Outcome, ur.Detail = OutcomeBlocked, node.Reason
			case graph.Unknown:
				ur.Outcome, ur.Detail = OutcomeUnknown, node.Reason
			default:
				e := ev.unit(key, t)
				ur.Fingerprint = e.fp
				if e.fp != "" {
					ur.Deps = e.closure
					ur.Inputs = &e.in
				}
				switch {
				case e.err != nil:
					// A base that cannot be resolved makes the unit wait; the
					// failure is still an error of this cycle.
					ur.Outcome, ur.Detail = OutcomeWaiting, e.wait+": "+e.err.Error()
					rep.Errors++
					r.log.Warn("base unresolved", zap.String("unit", uk), zap.Error(e.err))
				case e.wait != "":
					ur.Outcome, ur.Detail = OutcomeWaiting, e.wait
				default:
					if u.Current != e.fp || u.CurrentSince == nil {
						t := start
						u.Current, u.CurrentSince = e.fp, &t
					}
					if !e.base.Exact && u.BaseCommit == "" {
						u.BaseCommit = e.base.Commit
					}
					reason, why := decide(u, e.fp, e.in)
					switch {
					case reason == ReasonUnchanged && u.RetriggerRequested != nil:
						reason, why = ReasonRetrigger, []string{WhyRetrigger}
					case reason == ReasonUnchanged && retryInfra(u, r.o.RetryInfra[c.Source]):
						reason = ReasonRetry
						why = []string{fmt.Sprintf("infrastructure error in job %s: retry %d of %d", u.Job.ID, u.Attempt+1, r.o.RetryInfra[c.Source])}
					}
					ur.Reason, ur.Why = reason, why
					if reason == ReasonUnchanged {
						ur.Outcome = OutcomeUnchanged
						break
					}
					ur.Outcome = OutcomeTrigger
					req := ev.request(uk, c, e)
					if reason == ReasonRetry || (reason == ReasonRetrigger && u.Job != nil) {
						// A new attempt: the target must not adopt the
						// jobs of the earlier ones.
						req.Attempt = u.Attempt + 1
						req.Exclude = append(slices.Clone(u.PreviousJobs), u.Job.ID)
					}
					pending = append(pending, &pendingTrigger{unit: u, report: len(rep.Units), eval: e, req: req, supersedes: c.Supersedes})
				}
			}
			if ur.Outcome != OutcomeTrigger {
				u.Status, u.Reason = ur.Outcome, ur.Detail
			}
			rep.Units = append(rep.Units, ur)
		}
	}

	pending = r.queue(ctx, st, pending, rep)
	r.logStage("decisions", rep.Units)
	if mode == Act {
		r.trigger(ctx, pending, rep)
		r.logStage("triggers done", rep.Units, zap.Int("attempted", len(pending)))
		r.relay(ctx, st, all, inScope, unknown, seen, rep)
	}
	r.waits(st, start, rep)
	r.sweep(st, inScope, unknown, seen, start, rep)
	rep.count()
	if mode == Act {
		// Rule 2: the triggers are persisted before anything else happens.
		if err := r.o.Store.Save(st); err != nil {
			return rep, fmt.Errorf("cycle: save state: %w", err)
		}
		r.results(ctx, st, rep, ev.changes)
		r.log.Info("results polled", zap.Int("results", polled(rep.Units)))
		r.drain(ctx, st, rep)
		r.log.Info("reports done", zap.Int("posted", rep.Reports.Posted), zap.Int("already_there", rep.Reports.Found),
			zap.Int("retrying", rep.Reports.Retrying), zap.Int("refused", rep.Reports.Failed), zap.Int("outbox", len(st.Outbox)))
		if err := r.o.Store.Save(st); err != nil {
			return rep, fmt.Errorf("cycle: save state after reporting: %w", err)
		}
	}
	return rep, nil
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

// withoutSnapshot adds to scope the sources outside it that have no
// complete snapshot yet (the first cycle of a process, `trawl once
// --source`), so that dependencies on them are read rather than unknown.
func (r *Runner) withoutSnapshot(scope map[string]struct{}) map[string]struct{} {
	out := make(map[string]struct{}, len(r.order))
	for _, n := range r.order {
		_, in := scope[n]
		_, known := r.last[n]
		if in || !known {
			out[n] = struct{}{}
		}
	}
	return out
}

type fetchResult struct {
	changes []change.Change
	err     error
}

// fetch polls every source in scope concurrently; each goroutine ends when
// its Fetch returns, which the context bounds.
func (r *Runner) fetch(ctx context.Context, scope map[string]struct{}) map[string]fetchResult {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string]fetchResult{}
	)
	for name := range scope {
		src := r.sources[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			changes, err := src.Fetch(ctx)
			r.fetched(src.Name(), len(changes), time.Since(began), err)
			mu.Lock()
			out[src.Name()] = fetchResult{changes: changes, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

type pendingTrigger struct {
	unit   *state.Unit
	report int
	eval   *evaluation
	req    targets.Request
	job    targets.Job
	err    error
	// supersedes are the older revisions a new one replaces, for its log
	// line.
	supersedes []change.Key
}

// trigger runs the pending triggers with bounded concurrency, then records
// each outcome. A failed trigger keeps the old fingerprint, so the unit is
// tried again next cycle (where the target first looks for the job).
func (r *Runner) trigger(ctx context.Context, pending []*pendingTrigger, rep *Report) {
	sem := make(chan struct{}, r.o.Concurrency)
	var wg sync.WaitGroup
	for _, p := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				p.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			p.job, p.err = r.targets[p.eval.target].Trigger(ctx, p.req)
		}()
	}
	wg.Wait()
	now := r.now()
	for _, p := range pending {
		ur := &rep.Units[p.report]
		u := p.unit
		switch {
		case p.err != nil && errors.Is(p.err, targets.ErrWaiting):
			ur.Outcome, ur.Detail = OutcomeWaiting, p.err.Error()
		case p.err != nil:
			ur.Outcome, ur.Detail = OutcomeFailed, p.err.Error()
			r.log.Error("trigger failed", zap.String("unit", ur.Unit), zap.String("fingerprint", fingerprint.Short(p.eval.fp)), zap.Error(p.err))
		default:
			inputs, err := json.Marshal(p.eval.in)
			if err != nil {
				ur.Outcome, ur.Detail = OutcomeFailed, fmt.Sprintf("encode fingerprint inputs: %v", err)
				break
			}
			job := p.job
			if p.req.Attempt > 0 {
				u.Attempt, u.PreviousJobs = p.req.Attempt, p.req.Exclude
			} else {
				u.Attempt, u.PreviousJobs = 0, nil
			}
			u.Fingerprint, u.Inputs, u.Job = p.eval.fp, inputs, &job
			u.TriggeredAt = &now
			u.TriggerReason = ur.Reason.String()
			u.RetriggerRequested = nil
			u.Result, u.ResultAt = nil, nil // the old job's result says nothing about the new fingerprint
			if job.BaseCommit != "" && !p.eval.base.Exact {
				u.BaseCommit = job.BaseCommit
			}
			ur.Job = &job
			ur.Outcome, ur.Detail = OutcomeTriggered, ""
			if job.Adopted {
				ur.Outcome = OutcomeAdopted
			}
			why := ur.Why
			if ur.Reason == ReasonNew && p.req.Attempt == 0 {
				why = []string{"new unit"}
			}
			r.log.Info(string(ur.Outcome), append([]zap.Field{
				zap.String("unit", ur.Unit),
				zap.String("fingerprint", fingerprint.Short(p.eval.fp)),
				zap.String("reason", ur.Reason.String()),
				zap.Strings("why", why),
				zap.String("job", job.ID),
				zap.String("base", p.req.Base.Commit)}, supersedes(p.supersedes)...)...)
		}
		u.Status, u.Reason = ur.Outcome, ur.Detail
	}
}

// waits records since when each unit of the cycle waits, and reports a
// unit that has waited longer than its target allows (WaitLimit): it stays
// waiting, and the wait becomes an error of the cycle, logged and kept as
// the unit's reason for status.
func (r *Runner) waits(st *state.State, now time.Time, rep *Report) {
	for i := range rep.Units {
		ur := &rep.Units[i]
		u := st.Units[ur.Unit]
		if u == nil {
			continue
		}
		if ur.Outcome != OutcomeWaiting {
			u.WaitingSince = nil
			continue
		}
		if u.WaitingSince == nil {
			t := now
			u.WaitingSince = &t
		}
		wl, ok := r.targets[ur.Target].(WaitLimit)
		if !ok || wl.MaxWait() <= 0 {
			continue
		}
		waited := now.Sub(*u.WaitingSince)
		if waited <= wl.MaxWait() {
			continue
		}
		ur.Detail = fmt.Sprintf("waited %s, longer than the %s target %s allows: %s",
			waited.Round(time.Minute), wl.MaxWait(), ur.Target, ur.Detail)
		u.Reason = ur.Detail
		rep.Errors++
		r.log.Error("unit waited too long", zap.String("unit", ur.Unit), zap.Time("since", *u.WaitingSince),
			zap.Duration("limit", wl.MaxWait()), zap.String("why", ur.Detail))
	}
}

// sweep handles units not seen this cycle. A unit of a source that was
// fetched completely and no longer yields it is gone; after the grace period
// it is forgotten. Units of unknown or out-of-scope sources are untouched:
// a failed fetch never reads as "gone".
func (r *Runner) sweep(st *state.State, scope map[string]struct{}, unknown map[string]bool, seen map[string]bool, now time.Time, rep *Report) {
	for _, k := range sortedKeys(st.Units) {
		u := st.Units[k]
		if seen[k] {
			continue
		}
		// A unit of a source or target no longer configured would never be
		// swept by its source: it goes as gone ones do, after the grace.
		detail := "no longer an open, complete change on its source (superseded, accepted, archived or closed)"
		_, hasSource := r.sources[u.Source]
		_, hasTarget := r.targets[u.Target]
		switch {
		case !hasSource:
			detail = fmt.Sprintf("source %q is no longer configured", u.Source)
		case !hasTarget:
			detail = fmt.Sprintf("target %q is no longer configured", u.Target)
		default:
			if _, ok := scope[u.Source]; !ok || unknown[u.Source] {
				continue
			}
		}
		ur := UnitReport{Unit: k, Change: change.Key(u.Change), Source: u.Source, Target: u.Target, Fingerprint: u.Fingerprint,
			Outcome: OutcomeGone, Detail: detail}
		if u.GoneSince == nil {
			t := now
			u.GoneSince = &t
		}
		if now.Sub(*u.GoneSince) >= r.o.GoneGrace {
			ur.Outcome = OutcomeForgotten
			ur.Detail = fmt.Sprintf("gone for longer than %s: forgotten", r.o.GoneGrace)
			delete(st.Units, k)
		} else {
			u.Status, u.Reason = OutcomeGone, ur.Detail
		}
		rep.Units = append(rep.Units, ur)
	}
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

// polled counts the units whose job result was polled this cycle.
func polled(units []UnitReport) int {
	n := 0
	for _, u := range units {
		if u.Result != nil {
			n++
		}
	}
	return n
}
