package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkConfig is a configuration whose every local dependency can be
// broken: %s are the state_dir, the exec program, the exec dir, the
// KernelCI token file and the Patchwork token variable.
const checkConfig = `state_dir: %s
targets:
  - name: kci
    type: kernelci
    kernelci:
      api_url: https://api.example.org
      pipeline_url: https://pipeline.example.org
      token_file: %s
  - name: local
    type: exec
    exec:
      command: [%s, --fast]
      dir: %s
sources:
  - name: netdev
    type: patchwork
    targets: [kci, local]
    base: {tree: net-next, url: https://git.example.org/net-next.git, branch: main}
    patchwork:
      url: https://patchwork.kernel.org
      project: netdev
      token_env: %s
`

func TestCheckLocal(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := write("kci.jwt", "s3cr3t-value\n", 0o600)
	empty := write("empty.jwt", "\n", 0o600)
	program := write("build-unit", "#!/bin/sh\n", 0o755)
	notExec := write("not-exec", "#!/bin/sh\n", 0o644)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRAWL_TEST_PW_TOKEN", "s3cr3t-value")
	t.Setenv("TRAWL_TEST_EMPTY", "")

	good := []string{filepath.Join(dir, "state"), token, program, work, "TRAWL_TEST_PW_TOKEN"}
	for _, tc := range []struct {
		name string
		at   int    // which of good is replaced
		with string // by what
		want string // "file:line: key: ..." of the one error
	}{
		{"all good", -1, "", ""},
		{"missing secret file", 1, filepath.Join(dir, "nosuch.jwt"), ":8: targets[0].kernelci.token_file: read open " + filepath.Join(dir, "nosuch.jwt") + ": no such file or directory"},
		{"empty secret file", 1, empty, ":8: targets[0].kernelci.token_file: file " + empty + " is empty"},
		{"unset variable", 4, "TRAWL_TEST_UNSET", ":22: sources[0].patchwork.token_env: environment variable TRAWL_TEST_UNSET is unset or empty"},
		{"empty variable", 4, "TRAWL_TEST_EMPTY", ":22: sources[0].patchwork.token_env: environment variable TRAWL_TEST_EMPTY is unset or empty"},
		{"missing program", 2, filepath.Join(dir, "nosuch"), ":12: targets[1].exec.command: program " + filepath.Join(dir, "nosuch") + ": no such file or directory"},
		{"program not executable", 2, notExec, ":12: targets[1].exec.command: program " + notExec + " is not executable (mode -rw-r--r--)"},
		{"program not in PATH", 2, "trawl-no-such-program", `:12: targets[1].exec.command: program "trawl-no-such-program" is not found in PATH`},
		{"program relative to dir", 2, "./nosuch", ":12: targets[1].exec.command: program " + filepath.Join(work, "nosuch") + ": no such file or directory"},
		{"missing exec dir", 3, filepath.Join(dir, "nowork"), ":13: targets[1].exec.dir: directory " + filepath.Join(dir, "nowork") + ": no such file or directory"},
		{"state dir is a file", 0, token, ":1: state_dir: " + token + " is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]any, len(good))
			for i, g := range good {
				args[i] = g
				if i == tc.at {
					args[i] = tc.with
				}
			}
			path := filepath.Join(dir, "trawl.yaml")
			if err := os.WriteFile(path, []byte(sprintf(checkConfig, args...)), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := LoadFile(path)
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			err = c.CheckLocal()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckLocal: %v", err)
				}
				return
			}
			var ce *Error
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), path+tc.want) {
				t.Fatalf("CheckLocal = %v\nwant %s%s", err, path, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestStateDirNotCreatable puts a file in the way of the state directory
// (a read-only directory would not stop root, which CI runs as).
func TestStateDirNotCreatable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := stateDirCheck(filepath.Join(blocker, "state"))()
	if err == nil || !strings.Contains(err.Error(), blocker+" is not a directory") {
		t.Fatalf("stateDirCheck under a file = %v", err)
	}
	if err := stateDirCheck(filepath.Join(dir, "a", "b"))(); err != nil {
		t.Fatalf("stateDirCheck of a creatable directory = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the check left files behind: %v", entries)
	}
}

func TestPathsAreLiteral(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"~/trawl", `1: state_dir: "~/trawl" starts with ~, which trawl does not expand: write the absolute path`},
		{"~trawl/state", `1: state_dir: "~trawl/state" starts with ~`},
		{"$STATE_DIRECTORY/trawl", `1: state_dir: "$STATE_DIRECTORY/trawl" holds $, which trawl does not expand`},
		{"/srv/${USER}", `1: state_dir: "/srv/${USER}" holds $`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			src := "state_dir: " + tc.value + "\n" + strings.SplitN(checkConfig, "\n", 2)[1]
			src = sprintf(src, "/t.jwt", "/bin/true", "/tmp", "X")
			_, err := Load([]byte(src), "trawl.yaml")
			if err == nil || !strings.Contains(err.Error(), "trawl.yaml:"+tc.want) {
				t.Fatalf("Load = %v\nwant trawl.yaml:%s", err, tc.want)
			}
		})
	}
	src := sprintf(checkConfig, "/srv/trawl", "~/kci.jwt", "/bin/true", "/tmp", "X")
	if _, err := Load([]byte(src), "trawl.yaml"); err == nil || !strings.Contains(err.Error(), "trawl.yaml:8: targets[0].kernelci.token_file: \"~/kci.jwt\" starts with ~") {
		t.Fatalf("token_file with ~: %v", err)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func TestRetentionKeys(t *testing.T) {
	base := sprintf(checkConfig, "/srv/trawl", "/t.jwt", "/bin/true", "/tmp", "X")
	c, err := Load([]byte(base), "trawl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Retention{CacheMaxAge: DefaultCacheMaxAge, CacheMaxMB: DefaultCacheMaxMB, ExecMaxAge: DefaultExecMaxAge, ExecMaxMB: DefaultExecMaxMB}); c.Retention != want {
		t.Fatalf("default retention %+v, want %+v", c.Retention, want)
	}
	c, err = Load([]byte(base+"retention: {cache_max_age: 2d, exec_max_mb: 10}\n"), "trawl.yaml")
	if err != nil || c.Retention.CacheMaxAge != Duration(48*time.Hour) || c.Retention.ExecMaxMB != 10 || c.Retention.CacheMaxMB != DefaultCacheMaxMB {
		t.Fatalf("retention %+v, %v", c.Retention, err)
	}
	_, err = Load([]byte(base+"retention:\n  cache_max_mb: 0\n  keep: forever\n"), "trawl.yaml")
	for _, want := range []string{"trawl.yaml:24: retention.cache_max_mb: 0 is out of range", "trawl.yaml:25: retention.keep: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("bad retention: %v\nwant %s", err, want)
		}
	}
}
