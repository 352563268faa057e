package github

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	gh "github.com/google/go-github/v92/github"
)

// maxDescription is the longest status description GitHub accepts, in
// characters.
const maxDescription = 140

// State is the state of a pull request.
type State string

// The states Lookup reports.
const (
	StateOpen   State = "open"
	StateMerged State = "merged"
	StateClosed State = "closed" // closed without being merged
)

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

// Lookup returns the state of pull request n of repo ("owner/name") on
// this source's host. It is for dependencies that are not open pull
// requests of this source. A pull request that does not exist gives an
// error matching httpx.ErrNotFound.
func (s *Source) Lookup(ctx context.Context, repo string, n int64) (State, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", fmt.Errorf("github: look up pull request %d: %w", n, err)
	}
	if n <= 0 || n > math.MaxInt {
		return "", fmt.Errorf("github %s: look up pull request %d: not a pull request number", repo, n)
	}
	var pr *gh.PullRequest
	err = s.call(ctx, func() (resp *gh.Response, err error) {
		pr, resp, err = s.client.PullRequests.Get(ctx, owner, name, int(n))
		return resp, err
	})
	if err != nil {
		return "", fmt.Errorf("github %s: get pull request %d: %w", repo, n, err)
	}
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		return StateMerged, nil
	case pr.GetState() == "closed":
		return StateClosed, nil
	}
	return StateOpen, nil
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
