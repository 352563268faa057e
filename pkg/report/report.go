// Package report holds what every reporter receives: one unit's result,
// ready to be written back where the change lives (a Patchwork check on
// each patch, a commit status) or into a results store.
//
// The exactness rules (never the same state twice, never pending after a
// conclusive state, never an old fingerprint's result) are enforced by the
// cycle before a reporter is called; a reporter only maps and posts.
package report

import (
	"errors"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Message is one result to report.
type Message struct {
	Unit        string        `json:"unit"`
	Change      string        `json:"change"`
	ChangeURL   string        `json:"change_url,omitempty"`
	Title       string        `json:"title,omitempty"`
	Submitter   string        `json:"submitter,omitempty"`
	Target      string        `json:"target"`
	Fingerprint string        `json:"fingerprint"`
	State       targets.State `json:"state"`
	// Summary is the one-line description of the result.
	Summary string `json:"summary"`
	// URL is where the result is (the job's page).
	URL string `json:"url,omitempty"`
	// Context, when set, is the check or status context to post under
	// instead of the reporter's own: a relayed result keeps the name it has
	// on the change it comes from ("relay/<context>").
	Context string `json:"context,omitempty"`
}

// Status is one CI status of a change, in trawl's words, as a source reads
// it for relaying.
type Status struct {
	Context     string
	State       targets.State
	Description string
	URL         string
}

// Permanent reports whether a failed post cannot succeed by retrying: the
// server understood the request and refused it (validation, permission,
// unknown object). Timeouts, 5xx and 429 are not permanent.
func Permanent(err error) bool {
	return errors.Is(err, httpx.ErrBadRequest) || errors.Is(err, httpx.ErrForbidden) || errors.Is(err, httpx.ErrNotFound)
}
