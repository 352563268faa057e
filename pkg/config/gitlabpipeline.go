package config

import (
	"regexp"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetGitLabPipeline creates a GitLab pipeline per unit.
const TargetGitLabPipeline = "gitlab-pipeline"

// The ways a gitlab-pipeline target creates pipelines.
const (
	// GitLabPipelineTrigger uses a pipeline trigger token.
	GitLabPipelineTrigger = "trigger"
	// GitLabPipelineAPI uses the pipelines API and the access token.
	GitLabPipelineAPI = "api"
)

// DefaultMaxRunningForgeCI is the default max_running of the targets that
// run on a forge's own CI (gitlab-pipeline, github-workflow): the forge's
// runners bound the load.
const DefaultMaxRunningForgeCI = 20

// DefaultForgeCIMaxPages is how many pages of 100 pipelines or runs a
// forge CI target searches to find its job again.
const DefaultForgeCIMaxPages = 3

// DefaultForgeCIPostGrace is how long a forge CI target waits for the
// pipeline or run of a creation request an earlier, killed run may have
// had on the wire before creating it again.
const DefaultForgeCIPostGrace = Duration(2 * 60 * 1e9)

// GitLabPipeline configures a gitlab-pipeline target.
type GitLabPipeline struct {
	// URL is the GitLab instance, e.g. https://gitlab.com.
	URL string `yaml:"url" json:"url"`
	// Project is the numeric id or full path of the project whose
	// pipelines build the units.
	Project string `yaml:"project" json:"project"`
	// Ref is the branch or tag the pipelines run on.
	Ref string `yaml:"ref" json:"ref"`
	// Mode is GitLabPipelineTrigger or GitLabPipelineAPI.
	Mode string `yaml:"mode" json:"mode"`
	// TriggerToken is where the pipeline trigger token lives (mode
	// trigger).
	TriggerToken secret.Source `yaml:"trigger_token,omitempty" json:"trigger_token,omitempty"`
	// Token is where the access token lives: it reads pipelines and their
	// variables (Developer role), and creates them in mode api.
	Token secret.Source `yaml:"token" json:"token"`
	// MaxPages bounds the search for a pipeline made before a crash.
	MaxPages int `yaml:"max_pages" json:"max_pages"`
	// PostGrace is how long a trigger waits for the pipeline of a creation
	// request an earlier, killed run may have had on the wire before
	// creating it again.
	PostGrace Duration `yaml:"post_grace" json:"post_grace"`
}

// gitlabPipeline reads a target's gitlab-pipeline block.
func (l *loader) gitlabPipeline(f field) *GitLabPipeline {
	o := l.object(f, "url", "project", "ref", "mode", "trigger_token_file", "trigger_token_env", "token_file", "token_env", "max_pages", "post_grace")
	g := &GitLabPipeline{
		URL:       l.httpURL(o.get("url"), true),
		Token:     l.secret(o, true),
		MaxPages:  l.integer(o.get("max_pages"), DefaultForgeCIMaxPages, 1, 100),
		PostGrace: l.duration(o.get("post_grace"), DefaultForgeCIPostGrace),
	}
	pf := o.get("project")
	if g.Project = l.required(pf); g.Project != "" && !projectPathRE.MatchString(g.Project) && !numericRE.MatchString(g.Project) {
		l.errorf(pf, "%s is not a project id or path \"group/project\"", quote(g.Project))
	}
	rf := o.get("ref")
	if g.Ref = l.required(rf); g.Ref != "" && !branchRE.MatchString(g.Ref) {
		l.errorf(rf, "%s is not a branch or tag name", quote(g.Ref))
	}
	mf := o.get("mode")
	switch g.Mode = l.optional(mf, GitLabPipelineTrigger); g.Mode {
	case GitLabPipelineTrigger:
		g.TriggerToken = l.secretPair(o, "trigger_token_file", "trigger_token_env", "pipeline trigger token", true)
	case GitLabPipelineAPI:
		for _, k := range []string{"trigger_token_file", "trigger_token_env"} {
			if kf := o.get(k); kf.node != nil {
				l.errorf(kf, "mode api creates pipelines with the access token (token_file/token_env); leave %s out or set mode: trigger", k)
			}
		}
	default:
		l.errorf(mf, "%s is neither %s nor %s", quote(g.Mode), GitLabPipelineTrigger, GitLabPipelineAPI)
	}
	return g
}

// numericRE is a numeric id.
var numericRE = regexp.MustCompile(`^[1-9][0-9]*$`)
