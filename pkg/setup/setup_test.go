package setup

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/state"
)

// provide gives cfg what a host running it has: its secrets (in the
// variables or files it names) and the working directories of its
// commands.
func provide(t *testing.T, cfg *config.Config) {
	t.Helper()
	set := func(s *secret.Source) {
		switch {
		case s.Env != "":
			t.Setenv(s.Env, "a-token-for-tests")
		case s.File != "":
			s.File = filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(s.File, []byte("a-token-for-tests\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range cfg.Targets {
		tg := &cfg.Targets[i]
		switch {
		case tg.KernelCI != nil:
			set(&tg.KernelCI.Token)
		case tg.Webhook != nil:
			set(&tg.Webhook.Secret)
		case tg.Exec != nil && tg.Exec.Dir != "":
			tg.Exec.Dir = t.TempDir()
		}
	}
	for i := range cfg.Reporters {
		if rd := cfg.Reporters[i].ResultsDB; rd != nil {
			set(&rd.Token)
		}
	}
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		switch {
		case s.Patchwork != nil:
			set(&s.Patchwork.Token)
		case s.GitLab != nil:
			set(&s.GitLab.Token)
		case s.GitHub != nil && s.GitHub.App == nil:
			set(&s.GitHub.Token)
		case s.GitHub != nil:
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			pemFile := filepath.Join(t.TempDir(), "app.pem")
			block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
			if err := os.WriteFile(pemFile, block, 0o600); err != nil {
				t.Fatal(err)
			}
			s.GitHub.App.PrivateKey = secret.Source{File: pemFile}
		}
	}
}

// TestWiresEveryExample builds a trawl from each example configuration:
// every source, target and reporter type the examples use must wire up
// without network access or secrets (they are read when a request needs
// them).
func TestWiresEveryExample(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg.StateDir = t.TempDir()
			provide(t, cfg)
			app, err := New(cfg, Options{Version: "test"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if len(app.Groups) == 0 || app.Runner == nil {
				t.Fatalf("nothing wired: %+v", app)
			}
			n := 0
			for _, g := range app.Groups {
				n += len(g.Sources)
			}
			if n != len(cfg.Sources) {
				t.Fatalf("groups hold %d sources, config has %d", n, len(cfg.Sources))
			}
			if err := app.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The lock is released: a second trawl can start.
			again, err := New(cfg, Options{Version: "test"})
			if err != nil {
				t.Fatalf("New after Close: %v", err)
			}
			if err := again.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// snapshot reads every file under dir, by path relative to dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRefusedByTheLockTouchesNothing: a second trawl started beside a
// running one (here: the lock held in this process) is refused before it
// builds anything, so the running one's job records, the temporary files
// of its writes in progress and its state are left as they are.
func TestRefusedByTheLockTouchesNothing(t *testing.T) {
	cfg, err := config.LoadFile("../../examples/github-gitlab-relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	provide(t, cfg)
	holder, err := state.Open(cfg.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var execTarget string
	for _, tg := range cfg.Targets {
		if tg.Type == config.TargetExec {
			execTarget = tg.Name
		}
	}
	if execTarget == "" {
		t.Fatal("the example has no exec target")
	}
	// What the running trawl has in flight: a job record, the temporary
	// file of a record being rewritten, the state and its temporary file.
	inFlight := map[string]string{
		filepath.Join("exec", execTarget, "ab.json"):       `{"id": "ab"}`,
		filepath.Join("exec", execTarget, ".tmp-orphaned"): `{"id": "ab", "done": tr`,
		"state.json":         `{"schema": 1, "units": {}}`,
		"state.json.tmp-123": `{"schema": 1, "uni`,
	}
	for name, content := range inFlight {
		p := filepath.Join(cfg.StateDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, cfg.StateDir)

	if _, err := New(cfg, Options{Version: "test"}); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("New beside the lock holder = %v, want ErrLocked", err)
	}
	if after := snapshot(t, cfg.StateDir); !maps.Equal(after, before) {
		t.Fatalf("a refused trawl changed the state directory:\nbefore %v\nafter  %v", before, after)
	}
}

// TestUnreadableStateIsLeftUntouched: a corrupt state file, or one of a
// newer schema, stops trawl with an error naming the file and the way out,
// and is left byte for byte; FreshState moves it aside and starts empty.
func TestUnreadableStateIsLeftUntouched(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt":      `{"schema": 1, "units": {"a": {"chan`,
		"newer schema": `{"schema": 99, "units": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.LoadFile("../../examples/github-gitlab-relay.yaml")
			if err != nil {
				t.Fatal(err)
			}
			cfg.StateDir = t.TempDir()
			provide(t, cfg)
			if err := os.WriteFile(cfg.StatePath(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = New(cfg, Options{Version: "test"})
			if err == nil || !strings.Contains(err.Error(), cfg.StatePath()) || !strings.Contains(err.Error(), "--fresh-state") {
				t.Fatalf("New = %v; want an error naming %s and --fresh-state", err, cfg.StatePath())
			}
			if b, err := os.ReadFile(cfg.StatePath()); err != nil || string(b) != content {
				t.Fatalf("state file after the refusal = %q, %v; want it untouched", b, err)
			}

			app, err := New(cfg, Options{Version: "test", FreshState: true})
			if err != nil {
				t.Fatalf("New with FreshState: %v", err)
			}
			defer app.Close()
			aside, _ := filepath.Glob(cfg.StatePath() + ".aside-*")
			if len(aside) != 1 {
				t.Fatalf("aside files %v, want one", aside)
			}
			if b, err := os.ReadFile(aside[0]); err != nil || string(b) != content {
				t.Fatalf("aside file = %q, %v; want the old bytes", b, err)
			}
			if _, err := os.Stat(cfg.StatePath()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("state file still in place: %v", err)
			}
		})
	}
}
