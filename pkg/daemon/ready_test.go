package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/cycle"
)

func TestReady(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	g := Group{Schedule: "@every 5m", Sources: []string{"netdev", "bpf"}}
	ok := &Cycle{Ended: now.Add(-time.Minute), Report: &cycle.Report{Scope: g.Sources}}
	fresh := map[string]time.Time{"netdev": now.Add(-time.Minute), "bpf": now.Add(-time.Minute)}
	tests := []struct {
		name  string
		state GroupState
		want  []string // substrings of the reasons; none means ready
	}{
		{"every source fresh", GroupState{Group: g, Interval: 5 * time.Minute, Last: ok, Complete: fresh}, nil},
		{"no cycle yet", GroupState{Group: g, Interval: 5 * time.Minute, Complete: map[string]time.Time{}},
			[]string{"no cycle ended yet"}},
		{"last cycle could not run", GroupState{Group: g, Interval: 5 * time.Minute, Complete: fresh,
			Last: &Cycle{Ended: now, Err: "cycle: load state: permission denied"}}, []string{"failed: cycle: load state: permission denied"}},
		{"a source unknown", GroupState{Group: g, Interval: 5 * time.Minute, Complete: fresh,
			Last: &Cycle{Ended: now, Report: &cycle.Report{Scope: g.Sources, Errors: 1,
				UnknownSources: []cycle.SourceError{{Source: "bpf", Err: "GET https://pw/api: 502"}}}}},
			[]string{"source bpf unknown (GET https://pw/api: 502)"}},
		{"a source stale", GroupState{Group: g, Interval: 5 * time.Minute, Last: ok,
			Complete: map[string]time.Time{"netdev": now.Add(-time.Minute), "bpf": now.Add(-16 * time.Minute)}},
			[]string{"source bpf: last complete cycle at 2026-12-03T11:44:00Z, more than 3 intervals of 5m0s ago"}},
		{"a source never complete", GroupState{Group: g, Interval: 5 * time.Minute, Last: ok,
			Complete: map[string]time.Time{"netdev": now}}, []string{"source bpf: no complete cycle yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := Ready([]GroupState{tt.state}, now, 3)
			if ready != (len(tt.want) == 0) {
				t.Fatalf("ready = %v (%q)", ready, why)
			}
			all := strings.Join(why, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("reasons %q lack %q", all, w)
				}
			}
		})
	}
}

// flaky fails its cycles while fail is set.
type flaky struct{ fail atomic.Bool }

func (f *flaky) Run(_ context.Context, _ cycle.Mode, scope []string) (*cycle.Report, error) {
	if f.fail.Load() {
		return &cycle.Report{Scope: scope, Errors: 1, UnknownSources: []cycle.SourceError{{Source: scope[0], Err: "502 Bad Gateway"}}}, nil
	}
	return &cycle.Report{Scope: scope}, nil
}

// TestHealthzAndReadyz: while every cycle fails the process is alive
// (/healthz) but not ready (/readyz 503 with the reason); once cycles
// succeed it is ready.
func TestHealthzAndReadyz(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := &flaky{}
	f.fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Cycler: f, Groups: []Group{{Schedule: "a", Sources: []string{"netdev"}}}, Parse: parse,
			CycleTimeout: time.Minute, Listen: addr, ReadyIntervals: 1000})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(path string, code int, body string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, b := get(path)
			if c == code && strings.Contains(b, body) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d %q, want %d with %q", path, c, b, code, body)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("/readyz", http.StatusServiceUnavailable, "source netdev unknown (502 Bad Gateway)")
	if c, b := get("/healthz"); c != http.StatusOK || b != "ok\n" {
		t.Errorf("/healthz = %d %q while cycles fail: the process is alive", c, b)
	}
	f.fail.Store(false)
	waitFor("/readyz", http.StatusOK, "ok\n")
	if c, _ := get("/nothing"); c != http.StatusNotFound {
		t.Errorf("GET /nothing = %d without a status page", c)
	}
}
