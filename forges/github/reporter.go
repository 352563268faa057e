package github

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// maxDescription is the longest status description GitHub accepts, in
// characters.
const maxDescription = 140

// StatusState is the state of a commit status.
type StatusState string

// The commit status states GitHub knows.
const (
	StatusPending StatusState = "pending"
	StatusSuccess StatusState = "success"
	StatusFailure StatusState = "failure"
	StatusError   StatusState = "error"
)

// Status is one commit status to post.
type Status struct {
	State StatusState
	// Context names the check, e.g. "trawl/kernelci"; GitHub keeps the
	// newest status of each context.
	Context string
	// Description is a one-line summary; PostStatus clips it to 140
	// characters.
	Description string
	TargetURL   string
}

// PostStatus sets a commit status on sha of repo ("owner/name"; for a pull
// request from a fork, still the pull request's own repository). The
// description is clipped to 140 characters.
func (s *Source) PostStatus(ctx context.Context, repo, sha string, st Status) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return fmt.Errorf("github: post status: %w", err)
	}
	if err := st.check(sha); err != nil {
		return fmt.Errorf("github %s: post status on %s: %w", repo, sha, err)
	}
	status := gh.RepoStatus{
		State:   new(string(st.State)),
		Context: new(st.Context),
	}
	if st.Description != "" {
		status.Description = new(clip(st.Description, maxDescription))
	}
	if st.TargetURL != "" {
		status.TargetURL = new(st.TargetURL)
	}
	err = s.create(ctx, func() (*gh.Response, error) {
		_, resp, err := s.client.Repositories.CreateStatus(ctx, owner, name, sha, status)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("github %s: post status %q on %s: %w", repo, st.Context, sha, err)
	}
	return nil
}

// check rejects a status GitHub would refuse.
func (st Status) check(sha string) error {
	switch st.State {
	case StatusPending, StatusSuccess, StatusFailure, StatusError:
	default:
		return fmt.Errorf("unknown status state %q", st.State)
	}
	if st.Context == "" {
		return errors.New("status has no context")
	}
	if sha == "" {
		return errors.New("no commit")
	}
	return nil
}

// clip shortens s to at most n characters, ending it with an ellipsis when
// it was cut. It cuts between characters, never inside one.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ReporterOpts configures a commit status reporter.
type ReporterOpts struct {
	// Name is the reporter's name in the state.
	Name string
	// Context is the status context; "/<target>" is appended when
	// PerTarget is set, so that each target has its own status.
	Context   string
	PerTarget bool
	// States overrides DefaultStatusStates; an empty value means "not
	// posted".
	States map[targets.State]string
}

// DefaultStatusStates maps result states to commit status states: an
// infrastructure error is "error" (the CI broke), not "failure" (the
// change broke it).
var DefaultStatusStates = report.States{
	targets.StatePending: string(StatusPending),
	targets.StateSuccess: string(StatusSuccess),
	targets.StateWarning: string(StatusSuccess),
	targets.StateFail:    string(StatusFailure),
	targets.StateInfra:   string(StatusError),
}

// Reporter posts results as commit statuses on a pull request's head.
type Reporter struct {
	o      ReporterOpts
	states report.States
	s      *Source
}

// What the cycle finds on a GitHub reporter: a status costs one request
// (Poster) where no crash can have left it posted unrecorded.
var (
	_ report.Reporter = (*Reporter)(nil)
	_ report.Poster   = (*Reporter)(nil)
)

// Reporter returns the status reporter of this source's repository.
func (s *Source) Reporter(o ReporterOpts) (*Reporter, error) {
	if o.Context == "" {
		return nil, fmt.Errorf("github reporter %s: no status context", o.Name)
	}
	states, err := DefaultStatusStates.WithOverrides(o.States, func(v string) bool { return (Status{State: StatusState(v), Context: "c"}).check("x") == nil })
	if err != nil {
		return nil, fmt.Errorf("github reporter %s: %w", o.Name, err)
	}
	return &Reporter{o: o, states: states, s: s}, nil
}

// Name is the reporter's name.
func (r *Reporter) Name() string { return r.o.Name }

// Map returns the status state of a result state.
func (r *Reporter) Map(st targets.State) (string, bool) { return r.states.Map(st) }

// Items is the pull request's head commit.
func (r *Reporter) Items(c *change.Change) []string { return []string{c.HeadSHA} }

// Report posts the status on the head commit unless the commit already
// carries it (same context, state and description): a crash between a
// post and the state write then makes no duplicate, and the repository's
// cap of 1,000 statuses per commit and context is not spent on repeats.
func (r *Reporter) Report(ctx context.Context, sha string, m report.Message, posted string) (report.Done, error) {
	st := r.status(m, posted)
	return forgekit.LookBeforePost(ctx, m, posted,
		func(ctx context.Context) ([]forgekit.Existing, error) { return r.current(ctx, sha, st.Context) },
		func(ctx context.Context) (report.Done, error) {
			if err := r.s.PostStatus(ctx, r.s.o.Repo, sha, st); err != nil {
				return 0, err
			}
			return report.Posted, nil
		})
}

// Post posts the status on the head commit without looking first: one
// request, paced like every status (Opts.Writes). GitHub takes a repeated
// status as a new one (POST /repos/{owner}/{repo}/statuses/{sha} always
// answers 201 and adds to the commit's list, up to 1,000 per context), so
// the cycle calls Post only for a commit no earlier run may have posted
// on, and Report, which looks first, for the others.
func (r *Reporter) Post(ctx context.Context, sha string, m report.Message, posted string) error {
	return r.s.PostStatus(ctx, r.s.o.Repo, sha, r.status(m, posted))
}

// status is the commit status that reports m as posted.
func (r *Reporter) status(m report.Message, posted string) Status {
	return Status{State: StatusState(posted), Context: forgekit.Context(m, r.o.Context, "/", r.o.PerTarget),
		Description: report.Description(m, maxDescription), TargetURL: m.URL}
}
