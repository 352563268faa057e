package github

import (
	"fmt"
	"slices"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
)

// trim returns the part of listed pull request pr that a Fetch reads
// (skip, convert, the references in its body, samePage) and drops the
// rest: a listed pull request carries its head and base repositories and
// their owners in full, and 2,500 of them decoded held 10 MB until the
// Fetch ended, at the peak of a tick. A field read from a listed pull
// request is kept here too; TestTrimKeepsWhatFetchReads fills every field
// and fails otherwise.
func trim(pr *gh.PullRequest) *gh.PullRequest {
	if pr == nil {
		return nil
	}
	t := &gh.PullRequest{
		Number:    pr.Number,
		Draft:     pr.Draft,
		Title:     pr.Title,
		Body:      pr.Body,
		HTMLURL:   pr.HTMLURL,
		UpdatedAt: pr.UpdatedAt,
		Head:      trimBranch(pr.Head),
		Base:      trimBranch(pr.Base),
	}
	if pr.User != nil {
		t.User = &gh.User{Login: pr.User.Login}
	}
	return t
}

// trimBranch is trim for a head or base.
func trimBranch(b *gh.PullRequestBranch) *gh.PullRequestBranch {
	if b == nil {
		return nil
	}
	t := &gh.PullRequestBranch{Ref: b.Ref, SHA: b.SHA}
	if b.Repo != nil {
		t.Repo = &gh.Repository{FullName: b.Repo.FullName, CloneURL: b.Repo.CloneURL}
	}
	return t
}

// headRepo returns the head's "owner/name" ("" when the fork was deleted)
// and whether the head lives outside the base repository.
func (s *Source) headRepo(pr *gh.PullRequest) (string, bool) {
	head := pr.GetHead().GetRepo().GetFullName()
	base := pr.GetBase().GetRepo().GetFullName()
	if base == "" {
		base = s.o.Repo
	}
	return head, head == "" || !strings.EqualFold(head, base)
}

// convert turns pr into a change, without its dependencies (deps.go
// resolves them). It does no I/O.
func (s *Source) convert(pr *gh.PullRequest) change.Change {
	n := int64(pr.GetNumber())
	key := change.GitHubKey(s.host, s.o.Repo, n)
	headRepo, fork := s.headRepo(pr)
	sha := pr.GetHead().GetSHA()
	base := s.o.Base
	if base.Tree == "" {
		base.Tree = s.o.Repo
	}
	if base.URL == "" {
		base.URL = pr.GetBase().GetRepo().GetCloneURL()
	}
	if base.URL == "" {
		base.URL = "https://" + s.host + "/" + s.o.Repo + ".git"
	}
	base.Branch = pr.GetBase().GetRef()
	relays := s.relays(key, pr.GetBody())
	c := change.Change{
		Key:       key,
		Source:    s.o.Name,
		Title:     pr.GetTitle(),
		WebURL:    pr.GetHTMLURL(),
		Submitter: pr.GetUser().GetLogin(),
		Content:   []string{sha},
		Relays:    relays,
		Base:      base,
		Targets:   slices.Clone(s.o.Targets),
		HeadSHA:   sha,
		HeadRepo:  headRepo,
		HeadRef:   pr.GetHead().GetRef(),
		FetchRef:  fmt.Sprintf("refs/pull/%d/head", pr.GetNumber()),
		BaseSHA:   pr.GetBase().GetSHA(),
		Draft:     pr.GetDraft(),
		Fork:      fork,
	}
	if sha == "" {
		c.Unbuildable = "GitHub gave no head commit for this pull request"
	}
	return c
}
