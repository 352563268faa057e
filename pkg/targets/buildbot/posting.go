package buildbot

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/inflight"
)

// A POST to the change hook is recorded on disk before it is sent, in a
// file named by the job key under Opts.StateDir (package inflight), and
// the record is removed once the change is found. A trawl killed while
// its POST is on the wire leaves the record behind, and the master may
// still be adding that change when the next trawl looks for it (measured
// against the real master under load: the crash suite posted a job twice
// before this record existed). The next trigger that finds no change but
// a record younger than PostGrace does not post: it waits
// (targets.ErrWaiting) for the change to appear, and posts again only
// once PostGrace has passed.

// records is the target's records of POSTs on the wire; none when t.dir is
// empty.
func (t *Target) records() inflight.Dir { return inflight.Dir{Path: t.dir, Now: t.now} }

// postedAt returns when an earlier run recorded a POST of key, if it did.
func (t *Target) postedAt(key string) (time.Time, bool) { return t.records().PostedAt(key) }

// markPosting records that a POST of key starts now, and deletes records
// older than inflight.MaxAge.
func (t *Target) markPosting(key string) error { return t.records().Record(key) }

// unmark deletes the record of key: its change is found, or the master
// refused the POST.
func (t *Target) unmark(key string) {
	if err := t.records().Done(key); err != nil {
		t.log.Warn("buildbot: cannot delete a POST record", zap.Error(err))
	}
}

// inFlight is the error of a trigger that waits for an earlier run's POST.
func (t *Target) inFlight(unit, key string, at time.Time) error {
	return fmt.Errorf("buildbot %s: unit %s: an earlier run posted job %s at %s and may have died before the master answered; "+
		"no such change is listed yet: looking again until %s before posting: %w",
		t.name, unit, key, at.UTC().Format(time.RFC3339), at.Add(t.postGrace).UTC().Format(time.RFC3339), targets.ErrWaiting)
}
