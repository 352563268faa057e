package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Statuses returns the head commit of pull request key and the newest
// status of each context on it, in trawl's words, for relaying.
func (s *Source) Statuses(ctx context.Context, key change.Key) (string, []report.Status, error) {
	_, repo, n, ok := parseKey(key)
	if !ok || s.Claim(key) == change.ClaimNone {
		return "", nil, fmt.Errorf("github %s: %s is not a pull request on this host", s.o.Repo, key)
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", nil, err
	}
	var pr *gh.PullRequest
	err = s.call(ctx, func() (resp *gh.Response, err error) {
		pr, resp, err = s.client.PullRequests.Get(ctx, owner, name, int(n))
		return resp, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("github %s: get pull request %d: %w", repo, n, err)
	}
	sha := pr.GetHead().GetSHA()
	combined, err := s.combinedStatus(ctx, owner, name, sha)
	if err != nil {
		return "", nil, fmt.Errorf("github %s: read statuses of %s: %w", repo, sha, err)
	}
	var out []report.Status
	for _, st := range combined.Statuses {
		out = append(out, report.Status{
			Context:     st.GetContext(),
			State:       fromStatus[st.GetState()],
			Description: st.GetDescription(),
			URL:         st.GetTargetURL(),
		})
	}
	return sha, out, nil
}

// fromStatus maps commit status states to result states.
var fromStatus = map[string]targets.State{
	string(StatusPending): targets.StatePending,
	string(StatusSuccess): targets.StateSuccess,
	string(StatusFailure): targets.StateFail,
	string(StatusError):   targets.StateInfra,
}

// combinedStatus reads the newest status of each context on sha.
func (s *Source) combinedStatus(ctx context.Context, owner, name, sha string) (*gh.CombinedStatus, error) {
	var combined *gh.CombinedStatus
	err := s.call(ctx, func() (resp *gh.Response, err error) {
		combined, resp, err = s.client.Repositories.GetCombinedStatus(ctx, owner, name, sha, &gh.ListOptions{PerPage: 100})
		return resp, err
	})
	return combined, err
}

// current returns the statuses sha carries in the source's repository
// under context name (GitHub compares contexts without case): the newest
// of each context, as the combined status keeps them.
func (r *Reporter) current(ctx context.Context, sha, name string) ([]forgekit.Existing, error) {
	owner, repo, err := splitRepo(r.s.o.Repo)
	if err != nil {
		return nil, err
	}
	combined, err := r.s.combinedStatus(ctx, owner, repo, sha)
	if err != nil {
		return nil, fmt.Errorf("github %s: read statuses of %s: %w", r.s.o.Repo, sha, err)
	}
	var out []forgekit.Existing
	for _, cur := range combined.Statuses {
		if strings.EqualFold(cur.GetContext(), name) {
			out = append(out, forgekit.Existing{State: cur.GetState(), Description: cur.GetDescription()})
		}
	}
	return out, nil
}
