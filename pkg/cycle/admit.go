package cycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// candidate is a unit that is to be triggered this cycle, before
// admission: since is when its current fingerprint was first seen.
type candidate struct {
	target string
	since  time.Time
}

// admission is what admit decided for one candidate: it starts now, or
// waits at position Position (1 is next) of its target's queue.
type admission struct {
	Start    bool
	Position int
}

// admit decides which candidates start this cycle. A target named in
// limit with a positive bound starts at most limit-running of its
// candidates, the oldest first (by since; candidates seen at the same
// instant keep their order); the others queue. A target without a bound
// starts them all. It is pure: running comes from the jobs trawl follows.
func admit(cands []candidate, limit, running map[string]int) []admission {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cands[a].since.Compare(cands[b].since) })
	out := make([]admission, len(cands))
	started, queued := map[string]int{}, map[string]int{}
	for _, i := range order {
		t := cands[i].target
		if bound := limit[t]; bound <= 0 || running[t]+started[t] < bound {
			started[t]++
			out[i] = admission{Start: true}
			continue
		}
		queued[t]++
		out[i] = admission{Position: queued[t]}
	}
	return out
}

// runningJobs counts, by target, the jobs trawl follows (the job of each
// remembered unit) that have no final result yet.
func runningJobs(st *state.State) map[string]int {
	n := map[string]int{}
	for _, u := range st.Units {
		if isRunning(u) {
			n[u.Target]++
		}
	}
	return n
}

func isRunning(u *state.Unit) bool {
	return u.Job != nil && (u.Result == nil || !u.Result.State.Conclusive())
}

// full lists the targets whose candidates do not all fit in their free
// slots.
func full(cands []candidate, limit, running map[string]int) []string {
	want := map[string]int{}
	for _, c := range cands {
		want[c.target]++
	}
	var out []string
	for _, t := range sortedKeys(want) {
		if bound := limit[t]; bound > 0 && running[t]+want[t] > bound {
			out = append(out, t)
		}
	}
	return out
}

// refreshRunning polls the unfinished jobs of the given targets, so that a
// build that ended since the last results pass frees its slot this cycle
// rather than the next. A job that cannot be polled counts as running (and
// is an error of the cycle, as in the results pass); a job that vanished
// from its target is dropped as the results pass drops it, and frees its
// slot.
func (r *Runner) refreshRunning(ctx context.Context, st *state.State, busy []string, rep *Report) {
	now := r.now()
	for _, t := range busy {
		p, ok := r.targets[t].(ResultPoller)
		if !ok {
			continue
		}
		for _, k := range sortedKeys(st.Units) {
			u := st.Units[k]
			if u.Target != t || !isRunning(u) {
				continue
			}
			res, err := p.Result(ctx, *u.Job)
			if errors.Is(err, targets.ErrJobGone) {
				r.log.Warn("job vanished from its target; the unit triggers again", zap.String("unit", k), zap.String("job", u.Job.ID), zap.Error(err))
				u.Reason = fmt.Sprintf("job %s vanished from target %s; triggering again", u.Job.ID, u.Target)
				u.Job, u.Fingerprint, u.TriggeredAt, u.Result, u.ResultAt = nil, "", nil, nil, nil
				continue
			}
			if err != nil {
				rep.Errors++
				r.log.Error("result poll failed; the job counts as running", zap.String("unit", k), zap.String("job", u.Job.ID), zap.Error(err))
				continue
			}
			if !res.State.Conclusive() {
				continue
			}
			if res.URL == "" {
				res.URL = u.Job.URL
			}
			at := now
			u.Result, u.ResultAt = &res, &at
		}
	}
}

// queue is the stage between decide and trigger: it admits the pending
// triggers against each target's max_running and
// returns those that start; the others are marked queued in the report and
// the state. Their fingerprint is not stored, so they stay candidates next
// cycle, and they are seen, so they are not forgotten.
func (r *Runner) queue(ctx context.Context, p *pass) {
	p.pending = r.admitPending(ctx, p.st, p.pending, p.rep)
	r.logStage("decisions", p.rep.Units)
}

// admitPending returns the pending triggers that start now.
func (r *Runner) admitPending(ctx context.Context, st *state.State, pending []*pendingTrigger, rep *Report) []*pendingTrigger {
	if len(r.o.MaxRunning) == 0 || len(pending) == 0 {
		return pending
	}
	cands := make([]candidate, len(pending))
	for i, p := range pending {
		since := p.unit.FirstSeen
		if p.unit.CurrentSince != nil {
			since = *p.unit.CurrentSince
		}
		cands[i] = candidate{target: p.eval.target, since: since}
	}
	running := runningJobs(st)
	if busy := full(cands, r.o.MaxRunning, running); len(busy) > 0 {
		r.refreshRunning(ctx, st, busy, rep)
		running = runningJobs(st)
	}
	var start []*pendingTrigger
	for i, a := range admit(cands, r.o.MaxRunning, running) {
		p := pending[i]
		if a.Start {
			start = append(start, p)
			continue
		}
		t := p.eval.target
		ur := &rep.Units[p.report]
		ur.Outcome = OutcomeQueued
		ur.Detail = fmt.Sprintf("%s is at max_running (%d builds running); %d queued before it", t, r.o.MaxRunning[t], a.Position-1)
		p.unit.Status, p.unit.Reason = ur.Outcome, ur.Detail
	}
	return start
}
