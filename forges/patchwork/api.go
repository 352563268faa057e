package patchwork

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Time is a Patchwork timestamp. Patchwork sends naive ISO 8601 times in
// UTC ("2017-06-13T19:17:21", events with microseconds); Time holds them as
// a time.Time in UTC. JSON null leaves the zero time.
type Time struct{ time.Time }

// naiveLayout parses Patchwork's naive times, with or without a fraction.
const naiveLayout = "2006-01-02T15:04:05.999999999"

// sinceLayout formats the since= filter: naive UTC, because a time zone
// makes Patchwork on SQLite or MySQL fail with HTTP 500.
const sinceLayout = "2006-01-02T15:04:05"

// UnmarshalJSON decodes a naive UTC timestamp (or, leniently, one with a
// time zone).
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("patchwork time %s: %w", b, err)
	}
	v, err := time.ParseInLocation(naiveLayout, s, time.UTC)
	if err != nil {
		var zerr error
		if v, zerr = time.Parse(time.RFC3339Nano, s); zerr != nil {
			return fmt.Errorf("patchwork time %q: %w", s, err)
		}
	}
	t.Time = v.UTC()
	return nil
}

// Project is the project summary nested in Patchwork objects.
type Project struct {
	ID       int64  `json:"id"`
	LinkName string `json:"link_name"`
	Name     string `json:"name"`
}

// Person is a submitter.
type Person struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// User is a Patchwork account, as a patch's delegate.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// SeriesRef is the series summary nested in patches and cover letters.
type SeriesRef struct {
	ID      int64  `json:"id"`
	URL     string `json:"url"`
	WebURL  string `json:"web_url"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	Mbox    string `json:"mbox"`
}

// Submission is the summary of a patch or cover letter nested in a series.
type Submission struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	WebURL string `json:"web_url"`
	MsgID  string `json:"msgid"` // with angle brackets
	Date   Time   `json:"date"`
	Name   string `json:"name"`
	Mbox   string `json:"mbox"`
}

// Series is a Patchwork series (one revision of a patch set).
type Series struct {
	ID            int64        `json:"id"`
	URL           string       `json:"url"`
	WebURL        string       `json:"web_url"`
	Project       Project      `json:"project"`
	Name          string       `json:"name"`
	Date          Time         `json:"date"`
	Submitter     Person       `json:"submitter"`
	Version       int          `json:"version"`
	Total         int          `json:"total"`
	ReceivedTotal int          `json:"received_total"`
	ReceivedAll   bool         `json:"received_all"`
	Mbox          string       `json:"mbox"`
	CoverLetter   *Submission  `json:"cover_letter"`
	Patches       []Submission `json:"patches"`
	// Dependencies are the API URLs of the series this one depends on
	// (API 1.4, when the project shows dependencies); empty otherwise.
	Dependencies []string `json:"dependencies"`
}

// Patch is a patch in Patchwork's list form.
type Patch struct {
	ID        int64       `json:"id"`
	URL       string      `json:"url"`
	WebURL    string      `json:"web_url"`
	Project   Project     `json:"project"`
	MsgID     string      `json:"msgid"` // with angle brackets
	Date      Time        `json:"date"`
	Name      string      `json:"name"`
	CommitRef string      `json:"commit_ref"`
	PullURL   string      `json:"pull_url"`
	State     string      `json:"state"` // slug, e.g. "new", "under-review"
	Archived  bool        `json:"archived"`
	Hash      string      `json:"hash"` // empty for a pull request without a diff
	Submitter Person      `json:"submitter"`
	Delegate  *User       `json:"delegate"`
	Mbox      string      `json:"mbox"`
	Series    []SeriesRef `json:"series"` // at most one
	Check     string      `json:"check"`
}

// listedPatch is the part of a patch's list form that a Source reads of
// its project's listing: the patch, its hash and its series. The listing
// is read every tick and its pages are kept (pageMemo); decoded into
// Patch, with its URLs, names and people, they held 28 MB at 10,000
// series, against a tenth of that.
type listedPatch struct {
	ID     int64      `json:"id"`
	Hash   string     `json:"hash"`   // empty for a pull request without a diff
	Series []seriesID `json:"series"` // at most one
}

// seriesID is the id of a SeriesRef.
type seriesID struct {
	ID int64 `json:"id"`
}

// Cover is a cover letter. Content is empty in the list form.
type Cover struct {
	ID        int64       `json:"id"`
	URL       string      `json:"url"`
	WebURL    string      `json:"web_url"`
	Project   Project     `json:"project"`
	MsgID     string      `json:"msgid"` // with angle brackets
	Date      Time        `json:"date"`
	Name      string      `json:"name"`
	Submitter Person      `json:"submitter"`
	Mbox      string      `json:"mbox"`
	Series    []SeriesRef `json:"series"`
	Content   string      `json:"content"`
}
