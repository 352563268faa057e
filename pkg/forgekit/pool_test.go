package forgekit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestForEachCallsEveryIndexOnceWithinTheBound(t *testing.T) {
	tests := []struct {
		name       string
		workers, n int
	}{
		{"none", 4, 0},
		{"one", 4, 1},
		{"fewer than workers", 4, 3},
		{"as many as workers", 4, 4},
		{"many", 4, 100},
		{"zero workers is one", 0, 5},
		{"one worker", 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				calls    = make([]int, tt.n)
				in, peak int
			)
			err := ForEach(t.Context(), tt.workers, tt.n, func(_ context.Context, i int) error {
				mu.Lock()
				calls[i]++
				in++
				peak = max(peak, in)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				in--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range calls {
				if c != 1 {
					t.Errorf("index %d called %d times, want 1", i, c)
				}
			}
			if bound := max(tt.workers, 1); peak > bound {
				t.Errorf("%d calls at once, want at most %d", peak, bound)
			}
		})
	}
}

// TestForEachRunsWorkersAtOnce checks that the pool is a pool: workers
// calls run together (each waits until all of them are in).
func TestForEachRunsWorkersAtOnce(t *testing.T) {
	const workers = 4
	var in atomic.Int32
	all := make(chan struct{})
	err := ForEach(t.Context(), workers, workers, func(ctx context.Context, i int) error {
		if in.Add(1) == workers {
			close(all)
		}
		select {
		case <-all:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the calls did not run at once")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestForEachFirstErrorCancelsAndStops(t *testing.T) {
	boom := errors.New("boom")
	const n = 100
	var started, finished atomic.Int32
	err := ForEach(t.Context(), 2, n, func(ctx context.Context, i int) error {
		started.Add(1)
		defer finished.Add(1)
		if i == 0 {
			return boom
		}
		select {
		case <-ctx.Done():
			time.Sleep(10 * time.Millisecond) // still running when cancelled: must be waited for
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
			return errors.New("not cancelled")
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the first error %v", err, boom)
	}
	if s := started.Load(); s >= n/2 {
		t.Errorf("%d of %d calls started after the first error, want the rest not started", s, n)
	}
	if s, f := started.Load(), finished.Load(); s != f {
		t.Errorf("returned with %d of %d calls still running", s-f, s)
	}
}

func TestForEachCancelledIsAnError(t *testing.T) {
	cause := errors.New("shutting down")
	tests := []struct {
		name string
		// cancelAt is the index whose call cancels ctx; -1 cancels it before
		// ForEach starts.
		cancelAt int
	}{
		{"before the start", -1},
		{"during the pass", 3},
		{"at the last call", 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			if tt.cancelAt < 0 {
				cancel(cause)
			}
			err := ForEach(ctx, 1, 10, func(_ context.Context, i int) error {
				if i == tt.cancelAt {
					cancel(cause)
				}
				return nil
			})
			if !errors.Is(err, cause) {
				t.Errorf("error %v, want one wrapping %v", err, cause)
			}
		})
	}
}
