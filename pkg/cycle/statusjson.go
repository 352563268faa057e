package cycle

import (
	"encoding/json"
	"io"
	"time"

	"github.com/trawl-ci/trawl/pkg/state"
)

// StatusVersion is the version of the `trawl status --json` document. It
// changes only when a field is removed or changes meaning; fields may be
// added without a new version.
const StatusVersion = 1

// StatusDoc is the document `trawl status --json` prints: its own shape,
// documented in README.md, not the state file's (which may change between
// releases).
type StatusDoc struct {
	Version int          `json:"version"`
	Units   []UnitStatus `json:"units"`
	// Queued counts the reports waiting in the outbox.
	Queued int `json:"queued"`
}

// UnitStatus is one unit in StatusDoc.
type UnitStatus struct {
	Unit               string         `json:"unit"`
	Change             string         `json:"change"`
	Target             string         `json:"target"`
	Source             string         `json:"source"`
	Status             string         `json:"status"`
	Reason             string         `json:"reason,omitempty"`
	Fingerprint        string         `json:"fingerprint,omitempty"`
	FirstSeen          time.Time      `json:"first_seen"`
	LastSeen           time.Time      `json:"last_seen"`
	TriggeredAt        *time.Time     `json:"triggered_at,omitempty"`
	GoneSince          *time.Time     `json:"gone_since,omitempty"`
	RetriggerRequested *time.Time     `json:"retrigger_requested,omitempty"`
	Attempt            int            `json:"attempt"`
	Job                *JobStatus     `json:"job,omitempty"`
	Result             *ResultStatus  `json:"result,omitempty"`
	Reports            []ReportStatus `json:"reports"`
	Queued             []QueuedStatus `json:"queued"`
}

// JobStatus is a unit's job.
type JobStatus struct {
	ID      string `json:"id"`
	URL     string `json:"url,omitempty"`
	Adopted bool   `json:"adopted"`
}

// ResultStatus is the last polled result of a unit's job.
type ResultStatus struct {
	State    string     `json:"state"`
	Summary  string     `json:"summary"`
	PolledAt *time.Time `json:"polled_at,omitempty"`
}

// ReportStatus is what one reporter last wrote for a unit.
type ReportStatus struct {
	Reporter    string    `json:"reporter"`
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"`
	Posted      string    `json:"posted"`
	At          time.Time `json:"at"`
	Found       bool      `json:"found"`
	Refused     string    `json:"refused,omitempty"`
}

// QueuedStatus is a report of the unit still in the outbox.
type QueuedStatus struct {
	Reporter    string    `json:"reporter"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
}

// Status builds the `trawl status --json` document of st, units sorted by
// key.
func Status(st *state.State) StatusDoc {
	queued := map[string][]*state.Post{}
	for _, p := range st.Outbox {
		queued[p.Message.Unit] = append(queued[p.Message.Unit], p)
	}
	doc := StatusDoc{Version: StatusVersion, Units: []UnitStatus{}, Queued: len(st.Outbox)}
	for _, k := range sortedKeys(st.Units) {
		u := st.Units[k]
		us := UnitStatus{
			Unit: k, Change: u.Change, Target: u.Target, Source: u.Source,
			Status: u.Status, Reason: u.Reason, Fingerprint: u.Fingerprint,
			FirstSeen: u.FirstSeen, LastSeen: u.LastSeen, TriggeredAt: u.TriggeredAt, GoneSince: u.GoneSince,
			RetriggerRequested: u.RetriggerRequested, Attempt: u.Attempt,
			Reports: []ReportStatus{}, Queued: []QueuedStatus{},
		}
		if u.Job != nil {
			us.Job = &JobStatus{ID: u.Job.ID, URL: u.Job.URL, Adopted: u.Job.Adopted}
		}
		if u.Result != nil {
			us.Result = &ResultStatus{State: string(u.Result.State), Summary: u.Result.Summary, PolledAt: u.ResultAt}
		}
		for _, name := range sortedKeys(u.Reports) {
			r := u.Reports[name]
			us.Reports = append(us.Reports, ReportStatus{Reporter: name, Fingerprint: r.Fingerprint, State: string(r.State),
				Posted: r.Posted, At: r.At, Found: r.Found, Refused: r.Failed})
		}
		for _, p := range queued[k] {
			us.Queued = append(us.Queued, QueuedStatus{Reporter: p.Reporter, State: string(p.Message.State),
				Attempts: p.Attempts, NextAttempt: p.NextAttempt, LastError: p.LastError})
		}
		doc.Units = append(doc.Units, us)
	}
	return doc
}

// WriteStatusJSON writes Status(st), indented, for `trawl status --json`.
func WriteStatusJSON(w io.Writer, st *state.State) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Status(st))
}
