package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
)

const examples = "../../examples/"

// Where the deployment examples put things; README.md says the same.
const (
	binary     = "/usr/local/bin/trawl"
	configPath = "/etc/trawl/trawl.yaml"
	stateDir   = "/var/lib/trawl"
	credDir    = "/run/credentials/trawl.service/"
)

// unitFile reads a systemd unit: every key's values, in order.
func unitFile(t *testing.T, name string) map[string][]string {
	t.Helper()
	f, err := os.Open(examples + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not key=value: %q", name, line)
		}
		keys[k] = append(keys[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// parseTrawl checks that argv runs trawl from binary and that trawl's own
// flag parser takes its arguments, and returns what it parsed.
func parseTrawl(t *testing.T, where string, argv []string) invocation {
	t.Helper()
	if len(argv) < 2 || argv[0] != binary {
		t.Fatalf("%s: %q does not run %s", where, argv, binary)
	}
	inv, ok := parse(argv[1], argv[2:], io.Discard)
	if !ok {
		t.Fatalf("%s: trawl's flags refuse %q", where, argv)
	}
	if inv.path != configPath {
		t.Fatalf("%s: configuration %s, want %s", where, inv.path, configPath)
	}
	return inv
}

func TestDeploymentExamplesAgree(t *testing.T) {
	cfg, err := config.LoadFile(examples + "production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != stateDir {
		t.Errorf("production.yaml: state_dir %s, want %s", cfg.StateDir, stateDir)
	}
	var tokens []string
	for _, tg := range cfg.Targets {
		if tg.KernelCI != nil {
			tokens = append(tokens, tg.KernelCI.Token.File)
		}
	}
	for _, s := range cfg.Sources {
		if s.Patchwork != nil {
			tokens = append(tokens, s.Patchwork.Token.File)
		}
	}

	t.Run("systemd", func(t *testing.T) {
		u := unitFile(t, "trawl.service")
		for k, want := range map[string]string{
			"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "StateDirectory": "trawl",
			"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "ExecReload": "/bin/kill -HUP $MAINPID",
		} {
			if got := u[k]; len(got) != 1 || got[0] != want {
				t.Errorf("trawl.service: %s=%q, want %q", k, got, want)
			}
		}
		if "/var/lib/"+u["StateDirectory"][0] != stateDir {
			t.Errorf("StateDirectory %s is not %s", u["StateDirectory"], stateDir)
		}
		if inv := parseTrawl(t, "ExecStart", strings.Fields(u["ExecStart"][0])); inv.cmd != "run" {
			t.Errorf("ExecStart runs %q, want run", inv.cmd)
		}
		if inv := parseTrawl(t, "ExecStartPre", strings.Fields(u["ExecStartPre"][0])); inv.cmd != "validate" || !inv.offline {
			t.Errorf("ExecStartPre: %+v, want validate --offline", inv)
		}
		stop, err := time.ParseDuration(strings.ReplaceAll(u["TimeoutStopSec"][0], "min", "m"))
		if err != nil || stop <= time.Duration(cfg.CycleTimeout) {
			t.Errorf("TimeoutStopSec=%s (%v) must exceed cycle_timeout %s", u["TimeoutStopSec"], err, time.Duration(cfg.CycleTimeout))
		}
		var creds []string
		for _, c := range u["LoadCredential"] {
			name, _, _ := strings.Cut(c, ":")
			creds = append(creds, credDir+name)
		}
		for _, tok := range tokens {
			if !slices.Contains(creds, tok) {
				t.Errorf("production.yaml reads %s, which no LoadCredential= provides (%v)", tok, creds)
			}
		}
	})

	t.Run("container", func(t *testing.T) {
		b, err := os.ReadFile(examples + "Containerfile")
		if err != nil {
			t.Fatal(err)
		}
		c := string(b)
		if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(c, -1)); n < 2 {
			t.Errorf("Containerfile has %d stages, want a multi-stage build", n)
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-buildvcs=true", "COPY --from=build /out/trawl " + binary, "VOLUME " + stateDir} {
			if !strings.Contains(c, want) {
				t.Errorf("Containerfile lacks %q", want)
			}
		}
		user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(c)
		if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
			t.Errorf("Containerfile runs as %v, want an unprivileged user", user)
		}
		var entry, cmd []string
		for _, l := range strings.Split(c, "\n") {
			if v, ok := strings.CutPrefix(l, "ENTRYPOINT "); ok {
				if err := json.Unmarshal([]byte(v), &entry); err != nil {
					t.Fatalf("ENTRYPOINT: %v", err)
				}
			}
			if v, ok := strings.CutPrefix(l, "CMD "); ok {
				if err := json.Unmarshal([]byte(v), &cmd); err != nil {
					t.Fatalf("CMD: %v", err)
				}
			}
		}
		if inv := parseTrawl(t, "ENTRYPOINT+CMD", append(entry, cmd...)); inv.cmd != "run" {
			t.Errorf("the container runs %q, want run", inv.cmd)
		}
	})

	t.Run("cron", func(t *testing.T) {
		b, err := os.ReadFile(examples + "trawl.cron")
		if err != nil {
			t.Fatal(err)
		}
		var entries int
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "=") {
				continue
			}
			entries++
			if _, err := config.ParseSchedule(strings.Join(f[:5], " ")); err != nil {
				t.Errorf("cron schedule %q: %v", f[:5], err)
			}
			argv := f[6:]
			if i := slices.IndexFunc(argv, func(s string) bool { return strings.HasPrefix(s, ">") }); i >= 0 {
				argv = argv[:i]
			}
			if inv := parseTrawl(t, "cron", argv); inv.cmd != "once" {
				t.Errorf("cron runs %q, want once", inv.cmd)
			}
		}
		if entries != 1 {
			t.Errorf("trawl.cron has %d entries, want 1", entries)
		}
	})

	t.Run("README", func(t *testing.T) {
		b, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		readme := string(b)
		i := strings.Index(readme, "## Running in production")
		if i < 0 {
			t.Fatal(`README.md has no "Running in production" section`)
		}
		section := readme[i:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
		for _, want := range []string{binary, configPath, stateDir, credDir, "examples/trawl.service", "examples/Containerfile",
			"examples/trawl.cron", "examples/production.yaml", filepath.Base(cfg.CacheDir())} {
			if !strings.Contains(section, want) {
				t.Errorf("README's Running in production does not mention %s", want)
			}
		}
	})
}
