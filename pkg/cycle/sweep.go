package cycle

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
)

// waits records since when each unit of the cycle waits, and reports a
// unit that has waited longer than its target allows (WaitLimit): it stays
// waiting, and the wait becomes an error of the cycle, logged and kept as
// the unit's reason for status.
func (r *Runner) waits(p *pass) {
	st, now, rep := p.st, p.start, p.rep
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

// sweepSet says which records a sweep handles.
type sweepSet int

const (
	// sweepUnits: the units of targets, after the triggers.
	sweepUnits sweepSet = iota
	// sweepRelays: the relay records, after the relay stage has seen
	// those whose link is still there.
	sweepRelays
)

// sweep handles the records of one set not seen this cycle. A unit of a source that was
// fetched completely and no longer yields it is gone; after the grace period
// it is forgotten. Units of unknown or out-of-scope sources are untouched:
// a failed fetch never reads as "gone".
func (r *Runner) sweep(p *pass, which sweepSet) {
	st, scope, unknown, now, rep := p.st, p.scope, p.unknown, p.start, p.rep
	var unseen []string // in key order
	for k, u := range st.Units {
		if !p.seen[k] && (u.Target == relayTarget) == (which == sweepRelays) {
			unseen = append(unseen, k)
		}
	}
	slices.Sort(unseen)
	for _, k := range unseen {
		u := st.Units[k]
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
