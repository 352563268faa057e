package setup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trawl-ci/trawl/pkg/config"
)

// TestExecDefaultDirOnAFreshInstall: an exec target without dir works in
// the state directory (the documented default) on a host where trawl has
// never run: a first plan (no lock, no state) and a first once both wire
// it, and the directory is created private to trawl's user.
func TestExecDefaultDirOnAFreshInstall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readOnly bool
	}{{"plan", true}, {"once", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "trawl.yaml")
			data := []byte(`targets:
  - name: local
    type: exec
    exec: {command: [/bin/true]}
sources:
  - name: netdev
    type: patchwork
    targets: [local]
    base: {tree: net-next, url: https://git.example.org/net-next.git, branch: main}
    patchwork: {url: https://patchwork.example.org, project: netdevbpf}
`)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(cfg.StateDir); !os.IsNotExist(err) {
				t.Fatalf("state directory exists before the first start: %v", err)
			}
			app, err := New(cfg, Options{Version: "test", ReadOnly: tc.readOnly})
			if err != nil {
				t.Fatalf("first start: %v", err)
			}
			defer app.Close()
			fi, err := os.Stat(cfg.StateDir)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Errorf("working directory %s: %v, want a directory with mode 0700", cfg.StateDir, fi.Mode())
			}
		})
	}
}
