package cycle

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// RelayPrefix starts the context of every relayed status; statuses under
// it are never relayed again, so two changes relaying each other do not
// loop.
const RelayPrefix = "relay/"

// relayTarget is the Target of a relay record in the state.
const relayTarget = "relay"

// relay is the stage after the first persist (Act only): it copies the
// statuses of every linked change onto the change that
// names it, through the change's own status reporter. Each relayed context
// is a record in the state (so it shows in `trawl status` and is forgotten
// like a unit when the link goes, by the sweep that follows), and its reports go through the outbox
// with the same exactness rules as results: the fingerprint is both heads,
// so a push on either side starts over.
func (r *Runner) relay(ctx context.Context, p *pass) {
	st, all, scope, unknown, seen, rep := p.st, p.all, p.scope, p.unknown, p.seen, p.rep
	now := r.now()
	type read struct {
		head     string
		statuses []report.Status
		err      error
	}
	cache := map[change.Key]read{}
	for i := range all {
		c := &all[i]
		home := r.o.Relays[c.Source]
		if _, ok := scope[c.Source]; !ok || home == nil || len(c.Relays) == 0 || c.HeadSHA == "" {
			continue
		}
		for _, ref := range c.Relays {
			reader, ok := r.sources[ref.Source].(StatusReader)
			if ref.Key == "" || !ok || unknown[ref.Source] {
				continue
			}
			got, done := cache[ref.Key]
			if !done {
				got.head, got.statuses, got.err = reader.Statuses(ctx, ref.Key)
				cache[ref.Key] = got
				if got.err != nil {
					rep.Errors++
					r.log.Warn("relay: reading statuses failed", zap.String("from", string(ref.Key)), zap.Error(got.err))
				}
			}
			if got.err != nil {
				// Keep the relay records of this link: a failed read is not a removed link.
				for k, u := range st.Units {
					if u.Target == relayTarget && strings.HasPrefix(k, relayPrefix(c.Key, ref.Key)) {
						seen[k] = true
					}
				}
				continue
			}
			for _, s := range got.statuses {
				if strings.HasPrefix(s.Context, RelayPrefix) {
					continue
				}
				r.relayOne(st, c, ref.Key, got.head, s, home, seen, now, rep)
			}
		}
	}
}

func relayPrefix(to, from change.Key) string { return string(to) + "@relay:" + string(from) + "#" }

// relayOne records and queues one relayed status.
func (r *Runner) relayOne(st *state.State, c *change.Change, from change.Key, head string, s report.Status, home Reporter, seen map[string]bool, now time.Time, rep *Report) {
	key := relayPrefix(c.Key, from) + s.Context
	seen[key] = true
	u := st.Units[key]
	if u == nil {
		u = &state.Unit{Change: string(c.Key), Target: relayTarget, Source: c.Source, FirstSeen: now}
		st.Units[key] = u
	}
	u.LastSeen, u.GoneSince = restamp(u.LastSeen, now), nil
	u.Status, u.Reason = "relayed", "from "+string(from)
	u.Fingerprint = c.HeadSHA + "+" + head
	res := targets.Result{State: s.State, Summary: "relayed from " + string(from) + ": " + s.Description, URL: s.URL}
	// The relayed status is read every cycle; its time, like LastSeen,
	// is kept to SeenResolution while it says the same.
	at := now
	if u.Result != nil && *u.Result == res && u.ResultAt != nil {
		at = restamp(*u.ResultAt, now)
	}
	u.Result, u.ResultAt = &res, &at
	rep.Units = append(rep.Units, UnitReport{Unit: key, Change: c.Key, Target: relayTarget, Title: c.Title,
		Outcome: "relayed", Detail: string(s.State) + ": " + s.Context + " from " + string(from), Fingerprint: u.Fingerprint})
	r.enqueueAs(st, key, u, c, home, res, RelayPrefix+s.Context, now)
}
