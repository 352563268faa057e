package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreadableStateNeedsFreshState: a corrupt state file stops `once`
// (exit 4, the file named, nothing triggered) and is left byte for byte;
// `once --fresh-state` moves it aside and runs from an empty state.
func TestUnreadableStateNeedsFreshState(t *testing.T) {
	w := newWorld(t)
	corrupt := []byte(`{"schema": 1, "units": {"pw:x": {"change": "pw:x", "fing`)
	if err := os.MkdirAll(filepath.Dir(w.state), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.state, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := trawl(t, "once", "-c", w.config)
	if code != exitRuntime || !strings.Contains(errs, w.state) || !strings.Contains(errs, "--fresh-state") {
		t.Fatalf("once on a corrupt state: exit %d, stderr %q; want %d naming the file and --fresh-state", code, errs, exitRuntime)
	}
	if b, _ := os.ReadFile(w.state); string(b) != string(corrupt) {
		t.Fatalf("the corrupt state was changed: %q", b)
	}
	if w.kci.Submissions() != 0 {
		t.Fatal("triggered from an unreadable state")
	}
	if code, _, _ := trawl(t, "plan", "-c", w.config, "--fresh-state"); code != exitUsage {
		t.Fatalf("plan --fresh-state: exit %d, want %d (plan writes nothing)", code, exitUsage)
	}

	code, out, errs := trawl(t, "once", "--fresh-state", "-c", w.config)
	if code != exitOK {
		t.Fatalf("once --fresh-state: exit %d\n%s\n%s", code, out, errs)
	}
	aside, _ := filepath.Glob(w.state + ".aside-*")
	if len(aside) != 1 {
		t.Fatalf("aside files %v, want one", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != string(corrupt) {
		t.Fatalf("aside file %q, want the old bytes", b)
	}
	if w.kci.Submissions() != 6 {
		t.Fatalf("%d submissions after starting fresh, want 6", w.kci.Submissions())
	}
}
