package setup

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// projectChecker is a source that can ask its forge whether its project
// exists and the credential may read it.
type projectChecker interface {
	CheckProject(ctx context.Context) error
}

// CheckProjects asks every source's forge once whether the project exists,
// all sources at a time under ctx. It returns every failure, each naming
// its source.
func (a *App) CheckProjects(ctx context.Context) error {
	errs := make([]error, len(a.sources))
	var wg sync.WaitGroup
	for i, s := range a.sources {
		pc, ok := s.(projectChecker)
		if !ok {
			continue
		}
		wg.Go(func() {
			if err := pc.CheckProject(ctx); err != nil {
				errs[i] = fmt.Errorf("source %s: %w", s.Name(), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
