package gitlab

import (
	"fmt"
	"slices"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/pkg/change"
)

// noHead is the reason given for a merge request without a head commit.
const noHead = "merge request has no head commit"

// trim returns the part of merge request mr that a Fetch keeps in its
// snapshot and reads (update, include, convert, the references in its
// description) and drops the rest (people, labels, references, times):
// the snapshot holds every open merge request between ticks, and a list
// of them is decoded on every tick. A field read from a snapshot entry is
// kept here too; TestTrimKeepsWhatFetchReads fills every field and fails
// otherwise.
func trim(mr *gl.BasicMergeRequest) *gl.BasicMergeRequest {
	if mr == nil {
		return nil
	}
	t := &gl.BasicMergeRequest{
		IID:             mr.IID,
		State:           mr.State,
		SHA:             mr.SHA,
		Title:           mr.Title,
		WebURL:          mr.WebURL,
		Description:     mr.Description,
		Draft:           mr.Draft,
		SourceBranch:    mr.SourceBranch,
		TargetBranch:    mr.TargetBranch,
		SourceProjectID: mr.SourceProjectID,
		TargetProjectID: mr.TargetProjectID,
	}
	if mr.Author != nil {
		t.Author = &gl.BasicUser{Username: mr.Author.Username}
	}
	return t
}

// convert builds the change of one merge request, without its
// dependencies (deps.go resolves them). headRepo is the path of the
// project its head lives in (Source.projectPath for a fork). It does no
// I/O.
func (s *Source) convert(project *gl.Project, e entry, headRepo string) change.Change {
	mr := e.mr
	fork := mr.SourceProjectID != mr.TargetProjectID
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
		Relays:   s.relays(s.key(mr.IID), mr.Description),
	}
	if mr.Author != nil {
		c.Submitter = mr.Author.Username
	}
	if mr.SHA == "" {
		c.Unbuildable = noHead
	} else {
		c.Content = []string{mr.SHA}
	}
	return c
}
