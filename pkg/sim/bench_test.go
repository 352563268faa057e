package sim

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
)

var (
	soakTicks = flag.Int("sim.soak", 1000, "idle ticks of BenchmarkIdleSoak")
	schedule  = flag.Duration("sim.schedule", time.Minute, "tick interval for the detection latency")
	profile   = flag.String("sim.cpuprofile", "", "write a CPU profile of the measured ticks to this file")
	heapAt    = flag.String("sim.heapprofile", "", "write a profile of the live heap before each measured tick to this file")
)

// probe measures one stretch of work in this process: CPU time, wall time,
// peak heap (sampled), peak RSS and allocations.
type probe struct {
	start          time.Time
	cpu            time.Duration
	mallocs, alloc uint64
	stop           chan struct{}
	wg             sync.WaitGroup
	peakHeap       uint64
	idleRSS        uint64 // resident before the work, memory given back
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProbe gives the memory of what ran before back to the system, as
// the daemon does after each tick (daemon.tick), notes the resident size
// trawl then waits at, resets the peak RSS (Linux: clear_refs 5) and
// starts sampling the heap.
func startProbe() *probe {
	debug.FreeOSMemory()
	idle := procStatus("VmRSS:")
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := &probe{start: time.Now(), cpu: cpuTime(), mallocs: ms.Mallocs, alloc: ms.TotalAlloc, stop: make(chan struct{}), idleRSS: idle}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	p.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			p.peakHeap = max(p.peakHeap, sample[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

type measured struct {
	wall, cpu           time.Duration
	peakHeap, peakRSS   uint64
	idleRSS             uint64
	mallocs, allocBytes uint64
}

func (p *probe) end() measured {
	wall, cpu := time.Since(p.start), cpuTime()-p.cpu
	close(p.stop)
	p.wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return measured{wall: wall, cpu: cpu, peakHeap: p.peakHeap, peakRSS: procStatus("VmHWM:"), idleRSS: p.idleRSS,
		mallocs: ms.Mallocs - p.mallocs, allocBytes: ms.TotalAlloc - p.alloc}
}

// procStatus reads a size in kB from /proc/self/status (VmHWM: the peak
// resident size, VmRSS: the resident size now), in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// cpuProfile profiles until the returned func is called, into
// -sim.cpuprofile with name appended.
func cpuProfile(b *testing.B, name string) func() {
	if *profile == "" {
		return func() {}
	}
	f, err := os.Create(*profile + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// heapProfile writes, into -sim.heapprofile with name appended, the heap
// profile as of the last GC: called after startProbe's GC, what trawl
// keeps between ticks; called with name+".after" after a GC that follows
// the tick, what the tick allocated in all, against the first:
//
//	go tool pprof -sample_index=alloc_space -base X.10k-idle X.10k-idle.after
func heapProfile(b *testing.B, name string) {
	if *heapAt == "" {
		return
	}
	f, err := os.Create(*heapAt + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// report prints and reports what one tick cost.
func report(b *testing.B, h *harness, name string, before map[string]Counts, m measured, triggered int) {
	b.Helper()
	by := Sub(h.w.Stats(), before)
	var total, bytes int64
	forges := make([]string, 0, len(by))
	for f := range by {
		forges = append(forges, f)
	}
	sort.Strings(forges)
	var line []string
	for _, f := range forges {
		c := by[f]
		total += c.Requests
		bytes += c.Bytes
		b.ReportMetric(float64(c.Requests), f+"-req/op")
		line = append(line, fmt.Sprintf("%s %d (304 %d, err %d, %.2f MB)", f, c.Requests, c.NotModified, c.Errors, float64(c.Bytes)/1e6))
	}
	b.ReportMetric(float64(total), "requests/op")
	b.ReportMetric(float64(bytes), "bytes/op")
	b.ReportMetric(float64(m.cpu.Milliseconds()), "cpu-ms/op")
	b.ReportMetric(float64(m.peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(m.peakRSS)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(m.mallocs), "mallocs/op")
	fmt.Printf("%-22s units %5d: %d requests [%s], %.2f MB; triggered %d; wall %s, CPU %s; peak heap %.0f MB, peak RSS %.0f MB (%.0f MB before); %d allocations, %.0f MB allocated\n",
		name, h.w.Units(), total, strings.Join(line, "; "), float64(bytes)/1e6, triggered,
		m.wall.Round(time.Millisecond), m.cpu.Round(time.Millisecond),
		float64(m.peakHeap)/(1<<20), float64(m.peakRSS)/(1<<20), float64(m.idleRSS)/(1<<20), m.mallocs, float64(m.allocBytes)/(1<<20))
}

// giveBack returns the tick's memory to the system as the daemon does
// after each tick, and prints what that cost and the resident size trawl
// then waits at.
func giveBack(name string) {
	cpu := cpuTime()
	debug.FreeOSMemory()
	fmt.Printf("%-22s after the tick: giving its memory back took %s of CPU; resident %.0f MB until the next\n",
		name, (cpuTime() - cpu).Round(time.Millisecond), float64(procStatus("VmRSS:"))/(1<<20))
}

var scales = []struct {
	name        string
	series, prs int
}{
	{"1k", 1000, 500},
	{"10k", 10000, 5000},
}

// BenchmarkTick measures a cold tick (empty state) and an idle tick
// (nothing changed) of the whole wiring against the simulator, at 1k and
// 10k units (series plus pull and merge requests), and an idle tick with
// the Patchwork events hint on ("hint"). The simulator runs in
// a child process, so CPU, heap, RSS and allocations are trawl's alone;
// the Patchwork series go to the webhook target (see Options.Webhook). The idle
// cases also measure the detection latency: one new series appears, and the
// latency is the wait for the next tick (half the schedule on average, a
// whole one at worst) plus the time into the tick at which its trigger
// reached the target.
//
//	go test ./pkg/sim -run '^$' -bench Tick -benchtime 1x
func BenchmarkTick(b *testing.B) {
	for _, sc := range scales {
		for _, kind := range []string{"cold", "idle", "hint"} {
			b.Run(sc.name+"/"+kind, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					o := Options{Series: sc.series, PullRequests: sc.prs, Seed: 1, Webhook: true}
					if kind == "hint" {
						o.EventsRelist = 1000 // no relist among the measured ticks
					}
					h := wire(b, startRemote(b, o), false)
					if kind != "cold" {
						h.tick(b)
						h.tick(b) // the first idle tick fills what the cold one left
					}
					before := h.w.Stats()
					b.StartTimer()
					stop := cpuProfile(b, sc.name+"-"+kind)
					p := startProbe()
					heapProfile(b, sc.name+"-"+kind)
					rep := h.tick(b)
					m := p.end()
					stop()
					b.StopTimer()
					if *heapAt != "" {
						runtime.GC()
						heapProfile(b, sc.name+"-"+kind+".after")
					}
					report(b, h, "tick "+sc.name+" "+kind, before, m, rep.Count.Triggered)
					giveBack("tick " + sc.name + " " + kind)
					if kind != "cold" {
						if rep.Count.Triggered != 0 {
							b.Fatalf("idle tick triggered %d", rep.Count.Triggered)
						}
						n := len(h.w.Triggers())
						h.w.Change()
						start := time.Now()
						rep := h.tick(b)
						ts := h.w.Triggers()
						if rep.Count.Triggered != 1 || len(ts) != n+1 {
							b.Fatalf("after a new series: triggered %d", rep.Count.Triggered)
						}
						in := ts[n].Sub(start)
						b.ReportMetric(float64((*schedule/2 + in).Milliseconds()), "latency-ms")
						fmt.Printf("%-22s detection latency with a %s schedule: %s on average, %s at worst (%s into the tick)\n",
							"tick "+sc.name+" "+kind, *schedule, (*schedule/2 + in).Round(time.Millisecond),
							(*schedule + in).Round(time.Millisecond), in.Round(time.Millisecond))
					}
				}
			})
		}
	}
}

// BenchmarkColdWithChecks measures a cold tick at 1k units that builds
// the Patchwork series on KernelCI and posts a pending check on every
// patch: what reporting costs (Patchwork requests per check posted).
//
//	go test ./pkg/sim -run '^$' -bench ColdWithChecks -benchtime 1x
func BenchmarkColdWithChecks(b *testing.B) {
	for range b.N {
		h := wire(b, startRemote(b, Options{Series: 1000, PullRequests: -1, Seed: 1}), true)
		before := h.w.Stats()
		p := startProbe()
		rep := h.tick(b)
		m := p.end()
		report(b, h, "tick 1k cold+checks", before, m, rep.Count.Triggered)
		fmt.Printf("%-22s reports posted %d, found %d, retrying %d, failed %d\n", "tick 1k cold+checks",
			rep.Reports.Posted, rep.Reports.Found, rep.Reports.Retrying, rep.Reports.Failed)
	}
}

// BenchmarkIdleSoak runs -sim.soak idle ticks at 1k units and reports the
// growth of the live heap between the 10th and the last (after a GC).
//
//	go test ./pkg/sim -run '^$' -bench IdleSoak -benchtime 1x
func BenchmarkIdleSoak(b *testing.B) {
	for range b.N {
		h := wire(b, startRemote(b, Options{Series: 1000, PullRequests: 500, Seed: 1, Webhook: true}), false)
		var first uint64
		live := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		p := startProbe()
		for i := range *soakTicks {
			rep := h.tick(b)
			if i > 0 && rep.Count.Triggered != 0 {
				b.Fatalf("idle tick %d triggered %d", i, rep.Count.Triggered)
			}
			if i == 9 {
				first = live()
			}
		}
		m := p.end()
		last := live()
		growth := float64(int64(last)-int64(first)) / (1 << 20)
		b.ReportMetric(growth, "heap-growth-MB")
		fmt.Printf("soak 1k: %d idle ticks, live heap %.1f MB after tick 10, %.1f MB after tick %d (growth %.2f MB); wall %s, CPU %s, peak RSS %.0f MB\n",
			*soakTicks, float64(first)/(1<<20), float64(last)/(1<<20), *soakTicks, growth,
			m.wall.Round(time.Millisecond), m.cpu.Round(time.Millisecond), float64(m.peakRSS)/(1<<20))
	}
}

var idleTicks = flag.Int("sim.idle", 48, "idle ticks of BenchmarkIdleTicks after its cold tick")

// BenchmarkIdleTicks measures a cold tick and then -sim.idle consecutive
// idle ticks at the shape of issue 13's 10x project (Issue10x: 15,000
// series, 56 list pages) and at the 10k world of BenchmarkTick without
// pull requests: the Patchwork requests of each idle tick, split into the
// list pages (the floor) and the rest (re-checks of dependencies and
// message-ids nobody resolves), with their most and mean per tick, and
// the most and mean of ticks 1-16, 17-64 and 65 on (the intervals of the
// re-checks grow to 16 ticks for dependencies and 64 for message-ids:
// issue 13 holds every idle tick at 10x to 60 requests).
//
//	go test ./pkg/sim -run '^$' -bench IdleTicks -benchtime 1x
func BenchmarkIdleTicks(b *testing.B) {
	for _, sh := range []struct {
		name string
		o    Options
	}{
		{"issue-10x", Issue10x},
		{"10k", Options{Series: 10000, PullRequests: -1, Seed: 1, Webhook: true}},
	} {
		b.Run(sh.name, func(b *testing.B) {
			for range b.N {
				h := wire(b, startRemote(b, sh.o), false)
				before := h.w.Stats()
				p := startProbe()
				rep := h.tick(b)
				report(b, h, "ticks "+sh.name+" cold", before, p.end(), rep.Count.Triggered)
				var pages, others, perTick []int64
				var maxPW, sumPW, maxOther, sumOther, sumRest int64
				p = startProbe()
				for i := range *idleTicks {
					before, listed := h.w.Stats(), h.w.ListPages()
					if rep := h.tick(b); rep.Count.Triggered != 0 {
						b.Fatalf("idle tick %d triggered %d", i+1, rep.Count.Triggered)
					}
					by := Sub(h.w.Stats(), before)
					pg := h.w.ListPages() - listed
					pw := by["patchwork"].Requests
					pages, others, perTick = append(pages, pg), append(others, pw-pg), append(perTick, pw)
					maxPW, sumPW = max(maxPW, pw), sumPW+pw
					maxOther, sumOther = max(maxOther, pw-pg), sumOther+pw-pg
					for f, c := range by {
						if f != "patchwork" {
							sumRest += c.Requests
						}
					}
				}
				m := p.end()
				n := float64(*idleTicks)
				b.ReportMetric(float64(maxPW), "pw-max-req/tick")
				b.ReportMetric(float64(sumPW)/n, "pw-mean-req/tick")
				b.ReportMetric(float64(maxOther), "pw-max-rechecks/tick")
				fmt.Printf("%-22s %d idle ticks: Patchwork requests per tick most %d, mean %.2f; list pages per tick %v; other Patchwork requests per tick %v (most %d, mean %.2f); other forges %d requests in all; CPU %s per tick\n",
					"ticks "+sh.name+" idle", *idleTicks, maxPW, float64(sumPW)/n, slices.Compact(slices.Clone(pages)), others,
					maxOther, float64(sumOther)/n, sumRest, (m.cpu / time.Duration(*idleTicks)).Round(time.Millisecond))
				var windows []string
				for _, w := range [][2]int{{1, 16}, {17, 64}, {65, len(perTick)}} {
					if w[0] > len(perTick) {
						break
					}
					ts := perTick[w[0]-1 : min(w[1], len(perTick))]
					sum := int64(0)
					for _, v := range ts {
						sum += v
					}
					windows = append(windows, fmt.Sprintf("ticks %d-%d most %d, mean %.2f", w[0], w[0]+len(ts)-1, slices.Max(ts), float64(sum)/float64(len(ts))))
				}
				fmt.Printf("%-22s Patchwork requests per tick: %s\n", "ticks "+sh.name+" idle", strings.Join(windows, "; "))
			}
		})
	}
}

// serverLatency is the simulated time a server takes per request in
// BenchmarkColdWithChecksAtLatency: the real Patchwork 3.1.3 of issue 13
// took 452 s for the 38,019 requests of a cold tick with checks at 10x,
// about 12 ms a request.
const serverLatency = 12 * time.Millisecond

// BenchmarkColdWithChecksAtLatency measures a cold tick with reports at
// 1k and 10k units against servers that take serverLatency per request,
// the Patchwork series built either on KernelCI ("kernelci": at most
// max_running, 1,000, are triggered in a tick, so at 10k units the checks
// of 1,000 series are posted) or by the webhook target ("webhook": every
// series is triggered and checked in the tick, the issue's cold tick with
// checks). A pending check goes on every patch of a triggered series, and
// a pending GitLab commit status on every merge request (built by the
// webhook target; the simulated GitHub reports none: its secondary limit
// refuses thousands of statuses at once). It prints the requests by
// forge, the report requests per report posted, and the wall time against
// the default cycle deadline (issue 13: under half of it).
//
//	go test ./pkg/sim -run '^$' -bench ColdWithChecksAtLatency -benchtime 1x
func BenchmarkColdWithChecksAtLatency(b *testing.B) {
	deadline := time.Duration(config.DefaultCycleTimeout)
	for _, sc := range scales {
		for _, target := range []string{"kernelci", "webhook"} {
			b.Run(sc.name+"/"+target, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					o := Options{Series: sc.series, PullRequests: sc.prs, Seed: 1, Latency: serverLatency, Webhook: target == "webhook"}
					h := wire(b, startRemote(b, o), true)
					before := h.w.Stats()
					b.StartTimer()
					p := startProbe()
					rep := h.tick(b)
					m := p.end()
					b.StopTimer()
					name := fmt.Sprintf("tick %s cold+checks %s@%s", sc.name, target, serverLatency)
					report(b, h, name, before, m, rep.Count.Triggered)
					var line []string
					for forge, c := range Sub(h.w.Stats(), before) {
						if c.ReportPosts == 0 {
							continue
						}
						perPost := float64(c.Reports) / float64(c.ReportPosts)
						b.ReportMetric(perPost, forge+"-req/report")
						line = append(line, fmt.Sprintf("%s %d requests for %d posted (%.2f a report)", forge, c.Reports, c.ReportPosts, perPost))
					}
					sort.Strings(line)
					share := float64(m.wall) / float64(deadline)
					b.ReportMetric(100*share, "%-of-deadline")
					fmt.Printf("%-22s reports: %s; units reported %d, found %d, retrying %d, failed %d; wall %s = %.0f%% of the default cycle deadline (%s)\n",
						name, strings.Join(line, "; "), rep.Reports.Posted, rep.Reports.Found, rep.Reports.Retrying, rep.Reports.Failed,
						m.wall.Round(time.Millisecond), 100*share, deadline)
				}
			})
		}
	}
}
