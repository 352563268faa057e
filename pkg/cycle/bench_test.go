package cycle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/state"
)

// sameStore hands out one state without copying it, so that a benchmark
// measures the cycle rather than a store.
type sameStore struct{ st *state.State }

func (s *sameStore) Load() (*state.State, error) { return s.st, nil }
func (s *sameStore) Save(st *state.State) error {
	s.st = st
	return nil
}

// cpuTime is the CPU time of this process so far: ns/op is wall time,
// which a loaded machine inflates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchChanges are n Patchwork series of 1 to 12 patches, 5% of them
// depending on an earlier one.
func benchChanges(n int) []change.Change {
	rng := rand.New(rand.NewPCG(1, 2))
	cs := make([]change.Change, n)
	for i := range cs {
		hashes := make([]string, 1+rng.IntN(12))
		for j := range hashes {
			hashes[j] = fmt.Sprintf("%040x", i*16+j)
		}
		cs[i] = series(i+1, 1, hashes...)
		if i > 0 && rng.IntN(100) < 5 {
			on := change.Key(fmt.Sprintf("pw:pw.example.org/netdev/series/%d", 1+rng.IntN(i)))
			cs[i].Deps = []change.Ref{{Raw: string(on), Key: on, Source: "netdev", Checked: true}}
		}
	}
	return cs
}

// benchRunner is a runner over 10,000 units of one source and target, after
// the cycle that triggered them all, with the time its clock gives.
func benchRunner(b *testing.B) (*Runner, []change.Change, time.Time) {
	b.Helper()
	cs := benchChanges(10000)
	store := &sameStore{st: state.New()}
	now := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	r := New(Options{
		Sources: []Source{&fakeSource{name: "netdev", changes: cs}}, Targets: []Target{newTarget("kci")},
		Store: store, GoneGrace: time.Hour, Now: func() time.Time { return now },
	})
	rep, err := r.Run(context.Background(), Act, nil)
	if err != nil || rep.Count.Triggered != len(cs) {
		b.Fatalf("first cycle: %v, triggered %d", err, rep.Count.Triggered)
	}
	return r, cs, now
}

// BenchmarkDecide10000Units measures what a cycle does between the fetch
// and the triggers for 10,000 unchanged units: the graph, the
// fingerprints and the decisions (a plan on a filled state; no I/O, the
// base resolved once).
//
//	go test ./pkg/cycle -run '^$' -bench Decide10000
func BenchmarkDecide10000Units(b *testing.B) {
	r, cs, _ := benchRunner(b)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		rep, err := r.Run(context.Background(), Plan, nil)
		if err != nil || rep.Count.Triggered != 0 {
			b.Fatalf("plan: %v, %+v", err, rep.Count)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(len(cs)), "units")
}

// BenchmarkGraphFingerprintDecide10000 measures, on the same 10,000
// unchanged units, only the stages the target names: the
// dependency graph (resolveRefs, which ends in graph.Build), the
// fingerprints and the decisions (resolveBases, whose one base look-up
// is answered by a fake, and decide). The fetch that rebuilds the
// snapshot each time is outside the measure; GC work the measured stages
// cause (on any thread) is inside it.
//
//	go test ./pkg/cycle -run '^$' -bench GraphFingerprintDecide10000
func BenchmarkGraphFingerprintDecide10000(b *testing.B) {
	r, cs, now := benchRunner(b)
	ctx := context.Background()
	var cpu time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		p, err := r.begin(Plan, nil, now)
		if err != nil {
			b.Fatal(err)
		}
		r.fetch(ctx, p)
		if p.st, err = r.o.Store.Load(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := cpuTime()
		r.resolveRefs(ctx, p)
		r.resolveBases(ctx, p)
		ds := decide(r.decideInput(p))
		cpu += cpuTime() - start
		if len(ds) != len(cs) {
			b.Fatalf("%d decisions, want %d", len(ds), len(cs))
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
