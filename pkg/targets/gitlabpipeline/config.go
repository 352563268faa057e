package gitlabpipeline

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

// FromConfig builds the gitlab-pipeline target t (of type
// config.TargetGitLabPipeline) configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	g := t.GitLabPipeline
	// No cache: a pipeline's status must be read fresh. The access token
	// goes beneath, as PRIVATE-TOKEN; the trigger token travels in the
	// trigger's body.
	hc, err := env.Client("gitlab-pipeline "+t.Name, &httpx.Credential{Header: "PRIVATE-TOKEN", Secret: g.Token}, false)
	if err != nil {
		return nil, err
	}
	// The records of creation requests on the wire live in the state
	// directory; plan and validate, which never trigger, write nothing.
	stateDir := env.StateDir
	if env.ReadOnly {
		stateDir = ""
	}
	gt, err := New(Opts{
		Name:         t.Name,
		URL:          g.URL,
		Project:      g.Project,
		Ref:          g.Ref,
		Mode:         g.Mode,
		TriggerToken: g.TriggerToken,
		HTTP:         hc,
		StateDir:     stateDir,
		PostGrace:    time.Duration(g.PostGrace),
		MaxPages:     g.MaxPages,
		Logger:       env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return gt, nil
}
