package config

import (
	"regexp"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// SourceGitLab polls a project's merge requests.
const SourceGitLab = "gitlab"

// GitLab configures a GitLab source.
type GitLab struct {
	// URL is the instance root, e.g. https://gitlab.com.
	URL string `yaml:"url" json:"url"`
	// Project is the project's full path, "group/sub/project".
	Project string `yaml:"project" json:"project"`
	// Branches keeps only merge requests into these target branches.
	Branches []string `yaml:"branches,omitempty" json:"branches,omitempty"`
	Drafts   bool     `yaml:"drafts" json:"drafts"`
	Forks    bool     `yaml:"forks" json:"forks"`
	// FullRelist is how often the whole list is read again; between, only
	// what was updated is listed.
	FullRelist Duration `yaml:"full_relist" json:"full_relist"`
	// Token is a personal, project or group access token.
	Token secret.Source `yaml:"token" json:"token"`
}

// DefaultFullRelist is the full_relist of a GitLab source that sets none.
const DefaultFullRelist = Duration(3600 * 1e9)

// projectPathRE is the form of a GitLab project's full path.
var projectPathRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)

// gitlab reads a source's gitlab block.
func (l *loader) gitlab(f field) *GitLab {
	o := l.object(f, "url", "project", "branches", "drafts", "forks", "full_relist", "token_file", "token_env")
	g := &GitLab{
		URL:        l.httpURL(o.get("url"), true),
		Drafts:     l.enum(o.get("drafts"), "false", "true", "false") == "true",
		Forks:      l.enum(o.get("forks"), "true", "true", "false") == "true",
		FullRelist: l.duration(o.get("full_relist"), DefaultFullRelist),
		Token:      l.secret(o, true),
	}
	pf := o.get("project")
	if g.Project = l.required(pf); g.Project != "" && !projectPathRE.MatchString(g.Project) {
		l.errorf(pf, "%s is not a project path \"group/project\" (numeric ids are not accepted: keys need the path)", quote(g.Project))
	}
	g.Branches, _ = l.list(o.get("branches"), branchRE, "a branch name")
	return g
}
