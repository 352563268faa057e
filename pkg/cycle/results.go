package cycle

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// results is the stage after the relays (Act only): it follows the job of every unit whose job belongs to its current
// fingerprint, and queues what is to be reported.
func (r *Runner) results(ctx context.Context, p *pass) {
	st, rep, changes := p.st, p.rep, p.changes
	now := r.now()
	for i := range rep.Units {
		ur := &rep.Units[i]
		switch ur.Outcome {
		case OutcomeTriggered, OutcomeAdopted, OutcomeUnchanged:
		default:
			continue
		}
		u := st.Units[ur.Unit]
		c := changes[ur.Change]
		if u == nil || u.Job == nil || c == nil || u.Fingerprint != ur.Fingerprint {
			continue
		}
		res := r.poll(ctx, u, ur, rep)
		if res == nil {
			continue
		}
		if u.Result == nil || *u.Result != *res {
			u.Result = res
			t := now
			u.ResultAt = &t
		}
		for _, rp := range r.reporters[c.Source] {
			r.enqueue(st, u, c, rp, *res, now)
		}
	}
	r.log.Info("results polled", zap.Int("results", polled(rep.Units)))
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

// poll returns the unit's current result: a conclusive result is final and
// not polled again; a target that cannot be followed reports "triggered"
// as pending once. A failed poll (a timeout included) is an error of the
// cycle. A job that no longer exists is dropped with the unit's
// fingerprint, so that the next cycle triggers the unit again.
func (r *Runner) poll(ctx context.Context, u *state.Unit, ur *UnitReport, rep *Report) *targets.Result {
	if u.Result != nil && u.Result.State.Conclusive() {
		return u.Result
	}
	pending := &targets.Result{State: targets.StatePending, Summary: "build triggered: job " + u.Job.ID, URL: u.Job.URL}
	p, ok := r.targets[u.Target].(ResultPoller)
	if !ok {
		return pending
	}
	res, err := p.Result(ctx, *u.Job)
	if errors.Is(err, targets.ErrJobGone) {
		r.log.Warn("job vanished from its target; the unit triggers again next cycle",
			zap.String("unit", ur.Unit), zap.String("job", u.Job.ID), zap.Error(err))
		u.Reason = fmt.Sprintf("job %s vanished from target %s; triggering again", u.Job.ID, u.Target)
		u.Job, u.Fingerprint, u.TriggeredAt, u.Result, u.ResultAt = nil, "", nil, nil, nil
		return nil
	}
	if err != nil {
		rep.Errors++
		r.log.Error("result poll failed", zap.String("unit", ur.Unit), zap.String("job", u.Job.ID), zap.Error(err))
		if u.Result != nil {
			return u.Result
		}
		return pending
	}
	if res.URL == "" {
		res.URL = u.Job.URL
	}
	ur.Result = &res
	return &res
}
