package change

import "testing"

// TestAppendUnitKey checks that the look-up form of a unit key is the key
// itself: a unit looked up by AppendUnitKey is the unit stored by UnitKey.
func TestAppendUnitKey(t *testing.T) {
	for _, tc := range []struct {
		key    Key
		target string
	}{
		{"pw:patchwork.kernel.org/netdevbpf/series/812345", "kernelci"},
		{"gh:rock-core/base-types#42", "gh-actions"},
		{"gl:gitlab.com/redhat/kernel!7", ""},
		{"", "kci"},
	} {
		want := UnitKey(tc.key, tc.target)
		if got := string(AppendUnitKey(nil, tc.key, tc.target)); got != want {
			t.Errorf("AppendUnitKey(nil, %q, %q) = %q, want %q", tc.key, tc.target, got, want)
		}
		buf := []byte("stale bytes before the key")
		if got := string(AppendUnitKey(buf[:0], tc.key, tc.target)); got != want {
			t.Errorf("AppendUnitKey on a reused buffer = %q, want %q", got, want)
		}
	}
}
