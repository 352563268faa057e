package cycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// pendingTrigger is a unit decide said to trigger, on its way through
// admission and trigger.
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

// trigger is the stage after decide (Act only): it runs the pending
// triggers with bounded concurrency, then records each outcome. A failed
// trigger keeps the old fingerprint, so the unit is tried again next cycle
// (where the target first looks for the job).
func (r *Runner) trigger(ctx context.Context, p *pass) {
	pending, rep := p.pending, p.rep
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
		r.settleTrigger(p, &rep.Units[p.report], now)
	}
	r.logStage("triggers done", rep.Units, zap.Int("attempted", len(pending)))
}

// settleTrigger records how one trigger ended, in the unit's report line
// and in the state: waiting, failed (the old fingerprint stays, so the
// unit is tried again), or triggered or adopted with its job.
func (r *Runner) settleTrigger(p *pendingTrigger, ur *UnitReport, now time.Time) {
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
		u.Fingerprint, u.Inputs, u.Job = p.eval.fp, string(inputs), &job
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
