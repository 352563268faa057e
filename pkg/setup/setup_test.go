package setup

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/secret"
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
