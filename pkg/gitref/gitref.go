// Package gitref resolves a branch of a git repository to its commit with
// `git ls-remote`, under a deadline.
//
// git can hang (an unreachable host, a helper such as git-remote-https
// waiting on a dead connection, a credential prompt), so every call runs in
// its own process group that is killed as a whole when the deadline passes,
// never prompts for credentials, and reads a bounded amount of output.
// Credentials embedded in a URL never appear in an error or a log line.
package gitref

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultTimeout bounds one Resolve call when Resolver.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrNoBranch reports that the repository answered but has no such branch.
var ErrNoBranch = errors.New("no such branch")

// Limits on what is read from git.
const (
	maxStdout = 64 << 10
	maxStderr = 4 << 10
	// maxStderrInError is how much of git's stderr an error quotes.
	maxStderrInError = 1 << 10
	// waitDelay is how long Wait waits for the output pipes to close after
	// the process group was killed (a helper that left the group may hold
	// them open).
	waitDelay = 5 * time.Second
)

// Resolver resolves branches with git ls-remote. The zero value is ready to
// use; it is safe for concurrent use.
type Resolver struct {
	// Git is the git executable; "git" (looked up in PATH) if empty.
	Git string
	// Timeout bounds each Resolve call; DefaultTimeout if zero.
	Timeout time.Duration
	// Logger receives a debug line per resolution; nil logs nothing.
	Logger *zap.Logger
}

// Resolve returns the commit (40 or 64 hex digits) that branch points to in
// the repository at url. An absent branch gives an error matching
// ErrNoBranch; a call that outlives the deadline gives one matching
// context.DeadlineExceeded. Errors name the URL without credentials, the
// branch, and quote git's stderr.
func (r *Resolver) Resolve(ctx context.Context, url, branch string) (string, error) {
	where := fmt.Sprintf("git ls-remote %s branch %s", Redact(url), branch)
	if err := checkArgs(url, branch); err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	git := r.Git
	if git == "" {
		git = "git"
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ref := "refs/heads/" + branch
	cmd := exec.CommandContext(ctx, git, "ls-remote", "--exit-code", "--", url, ref)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/true", "SSH_ASKPASS=/bin/true")
	if os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		// ssh asks for passwords and host keys on the terminal, not stdin.
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	cmd.Stdin = nil // reads from the null device
	stdout := &boundedBuffer{max: maxStdout}
	stderr := &boundedBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group id is git's pid (Setpgid); kill git and its helpers.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay

	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s: %w%s", where, ctx.Err(), quote(url, stderr))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		return "", fmt.Errorf("%s: %w", where, ErrNoBranch)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w%s", where, err, quote(url, stderr))
	}
	commit, err := parse(stdout.Bytes(), ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	r.logger().Debug("resolved branch", zap.String("url", Redact(url)), zap.String("branch", branch), zap.String("commit", commit))
	return commit, nil
}

func (r *Resolver) logger() *zap.Logger {
	if r.Logger == nil {
		return zap.NewNop()
	}
	return r.Logger
}

// checkArgs refuses a URL git would read as an option and a branch that is
// not a plain branch name (ls-remote would treat globs as patterns).
func checkArgs(url, branch string) error {
	switch {
	case url == "":
		return errors.New("empty URL")
	case strings.HasPrefix(url, "-"):
		return errors.New("URL starts with '-'")
	case branch == "":
		return errors.New("empty branch")
	case strings.HasPrefix(branch, "-"), strings.HasPrefix(branch, "/"), strings.HasSuffix(branch, "/"):
		return errors.New("invalid branch name")
	case strings.ContainsFunc(branch, func(c rune) bool {
		return c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c)
	}):
		return errors.New("invalid branch name")
	}
	return nil
}

// parse finds ref's commit in ls-remote output ("<hash>\t<ref>" lines).
// ls-remote matches patterns by their tail, so other refs may be listed too.
func parse(out []byte, ref string) (string, error) {
	for line := range strings.Lines(string(out)) {
		hash, name, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "\t")
		if !ok || name != ref {
			continue
		}
		if !isHash(hash) {
			return "", fmt.Errorf("git printed %q for %s, not a commit hash", truncate(hash, 80), ref)
		}
		return hash, nil
	}
	return "", fmt.Errorf("git exited successfully but did not list %s", ref)
}

// isHash reports whether s is a SHA-1 or SHA-256 object name in lower-case
// hex, as git prints them.
func isHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// userinfo matches the credentials part of a URL: after the scheme, up to
// the last '@' before the first '/'.
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s'"]*@`)

// Redact removes user names and passwords from every URL in s.
func Redact(s string) string {
	return userinfo.ReplaceAllString(s, "$1")
}

// quote returns git's stderr for an error message: on one line, bounded,
// with credentials removed, introduced by ": git said: ", or "" if it is empty.
func quote(url string, stderr *boundedBuffer) string {
	var lines []string
	for line := range strings.Lines(string(stderr.Bytes())) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	s := Redact(strings.Join(lines, "; "))
	// git may print the password outside a URL, percent-decoded or not.
	if m := userinfo.FindString(url); m != "" {
		info := strings.TrimSuffix(m[strings.Index(m, "://")+3:], "@")
		if _, pass, ok := strings.Cut(info, ":"); ok && pass != "" {
			s = strings.ReplaceAll(s, pass, "REDACTED")
			if dec, err := neturl.PathUnescape(pass); err == nil && dec != "" {
				s = strings.ReplaceAll(s, dec, "REDACTED")
			}
		}
	}
	if s == "" {
		return ""
	}
	return ": git said: " + truncate(s, maxStderrInError)
}

// truncate shortens s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// boundedBuffer keeps the first max bytes written to it and discards the
// rest, so a runaway git cannot exhaust memory.
type boundedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (b *boundedBuffer) Bytes() []byte { return b.buf.Bytes() }
