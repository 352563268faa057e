package exec

import (
	"fmt"
	"os"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the exec target t (of type config.TargetExec)
// configures, and registers it to be closed with the app: closing stops
// the commands it runs.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	e := t.Exec
	dir := e.Dir
	if dir == "" {
		// The documented default, which a fresh install (a first plan,
		// which takes no lock) has not created yet.
		dir = env.StateDir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create the working directory: %w", err)
		}
	}
	xt, err := New(Opts{
		Name:     t.Name,
		Command:  e.Command,
		Dir:      dir,
		Timeout:  time.Duration(e.Timeout),
		Env:      e.Env,
		StateDir: env.StateDir,
		ReadOnly: env.ReadOnly,
		Logger:   env.Logger,
	})
	if err != nil {
		return nil, err
	}
	env.Closers.Add(xt)
	return xt, nil
}
