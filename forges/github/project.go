package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v92/github"
)

// CheckProject asks GitHub whether the repository exists and the credential
// may read it, with the request Fetch starts with (one page of one pull
// request): a repository that does not exist, or that the token cannot see,
// answers 404. `trawl validate` calls it.
func (s *Source) CheckProject(ctx context.Context) error {
	_, resp, err := s.client.PullRequests.List(ctx, s.owner, s.name, &gh.PullRequestListOptions{
		State: "open", ListOptions: gh.ListOptions{PerPage: 1},
	})
	s.observe(resp)
	if err != nil {
		return fmt.Errorf("github repository %s/%s: %w", s.owner, s.name, apiError(err))
	}
	return nil
}
