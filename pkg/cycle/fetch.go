package cycle

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
)

// fetch is the first stage: it polls every source in scope (and every
// source without a snapshot yet) concurrently and builds the cycle's
// snapshot. A source that failed is unknown this cycle (rule 1); a source
// outside the scope contributes its last complete snapshot, or is unknown
// when it has none.
func (r *Runner) fetch(ctx context.Context, p *pass) {
	fetched := r.fetchSources(ctx, r.withoutSnapshot(p.scope))
	rep := p.rep
	for _, name := range r.order {
		if f, ok := fetched[name]; ok {
			// A source outside the scope was fetched only for the
			// dependencies of the scope's changes: it is not counted.
			_, own := p.scope[name]
			if own {
				rep.Sources++
			}
			if f.err != nil {
				p.unknown[name] = true
				if own {
					rep.Errors++
					rep.UnknownSources = append(rep.UnknownSources, SourceError{Source: name, Err: f.err.Error()})
				}
				r.log.Warn("source unknown this cycle", zap.String("source", name), zap.Error(f.err))
				continue
			}
			r.last[name] = f.changes
			p.all = append(p.all, f.changes...)
			if own {
				rep.Changes += len(f.changes)
			}
			continue
		}
		if prev, ok := r.last[name]; ok {
			p.all = append(p.all, prev...)
		} else {
			p.unknown[name] = true
		}
	}
}

// withoutSnapshot adds to scope the sources outside it that have no
// complete snapshot yet (the first cycle of a process, `trawl once
// --source`), so that dependencies on them are read rather than unknown.
func (r *Runner) withoutSnapshot(scope map[string]struct{}) map[string]struct{} {
	out := make(map[string]struct{}, len(r.order))
	for _, n := range r.order {
		_, in := scope[n]
		_, known := r.last[n]
		if in || !known {
			out[n] = struct{}{}
		}
	}
	return out
}

type fetchResult struct {
	changes []change.Change
	err     error
}

// fetchSources polls every source in scope concurrently; each goroutine
// ends when its Fetch returns, which the context bounds.
func (r *Runner) fetchSources(ctx context.Context, scope map[string]struct{}) map[string]fetchResult {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string]fetchResult{}
	)
	for name := range scope {
		src := r.sources[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			changes, err := src.Fetch(ctx)
			r.fetched(src.Name(), len(changes), time.Since(began), err)
			mu.Lock()
			out[src.Name()] = fetchResult{changes: changes, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
