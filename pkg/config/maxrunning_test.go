package config

import (
	"fmt"
	"testing"
)

// TestMaxRunningDefaults: every target that can be followed is bounded
// unless configured otherwise; a webhook, which cannot be, is not.
func TestMaxRunningDefaults(t *testing.T) {
	blocks := map[string]string{
		TargetExec:     "exec: {command: [/bin/true]}",
		TargetKernelCI: "kernelci: {api_url: https://k.example.org, pipeline_url: https://p.example.org, token_env: KCI}",
		TargetWebhook:  "webhook: {url: https://ci.example.org/hook, secret_env: HOOK}",
	}
	tests := []struct {
		typ, set string
		want     int
	}{
		{TargetExec, "", DefaultMaxRunningExec},
		{TargetExec, "max_running: 8", 8},
		{TargetKernelCI, "", DefaultMaxRunningKernelCI},
		{TargetKernelCI, "max_running: 1", 1},
		{TargetWebhook, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.set, func(t *testing.T) {
			set := ""
			if tt.set != "" {
				set = "\n    " + tt.set
			}
			data := fmt.Sprintf(`targets:
  - name: t
    type: %s%s
    %s
sources:
  - name: s
    type: patchwork
    targets: [t]
    base: {tree: next, url: https://git.example.org/next.git, branch: main}
    patchwork: {url: https://patchwork.kernel.org, project: p}
`, tt.typ, set, blocks[tt.typ])
			c, err := Load([]byte(data), "/etc/trawl/trawl.yaml")
			if err != nil {
				t.Fatalf("Load: %v\n%s", err, data)
			}
			if got := c.Targets[0].MaxRunning; got != tt.want {
				t.Errorf("max_running = %d, want %d", got, tt.want)
			}
		})
	}
}
