package setup

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestPruneBoundsCacheAndExecRecords: an old cache entry and the old record
// and log of a job no unit refers to are removed; the old record of the job
// the state still refers to, and everything recent, stay.
func TestPruneBoundsCacheAndExecRecords(t *testing.T) {
	dir := t.TempDir()
	src := `state_dir: state
retention: {cache_max_age: 7d, exec_max_age: 30d}
targets:
  - name: local
    type: exec
    exec: {command: [/bin/true]}
sources:
  - name: netdev
    type: patchwork
    targets: [local]
    base: {tree: t, url: https://git.example.org/t.git, branch: main}
    patchwork: {url: https://patchwork.example.org, project: netdev}
`
	if err := os.WriteFile(filepath.Join(dir, "trawl.yaml"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(filepath.Join(dir, "trawl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	put := func(rel string, age time.Duration) string {
		p := filepath.Join(cfg.StateDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return rel
	}
	day := 24 * time.Hour
	oldCache := put("cache/c1/anonymous/aaaa", 8*day)
	newCache := put("cache/c1/anonymous/bbbb", 2*day)
	usedJSON, usedLog := put("exec/local/used.json", 90*day), put("exec/local/used.log", 90*day)
	oldJSON, oldLog := put("exec/local/old.json", 90*day), put("exec/local/old.log", 90*day)
	recent := put("exec/local/recent.json", 3*day)

	st := state.New()
	st.Units["pw:pw/netdev/series/1@local"] = &state.Unit{Change: "pw:pw/netdev/series/1", Target: "local", Source: "netdev",
		Job: &targets.Job{Target: "local", ID: "used"}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.StatePath(), b, 0o600); err != nil {
		t.Fatal(err)
	}

	app, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if err := app.Prune(); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{oldCache, newCache, usedJSON, usedLog, oldJSON, oldLog, recent} {
		_, err := os.Stat(filepath.Join(cfg.StateDir, rel))
		gone := os.IsNotExist(err)
		if want := slices.Contains([]string{oldCache, oldJSON, oldLog}, rel); gone != want {
			t.Errorf("%s: removed %v, want %v", rel, gone, want)
		}
	}
}
