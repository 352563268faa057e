package githubworkflow

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// What the cycle asks of a target: a trigger, and the result of a job.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

// FromConfig builds the github-workflow target t (of type
// config.TargetGitHubWorkflow) configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	g := t.GitHubWorkflow
	// No cache: a run's status must be read fresh.
	hc, err := env.Client("github-workflow "+t.Name, &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: g.Token}, false)
	if err != nil {
		return nil, err
	}
	api := g.APIURL
	if api != "" {
		api += "/" // config gives it without the slash go-github needs
	}
	// The records of creation requests on the wire live in the state
	// directory; plan and validate, which never trigger, write nothing.
	stateDir := env.StateDir
	if env.ReadOnly {
		stateDir = ""
	}
	gt, err := New(Opts{
		Name:      t.Name,
		APIURL:    api,
		Repo:      g.Repo,
		Workflow:  g.Workflow,
		Ref:       g.Ref,
		HTTP:      hc,
		StateDir:  stateDir,
		PostGrace: time.Duration(g.PostGrace),
		MaxPages:  g.MaxPages,
		Logger:    env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return gt, nil
}
