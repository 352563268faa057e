package cycle

import (
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/state"
)

// record applies decide's decisions, in order, to the state and the
// report: every decided unit is seen (and made when new), a ready unit's
// current fingerprint and pinned base are kept, a unit that is not to be
// triggered takes its outcome as status, and the units to trigger become
// the pending triggers. A base that could not be resolved is an error of
// the cycle.
func (r *Runner) record(p *pass, ds []decision) {
	p.rep.Units = slices.Grow(p.rep.Units, len(ds))
	for i := range ds {
		d := &ds[i]
		ur := d.report
		p.seen[ur.Unit] = true
		u := p.st.Units[ur.Unit]
		if u == nil {
			u = &state.Unit{Change: string(ur.Change), Target: ur.Target, Source: ur.Source, FirstSeen: p.start}
			p.st.Units[ur.Unit] = u
		}
		u.Source = ur.Source
		u.LastSeen = restamp(u.LastSeen, p.start)
		u.GoneSince = nil
		if e := d.eval; e != nil && e.err != nil {
			p.rep.Errors++
			r.log.Warn("base unresolved", zap.String("unit", ur.Unit), zap.Error(e.err))
		}
		if d.ready() {
			e := d.eval
			if u.Current != e.fp || u.CurrentSince == nil {
				t := p.start
				u.Current, u.CurrentSince = e.fp, &t
			}
			if !e.base.Exact && u.BaseCommit == "" {
				u.BaseCommit = e.base.Commit
			}
		}
		if ur.Outcome == OutcomeTrigger {
			p.pending = append(p.pending, &pendingTrigger{unit: u, report: len(p.rep.Units), eval: d.eval, req: *d.req, supersedes: d.supersedes})
		} else {
			u.Status, u.Reason = ur.Outcome, ur.Detail
		}
		p.rep.Units = append(p.rep.Units, ur)
	}
}

// SeenResolution is how precisely a unit's LastSeen is kept: a cycle that
// sees a unit restamps it only when the stamp is older than this. An
// exact stamp changed every unit on every cycle, so an idle cycle had to
// encode and write the whole state file (10k units: ~30 MB and a few
// hundred ms of CPU) only to move it; LastSeen is shown, never decided
// on (a unit leaving is timed by GoneSince).
const SeenResolution = 10 * time.Minute

// restamp returns a unit's LastSeen after a cycle that started at now saw it:
// last, unless it is older than SeenResolution (or from the future: a
// clock set back).
func restamp(last, now time.Time) time.Time {
	if d := now.Sub(last); d >= 0 && d < SeenResolution {
		return last
	}
	return now
}
