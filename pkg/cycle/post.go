package cycle

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Outbox backoff: the first retry after a minute, doubling up to an hour.
const (
	retryFirst = time.Minute
	retryMax   = time.Hour
)

// shouldReport decides whether a result is to be reported, given what the
// reporter last wrote for the unit. It is the exactness rule of reporting:
// never the same state twice for a fingerprint, and never pending after a
// conclusive state of the same fingerprint. A new fingerprint starts over.
func shouldReport(last *state.Reported, fp string, s targets.State, posted string) bool {
	if last == nil || last.Fingerprint != fp {
		return true
	}
	if last.Posted == posted {
		return false
	}
	if !s.Conclusive() && last.State.Conclusive() {
		return false
	}
	return true
}

// enqueue queues a report of unit u's result unless the exactness rule
// says it was made already.
func (r *Runner) enqueue(st *state.State, u *state.Unit, c *change.Change, rp Reporter, res targets.Result, now time.Time) {
	r.enqueueAs(st, change.UnitKey(c.Key, u.Target), u, c, rp, res, "", now)
}

// enqueueAs queues a report of record unit (u) under reporting context
// reportCtx ("" for the reporter's own). A queued report for the same
// record and reporter is replaced: only the newest state is worth posting.
func (r *Runner) enqueueAs(st *state.State, unit string, u *state.Unit, c *change.Change, rp Reporter, res targets.Result, reportCtx string, now time.Time) {
	posted, ok := rp.Map(res.State)
	if !ok {
		return
	}
	if !shouldReport(u.Reports[rp.Name()], u.Fingerprint, res.State, posted) {
		return
	}
	for _, p := range st.Outbox {
		if p.Reporter == rp.Name() && p.Message.Unit == unit && p.Message.Fingerprint == u.Fingerprint {
			if p.Posted == posted || (!res.State.Conclusive() && p.Message.State.Conclusive()) {
				return
			}
		}
	}
	st.Outbox = slices.DeleteFunc(st.Outbox, func(p *state.Post) bool {
		return p.Reporter == rp.Name() && p.Message.Unit == unit
	})
	st.Outbox = append(st.Outbox, &state.Post{
		Reporter: rp.Name(),
		Message: report.Message{
			Unit:        unit,
			Change:      string(c.Key),
			ChangeURL:   c.WebURL,
			Title:       c.Title,
			Submitter:   c.Submitter,
			Target:      u.Target,
			Fingerprint: u.Fingerprint,
			State:       res.State,
			Summary:     res.Summary,
			URL:         res.URL,
			Context:     reportCtx,
		},
		Posted:      posted,
		Items:       rp.Items(c),
		NextAttempt: now,
		Created:     now,
	})
}

// drain is the stage before the last persist (Act only): it posts every
// due report of the outbox. A report whose unit is gone
// or whose fingerprint changed since it was queued is dropped: an old
// revision's result never lands on a new one. So is a report older than its
// source's ReportMaxAge: retries are bounded. A retryable failure backs
// off; a permanent one is logged once, recorded and dropped.
func (r *Runner) drain(ctx context.Context, p *pass) {
	st, rep := p.st, p.rep
	now := r.now()
	byName := map[string]Reporter{}
	for _, rps := range r.reporters {
		for _, rp := range rps {
			byName[rp.Name()] = rp
		}
	}
	var keep []*state.Post
	var due []*state.Post
	for _, p := range st.Outbox {
		u := st.Units[p.Message.Unit]
		rp := byName[p.Reporter]
		switch {
		case u == nil || u.Fingerprint != p.Message.Fingerprint:
			r.log.Debug("report dropped: unit gone or fingerprint changed", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter))
			rep.Reports.Dropped++
			continue
		case rp == nil:
			r.log.Warn("report dropped: reporter no longer configured", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter))
			rep.Reports.Dropped++
			continue
		case r.o.ReportMaxAge[u.Source] > 0 && now.Sub(p.Created) > r.o.ReportMaxAge[u.Source]:
			r.log.Warn("report dropped: older than report.max_age; not retried", zap.String("unit", p.Message.Unit),
				zap.String("reporter", p.Reporter), zap.String("state", p.Posted), zap.Time("created", p.Created),
				zap.Duration("max_age", r.o.ReportMaxAge[u.Source]), zap.Int("attempts", p.Attempts), zap.String("last_error", p.LastError))
			// Recorded like a refusal, so the same state is not queued
			// again; a new state or fingerprint is reported as usual.
			u.Reports = setReported(u.Reports, p, now, fmt.Sprintf("dropped after %s in the outbox: %s", r.o.ReportMaxAge[u.Source], p.LastError))
			rep.Reports.Dropped++
			r.expired.Add(1)
			continue
		case p.NextAttempt.After(now) || ctx.Err() != nil:
			keep = append(keep, p)
			continue
		}
		due = append(due, p)
		keep = append(keep, p)
	}
	outcomes := r.postAll(ctx, st, due, byName, now)
	keep = slices.DeleteFunc(keep, func(p *state.Post) bool {
		o, ok := outcomes[p]
		return ok && o != postRetry
	})
	for _, p := range due {
		u := st.Units[p.Message.Unit]
		o, ok := outcomes[p]
		if !ok {
			continue // not posted: the cycle was cancelled first
		}
		switch o {
		case postDone:
			u.Reports = setReported(u.Reports, p, now, "")
			rep.Reports.Posted++
			r.log.Info("reported", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
				zap.String("state", p.Posted), zap.String("summary", p.Message.Summary), zap.Int("items", len(p.Items)))
		case postFound:
			u.Reports = setReported(u.Reports, p, now, "")
			u.Reports[p.Reporter].Found = true
			rep.Reports.Found++
			r.log.Info("already reported: found on every item, nothing posted", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
				zap.String("state", p.Posted), zap.Int("items", len(p.Items)))
		case postRefused:
			u.Reports = setReported(u.Reports, p, now, p.LastError)
			rep.Reports.Failed++
			rep.Errors++
		case postRetry:
			rep.Reports.Retrying++
		}
	}
	st.Outbox = keep
	rep.Reports.Queued = len(keep)
	r.log.Info("reports done", zap.Int("posted", rep.Reports.Posted), zap.Int("already_there", rep.Reports.Found),
		zap.Int("retrying", rep.Reports.Retrying), zap.Int("refused", rep.Reports.Failed), zap.Int("outbox", len(st.Outbox)))
}

// postOutcome is how posting one queued report ended.
type postOutcome int

const (
	postDone    postOutcome = iota // done on every item, with at least one post
	postFound                      // found already there on every item; nothing posted
	postRetry                      // a retryable failure; the next attempt is scheduled
	postRefused                    // refused for good; not retried
)

// setReported records what was reported (or refused, with why) for p's
// reporter on its unit.
func setReported(m map[string]*state.Reported, p *state.Post, now time.Time, failed string) map[string]*state.Reported {
	if m == nil {
		m = map[string]*state.Reported{}
	}
	m[p.Reporter] = &state.Reported{Fingerprint: p.Message.Fingerprint, State: p.Message.State, Posted: p.Posted, At: now, Failed: failed}
	return m
}

// postWorkers bounds the posts one reporter (one forge instance, one
// credential) has in flight.
const postWorkers = 8

// postAll posts the due reports, concurrently within postWorkers per
// reporter, and returns how each ended. Before the first post it records,
// in the state and on disk, the items whose posting starts: an item found
// so recorded by a later cycle is looked up before it is posted again. If
// that record cannot be written, every item is looked up first; so are
// the items of a unit whose job was adopted (after a lost state).
func (r *Runner) postAll(ctx context.Context, st *state.State, due []*state.Post, byName map[string]Reporter, now time.Time) map[*state.Post]postOutcome {
	look := map[*state.Post][]string{} // items to look up before posting
	for _, p := range due {
		look[p] = slices.Clone(p.Started)
		if u := st.Units[p.Message.Unit]; u == nil || u.Job == nil || u.Job.Adopted {
			// An adopted job was triggered by a run whose state was lost:
			// its reports may be on the server already.
			look[p] = slices.Clone(p.Items)
		}
		for _, item := range p.Items {
			if !slices.Contains(p.Done, item) && !slices.Contains(p.Started, item) {
				p.Started = append(p.Started, item)
			}
		}
	}
	if len(due) > 0 {
		if err := r.o.Store.Save(st); err != nil {
			r.log.Warn("could not record the reports about to be posted: every item is looked up before it is posted", zap.Error(err))
			for _, p := range due {
				look[p] = slices.Clone(p.Items)
			}
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[*state.Post]postOutcome, len(due))
		sem = map[string]chan struct{}{}
	)
	for _, p := range due {
		if sem[p.Reporter] == nil {
			sem[p.Reporter] = make(chan struct{}, postWorkers)
		}
	}
	for _, p := range due {
		s := sem[p.Reporter]
		select {
		case s <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-s }()
			o := r.post(ctx, byName[p.Reporter], p, look[p], now)
			mu.Lock()
			out[p] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// post posts p on every item not done yet, in order. It ends in postFound
// only when every item was found already there in this call: items done
// by an earlier attempt count as posted, since whether that attempt posted
// or found them is not kept.
// Items not in look are posted without looking first when rp is a Poster.
func (r *Runner) post(ctx context.Context, rp Reporter, p *state.Post, look []string, now time.Time) postOutcome {
	found := len(p.Done) == 0
	poster, direct := rp.(Poster)
	for _, item := range p.Items {
		if slices.Contains(p.Done, item) {
			continue
		}
		var done report.Done
		var err error
		if direct && !slices.Contains(look, item) {
			done, err = report.Posted, poster.Post(ctx, item, p.Message, p.Posted)
		} else {
			done, err = rp.Report(ctx, item, p.Message, p.Posted)
		}
		if err == nil {
			p.Done = append(p.Done, item)
			found = found && done == report.Found
			continue
		}
		p.LastError = fmt.Sprintf("%s: %v", item, err)
		if report.Permanent(err) {
			r.log.Error("report refused; not retried", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
				zap.String("item", item), zap.String("state", p.Posted), zap.Error(err))
			return postRefused
		}
		p.Attempts++
		wait := retryFirst << min(p.Attempts-1, 6)
		if wait > retryMax {
			wait = retryMax
		}
		p.NextAttempt = now.Add(wait)
		if at, ok := report.RetryAt(err); ok && at.After(p.NextAttempt) {
			p.NextAttempt = at
		}
		r.log.Warn("report failed; will retry", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
			zap.String("item", item), zap.Int("attempt", p.Attempts), zap.Time("next", p.NextAttempt), zap.Error(err))
		return postRetry
	}
	if found && len(p.Items) > 0 {
		return postFound
	}
	return postDone
}
