package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// pwEventLayout is the date of an event: the time the server received the
// mail or acted, naive UTC with microseconds (recorded: events-all,
// "2026-11-21T04:44:10.010325").
const pwEventLayout = "2006-01-02T15:04:05.000000"

// pwEvent is one event of the simulated project, in the recorded shape
// (events-series-created-netdev, events-patch-state-changed,
// events-check-created): {id, category, project, date, actor, payload}.
type pwEvent struct {
	ID       int64           `json:"id"`
	Category string          `json:"category"`
	Project  json.RawMessage `json:"project"`
	Date     string          `json:"date"`
	Actor    json.RawMessage `json:"actor"`
	Payload  any             `json:"payload"`

	at time.Time
}

// pwMaintainer is the actor of the state changes (recorded:
// events-patch-state-changed).
var pwMaintainer = json.RawMessage(`{"id":1,"url":"` + pwHost + `/api/1.3/users/1/","username":"admin","first_name":"","last_name":"","email":"admin@example.com"}`)

// event records an event the server made at time at. pw.mu or exclusive
// use is required.
func (pw *patchwork) event(at time.Time, category string, actor json.RawMessage, payload any) {
	if pw.dropEvents > 0 {
		pw.dropEvents--
		return
	}
	if actor == nil {
		actor = json.RawMessage("null")
	}
	at = at.UTC()
	pw.nextEvent++
	pw.events = append(pw.events, &pwEvent{ID: pw.nextEvent, Category: category, Project: pwProject,
		Date: at.Format(pwEventLayout), Actor: actor, Payload: payload, at: at})
}

// seriesEvents records what Patchwork records when a series' mails
// arrive: series-created, patch-created for each patch, and
// series-completed (API-NOTES: the events of a series of two patches).
func (pw *patchwork) seriesEvents(s *pwSeries, at time.Time) {
	pw.event(at, "series-created", nil, map[string]any{"series": s.ref()})
	for _, p := range s.patches {
		pw.event(at, "patch-created", nil, map[string]any{"patch": p.submission()})
	}
	pw.event(at, "series-completed", nil, map[string]any{"series": s.ref()})
}

// listEvents serves /api/1.3/events/ with the filters of Patchwork's
// EventFilterSet that trawl uses: project, category, since (greater or
// equal, naive UTC, with or without microseconds; recorded:
// events-since-naive, events-since-micro), newest first (the default
// order -date; recorded: events-all).
func (pw *patchwork) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	garbage := false
	if v := q.Get("since"); v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04:05.999999", v, time.UTC)
		// Recorded: events-since-garbage is answered with no event at all.
		garbage = err != nil
		since = t
	}
	project, category := q.Get("project"), q.Get("category")
	pw.mu.Lock()
	var items [][]byte
	for _, e := range slices.Backward(pw.events) {
		if garbage {
			break
		}
		if (project != "" && project != "netdev" && project != "1") || (category != "" && e.Category != category) || e.at.Before(since) {
			continue
		}
		items = append(items, mustJSON(e))
	}
	pw.mu.Unlock()
	pw.page(w, r, items)
}

// DropEvents makes the simulated Patchwork record none of the next n
// events: a hint that misses changes, for a test of the relist that
// repairs it.
func (w *World) DropEvents(n int) {
	w.pw.mu.Lock()
	defer w.pw.mu.Unlock()
	w.pw.dropEvents = n
}
