package github

import (
	"fmt"
	"slices"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
)

// trimmer trims the pull requests of one read of the list (see trim),
// and lets them share the repositories and authors they name: most name
// the same base and head repository, and a Repository or a User is a
// large struct even with one or two fields set. The zero value is ready
// to use; what it hands out is read-only.
type trimmer struct {
	repos map[[2]string]*gh.Repository // by full name and clone URL
	users map[string]*gh.User          // by login
}

// trim returns the part of listed pull request pr that a Fetch reads
// (skip, convert, the references in its body, samePage) and drops the
// rest: a listed pull request carries its head and base repositories and
// their owners in full, and 2,500 of them decoded held 10 MB until the
// Fetch ended, at the peak of a tick. A field read from a listed pull
// request is kept here too; TestTrimKeepsWhatFetchReads fills every field
// and fails otherwise.
func (t *trimmer) trim(pr *gh.PullRequest) *gh.PullRequest {
	if pr == nil {
		return nil
	}
	out := &gh.PullRequest{
		Number:    pr.Number,
		Draft:     pr.Draft,
		Title:     pr.Title,
		Body:      pr.Body,
		HTMLURL:   pr.HTMLURL,
		UpdatedAt: pr.UpdatedAt,
		Head:      t.branch(pr.Head),
		Base:      t.branch(pr.Base),
	}
	if pr.User != nil {
		login := pr.User.GetLogin()
		if t.users == nil {
			t.users = map[string]*gh.User{}
		}
		if t.users[login] == nil {
			t.users[login] = &gh.User{Login: pr.User.Login}
		}
		out.User = t.users[login]
	}
	return out
}

// branch is trim for a head or base.
func (t *trimmer) branch(b *gh.PullRequestBranch) *gh.PullRequestBranch {
	if b == nil {
		return nil
	}
	out := &gh.PullRequestBranch{Ref: b.Ref, SHA: b.SHA}
	if r := b.Repo; r != nil {
		k := [2]string{r.GetFullName(), r.GetCloneURL()}
		if t.repos == nil {
			t.repos = map[[2]string]*gh.Repository{}
		}
		if t.repos[k] == nil {
			t.repos[k] = &gh.Repository{FullName: r.FullName, CloneURL: r.CloneURL}
		}
		out.Repo = t.repos[k]
	}
	return out
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
