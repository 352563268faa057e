package gitlab

import (
	"context"
	"fmt"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// CheckProject asks GitLab whether the project exists and the credential
// may read it (Fetch reads it first too). `trawl validate` calls it.
func (s *Source) CheckProject(ctx context.Context) error {
	if _, err := s.getProject(ctx); err != nil {
		return fmt.Errorf("gitlab %s: %w", s.o.URL, err)
	}
	return nil
}

// getProject reads the source's project.
func (s *Source) getProject(ctx context.Context) (*gl.Project, error) {
	p, resp, err := s.api.Projects.GetProject(s.o.Project, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read project %s: %w", s.o.Project, apiError(resp, err))
	}
	return p, nil
}
