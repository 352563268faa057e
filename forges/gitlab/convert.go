package gitlab

import (
	"context"
	"fmt"
	"slices"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/pkg/change"
)

// noHead is the reason given for a merge request without a head commit.
const noHead = "merge request has no head commit"

// convert builds the change of one merge request, without its
// dependencies.
func (s *Source) convert(ctx context.Context, project *gl.Project, e entry) (change.Change, error) {
	mr := e.mr
	fork := mr.SourceProjectID != mr.TargetProjectID
	headRepo := project.PathWithNamespace
	if fork {
		var err error
		if headRepo, err = s.projectPath(ctx, mr.SourceProjectID); err != nil {
			return change.Change{}, fmt.Errorf("merge request %s!%d: %w", s.o.Project, mr.IID, err)
		}
	}
	base := s.o.Base
	if base.Tree == "" {
		base.Tree = s.o.Project
	}
	if base.URL == "" {
		base.URL = project.HTTPURLToRepo
	}
	base.Branch = mr.TargetBranch
	c := change.Change{
		Key:      s.key(mr.IID),
		Source:   s.o.Name,
		Title:    mr.Title,
		WebURL:   mr.WebURL,
		Base:     base,
		Targets:  slices.Clone(s.o.Targets),
		HeadSHA:  mr.SHA,
		HeadRepo: headRepo,
		HeadRef:  mr.SourceBranch,
		FetchRef: fmt.Sprintf("refs/merge-requests/%d/head", mr.IID),
		BaseSHA:  e.baseSHA,
		Draft:    mr.Draft,
		Fork:     fork,
	}
	if mr.Author != nil {
		c.Submitter = mr.Author.Username
	}
	if mr.SHA == "" {
		c.Unbuildable = noHead
	} else {
		c.Content = []string{mr.SHA}
	}
	return c, nil
}
