package forgekit

import (
	"context"
	"fmt"
	"sync"
)

// ForEach calls fn for every i in [0, n) on at most workers goroutines
// (fewer than 1 is 1), and returns only once every call it started has
// returned: it leaves no goroutine behind. The first error cancels the
// context the other calls run with, stops handing out the indexes not yet
// started, and is returned. When ctx ends first, ForEach stops handing out
// indexes and returns an error wrapping context.Cause(ctx), even if every
// call returned nil: a cancelled pass must never look complete.
func ForEach(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for range min(max(workers, 1), n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() {
						first = err
						cancel()
					})
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	return nil
}
