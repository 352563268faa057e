package buildbot

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the Buildbot target t (of type config.TargetBuildbot)
// configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	// No cache: a job's builds change until they end. The transport never
	// retries the change hook's POST after a 5xx (the next tick adopts the
	// change instead).
	hc, err := env.Client("buildbot "+t.Name, nil, false)
	if err != nil {
		return nil, err
	}
	b := t.Buildbot
	// The records of POSTs on the wire (posting.go) live in the state
	// directory; plan and validate, which never trigger, write nothing.
	stateDir := env.StateDir
	if env.ReadOnly {
		stateDir = ""
	}
	bt, err := New(Opts{
		Name:          t.Name,
		URL:           b.URL,
		HookPath:      b.HookPath,
		User:          b.User,
		Password:      b.Password,
		Builders:      b.Builders,
		Project:       b.Project,
		Category:      b.Category,
		Codebase:      b.Codebase,
		LookupChanges: b.LookupChanges,
		StartTimeout:  time.Duration(b.StartTimeout),
		StateDir:      stateDir,
		PostGrace:     time.Duration(b.PostGrace),
		HTTP:          hc,
		Logger:        env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return bt, nil
}
