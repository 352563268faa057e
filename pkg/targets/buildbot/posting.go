package buildbot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// A POST to the change hook is recorded on disk before it is sent, in a
// file named by the job key under Opts.StateDir, and the record is removed
// once the change is found. A trawl killed while its POST is on the wire
// leaves the record behind, and the master may still be adding that
// change when the next trawl looks for it (measured against the real
// master under load: the crash suite posted a job twice before this
// record existed). The next trigger that finds no change but a record
// younger than PostGrace does not post: it waits (targets.ErrWaiting) for
// the change to appear, and posts again only once PostGrace has passed.

// markerAge is the age past which a record left behind by a unit that was
// never triggered again is deleted.
const markerAge = 7 * 24 * time.Hour

// postedAt returns when an earlier run recorded a POST of key, if it did.
func (t *Target) postedAt(key string) (time.Time, bool) {
	if t.dir == "" {
		return time.Time{}, false
	}
	b, err := os.ReadFile(filepath.Join(t.dir, key))
	if err != nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		// A record cut short by a crash: its POST may be in flight.
		return t.now(), true
	}
	return at, true
}

// markPosting records that a POST of key starts now, and deletes records
// older than markerAge.
func (t *Target) markPosting(key string) error {
	if t.dir == "" {
		return nil
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	t.pruneMarkers()
	tmp := filepath.Join(t.dir, "."+key+".tmp")
	if err := os.WriteFile(tmp, []byte(t.now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(t.dir, key))
}

// unmark deletes the record of key: its change is found, or the master
// refused the POST.
func (t *Target) unmark(key string) {
	if t.dir == "" {
		return
	}
	if err := os.Remove(filepath.Join(t.dir, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Warn("buildbot: cannot delete a POST record", zap.Error(err))
	}
}

// pruneMarkers deletes the records older than markerAge.
func (t *Target) pruneMarkers() {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && t.now().Sub(info.ModTime()) > markerAge {
			_ = os.Remove(filepath.Join(t.dir, e.Name()))
		}
	}
}

// inFlight is the error of a trigger that waits for an earlier run's POST.
func (t *Target) inFlight(unit, key string, at time.Time) error {
	return fmt.Errorf("buildbot %s: unit %s: an earlier run posted job %s at %s and may have died before the master answered; "+
		"no such change is listed yet: looking again until %s before posting: %w",
		t.name, unit, key, at.UTC().Format(time.RFC3339), at.Add(t.postGrace).UTC().Format(time.RFC3339), targets.ErrWaiting)
}
