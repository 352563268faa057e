package config

import (
	"regexp"
	"strings"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetGitHubWorkflow dispatches a GitHub Actions workflow per unit.
const TargetGitHubWorkflow = "github-workflow"

// GitHubWorkflow configures a github-workflow target.
type GitHubWorkflow struct {
	// APIURL is the REST API; empty is https://api.github.com.
	APIURL string `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// Repo is "owner/name" of the repository holding the workflow.
	Repo string `yaml:"repo" json:"repo"`
	// Workflow is the workflow's file name (trawl.yml) or numeric id.
	Workflow string `yaml:"workflow" json:"workflow"`
	// Ref is the branch or tag the workflow runs on.
	Ref string `yaml:"ref" json:"ref"`
	// Token is where the token lives (actions:write, contents:read).
	Token secret.Source `yaml:"token" json:"token"`
	// MaxPages bounds the search for a run dispatched before a crash.
	MaxPages int `yaml:"max_pages" json:"max_pages"`
	// PostGrace is how long a trigger waits for the run of a dispatch an
	// earlier, killed run may have had on the wire before dispatching
	// again.
	PostGrace Duration `yaml:"post_grace" json:"post_grace"`
}

// workflowRE is the form of a workflow file name or id.
var workflowRE = regexp.MustCompile(`^([1-9][0-9]*|[A-Za-z0-9_.-]+\.ya?ml)$`)

// githubWorkflow reads a target's github-workflow block.
func (l *loader) githubWorkflow(f field) *GitHubWorkflow {
	o := l.object(f, "api_url", "repo", "workflow", "ref", "token_file", "token_env", "max_pages", "post_grace")
	g := &GitHubWorkflow{
		APIURL:    l.httpURL(o.get("api_url"), false),
		Token:     l.secret(o, true),
		MaxPages:  l.integer(o.get("max_pages"), DefaultForgeCIMaxPages, 1, 100),
		PostGrace: l.duration(o.get("post_grace"), DefaultForgeCIPostGrace),
	}
	rf := o.get("repo")
	if g.Repo = l.required(rf); g.Repo != "" && !repoRE.MatchString(g.Repo) {
		l.errorf(rf, "%s is not a repository \"owner/name\"", quote(g.Repo))
	}
	wf := o.get("workflow")
	if g.Workflow = l.required(wf); g.Workflow != "" && !workflowRE.MatchString(g.Workflow) {
		if strings.Contains(g.Workflow, "/") {
			l.errorf(wf, "%s is a path; give the file name only, e.g. trawl.yml", quote(g.Workflow))
		} else {
			l.errorf(wf, "%s is not a workflow file name (*.yml, *.yaml) or id", quote(g.Workflow))
		}
	}
	ref := o.get("ref")
	if g.Ref = l.required(ref); g.Ref != "" && !branchRE.MatchString(g.Ref) {
		l.errorf(ref, "%s is not a branch or tag name", quote(g.Ref))
	}
	return g
}
