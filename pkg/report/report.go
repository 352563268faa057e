// Package report holds what every reporter receives: one unit's result,
// ready to be written back where the change lives (a Patchwork check on
// each patch, a commit status) or into a results store.
//
// It is the one home of reporting: the reporter contract (contract.go:
// Reporter and its optional capabilities) and the outbox rules (outbox.go:
// the exactness rules — never the same state twice, never pending after a
// conclusive state, never an old fingerprint's result — expiry, backoff,
// look before post). The cycle keeps the outbox in the state and applies
// the rules before a reporter is called; a reporter only maps and posts,
// and lives beside its forge or store.
package report

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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

// Done is how a reporter's Report call ended when it returned no error,
// so that the cycle counts posts made apart from reports it found.
type Done int

const (
	// Posted: the report was written.
	Posted Done = iota + 1
	// Found: looking before posting found the same report already there
	// (written before a crash lost the state, or by another trawl), so
	// nothing was written.
	Found
)

// Status is one CI status of a change, in trawl's words, as a source reads
// it for relaying.
type Status struct {
	Context     string
	State       targets.State
	Description string
	URL         string
}

// WaitError is a failed post that is to be retried, not dropped, even when
// the answer's status looks like a refusal: a rate limit (GitHub answers an
// exhausted or secondary limit with 403), a conflict with an update in
// progress. Until, when not zero, is the earliest time a retry can succeed
// (a rate limit's reset, a Retry-After).
type WaitError struct {
	Err   error
	Until time.Time
	// Held says that the reporter sent nothing: its own pacing holds the
	// post back until Until (GitHub's limits on content creation). That
	// is no failure: the post costs no attempt, so its backoff does not
	// grow while it waits its turn.
	Held bool
}

func (e *WaitError) Error() string { return e.Err.Error() }
func (e *WaitError) Unwrap() error { return e.Err }

// RetryAt returns the time err says a retry can succeed at, when err is a
// *WaitError with one.
func RetryAt(err error) (time.Time, bool) {
	if w, ok := errors.AsType[*WaitError](err); ok && !w.Until.IsZero() {
		return w.Until, true
	}
	return time.Time{}, false
}

// Permanent reports whether a failed post cannot succeed by retrying: the
// server understood the request and refused it (validation, permission,
// unknown object). Timeouts, 5xx, 429 and a *WaitError are not permanent.
func Permanent(err error) bool {
	if _, ok := errors.AsType[*WaitError](err); ok {
		return false
	}
	return errors.Is(err, httpx.ErrBadRequest) || errors.Is(err, httpx.ErrForbidden) || errors.Is(err, httpx.ErrNotFound)
}

// States maps result states to a reporter's own words for them (a
// Patchwork check state, a commit status state); a state mapped to "" is
// not posted.
type States map[targets.State]string

// WithOverrides returns a copy of s with overrides applied. An override's
// value must be "" (not posted) or accepted by valid.
func (s States) WithOverrides(overrides map[targets.State]string, valid func(string) bool) (States, error) {
	out := make(States, len(s))
	for k, v := range s {
		out[k] = v
	}
	for k, v := range overrides {
		if v != "" && !valid(v) {
			return nil, fmt.Errorf("%q is not a state this reporter can post", v)
		}
		out[k] = v
	}
	return out, nil
}

// Map returns the word for st and whether st is posted at all.
func (s States) Map(st targets.State) (string, bool) {
	v := s[st]
	return v, v != ""
}

// Description is the one-line description of a result, at most limit
// characters: its summary (white space folded, clipped with "…" when too
// long) and the short fingerprint it is about, "[trawl 5d41c3f0a9b2]", so
// that a reader, and a reporter looking before it posts, can tell which
// revision of the unit it describes. It has no leading or trailing space:
// forges strip them, and the look-before-post compares exactly.
func Description(m Message, limit int) string {
	suffix := tag(m.Fingerprint)
	summary := []rune(strings.Join(strings.Fields(m.Summary), " "))
	room := limit - utf8.RuneCountInString(suffix) - 1
	if len(summary) > room {
		summary = append(summary[:max(room-1, 0)], '…')
	}
	return strings.TrimSpace(string(summary) + " " + suffix)
}

// tag is the mark a description ends with: the short fingerprint,
// "[trawl 5d41c3f0a9b2]".
func tag(fingerprint string) string {
	if len(fingerprint) > 12 {
		fingerprint = fingerprint[:12]
	}
	return "[trawl " + fingerprint + "]"
}

// Same reports whether a report found on the server, by its state (in the
// reporter's words) and its description, is the one about to be posted for
// m: the same state about the same fingerprint. It is how a reporter looks
// before it posts. The wording is not compared: a summary changes while
// the state does not ("running since ...", a restart that words a pending
// build differently), and comparing it posted a second pending report on
// the same patches.
func Same(state, description string, m Message, posted string) bool {
	return state == posted && strings.HasSuffix(strings.TrimSpace(description), tag(m.Fingerprint))
}
