package setup

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/pkg/config"
)

// TestRegistryCoversEveryType: every type a configuration may name has a
// constructor in the registry, and every constructor there is for a type a
// configuration may name. A type added to pkg/config alone would load and
// then fail to wire; a row here alone could never be reached.
func TestRegistryCoversEveryType(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		config   []string
		registry []string
	}{
		{"source", config.SourceTypes(), slices.Collect(maps.Keys(sourceTypes))},
		{"target", config.TargetTypes(), slices.Collect(maps.Keys(targetTypes))},
		{"reporter", config.ReporterTypes(), slices.Collect(maps.Keys(reporterTypes))},
	} {
		if len(tc.config) == 0 {
			t.Errorf("config knows no %s type", tc.kind)
		}
		for _, name := range tc.config {
			if !slices.Contains(tc.registry, name) {
				t.Errorf("%s type %q is known to config but has no constructor in registry.go", tc.kind, name)
			}
		}
		for _, name := range tc.registry {
			if !slices.Contains(tc.config, name) {
				t.Errorf("registry.go has a constructor for %s type %q, which config does not know", tc.kind, name)
			}
		}
	}
}

// TestUnknownTypeIsRefused: a configuration naming a type the registry
// does not know (one built by hand, as config.Load refuses it first) is
// refused with an error naming the source, target or reporter and the
// type, and leaves the state unlocked for the next start.
func TestUnknownTypeIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(*config.Config)
		want  string
	}{
		{"target", func(c *config.Config) { c.Targets[0].Type = "nosuch" }, `target local: unsupported type "nosuch"`},
		{"reporter", func(c *config.Config) { c.Reporters[0].Type = "nosuch" }, `reporter results: unsupported type "nosuch"`},
		{"source", func(c *config.Config) { c.Sources[0].Type = "nosuch" }, `source netdev: unsupported type "nosuch"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "trawl.yaml")
			data := []byte(`targets:
  - name: local
    type: exec
    exec: {command: [/bin/true]}
reporters:
  - name: results
    type: resultsdb
    resultsdb: {url: https://resultsdb.example.org, testcase: trawl.build}
sources:
  - name: netdev
    type: patchwork
    targets: [local]
    base: {tree: net-next, url: https://git.example.org/net-next.git, branch: main}
    patchwork: {url: https://patchwork.example.org, project: netdevbpf}
    report: {reporters: [results]}
`)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.spoil(cfg)
			app, err := New(cfg, Options{Version: "test"})
			if err == nil {
				app.Close()
				t.Fatalf("New wired a %s of an unknown type", tc.name)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			good, err := config.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			app, err = New(good, Options{Version: "test"})
			if err != nil {
				t.Fatalf("the next start, after a refused one: %v", err)
			}
			if err := app.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
