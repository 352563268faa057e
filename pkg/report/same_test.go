package report

import (
	"testing"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestSameComparesStateAndFingerprintNotWording: a reporter looking before
// it posts finds the same state about the same fingerprint and posts
// nothing, whatever the summary says now.
func TestSameComparesStateAndFingerprintNotWording(t *testing.T) {
	const fp = "5d41c3f0a9b2aaaabbbbccccdddd"
	m := Message{Fingerprint: fp, State: targets.StatePending, Summary: "running since 2026-12-03T10:00:00Z"}
	tests := []struct {
		name, state, description string
		same                     bool
	}{
		{"identical", "pending", Description(m, 200), true},
		{"reworded", "pending", "build triggered: job 42 [trawl 5d41c3f0a9b2]", true},
		{"trailing space from the forge", "pending", "queued [trawl 5d41c3f0a9b2] ", true},
		{"other state", "success", "running since 2026-12-03T10:00:00Z [trawl 5d41c3f0a9b2]", false},
		{"other fingerprint", "pending", "running since 2026-12-03T10:00:00Z [trawl 000000000000]", false},
		{"not ours", "pending", "running since 2026-12-03T10:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Same(tt.state, tt.description, m, "pending"); got != tt.same {
				t.Errorf("Same(%q, %q) = %v, want %v", tt.state, tt.description, got, tt.same)
			}
		})
	}
}
