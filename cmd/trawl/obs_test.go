package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
)

// verbose makes a world's trawl log at debug level in JSON.
func verbose(t *testing.T, w *world, extra string) {
	t.Helper()
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(cfg), "log:\n  level: error\n", "log:\n  level: debug\n  format: json\n", 1)
	if out == string(cfg) {
		t.Fatal("the world's log settings moved")
	}
	if err := os.WriteFile(w.config, []byte(extra+out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// uniqueKeys decodes one JSON object token by token (encoding/json into a
// map would silently keep the last of two equal keys) and fails on a key
// present twice at any level.
func uniqueKeys(line string) error {
	dec := json.NewDecoder(strings.NewReader(line))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("key %q appears twice", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	return walk()
}

func TestUniqueKeysCatchesADuplicate(t *testing.T) {
	if err := uniqueKeys(`{"a":1,"b":{"c":[{"d":1}]},"a":2}`); err == nil {
		t.Fatal("a duplicate key went unnoticed")
	}
	if err := uniqueKeys(`{"a":1,"b":{"a":[{"a":1}]}}`); err != nil {
		t.Fatal(err)
	}
}

// TestOnceLogsEachStageWithUniqueKeys runs a cycle with JSON logs: every
// line has unique keys, the cycle starts with a line naming its sources,
// logs each stage with counts, and the new revision's trigger names the
// series it supersedes.
func TestOnceLogsEachStageWithUniqueKeys(t *testing.T) {
	w := newWorld(t)
	verbose(t, w, "")
	if err := w.pw.SetPhase(pwfake.P2DependsOn); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := trawl(t, "once", "-c", w.config)
	if code != exitOK {
		t.Fatalf("once exited %d\n%s", code, stderr)
	}
	msgs := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if err := uniqueKeys(line); err != nil {
			t.Errorf("%v in %s", err, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %s", line)
		}
		msg, _ := m["msg"].(string)
		msgs[msg] = append(msgs[msg], m)
	}
	for _, stage := range []string{"cycle starting", "fetch done", "graph built", "decisions", "triggers done", "results polled", "reports done", "cycle"} {
		if len(msgs[stage]) != 1 {
			t.Errorf("%d lines %q, want 1", len(msgs[stage]), stage)
		}
	}
	if s := fmt.Sprint(msgs["cycle starting"]); !strings.Contains(s, "sources:[netdev]") {
		t.Errorf("the start line does not name the sources: %s", s)
	}
	if s := fmt.Sprint(msgs["fetch done"]); !strings.Contains(s, "source:netdev") || !strings.Contains(s, "changes:") {
		t.Errorf("the fetch line lacks the source or its change count: %s", s)
	}
	found := false
	for _, m := range msgs["triggered"] {
		if strings.HasSuffix(fmt.Sprint(m["unit"]), "/series/15@kernelci") {
			found = true
			if got := fmt.Sprint(m["supersedes"]); !strings.Contains(got, "/series/3]") {
				t.Errorf("the trigger of series 15 (v3) names %s as superseded, want series 3", got)
			}
		}
	}
	if !found {
		t.Errorf("series 15 was not triggered: %v", msgs["triggered"])
	}
}

// TestRunServesReadinessMetricsAndStatusPage runs the daemon and checks
// /readyz, the metric names on /metrics and the status page.
func TestRunServesReadinessMetricsAndStatusPage(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	verbose(t, w, "listen: "+addr+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() { done <- run(ctx, []string{"run", "-c", w.config}, &out, &errb) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, metrics := get("/metrics")
	for _, name := range []string{
		"trawl_cycle_duration_seconds_bucket", `trawl_cycles_total{result="ok"} 1`,
		`trawl_source_up{source="netdev"} 1`, `trawl_source_last_success_timestamp_seconds{source="netdev"}`,
		`trawl_source_fetch_duration_seconds_count{source="netdev"} 1`,
		`trawl_units{outcome="triggered",source="netdev"} 6`,
		`trawl_triggers_total{outcome="triggered",reason="new",target="kernelci"} 6`,
		`trawl_reports_total{outcome="posted"}`, "trawl_outbox_entries 0", "trawl_outbox_oldest_age_seconds 0",
		`trawl_http_requests_total{client="patchwork netdev",outcome="network"}`,
		`trawl_http_received_bytes_total{client="kernelci-api kernelci"}`,
		"trawl_build_info{goversion=", "go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(metrics, "test-secret") || strings.Contains(metrics, "Bearer") {
		t.Error("/metrics carries a secret")
	}
	if code, page := get("/"); code != http.StatusOK || !strings.Contains(page, `<a class="unit" href="/unit?u=pw%3a`) {
		t.Errorf("status page: %d\n%s", code, page)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run exited %d\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}

// TestExplainPrintsInputsNowAndAtTheLastTrigger triggers every unit, then
// explains one: unchanged, with its inputs on both sides.
func TestExplainPrintsInputsNowAndAtTheLastTrigger(t *testing.T) {
	w := newWorld(t)
	if code, _, stderr := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("once exited %d\n%s", code, stderr)
	}
	code, stdout, stderr := trawl(t, "status", "-c", w.config)
	if code != exitOK {
		t.Fatalf("status: %d %s", code, stderr)
	}
	unit := strings.SplitN(stdout, "\n", 2)[0]
	code, stdout, stderr = trawl(t, "explain", "-c", w.config, unit)
	if code != exitOK {
		t.Fatalf("explain exited %d\n%s", code, stderr)
	}
	for _, want := range []string{"unit        " + unit, "input", "now", "at last trigger", "target config", "unchanged since the last trigger"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("explain output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := trawl(t, "explain", "-c", w.config, "nope@kernelci"); code != exitUsage || !strings.Contains(stderr, `no unit "nope@kernelci"`) {
		t.Errorf("explain of an unknown unit: %d %s", code, stderr)
	}
}
