package setup

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/daemon"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/retention"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets/exec"
)

// pruneEvery is how often `trawl run` prunes, at most.
const pruneEvery = time.Hour

// Prune bounds the HTTP cache and the exec targets' records as
// cfg.Retention says, keeping every exec job the state refers to. It logs
// what it removed.
func (a *App) Prune() error {
	r := a.cfg.Retention
	mb := func(n int) int64 { return int64(n) << 20 }
	var errs []error
	st, err := httpx.PruneCache(a.cfg.CacheDir(), retention.Policy{MaxAge: time.Duration(r.CacheMaxAge), MaxBytes: mb(r.CacheMaxMB)})
	errs = append(errs, err)
	a.logPrune("http cache", st)
	var jobs map[string]bool
	for _, t := range a.cfg.Targets {
		if t.Type != config.TargetExec {
			continue
		}
		if jobs == nil {
			if jobs, err = referencedJobs(a.cfg.StatePath()); err != nil {
				// Without the state, no record can be known unused.
				return errors.Join(append(errs, err)...)
			}
		}
		st, err := exec.PruneRecords(a.cfg.StateDir, t.Name, retention.Policy{MaxAge: time.Duration(r.ExecMaxAge), MaxBytes: mb(r.ExecMaxMB)},
			func(id string) bool { return jobs[id] })
		errs = append(errs, err)
		a.logPrune("exec records "+t.Name, st)
	}
	return errors.Join(errs...)
}

func (a *App) logPrune(what string, st retention.Stats) {
	if st.Removed > 0 {
		a.log.Info("pruned", zap.String("what", what), zap.Int("files", st.Removed), zap.Int64("bytes", st.Freed),
			zap.Int("files_left", st.Kept), zap.Int64("bytes_left", st.Bytes))
	}
}

// referencedJobs lists every job a unit of the state refers to, current or
// replaced by a retry.
func referencedJobs(path string) (map[string]bool, error) {
	st, err := state.ReadOnly(path).Load()
	if err != nil {
		return nil, err
	}
	jobs := map[string]bool{}
	for _, u := range st.Units {
		if u.Job != nil {
			jobs[u.Job.ID] = true
		}
		for _, id := range u.PreviousJobs {
			jobs[id] = true
		}
	}
	return jobs, nil
}

// Cycler is the runner for the daemon: each cycle is followed, at most
// once an hour, by a Prune.
func (a *App) Cycler() daemon.Cycler {
	return &pruningCycler{app: a}
}

type pruningCycler struct {
	app  *App
	mu   sync.Mutex
	last time.Time
}

var _ daemon.Cycler = (*pruningCycler)(nil)

// Run runs the cycle, then prunes if the last prune is an hour old.
func (c *pruningCycler) Run(ctx context.Context, mode cycle.Mode, scope []string) (*cycle.Report, error) {
	rep, err := c.app.Runner.Run(ctx, mode, scope)
	if mode != cycle.Act {
		return rep, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.last) >= pruneEvery {
		c.last = time.Now()
		if perr := c.app.Prune(); perr != nil {
			c.app.log.Error("prune", zap.Error(perr))
		}
	}
	return rep, err
}
