package gitlab

import (
	"context"
	"fmt"
)

// CheckProject asks GitLab whether the project exists and the credential
// may read it (Fetch reads it first too). `trawl validate` calls it.
func (s *Source) CheckProject(ctx context.Context) error {
	if _, err := s.getProject(ctx); err != nil {
		return fmt.Errorf("gitlab %s: %w", s.o.URL, err)
	}
	return nil
}
