package cycle

import (
	"context"
	"errors"
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

// shouldReport applies the exactness rule of reporting
// (report.ShouldReport) to what the state records a reporter last wrote.
func shouldReport(last *state.Reported, fp string, s targets.State, posted string) bool {
	if last == nil {
		return report.ShouldReport(nil, fp, s, posted)
	}
	return report.ShouldReport(&report.Last{Fingerprint: last.Fingerprint, State: last.State, Posted: last.Posted}, fp, s, posted)
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
	m := report.Message{
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
	}
	for _, p := range st.Outbox {
		if p.Reporter == rp.Name() && p.Message.Unit == unit && report.Covered(p.Message, p.Posted, m, posted) {
			return
		}
	}
	st.Outbox = slices.DeleteFunc(st.Outbox, func(p *state.Post) bool {
		return p.Reporter == rp.Name() && p.Message.Unit == unit
	})
	st.Outbox = append(st.Outbox, &state.Post{
		Reporter:    rp.Name(),
		Message:     m,
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
		var ru report.Unit
		var maxAge time.Duration
		if u != nil {
			ru = report.Unit{Exists: true, Fingerprint: u.Fingerprint}
			maxAge = r.o.ReportMaxAge[u.Source]
		}
		fate := report.FateOf(report.Queued{Fingerprint: p.Message.Fingerprint, Created: p.Created, NextAttempt: p.NextAttempt}, ru, rp != nil, maxAge, now)
		switch {
		case fate == report.Stale:
			r.log.Debug("report dropped: unit gone or fingerprint changed", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter))
			rep.Reports.Dropped++
			continue
		case fate == report.Orphaned:
			r.log.Warn("report dropped: reporter no longer configured", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter))
			rep.Reports.Dropped++
			continue
		case fate == report.Expired:
			r.log.Warn("report dropped: older than report.max_age; not retried", zap.String("unit", p.Message.Unit),
				zap.String("reporter", p.Reporter), zap.String("state", p.Posted), zap.Time("created", p.Created),
				zap.Duration("max_age", r.o.ReportMaxAge[u.Source]), zap.Int("attempts", p.Attempts), zap.String("last_error", p.LastError))
			// Recorded like a refusal, so the same state is not queued
			// again; a new state or fingerprint is reported as usual.
			u.Reports = setReported(u.Reports, p, now, fmt.Sprintf("dropped after %s in the outbox: %s", r.o.ReportMaxAge[u.Source], p.LastError))
			rep.Reports.Dropped++
			r.expired.Add(1)
			continue
		case fate == report.Later || ctx.Err() != nil:
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
	r.settlePosts(st, due, outcomes, rep, now)
	st.Outbox = keep
	rep.Reports.Queued = len(keep)
	r.log.Info("reports done", zap.Int("posted", rep.Reports.Posted), zap.Int("already_there", rep.Reports.Found),
		zap.Int("retrying", rep.Reports.Retrying), zap.Int("refused", rep.Reports.Failed), zap.Int("outbox", len(st.Outbox)))
}

// settlePosts records how each due report's posting ended, on its unit
// and in the report's counts.
func (r *Runner) settlePosts(st *state.State, due []*state.Post, outcomes map[*state.Post]postOutcome, rep *Report, now time.Time) {
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
// credential) has in flight. It is not configured: at a real server's
// latency it posts the checks of a cold tick at 10,000 units in a small
// part of the cycle deadline (pkg/sim BenchmarkColdWithChecksAtLatency),
// and GitHub's status posts are paced per credential besides
// (forges/github Writes), as its secondary rate limits ask of content
// creation.
const postWorkers = 8

// postAll posts the due reports, concurrently within postWorkers per
// reporter, each reporter's apart from the others', and returns how each
// ended. Before the first post it records, in the state and on disk, the
// items whose posting starts: an item found so recorded by a later cycle
// is looked up before it is posted again. If that record cannot be
// written, every item is looked up first; so are the items of a unit
// whose job was adopted (after a lost state).
func (r *Runner) postAll(ctx context.Context, st *state.State, due []*state.Post, byName map[string]Reporter, now time.Time) map[*state.Post]postOutcome {
	started := make(map[*state.Post][]string, len(due)) // as an earlier attempt left them
	for _, p := range due {
		started[p] = slices.Clone(p.Started)
		p.Started = report.Starting(p.Items, p.Done, p.Started)
	}
	var unsaved bool
	if len(due) > 0 {
		if err := r.o.Store.Save(st); err != nil {
			r.log.Warn("could not record the reports about to be posted: every item is looked up before it is posted", zap.Error(err))
			unsaved = true
		}
	}
	look := make(map[*state.Post][]string, len(due)) // items to look up before posting
	for _, p := range due {
		u := st.Units[p.Message.Unit]
		look[p] = report.LookFirst(p.Items, started[p], u == nil || u.Job == nil || u.Job.Adopted, unsaved)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[*state.Post]postOutcome, len(due))
	)
	for _, posts := range byReporter(due) {
		wg.Go(func() {
			// One reporter's posts: at most postWorkers at once, and never
			// held up by another reporter's (a paced GitHub).
			sem := make(chan struct{}, postWorkers)
			var inFlight sync.WaitGroup
			defer inFlight.Wait()
			for _, p := range posts {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				inFlight.Go(func() {
					defer func() { <-sem }()
					o := r.post(ctx, byName[p.Reporter], p, look[p], now)
					mu.Lock()
					out[p] = o
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	return out
}

// byReporter splits due reports by reporter, each in outbox order.
func byReporter(due []*state.Post) [][]*state.Post {
	var groups [][]*state.Post
	at := map[string]int{}
	for _, p := range due {
		i, ok := at[p.Reporter]
		if !ok {
			i = len(groups)
			at[p.Reporter] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], p)
	}
	return groups
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
		if w, ok := errors.AsType[*report.WaitError](err); ok && w.Held {
			p.NextAttempt = w.Until
			r.log.Info("report held back by the reporter's pace; posted on a later cycle", zap.String("unit", p.Message.Unit),
				zap.String("reporter", p.Reporter), zap.String("item", item), zap.Time("next", p.NextAttempt), zap.Error(err))
			return postRetry
		}
		if report.Permanent(err) {
			r.log.Error("report refused; not retried", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
				zap.String("item", item), zap.String("state", p.Posted), zap.Error(err))
			return postRefused
		}
		p.Attempts++
		p.NextAttempt = report.NextAttempt(now, p.Attempts, err)
		r.log.Warn("report failed; will retry", zap.String("unit", p.Message.Unit), zap.String("reporter", p.Reporter),
			zap.String("item", item), zap.Int("attempt", p.Attempts), zap.Time("next", p.NextAttempt), zap.Error(err))
		return postRetry
	}
	if found && len(p.Items) > 0 {
		return postFound
	}
	return postDone
}
