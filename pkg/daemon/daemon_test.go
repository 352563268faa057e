package daemon

import (
	"context"
	"errors"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
)

// every fires every d; cron's own descriptors stop at one second.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func parse(string) (cron.Schedule, error) { return every(5 * time.Millisecond), nil }

// cycler records calls and runs a per-call behaviour.
type cycler struct {
	calls   atomic.Int32
	running atomic.Int32
	maxRun  atomic.Int32
	calledC chan []string
	do      func(ctx context.Context, n int32) error
}

func (c *cycler) Run(ctx context.Context, mode cycle.Mode, scope []string) (*cycle.Report, error) {
	n := c.calls.Add(1)
	r := c.running.Add(1)
	defer c.running.Add(-1)
	for {
		m := c.maxRun.Load()
		if r <= m || c.maxRun.CompareAndSwap(m, r) {
			break
		}
	}
	if mode != cycle.Act {
		panic("daemon ran a plan")
	}
	select {
	case c.calledC <- scope:
	default:
	}
	var err error
	if c.do != nil {
		err = c.do(ctx, n)
	}
	return &cycle.Report{}, err
}

// waitCalls waits (bounded) until the cycler has been called n times.
func waitCalls(t *testing.T, c *cycler, n int32) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for c.calls.Load() < n {
		select {
		case <-c.calledC:
		case <-deadline:
			t.Fatalf("cycler called %d times, want at least %d", c.calls.Load(), n)
		}
	}
}

func start(t *testing.T, c *cycler, timeout time.Duration, groups ...Group) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Cycler: c, Groups: groups, Parse: parse, CycleTimeout: timeout})
	}()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
}

func TestRunsEveryGroupAtStartThenOnSchedule(t *testing.T) {
	c := &cycler{calledC: make(chan []string, 16)}
	stop := start(t, c, time.Minute, Group{Schedule: "a", Sources: []string{"netdev"}}, Group{Schedule: "b", Sources: []string{"bpf"}})
	first := <-c.calledC
	second := <-c.calledC
	if first[0] != "netdev" || second[0] != "bpf" {
		t.Fatalf("start-up cycles = %v, %v; want netdev then bpf", first, second)
	}
	waitCalls(t, c, 6)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestPanickingCycleDoesNotStopTheNextTick(t *testing.T) {
	c := &cycler{calledC: make(chan []string, 16), do: func(_ context.Context, n int32) error {
		if n <= 2 {
			panic("boom")
		}
		return errors.New("a failed cycle is logged, not fatal")
	}}
	stop := start(t, c, time.Minute, Group{Schedule: "a", Sources: []string{"netdev"}})
	waitCalls(t, c, 4)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestSkipsTickWhileCycleStillRuns(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	c := &cycler{calledC: make(chan []string, 16), do: func(ctx context.Context, n int32) error {
		if n == 2 { // the first scheduled tick hangs until released
			<-release
		}
		return nil
	}}
	stop := start(t, c, time.Minute, Group{Schedule: "a", Sources: []string{"netdev"}})
	waitCalls(t, c, 2)
	time.Sleep(50 * time.Millisecond) // ten schedule periods pass while tick 2 hangs
	if got := c.calls.Load(); got != 2 {
		t.Fatalf("calls while a cycle runs = %d, want 2 (ticks skipped)", got)
	}
	once.Do(func() { close(release) })
	waitCalls(t, c, 4)
	if m := c.maxRun.Load(); m != 1 {
		t.Fatalf("max concurrent cycles = %d, want 1", m)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestCycleRunsUnderItsDeadline(t *testing.T) {
	got := make(chan error, 1)
	c := &cycler{calledC: make(chan []string, 16), do: func(ctx context.Context, n int32) error {
		if n == 1 {
			<-ctx.Done() // a stuck cycle
			got <- ctx.Err()
		}
		return ctx.Err()
	}}
	stop := start(t, c, 20*time.Millisecond, Group{Schedule: "a", Sources: []string{"netdev"}})
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stuck cycle ended with %v, want deadline exceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stuck cycle was never abandoned")
	}
	waitCalls(t, c, 3) // the next ticks still run
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestBadScheduleIsAnError(t *testing.T) {
	err := Run(context.Background(), Options{
		Cycler: &cycler{}, Groups: []Group{{Schedule: "nope"}}, CycleTimeout: time.Second,
		Parse: func(string) (cron.Schedule, error) { return nil, errors.New("bad spec") },
	})
	if err == nil {
		t.Fatal("Run accepted a bad schedule")
	}
}

// residentHeap is what the heap holds in memory: its objects, live or
// not collected yet, and the spans the runtime keeps without returning
// them to the system.
func residentHeap() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
}

// TestTickReturnsTheCycleMemory: what a cycle used and no longer holds is
// given back to the system when its tick ends, so that the process does
// not wait for the next tick at the cycle's peak.
func TestTickReturnsTheCycleMemory(t *testing.T) {
	const used = 256 << 20
	var sink []byte
	c := &cycler{do: func(context.Context, int32) error {
		sink = make([]byte, used)
		for i := range sink {
			sink[i] = 1
		}
		sink = nil
		return nil
	}}
	tick(context.Background(), Options{Cycler: c, CycleTimeout: time.Minute, Tracker: NewTracker([]Group{{}})},
		zap.NewNop(), 0, Group{})
	if got := residentHeap(); got > used/4 {
		t.Fatalf("after the tick the heap holds %d MB, want the cycle's %d MB given back", got>>20, used>>20)
	}
}
