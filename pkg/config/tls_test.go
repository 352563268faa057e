package config

import (
	"os"
	"strings"
	"testing"
)

// TestNoWayToSkipTLSVerification checks that no configuration key turns
// certificate verification off: each spelling an operator might try is
// refused as unknown, naming the file, line and key.
func TestNoWayToSkipTLSVerification(t *testing.T) {
	base, err := os.ReadFile("../../examples/patchwork-kernelci.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"insecure", "insecure_skip_verify", "skip_verify", "tls_skip_verify", "verify_tls"} {
		data := strings.Replace(string(base), "\nhttp:\n", "\nhttp:\n  "+key+": true\n", 1)
		if data == string(base) {
			t.Fatal("the example has no http block")
		}
		_, err := Load([]byte(data), "trawl.yaml")
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "trawl.yaml:") {
			t.Errorf("http.%s: error %v, want it refused naming the file and key", key, err)
		}
	}
}
