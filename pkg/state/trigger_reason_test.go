package state

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTriggerReasonRoundTripsAndOldFilesLoad: the reason of the last
// trigger is kept, and a file written before it existed still loads.
func TestTriggerReasonRoundTripsAndOldFilesLoad(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.json")
	const before = `{"schema":1,"units":{"pw:x/1@kci":{"change":"pw:x/1","target":"kci","source":"netdev","status":"triggered",
"fingerprint":"ab","inputs":{"target":"kci","target_config":"c","base_url":"u","base_branch":"main","items":[]},
"first_seen":"2026-11-21T05:00:00Z","last_seen":"2026-11-21T05:00:00Z","triggered_at":"2026-11-21T05:00:00Z"}}}`
	if err := os.WriteFile(old, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := ReadOnly(old).Load()
	if err != nil {
		t.Fatalf("a file without trigger_reason: %v", err)
	}
	u := st.Units["pw:x/1@kci"]
	if u == nil || u.TriggerReason != "" || len(u.Inputs) == 0 {
		t.Fatalf("old unit loaded as %+v", u)
	}

	s, err := Open(filepath.Join(dir, "new", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u.TriggerReason = "changed"
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	back, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Units["pw:x/1@kci"].TriggerReason; got != "changed" {
		t.Fatalf("trigger reason after a save and load = %q", got)
	}
}
