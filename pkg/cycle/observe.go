package cycle

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Observer is told what a cycle does at its stage boundaries, so metrics
// and status pages can follow cycles without the cycle knowing them. Calls
// come from the cycle's goroutines (SourceFetched from several at once) and
// must return quickly.
type Observer interface {
	// SourceFetched reports one source's fetch: how many changes it
	// yielded, or why it is unknown this cycle.
	SourceFetched(source string, changes int, took time.Duration, err error)
	// CycleEnded reports a finished cycle. rep is nil when the cycle could
	// not start (the state could not be loaded); st is the state as the
	// cycle left it, or nil. Neither may be modified.
	CycleEnded(rep *Report, st *state.State, err error)
}

// Observe adds o to the observers told about every later cycle. It must be
// called before the first cycle runs.
func (r *Runner) Observe(o Observer) { r.observers = append(r.observers, o) }

// fetched logs one source's fetch as soon as it is done, so a long first
// tick shows progress, and tells the observers.
func (r *Runner) fetched(source string, changes int, took time.Duration, err error) {
	if err == nil {
		r.log.Info("fetch done", zap.String("source", source), zap.Int("changes", changes), zap.Duration("took", took))
	}
	for _, o := range r.observers {
		o.SourceFetched(source, changes, took, err)
	}
}

// logGraph logs the dependency graph's shape.
func (r *Runner) logGraph(g graph.Result) {
	var ready, blocked, unknown int
	for _, n := range g.Nodes {
		switch n.Status {
		case graph.Blocked:
			blocked++
		case graph.Unknown:
			unknown++
		default:
			ready++
		}
	}
	r.log.Info("graph built", zap.Int("changes", len(g.Order)), zap.Int("ready", ready),
		zap.Int("blocked", blocked), zap.Int("unknown", unknown))
}

// logStage logs the outcome counts of the units after one stage.
func (r *Runner) logStage(stage string, units []UnitReport, extra ...zap.Field) {
	fields := append([]zap.Field{zap.Int("units", len(units)), zap.Object("outcomes", outcomeCounts(units))}, extra...)
	r.log.Info(stage, fields...)
}

// outcomeCounts counts units by outcome, for stage logs.
type outcomeCounts []UnitReport

// MarshalLogObject writes one key per outcome present, in first-seen order.
func (u outcomeCounts) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	n := map[Outcome]int{}
	var order []Outcome
	for _, x := range u {
		if n[x.Outcome] == 0 {
			order = append(order, x.Outcome)
		}
		n[x.Outcome]++
	}
	for _, o := range order {
		enc.AddInt(o, n[o])
	}
	return nil
}

// finish completes the report, logs the cycle's summary (at warn level when
// something failed, at error level when the cycle itself failed) and tells
// the observers.
func (r *Runner) finish(rep *Report, st *state.State, start time.Time, before httpx.Counts, err error) {
	if rep != nil {
		rep.count()
		rep.Requests = r.requests().Sub(before)
		rep.Duration = r.now().Sub(start)
		r.logSummary(rep, err)
	} else {
		r.log.Error("cycle failed", zap.Error(err))
	}
	for _, o := range r.observers {
		o.CycleEnded(rep, st, err)
	}
}

// supersedes names, on a trigger's log line, the revisions a new one
// replaces.
func supersedes(keys []change.Key) []zap.Field {
	if len(keys) == 0 {
		return nil
	}
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	return []zap.Field{zap.Strings("supersedes", s)}
}
