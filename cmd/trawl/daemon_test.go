package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the daemon writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool, log *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGHUPReloadsTheConfiguration sends real SIGHUPs to the process
// running `trawl run`: an invalid configuration is logged at error and the
// daemon carries on with the running one; a valid one (a second source)
// replaces it, and its units are built.
func TestSIGHUPReloadsTheConfiguration(t *testing.T) {
	w := newWorld(t)
	good, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	// Cycles every second, so the daemon keeps cycling while the test
	// watches it.
	cfg := strings.Replace(string(good), "    targets: [kernelci]\n", "    schedule: \"@every 1s\"\n    targets: [kernelci]\n", 1)
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", w.config}, &out, &errb) }()
	waitFor(t, "the first cycle", func() bool { return w.kci.Submissions() == 6 }, &errb)

	if err := os.WriteFile(w.config, []byte(cfg+"surprise: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid configuration logged", func() bool {
		s := errb.String()
		return strings.Contains(s, "ERROR") && strings.Contains(s, "reload: the configuration is invalid; keeping the running one") &&
			strings.Contains(s, w.config+":") && strings.Contains(s, "surprise")
	}, &errb)
	select {
	case code := <-done:
		t.Fatalf("run exited %d on an invalid reload\n%s", code, errb.String())
	default:
	}

	i := strings.Index(cfg, "  - name: netdev")
	second := strings.Replace(strings.Replace(cfg[i:], "name: netdev", "name: bpf", 1), "project: netdev", "project: bpf", 1)
	if err := os.WriteFile(w.config, []byte(cfg+second), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bpf source's units built", func() bool { return w.kci.Submissions() > 6 }, &errb)

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run exited %d\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	if strings.Contains(errb.String(), "in use by another trawl") {
		t.Fatalf("the reload did not hand the state lock over:\n%s", errb.String())
	}
}
