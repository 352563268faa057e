package daemon

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/trawl-ci/trawl/pkg/cycle"
)

// Cycle is one finished cycle of a group.
type Cycle struct {
	Started, Ended time.Time
	// Report is what the cycle saw and did; nil when it could not run.
	Report *cycle.Report
	// Err is why the cycle itself failed; empty when it ran.
	Err string
}

// Failed reports whether the cycle failed: it could not run, or a source,
// a trigger or a base failed in it.
func (c *Cycle) Failed() bool { return c.Err != "" || c.Report == nil || c.Report.Errors > 0 }

// GroupState is what the daemon knows of one group.
type GroupState struct {
	Group Group
	// Interval is the time between two ticks of the group's schedule.
	Interval time.Duration
	// Last is the group's last finished cycle; nil before the first.
	Last *Cycle
	// Complete holds, by source, when a cycle that fetched the source
	// completely last ended without the cycle itself failing.
	Complete map[string]time.Time
}

// Tracker records the cycles of every group, for /readyz and the status
// page. It is safe for concurrent use.
type Tracker struct {
	mu     sync.Mutex
	groups []GroupState
}

// NewTracker returns a tracker of groups; Run fills in their intervals.
func NewTracker(groups []Group) *Tracker {
	t := &Tracker{}
	for _, g := range groups {
		t.groups = append(t.groups, GroupState{Group: g, Complete: map[string]time.Time{}})
	}
	return t
}

// Groups returns a copy of what the tracker knows.
func (t *Tracker) Groups() []GroupState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]GroupState, len(t.groups))
	for i, g := range t.groups {
		g.Complete = maps(g.Complete)
		out[i] = g
	}
	return out
}

func maps(m map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (t *Tracker) setInterval(i int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.groups[i].Interval = d
}

// record stores group i's finished cycle.
func (t *Tracker) record(i int, c *Cycle) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := &t.groups[i]
	g.Last = c
	if c.Err != "" || c.Report == nil {
		return
	}
	for _, s := range c.Report.Scope {
		if !slices.ContainsFunc(c.Report.UnknownSources, func(e cycle.SourceError) bool { return e.Source == s }) {
			g.Complete[s] = c.Ended
		}
	}
}

// Ready says whether every source completed a cycle within n of its
// group's intervals and the last cycle of every group did not fail; when
// not, it gives the reasons, one per line.
func Ready(groups []GroupState, now time.Time, n int) (bool, []string) {
	var why []string
	for _, g := range groups {
		name := fmt.Sprintf("group %q %v", g.Group.Schedule, g.Group.Sources)
		switch {
		case g.Last == nil:
			why = append(why, name+": no cycle ended yet")
			continue
		case g.Last.Err != "":
			why = append(why, fmt.Sprintf("%s: last cycle at %s failed: %s", name, stamp(g.Last.Ended), g.Last.Err))
		case g.Last.Failed():
			why = append(why, fmt.Sprintf("%s: last cycle at %s failed: %s", name, stamp(g.Last.Ended), failures(g.Last.Report)))
		}
		limit := time.Duration(n) * g.Interval
		for _, s := range g.Group.Sources {
			at, ok := g.Complete[s]
			switch {
			case !ok:
				why = append(why, fmt.Sprintf("source %s: no complete cycle yet", s))
			case now.Sub(at) > limit:
				why = append(why, fmt.Sprintf("source %s: last complete cycle at %s, more than %d intervals of %s ago", s, stamp(at), n, g.Interval))
			}
		}
	}
	return len(why) == 0, why
}

// failures says what failed in a cycle that ran.
func failures(r *cycle.Report) string {
	var parts []string
	for _, s := range r.UnknownSources {
		parts = append(parts, fmt.Sprintf("source %s unknown (%s)", s.Source, s.Err))
	}
	if n := r.Errors - len(r.UnknownSources); n > 0 {
		parts = append(parts, fmt.Sprintf("%d trigger or base errors", n))
	}
	if len(parts) == 0 {
		return "errors"
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += "; " + p
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
