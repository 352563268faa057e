package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The state file is written and read only through the record types below,
// never through another package's types: the file format (schema 1) is
// defined here, field by field, so a change to targets.Job, targets.Result
// or report.Message cannot change what is on disk unnoticed. The
// conversions at the end copy each field across the boundary; a field
// added to the file is added to a record, to both conversions and to the
// schema-1 tests' files (a new schema when old files cannot be read as
// they are).

// fileRecord is the whole file.
type fileRecord struct {
	Schema int                    `json:"schema"`
	Units  map[string]*unitRecord `json:"units"`
	Outbox []*postRecord          `json:"outbox,omitempty"`
}

// unitRecord is a Unit in the file.
type unitRecord struct {
	Change             string                     `json:"change"`
	Target             string                     `json:"target"`
	Source             string                     `json:"source"`
	Status             string                     `json:"status"`
	Reason             string                     `json:"reason,omitempty"`
	Fingerprint        string                     `json:"fingerprint,omitempty"`
	Inputs             json.RawMessage            `json:"inputs,omitempty"`
	Job                *jobRecord                 `json:"job,omitempty"`
	BaseCommit         string                     `json:"base_commit,omitempty"`
	FirstSeen          time.Time                  `json:"first_seen"`
	LastSeen           time.Time                  `json:"last_seen"`
	TriggeredAt        *time.Time                 `json:"triggered_at,omitempty"`
	GoneSince          *time.Time                 `json:"gone_since,omitempty"`
	WaitingSince       *time.Time                 `json:"waiting_since,omitempty"`
	Attempt            int                        `json:"attempt,omitempty"`
	PreviousJobs       []string                   `json:"previous_jobs,omitempty"`
	Result             *resultRecord              `json:"result,omitempty"`
	ResultAt           *time.Time                 `json:"result_at,omitempty"`
	Reports            map[string]*reportedRecord `json:"reports,omitempty"`
	TriggerReason      string                     `json:"trigger_reason,omitempty"`
	Current            string                     `json:"current,omitempty"`
	CurrentSince       *time.Time                 `json:"current_since,omitempty"`
	RetriggerRequested *time.Time                 `json:"retrigger_requested,omitempty"`
}

// jobRecord is a targets.Job in the file.
type jobRecord struct {
	Target     string `json:"target"`
	ID         string `json:"id"`
	URL        string `json:"url,omitempty"`
	BaseCommit string `json:"base_commit,omitempty"`
	Adopted    bool   `json:"adopted,omitempty"`
}

// resultRecord is a targets.Result in the file; State is a targets.State.
type resultRecord struct {
	State   string      `json:"state"`
	Summary string      `json:"summary"`
	URL     string      `json:"url,omitempty"`
	Builds  tallyRecord `json:"builds"`
	Tests   tallyRecord `json:"tests"`
}

// tallyRecord is a targets.Tally in the file.
type tallyRecord struct {
	Pass    int `json:"pass"`
	Fail    int `json:"fail"`
	Error   int `json:"error"`
	Skip    int `json:"skip"`
	Running int `json:"running"`
}

// reportedRecord is a Reported in the file; State is a targets.State.
type reportedRecord struct {
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"`
	Posted      string    `json:"posted"`
	At          time.Time `json:"at"`
	Failed      string    `json:"failed,omitempty"`
	Found       bool      `json:"found,omitempty"`
}

// postRecord is a Post in the file.
type postRecord struct {
	Reporter    string        `json:"reporter"`
	Message     messageRecord `json:"message"`
	Posted      string        `json:"posted"`
	Items       []string      `json:"items"`
	Done        []string      `json:"done,omitempty"`
	Started     []string      `json:"started,omitempty"`
	Attempts    int           `json:"attempts,omitempty"`
	NextAttempt time.Time     `json:"next_attempt"`
	LastError   string        `json:"last_error,omitempty"`
	Created     time.Time     `json:"created"`
}

// messageRecord is a report.Message in the file; State is a targets.State.
type messageRecord struct {
	Unit        string `json:"unit"`
	Change      string `json:"change"`
	ChangeURL   string `json:"change_url,omitempty"`
	Title       string `json:"title,omitempty"`
	Submitter   string `json:"submitter,omitempty"`
	Target      string `json:"target"`
	Fingerprint string `json:"fingerprint"`
	State       string `json:"state"`
	Summary     string `json:"summary"`
	URL         string `json:"url,omitempty"`
	Context     string `json:"context,omitempty"`
}

// MarshalJSON encodes st as the state file holds it, with the current
// Schema: json.Marshal of a State is a state file.
func (st State) MarshalJSON() ([]byte, error) {
	return json.Marshal(recordOf(&st))
}

// UnmarshalJSON decodes a state file as Load does, refusing a newer schema.
func (st *State) UnmarshalJSON(b []byte) error {
	got, err := parse(b)
	if err != nil {
		return err
	}
	*st = *got
	return nil
}

// parse decodes the content of a state file. Its errors are json's own
// (for decodeError to place) or say what is wrong with the content.
func parse(b []byte) (*State, error) {
	// The schema is checked before the rest so that a newer file is
	// reported as such rather than as whatever its new fields break; the
	// schema alone is decoded only when the whole file cannot be, since
	// decoding the file twice was a third of an idle tick's Load.
	// The outer Schema hides fileRecord's (encoding/json's rule for
	// embedded fields), telling a missing schema from a zero one.
	var in struct {
		Schema *int `json:"schema"`
		fileRecord
	}
	if err := json.Unmarshal(b, &in); err != nil {
		var head struct {
			Schema *int `json:"schema"`
		}
		if herr := json.Unmarshal(b, &head); herr != nil {
			return nil, herr
		}
		if serr := checkSchema(head.Schema); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	if err := checkSchema(in.Schema); err != nil {
		return nil, err
	}
	rec := in.fileRecord
	rec.Schema = *in.Schema
	for k, u := range rec.Units {
		if u == nil {
			return nil, fmt.Errorf("unit %q is null", k)
		}
		for name, r := range u.Reports {
			if r == nil {
				return nil, fmt.Errorf("unit %q: report %q is null", k, name)
			}
		}
	}
	for i, p := range rec.Outbox {
		if p == nil {
			return nil, fmt.Errorf("outbox entry %d is null", i)
		}
	}
	return stateOf(rec), nil
}

// checkSchema refuses a missing, invalid or newer schema.
func checkSchema(schema *int) error {
	switch {
	case schema == nil:
		return errors.New("not a trawl state file (no schema)")
	case *schema > Schema:
		return fmt.Errorf("state file written by a newer trawl (schema %d; this trawl reads up to %d)", *schema, Schema)
	case *schema < 1:
		return fmt.Errorf("invalid schema %d", *schema)
	}
	return nil
}

// recordOf converts st to the file's records, with the current Schema.
func recordOf(st *State) fileRecord {
	rec := fileRecord{Schema: Schema, Units: make(map[string]*unitRecord, len(st.Units))}
	// One allocation for every unit's record: Save runs every tick.
	units := make([]unitRecord, 0, len(st.Units))
	for k, u := range st.Units {
		units = append(units, unitRecordOf(u))
		rec.Units[k] = &units[len(units)-1]
	}
	for _, p := range st.Outbox {
		rec.Outbox = append(rec.Outbox, postRecordOf(p))
	}
	return rec
}

// encode writes st to w as the state file holds it: the bytes of
// json.MarshalIndent(recordOf(st), "", "  ") and a newline, encoded one
// unit at a time, so that a Save holds one unit's encoding instead of the
// whole file's (at 10k units, 30 MB, and the compact form beside it while
// indenting). encoding/json writes a map's keys sorted, as strings, and
// escaped as any string; so does encode.
func encode(w io.Writer, st *State) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "{\n  \"schema\": %d,\n  \"units\": {", Schema)
	for i, k := range slices.Sorted(maps.Keys(st.Units)) {
		key, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("encode unit %q: %w", k, err)
		}
		rec := unitRecordOf(st.Units[k])
		u, err := json.MarshalIndent(&rec, "    ", "  ")
		if err != nil {
			return fmt.Errorf("encode unit %s: %w", k, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(key)
		bw.WriteString(": ")
		bw.Write(u)
	}
	if len(st.Units) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteByte('}')
	if len(st.Outbox) > 0 {
		posts := make([]*postRecord, len(st.Outbox))
		for i, p := range st.Outbox {
			posts[i] = postRecordOf(p)
		}
		b, err := json.MarshalIndent(posts, "  ", "  ")
		if err != nil {
			return fmt.Errorf("encode outbox: %w", err)
		}
		bw.WriteString(",\n  \"outbox\": ")
		bw.Write(b)
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// stateOf converts the file's records to a State.
func stateOf(rec fileRecord) *State {
	st := &State{Schema: rec.Schema, Units: make(map[string]*Unit, len(rec.Units))}
	for k, u := range rec.Units {
		st.Units[k] = unitOf(u)
	}
	for _, p := range rec.Outbox {
		st.Outbox = append(st.Outbox, postOf(p))
	}
	return st
}

func unitRecordOf(u *Unit) unitRecord {
	r := unitRecord{
		Change:             u.Change,
		Target:             u.Target,
		Source:             u.Source,
		Status:             u.Status,
		Reason:             u.Reason,
		Fingerprint:        u.Fingerprint,
		Inputs:             json.RawMessage(u.Inputs),
		BaseCommit:         u.BaseCommit,
		FirstSeen:          u.FirstSeen,
		LastSeen:           u.LastSeen,
		TriggeredAt:        u.TriggeredAt,
		GoneSince:          u.GoneSince,
		WaitingSince:       u.WaitingSince,
		Attempt:            u.Attempt,
		PreviousJobs:       u.PreviousJobs,
		ResultAt:           u.ResultAt,
		TriggerReason:      u.TriggerReason,
		Current:            u.Current,
		CurrentSince:       u.CurrentSince,
		RetriggerRequested: u.RetriggerRequested,
	}
	if j := u.Job; j != nil {
		r.Job = &jobRecord{Target: j.Target, ID: j.ID, URL: j.URL, BaseCommit: j.BaseCommit, Adopted: j.Adopted}
	}
	if res := u.Result; res != nil {
		r.Result = &resultRecord{State: string(res.State), Summary: res.Summary, URL: res.URL,
			Builds: tallyRecord(res.Builds), Tests: tallyRecord(res.Tests)}
	}
	if u.Reports != nil {
		r.Reports = make(map[string]*reportedRecord, len(u.Reports))
		for name, rep := range u.Reports {
			r.Reports[name] = &reportedRecord{Fingerprint: rep.Fingerprint, State: string(rep.State), Posted: rep.Posted,
				At: rep.At, Failed: rep.Failed, Found: rep.Found}
		}
	}
	return r
}

func unitOf(r *unitRecord) *Unit {
	u := &Unit{
		Change:             r.Change,
		Target:             r.Target,
		Source:             r.Source,
		Status:             r.Status,
		Reason:             r.Reason,
		Fingerprint:        r.Fingerprint,
		Inputs:             string(r.Inputs),
		BaseCommit:         r.BaseCommit,
		FirstSeen:          r.FirstSeen,
		LastSeen:           r.LastSeen,
		TriggeredAt:        r.TriggeredAt,
		GoneSince:          r.GoneSince,
		WaitingSince:       r.WaitingSince,
		Attempt:            r.Attempt,
		PreviousJobs:       r.PreviousJobs,
		ResultAt:           r.ResultAt,
		TriggerReason:      r.TriggerReason,
		Current:            r.Current,
		CurrentSince:       r.CurrentSince,
		RetriggerRequested: r.RetriggerRequested,
	}
	if j := r.Job; j != nil {
		u.Job = &targets.Job{Target: j.Target, ID: j.ID, URL: j.URL, BaseCommit: j.BaseCommit, Adopted: j.Adopted}
	}
	if res := r.Result; res != nil {
		u.Result = &targets.Result{State: targets.State(res.State), Summary: res.Summary, URL: res.URL,
			Builds: targets.Tally(res.Builds), Tests: targets.Tally(res.Tests)}
	}
	if r.Reports != nil {
		u.Reports = make(map[string]*Reported, len(r.Reports))
		for name, rep := range r.Reports {
			u.Reports[name] = &Reported{Fingerprint: rep.Fingerprint, State: targets.State(rep.State), Posted: rep.Posted,
				At: rep.At, Failed: rep.Failed, Found: rep.Found}
		}
	}
	return u
}

func postRecordOf(p *Post) *postRecord {
	m := p.Message
	return &postRecord{
		Reporter: p.Reporter,
		Message: messageRecord{Unit: m.Unit, Change: m.Change, ChangeURL: m.ChangeURL, Title: m.Title, Submitter: m.Submitter,
			Target: m.Target, Fingerprint: m.Fingerprint, State: string(m.State), Summary: m.Summary, URL: m.URL, Context: m.Context},
		Posted:      p.Posted,
		Items:       p.Items,
		Done:        p.Done,
		Started:     p.Started,
		Attempts:    p.Attempts,
		NextAttempt: p.NextAttempt,
		LastError:   p.LastError,
		Created:     p.Created,
	}
}

func postOf(r *postRecord) *Post {
	m := r.Message
	return &Post{
		Reporter: r.Reporter,
		Message: report.Message{Unit: m.Unit, Change: m.Change, ChangeURL: m.ChangeURL, Title: m.Title, Submitter: m.Submitter,
			Target: m.Target, Fingerprint: m.Fingerprint, State: targets.State(m.State), Summary: m.Summary, URL: m.URL, Context: m.Context},
		Posted:      r.Posted,
		Items:       r.Items,
		Done:        r.Done,
		Started:     r.Started,
		Attempts:    r.Attempts,
		NextAttempt: r.NextAttempt,
		LastError:   r.LastError,
		Created:     r.Created,
	}
}
