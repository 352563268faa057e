package gitref

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needGit skips a test that runs the real git when it is not installed.
func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not in PATH; this test runs the real git (CI has it)")
	}
	// Keep the user's and the system's git configuration out of the test.
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
}

// git runs a git command for test setup and returns its trimmed output.
func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=trawl", "-c", "user.email=trawl@example.org"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo makes a bare repository with branches main, feature/x and
// release, and a decoy ref whose name ends in refs/heads/release (ls-remote
// matches patterns by their tail). It returns the path and the commit of
// each branch.
func bareRepo(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	git(t, "init", "-q", "-b", "main", work)
	git(t, "-C", work, "commit", "-q", "--allow-empty", "-m", "one")
	git(t, "-C", work, "branch", "feature/x")
	git(t, "-C", work, "branch", "old/refs/heads/release")
	git(t, "-C", work, "commit", "-q", "--allow-empty", "-m", "two")
	git(t, "-C", work, "branch", "release")
	git(t, "-C", work, "commit", "-q", "--allow-empty", "-m", "three")
	bare := filepath.Join(dir, "repo.git")
	git(t, "clone", "-q", "--bare", work, bare)
	want := map[string]string{}
	for _, b := range []string{"main", "feature/x", "release", "old/refs/heads/release"} {
		want[b] = git(t, "-C", bare, "rev-parse", "refs/heads/"+b)
	}
	return bare, want
}

func TestResolveRealGit(t *testing.T) {
	needGit(t)
	bare, commits := bareRepo(t)
	if commits["release"] == commits["old/refs/heads/release"] {
		t.Fatal("setup: the decoy ref must point elsewhere than release")
	}
	tests := []struct {
		name, url, branch string
	}{
		{"path", bare, "main"},
		{"file URL", "file://" + bare, "main"},
		{"branch with slash", bare, "feature/x"},
		{"tail-matching decoy listed first", bare, "release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resolver{}
			got, err := r.Resolve(t.Context(), tt.url, tt.branch)
			if err != nil {
				t.Fatal(err)
			}
			if want := commits[tt.branch]; got != want {
				t.Fatalf("Resolve(%s) = %s, want %s", tt.branch, got, want)
			}
		})
	}
}

func TestResolveRealGitMissing(t *testing.T) {
	needGit(t)
	bare, _ := bareRepo(t)
	tests := []struct {
		name, url, branch string
		noBranch          bool
	}{
		{"missing branch", bare, "nope", true},
		{"missing repository", filepath.Join(t.TempDir(), "absent.git"), "main", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resolver{}
			got, err := r.Resolve(t.Context(), tt.url, tt.branch)
			if err == nil {
				t.Fatalf("Resolve = %s; want an error", got)
			}
			if errors.Is(err, ErrNoBranch) != tt.noBranch {
				t.Fatalf("errors.Is(%q, ErrNoBranch) = %v, want %v", err, !tt.noBranch, tt.noBranch)
			}
			for _, want := range []string{tt.url, "branch " + tt.branch} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if !tt.noBranch && !strings.Contains(err.Error(), "git said: ") {
				t.Errorf("error %q does not quote git", err)
			}
		})
	}
}

// TestResolveRealGitHidesPassword makes the real git fail against a server
// that refuses the credentials in the URL, and checks they are in neither
// the error nor anything quoted from git.
func TestResolveRealGitHidesPassword(t *testing.T) {
	needGit(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	url := "http://alice:hunter2@" + host + "/repo.git"
	r := &Resolver{}
	got, err := r.Resolve(t.Context(), url, "main")
	if err == nil {
		t.Fatalf("Resolve = %s; want an error", got)
	}
	for _, secret := range []string{"hunter2", "alice"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
	if want := "http://" + host + "/repo.git"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

// fakeGit writes a shell script standing in for git: it records its
// arguments, environment and stdin, prints stdout and stderr, and exits
// with code. It returns the script's path and its directory.
func fakeGit(t *testing.T, stdout, stderr string, code int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"stdout": stdout, "stderr": stderr} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
d=%q
printf '%%s\n' "$@" > "$d/args"
printf '%%s %%s\n' "$GIT_TERMINAL_PROMPT" "$GIT_ASKPASS" > "$d/env"
readlink /proc/$$/fd/0 > "$d/stdin"
cat "$d/stdout"
cat "$d/stderr" >&2
exit %d
`, dir, code)
	path := filepath.Join(dir, "git")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

const (
	sha1Hex   = "dac25a05d816db6edb722ef6173269e88bc7ef3c"
	sha256Hex = "5d1e3c7f0a9b8c6d4e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"
)

func TestResolveOutput(t *testing.T) {
	tests := []struct {
		name           string
		url            string
		stdout, stderr string
		code           int
		want           string
		wantIs         error
		wantErr        []string
		secrets        []string // must not appear in the error
	}{
		{name: "sha1", stdout: sha1Hex + "\trefs/heads/main\n", want: sha1Hex},
		{name: "sha256", stdout: sha256Hex + "\trefs/heads/main\n", want: sha256Hex},
		{name: "CRLF", stdout: sha1Hex + "\trefs/heads/main\r\n", want: sha1Hex},
		{name: "no trailing newline", stdout: sha1Hex + "\trefs/heads/main", want: sha1Hex},
		{
			name:   "tail match listed first",
			stdout: sha256Hex[:40] + "\trefs/heads/x/refs/heads/main\n" + sha1Hex + "\trefs/heads/main\n",
			want:   sha1Hex,
		},
		{name: "exit 2 is no branch", code: 2, wantIs: ErrNoBranch, wantErr: []string{"https://git.example.org/repo.git branch main: no such branch"}},
		{name: "not a hash", stdout: "zz\trefs/heads/main\n", wantErr: []string{`"zz"`, "not a commit hash"}},
		{name: "upper-case hash", stdout: strings.ToUpper(sha1Hex) + "\trefs/heads/main\n", wantErr: []string{"not a commit hash"}},
		{name: "short hash", stdout: sha1Hex[:39] + "\trefs/heads/main\n", wantErr: []string{"not a commit hash"}},
		{name: "ref not listed", stdout: sha1Hex + "\trefs/heads/other\n", wantErr: []string{"did not list refs/heads/main"}},
		{name: "empty output", wantErr: []string{"did not list refs/heads/main"}},
		{
			name:    "failure quotes stderr",
			stderr:  "\n  fatal: repository not found  \n\n",
			code:    128,
			wantErr: []string{"https://git.example.org/repo.git branch main: exit status 128: git said: fatal: repository not found"},
		},
		{
			name:    "credentials scrubbed from URL and stderr",
			url:     "https://bob:p%40ss@git.example.org/repo.git",
			stderr:  "fatal: unable to access 'https://bob:p%40ss@git.example.org/repo.git/': denied for p@ss\n",
			code:    128,
			wantErr: []string{"git ls-remote https://git.example.org/repo.git branch main", "unable to access 'https://git.example.org/repo.git/'"},
			secrets: []string{"bob", "p%40ss", "p@ss"},
		},
		{
			name:    "token as user name",
			url:     "https://ghp_0123456789abcdef@github.com/o/r.git",
			stderr:  "remote: Invalid username or password.\nfatal: Authentication failed for 'https://ghp_0123456789abcdef@github.com/o/r.git/'\n",
			code:    128,
			wantErr: []string{"https://github.com/o/r.git branch main", "Authentication failed for 'https://github.com/o/r.git/'"},
			secrets: []string{"ghp_0123456789abcdef"},
		},
		{
			name:    "long stderr is cut",
			stderr:  "fatal: " + strings.Repeat("x", 100000),
			code:    1,
			wantErr: []string{"git said: fatal: xxx", "x..."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, dir := fakeGit(t, tt.stdout, tt.stderr, tt.code)
			url := tt.url
			if url == "" {
				url = "https://git.example.org/repo.git"
			}
			r := &Resolver{Git: path}
			got, err := r.Resolve(t.Context(), url, "main")

			args, rerr := os.ReadFile(filepath.Join(dir, "args"))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if want := "ls-remote\n--exit-code\n--\n" + url + "\nrefs/heads/main\n"; string(args) != want {
				t.Errorf("git arguments = %q, want %q", args, want)
			}
			env, _ := os.ReadFile(filepath.Join(dir, "env"))
			if want := "0 /bin/true\n"; string(env) != want {
				t.Errorf("GIT_TERMINAL_PROMPT GIT_ASKPASS = %q, want %q", env, want)
			}
			stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
			if want := os.DevNull + "\n"; string(stdin) != want {
				t.Errorf("git's stdin = %q, want %q", stdin, want)
			}

			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("Resolve = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %q; want an error", got)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not match %v", err, tt.wantIs)
			}
			if tt.wantIs == nil && errors.Is(err, ErrNoBranch) {
				t.Errorf("error %q matches ErrNoBranch", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, secret := range tt.secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
			if n := len(err.Error()); n > 2*maxStderrInError {
				t.Errorf("error is %d bytes long; stderr is not bounded", n)
			}
		})
	}
}

func TestResolveRejectsArguments(t *testing.T) {
	tests := []struct{ name, url, branch string }{
		{"empty URL", "", "main"},
		{"URL is an option", "--upload-pack=touch /tmp/pwned", "main"},
		{"empty branch", "https://git.example.org/r.git", ""},
		{"branch is an option", "https://git.example.org/r.git", "-x"},
		{"glob", "https://git.example.org/r.git", "ma*"},
		{"space", "https://git.example.org/r.git", "a b"},
		{"newline", "https://git.example.org/r.git", "a\nb"},
		{"leading slash", "https://git.example.org/r.git", "/main"},
		{"trailing slash", "https://git.example.org/r.git", "main/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A git that would show it ran by failing differently.
			path, dir := fakeGit(t, sha1Hex+"\trefs/heads/"+tt.branch+"\n", "", 0)
			r := &Resolver{Git: path}
			got, err := r.Resolve(t.Context(), tt.url, tt.branch)
			if err == nil {
				t.Fatalf("Resolve = %q; want an error", got)
			}
			if _, serr := os.Stat(filepath.Join(dir, "args")); serr == nil {
				t.Fatalf("git ran for URL %q branch %q", tt.url, tt.branch)
			}
		})
	}
}

// processGone reports whether pid has exited (a zombie waiting for its
// parent counts as exited).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// waitGone waits for pid to exit; the deadline only keeps a failing test
// from hanging.
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) still runs after Resolve returned", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResolveKillsHangingGit runs a git that never ends and has started a
// helper that never ends either (like git-remote-https on a dead
// connection): Resolve must give up at its deadline and kill both.
func TestResolveKillsHangingGit(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
sleep 1000 &
echo $! > %[1]q/child.tmp && mv %[1]q/child.tmp %[1]q/child.pid
echo $$ > %[1]q/git.tmp && mv %[1]q/git.tmp %[1]q/git.pid
sleep 1000
`, dir)
	path := filepath.Join(dir, "git")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	// The first deadline may pass before the script has started its
	// helper on a loaded machine; try again with a longer one then.
	for timeout := 200 * time.Millisecond; ; timeout *= 4 {
		r := &Resolver{Git: path, Timeout: timeout}
		got, err := r.Resolve(t.Context(), "https://git.example.org/repo.git", "main")
		if err == nil {
			t.Fatalf("Resolve = %q; want a deadline error", got)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %q does not match context.DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "https://git.example.org/repo.git branch main") {
			t.Errorf("error %q does not name the URL and branch", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "git.pid")); err == nil {
			break
		}
		if timeout > 10*time.Second {
			t.Fatal("the fake git never started its helper")
		}
	}
	for _, name := range []string{"git", "child"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		waitGone(t, name, pid)
	}
}

func TestResolveCancelled(t *testing.T) {
	path, _ := fakeGit(t, sha1Hex+"\trefs/heads/main\n", "", 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := &Resolver{Git: path}
	got, err := r.Resolve(ctx, "https://git.example.org/repo.git", "main")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve with a cancelled context = %q, %v; want context.Canceled", got, err)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:pass@host/r.git", "https://host/r.git"},
		{"https://token@host/r.git", "https://host/r.git"},
		{"https://u:p@ss@host:8443/r.git", "https://host:8443/r.git"},
		{"ssh://git@host/r.git", "ssh://host/r.git"},
		{"https://host/r.git", "https://host/r.git"},
		{"https://host/path/with@sign", "https://host/path/with@sign"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"/srv/git/r.git", "/srv/git/r.git"},
		{"fatal: 'https://a:b@h/x' and 'http://c:d@h/y'", "fatal: 'https://h/x' and 'http://h/y'"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
