package main

import (
	"context"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/setup"
)

// BenchmarkTick measures a first tick and an idle tick of `trawl once` on
// the recorded Patchwork data (netdev, 7 complete series) and an
// in-process KernelCI, through the real wiring: requests and bytes per
// tick are reported as metrics, and ns/op of the idle case is the wall
// time of an idle tick.
//
//	go test ./cmd/trawl -run '^$' -bench Tick -benchtime 20x
func BenchmarkTick(b *testing.B) {
	for _, tc := range []struct {
		name string
		idle bool
	}{{"first", false}, {"idle", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var requests, network, cache, bytes int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				w := newWorld(b)
				cfg, err := config.LoadFile(w.config)
				if err != nil {
					b.Fatal(err)
				}
				app, err := setup.New(cfg, setup.Options{Version: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				run := func() *cycle.Report {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					rep, err := app.Runner.Run(ctx, cycle.Act, nil)
					if err != nil || rep.Errors > 0 {
						b.Fatalf("cycle: %v, %d errors", err, rep.Errors)
					}
					return rep
				}
				if tc.idle {
					run()
				}
				b.StartTimer()
				rep := run()
				b.StopTimer()
				if tc.idle && rep.Count.Triggered != 0 || !tc.idle && rep.Count.Triggered != 6 {
					b.Fatalf("triggered %d", rep.Count.Triggered)
				}
				requests += rep.Requests.Requests()
				network += rep.Requests.Network
				cache += rep.Requests.Cache
				bytes += rep.Requests.Bytes
				if err := app.Close(); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(requests)/n, "requests/tick")
			b.ReportMetric(float64(network)/n, "network/tick")
			b.ReportMetric(float64(cache)/n, "cached/tick")
			b.ReportMetric(float64(bytes)/n, "bytes/tick")
		})
	}
}
