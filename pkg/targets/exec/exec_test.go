package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// script is the command under test. It counts its runs, saves its
// environment and standard input, and then behaves as $MODE says.
const script = `#!/bin/sh
echo "$TRAWL_JOB" >> "$OUT/runs"
env -0 > "$OUT/$TRAWL_JOB.env"
cat > "$OUT/$TRAWL_JOB.stdin"
echo "starting $TRAWL_UNIT"
case "$MODE" in
ok) echo "first line"; echo "all good"; echo ;;
exit) echo "stderr says bye" >&2; exit "$CODE" ;;
signal) kill -TERM $$ ;;
hang) sleep 300 & echo $! > "$OUT/child.tmp"; mv "$OUT/child.tmp" "$OUT/child"; wait ;;
missing) exec "$OUT/no-such-program" ;;
big) head -c 3000000 /dev/zero | tr '\0' 'x'; echo; echo "the end" ;;
gate) touch "$OUT/waiting"; while [ ! -e "$OUT/go" ]; do sleep 0.05; done; echo released ;;
esac
`

// fixture is one target running script, with its directories.
type fixture struct {
	t     *testing.T
	out   string // where the script writes
	state string
	opts  Opts
}

func newFixture(t *testing.T, mode string, env ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, out: filepath.Join(dir, "out"), state: filepath.Join(dir, "state")}
	if err := os.Mkdir(f.out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := filepath.Join(dir, "ci.sh")
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f.opts = Opts{
		Name:     "local",
		Command:  []string{cmd},
		Dir:      dir,
		Timeout:  time.Minute,
		Env:      append([]string{"OUT=" + f.out, "MODE=" + mode}, env...),
		StateDir: f.state,
	}
	return f
}

// target builds a Target from the fixture's options, closed at the end of
// the test.
func (f *fixture) target() *Target {
	f.t.Helper()
	tg, err := New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = tg.Close() })
	return tg
}

// runs is how many times the script ran.
func (f *fixture) runs() int {
	b, err := os.ReadFile(filepath.Join(f.out, "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func request(fp string) targets.Request {
	return targets.Request{
		Unit:        "gh:rock-core/base-types#42@local",
		Fingerprint: fp,
		Change:      "gh:rock-core/base-types#42",
		Title:       "Add a \"quoted\" type\nwith a second line",
		WebURL:      "https://github.com/rock-core/base-types/pull/42",
		Base: targets.Base{
			Tree:   "base-types",
			URL:    "https://github.com/rock-core/base-types.git",
			Branch: "master",
			Commit: "1111111111111111111111111111111111111111",
			Exact:  true,
		},
		Patches: []change.Patch{
			{ID: 7, MsgID: "<a@example.org>", Name: "[1/2] one", Hash: "h1", MboxURL: "https://pw.example.org/patch/7/mbox/"},
			{ID: 8, MsgID: "<b@example.org>", Name: "[2/2] two", Hash: "h2", MboxURL: "https://pw.example.org/patch/8/mbox/", WebURL: "https://pw.example.org/patch/8/"},
		},
		Heads: []targets.Head{
			{Key: "gh:rock-core/base-types#41", Repo: "https://github.com/rock-core/base-types.git", Ref: "refs/pull/41/head", SHA: "2222222222222222222222222222222222222222"},
			{Key: "gh:rock-core/base-types#42", Repo: "https://github.com/rock-core/base-types.git", Ref: "refs/pull/42/head", SHA: "3333333333333333333333333333333333333333"},
		},
	}
}

// waitResult polls Result until it is conclusive.
func waitResult(t *testing.T, tg *Target, job targets.Job) targets.Result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := tg.Result(context.Background(), job)
		if err != nil {
			t.Fatalf("Result: %v", err)
		}
		if r.State.Conclusive() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s: %s", job.ID, r.State, r.Summary)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFile waits until path exists and returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until the process pid has ended (is gone or a zombie
// nobody reaped yet).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err == nil {
			// The state follows the ")" that ends the command name.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTriggerPassesTheUnit(t *testing.T) {
	t.Setenv("PW_TOKEN", "secret-token-from-token_env") // trawl's own secret
	f := newFixture(t, "ok", "EXTRA=value with spaces")
	tg := f.target()
	ctx, cancel := context.WithCancel(context.Background())
	r := request("fp1")
	job, err := tg.Trigger(ctx, r)
	cancel() // the run does not depend on the trigger's context
	if err != nil {
		t.Fatal(err)
	}
	want := targets.Job{Target: "local", ID: JobID(r.Unit, r.Fingerprint, 0), BaseCommit: r.Base.Commit}
	if job != want {
		t.Errorf("Trigger = %+v, want %+v", job, want)
	}
	res := waitResult(t, tg, job)
	if res.State != targets.StateSuccess || res.Summary != "command succeeded: all good" {
		t.Errorf("Result = %+v, want success ending with the last non-empty line", res)
	}

	env := map[string]string{}
	for _, kv := range strings.Split(waitFile(t, filepath.Join(f.out, job.ID+".env")), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if _, leaked := env["PW_TOKEN"]; leaked {
		t.Error("the command sees trawl's own environment, tokens included")
	}
	if env["PATH"] == "" {
		t.Error("the command lost PATH")
	}
	heads, _ := json.Marshal(r.Heads)
	wantEnv := map[string]string{
		"EXTRA":             "value with spaces",
		"TRAWL_TARGET":      "local",
		"TRAWL_JOB":         job.ID,
		"TRAWL_UNIT":        r.Unit,
		"TRAWL_FINGERPRINT": "fp1",
		"TRAWL_CHANGE":      string(r.Change),
		"TRAWL_TITLE":       r.Title,
		"TRAWL_WEB_URL":     r.WebURL,
		"TRAWL_BASE_TREE":   "base-types",
		"TRAWL_BASE_URL":    r.Base.URL,
		"TRAWL_BASE_BRANCH": "master",
		"TRAWL_BASE_COMMIT": r.Base.Commit,
		"TRAWL_PATCH_URLS":  "https://pw.example.org/patch/7/mbox/\nhttps://pw.example.org/patch/8/mbox/",
		"TRAWL_HEADS":       string(heads),
	}
	for k, v := range wantEnv {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Errorf("the command did not inherit PATH")
	}

	var doc map[string]any
	if err := json.Unmarshal([]byte(waitFile(t, filepath.Join(f.out, job.ID+".stdin"))), &doc); err != nil {
		t.Fatalf("stdin is not JSON: %v", err)
	}
	wantDoc := map[string]any{
		"unit":        r.Unit,
		"fingerprint": "fp1",
		"attempt":     float64(0),
		"change":      string(r.Change),
		"title":       r.Title,
		"web_url":     r.WebURL,
		"base": map[string]any{
			"tree": "base-types", "url": r.Base.URL, "branch": "master", "commit": r.Base.Commit, "exact": true,
		},
		"patches": []any{
			map[string]any{"id": 7.0, "msgid": "<a@example.org>", "name": "[1/2] one", "hash": "h1", "mbox_url": "https://pw.example.org/patch/7/mbox/"},
			map[string]any{"id": 8.0, "msgid": "<b@example.org>", "name": "[2/2] two", "hash": "h2", "mbox_url": "https://pw.example.org/patch/8/mbox/", "web_url": "https://pw.example.org/patch/8/"},
		},
		"heads": []any{
			map[string]any{"key": "gh:rock-core/base-types#41", "repo": "https://github.com/rock-core/base-types.git", "ref": "refs/pull/41/head", "sha": "2222222222222222222222222222222222222222"},
			map[string]any{"key": "gh:rock-core/base-types#42", "repo": "https://github.com/rock-core/base-types.git", "ref": "refs/pull/42/head", "sha": "3333333333333333333333333333333333333333"},
		},
	}
	if !reflect.DeepEqual(doc, wantDoc) {
		t.Errorf("stdin = %v\nwant    %v", doc, wantDoc)
	}

	log, err := os.ReadFile(filepath.Join(f.state, "exec", "local", job.ID+".log"))
	if err != nil || !strings.Contains(string(log), "starting "+r.Unit+"\nfirst line\nall good\n") {
		t.Errorf("log = %q, %v; want the command's output", log, err)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	f := newFixture(t, "ok")
	tg := f.target()
	r := request("fp1")
	r.Patches, r.Heads = nil, nil
	job, err := tg.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	waitResult(t, tg, job)
	stdin := waitFile(t, filepath.Join(f.out, job.ID+".stdin"))
	if !strings.Contains(stdin, `"patches":[]`) || !strings.Contains(stdin, `"heads":[]`) {
		t.Errorf("stdin = %s, want empty arrays for patches and heads", stdin)
	}
	env := waitFile(t, filepath.Join(f.out, job.ID+".env"))
	if !strings.Contains(env, "\x00TRAWL_HEADS=[]\x00") || !strings.Contains(env, "\x00TRAWL_PATCH_URLS=\x00") {
		t.Errorf("env lacks an empty TRAWL_PATCH_URLS and TRAWL_HEADS=[]")
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		code    string
		state   targets.State
		summary string
	}{
		{"exit 0", "exit", "0", targets.StateSuccess, "command succeeded: stderr says bye"},
		{"exit 1", "exit", "1", targets.StateFail, "command failed with exit status 1: stderr says bye"},
		{"exit 2", "exit", "2", targets.StateFail, "command failed with exit status 2: stderr says bye"},
		{"exit 124", "exit", "124", targets.StateFail, "command failed with exit status 124: stderr says bye"},
		{"exit 125", "exit", "125", targets.StateInfra, "command could not run (exit status 125): stderr says bye"},
		{"exit 126", "exit", "126", targets.StateInfra, "command could not run (exit status 126): stderr says bye"},
		{"exit 137", "exit", "137", targets.StateInfra, "command ended with exit status 137 (killed by a signal?): stderr says bye"},
		{"program not found", "missing", "", targets.StateInfra, "command could not run (exit status 127): "},
		{"killed by a signal", "signal", "", targets.StateInfra, "command killed by signal terminated: starting "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mode, "CODE="+tt.code)
			tg := f.target()
			job, err := tg.Trigger(context.Background(), request("fp1"))
			if err != nil {
				t.Fatal(err)
			}
			res := waitResult(t, tg, job)
			if res.State != tt.state || !strings.HasPrefix(res.Summary, tt.summary) {
				t.Errorf("Result = %+v, want %s %q...", res, tt.state, tt.summary)
			}
		})
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	f := newFixture(t, "hang")
	f.opts.Timeout = time.Second
	tg := f.target()
	job, err := tg.Trigger(context.Background(), request("fp1"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(waitFile(t, filepath.Join(f.out, "child"))))
	if err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, tg, job)
	if res.State != targets.StateInfra || !strings.HasPrefix(res.Summary, "command timed out after 1s") {
		t.Errorf("Result = %+v, want an infra-error for the timeout", res)
	}
	waitGone(t, child)
}

// TestBuildsOutliveTrawl: a run started by one trawl process goes on when
// that trawl stops (Close, as `trawl once` does when it exits), and its
// outcome, reached while no trawl runs, is read by the next one.
func TestBuildsOutliveTrawl(t *testing.T) {
	f := newFixture(t, "gate")
	tg := f.target()
	r := request("fp1")
	job, err := tg.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(f.out, "waiting"))
	res, err := tg.Result(context.Background(), job)
	if err != nil || res.State != targets.StatePending || !strings.HasPrefix(res.Summary, "running since ") {
		t.Errorf("Result while running = %+v, %v; want pending", res, err)
	}
	again, err := tg.Trigger(context.Background(), r)
	if err != nil || !again.Adopted || again.ID != job.ID {
		t.Errorf("second Trigger while running = %+v, %v; want the run adopted", again, err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Trigger(context.Background(), request("fp2")); !errors.Is(err, errClosed) {
		t.Errorf("Trigger after Close = %v, want an error", err)
	}
	if err := tg.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	// trawl is down: the build finishes.
	if err := os.WriteFile(filepath.Join(f.out, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := waitRecord(t, f, job.ID)
	waitGone(t, rec.Supervisor)

	// trawl starts again and reads the outcome.
	restarted := f.target()
	res = waitResult(t, restarted, job)
	if res.State != targets.StateSuccess || res.Summary != "command succeeded: released" {
		t.Errorf("Result after the restart = %+v; want the build's success", res)
	}
	if n := f.runs(); n != 1 {
		t.Errorf("the command ran %d times, want 1", n)
	}
}

// waitRecord waits until the job record of id holds an outcome.
func waitRecord(t *testing.T, f *fixture, id string) *record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := readRecord(filepath.Join(f.state, "exec", "local", id+".json"))
		if err == nil && rec.Done {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never recorded an outcome: %+v, %v", id, rec, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKilledSupervisorReadsInterrupted: a supervisor killed with SIGKILL
// cannot record anything; the run then reads as interrupted, once the
// supervisor is seen gone, and is not run again.
func TestKilledSupervisorReadsInterrupted(t *testing.T) {
	f := newFixture(t, "gate")
	tg := f.target()
	job, err := tg.Trigger(context.Background(), request("fp1"))
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(f.out, "waiting"))
	rec, err := tg.read(job.ID)
	if err != nil || rec.Supervisor <= 0 || rec.PID <= 0 {
		t.Fatalf("record = %+v, %v; want the supervisor's and the command's pids", rec, err)
	}
	if err := syscall.Kill(rec.Supervisor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, rec.Supervisor)
	killGroup(rec.PID)
	res, err := tg.Result(context.Background(), job)
	if err != nil || res.State != targets.StateInfra || !strings.HasPrefix(res.Summary, "interrupted") {
		t.Errorf("Result = %+v, %v; want interrupted", res, err)
	}
	if again, err := tg.Trigger(context.Background(), request("fp1")); err != nil || !again.Adopted {
		t.Errorf("Trigger again = %+v, %v; want the run adopted, not run again", again, err)
	}
}

func TestAdoption(t *testing.T) {
	f := newFixture(t, "ok")
	first := f.target()
	r := request("fp1")
	job, err := first.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if job.Adopted {
		t.Errorf("first Trigger adopted %+v", job)
	}
	waitResult(t, first, job)

	again, err := first.Trigger(context.Background(), r)
	if err != nil || !again.Adopted || again.ID != job.ID {
		t.Errorf("second Trigger = %+v, %v; want the run adopted", again, err)
	}

	// A restart: a new Target on the same state directory.
	restarted := f.target()
	adopted, err := restarted.Trigger(context.Background(), r)
	if err != nil || !adopted.Adopted || adopted.ID != job.ID {
		t.Errorf("Trigger after restart = %+v, %v; want the run adopted", adopted, err)
	}
	res, err := restarted.Result(context.Background(), adopted)
	if err != nil || res.State != targets.StateSuccess {
		t.Errorf("Result after restart = %+v, %v; want the recorded success", res, err)
	}
	if n := f.runs(); n != 1 {
		t.Errorf("the command ran %d times, want 1", n)
	}

	other, err := restarted.Trigger(context.Background(), request("fp2"))
	if err != nil || other.Adopted || other.ID == job.ID {
		t.Errorf("Trigger of a new fingerprint = %+v, %v; want a new run", other, err)
	}
	waitResult(t, restarted, other)
	if n := f.runs(); n != 2 {
		t.Errorf("the command ran %d times, want 2", n)
	}
}

func TestCannotStart(t *testing.T) {
	f := newFixture(t, "ok")
	f.opts.Command = []string{filepath.Join(f.out, "no-such-program")}
	tg := f.target()
	for range 2 {
		_, err := tg.Trigger(context.Background(), request("fp1"))
		if err == nil || !strings.Contains(err.Error(), "no-such-program") {
			t.Errorf("Trigger = %v, want an error naming the program", err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(f.state, "exec", "local"))
	if err != nil || len(entries) != 0 {
		t.Errorf("record directory holds %v, %v; want nothing left", entries, err)
	}
}

func TestInterruptedRun(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	gone := deadPID(t)
	tests := []struct {
		name    string
		pid     int
		started time.Time
		state   targets.State
	}{
		{"never started", 0, now, targets.StateInfra},
		{"supervisor gone", gone, now, targets.StateInfra},
		{"supervisor alive", os.Getpid(), now.Add(-time.Minute), targets.StatePending},
		{"supervisor alive past the deadline", os.Getpid(), now.Add(-2 * time.Hour), targets.StateInfra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "ok")
			f.opts.Now = func() time.Time { return now }
			tg := f.target()
			r := request("fp1")
			id := JobID(r.Unit, r.Fingerprint, 0)
			if err := writeRecord(tg.path(id, ".json"), &record{ID: id, Unit: r.Unit, Fingerprint: r.Fingerprint, Started: tt.started, PID: tt.pid, Supervisor: tt.pid}); err != nil {
				t.Fatal(err)
			}
			job, err := tg.Trigger(context.Background(), r)
			if err != nil || !job.Adopted {
				t.Fatalf("Trigger = %+v, %v; want the record adopted", job, err)
			}
			res, err := tg.Result(context.Background(), job)
			if err != nil || res.State != tt.state {
				t.Errorf("Result = %+v, %v; want %s", res, err, tt.state)
			}
			if tt.state == targets.StateInfra && !strings.HasPrefix(res.Summary, "interrupted") {
				t.Errorf("summary %q, want it to say interrupted", res.Summary)
			}
			if n := f.runs(); n != 0 {
				t.Errorf("the command ran %d times, want 0", n)
			}
		})
	}
}

// deadPID returns the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "exit 0"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid, 0); err == nil {
		t.Skipf("pid %d was reused already", p.Pid)
	}
	return p.Pid
}

func TestLogKeepsTheEnd(t *testing.T) {
	f := newFixture(t, "big")
	tg := f.target()
	job, err := tg.Trigger(context.Background(), request("fp1"))
	if err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, tg, job)
	if res.State != targets.StateSuccess || res.Summary != "command succeeded: the end" {
		t.Errorf("Result = %+v", res)
	}
	log, err := os.ReadFile(filepath.Join(f.state, "exec", "local", job.ID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(log) > maxLog+100 || !strings.HasPrefix(string(log), "[trawl: output cut") || !strings.HasSuffix(string(log), "xxx\nthe end\n") {
		t.Errorf("log of %d bytes starts %q and ends %q; want the last MiB", len(log), log[:50], log[len(log)-20:])
	}
}

func TestResultOfUnknownJob(t *testing.T) {
	tg := newFixture(t, "ok").target()
	for _, id := range []string{"", "../../etc/passwd", JobID("u", "f", 0)} {
		if _, err := tg.Result(context.Background(), targets.Job{Target: "local", ID: id}); err == nil {
			t.Errorf("Result(%q) = nil error, want one", id)
		}
	}
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	good := Opts{Name: "local", Command: []string{"true"}, StateDir: dir}
	tests := []struct {
		name string
		edit func(*Opts)
	}{
		{"no name", func(o *Opts) { o.Name = "" }},
		{"name with a slash", func(o *Opts) { o.Name = "a/b" }},
		{"name dot dot", func(o *Opts) { o.Name = ".." }},
		{"no command", func(o *Opts) { o.Command = nil }},
		{"empty program", func(o *Opts) { o.Command = []string{""} }},
		{"negative timeout", func(o *Opts) { o.Timeout = -time.Second }},
		{"no state dir", func(o *Opts) { o.StateDir = "" }},
		{"env without =", func(o *Opts) { o.Env = []string{"FOO"} }},
		{"env without key", func(o *Opts) { o.Env = []string{"=x"} }},
		{"env sets TRAWL_", func(o *Opts) { o.Env = []string{"TRAWL_UNIT=x"} }},
		{"missing dir", func(o *Opts) { o.Dir = filepath.Join(dir, "nope") }},
	}
	if _, err := New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, err := New(o); err == nil {
				t.Errorf("New accepted %+v", o)
			}
		})
	}
}

func TestConfigHash(t *testing.T) {
	base := Opts{Name: "local", Command: []string{"ci", "--fast"}, Env: []string{"A=1"}}
	hash := func(edit func(*Opts)) string {
		o := base
		o.StateDir = t.TempDir()
		edit(&o)
		tg, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return tg.ConfigHash()
	}
	h := hash(func(*Opts) {})
	if h != hash(func(o *Opts) { o.Timeout = time.Hour; o.Name = "other" }) {
		t.Errorf("the timeout or the name changed the hash")
	}
	for name, edit := range map[string]func(*Opts){
		"argv":       func(o *Opts) { o.Command = []string{"ci", "--slow"} },
		"argv split": func(o *Opts) { o.Command = []string{"ci --fast"} },
		"dir":        func(o *Opts) { o.Dir = t.TempDir() },
		"env value":  func(o *Opts) { o.Env = []string{"A=2"} },
		"env more":   func(o *Opts) { o.Env = []string{"A=1", "B=1"} },
	} {
		if hash(edit) == h {
			t.Errorf("changing the %s kept the hash", name)
		}
	}
}

// TestNewRemovesOnlyDeadWritersTemps: the temporary files of a write
// killed mid-way are removed when a Target is built, but not those of a
// live writer (a supervisor recording an outcome right now), whose rename
// would fail and lose the outcome.
func TestNewRemovesOnlyDeadWritersTemps(t *testing.T) {
	f := newFixture(t, "ok")
	dir := filepath.Join(f.state, "exec", "local")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	live := tempPrefix + strconv.Itoa(os.Getpid()) + "-1"
	dead := tempPrefix + strconv.Itoa(deadPID(t)) + "-2"
	for _, name := range []string{live, dead, tempPrefix + "old-style", "kept.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.target()
	var left []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{live, "kept.json"}; !reflect.DeepEqual(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}

// TestRacingTriggersRunOnce: two trawl processes on one state directory (a
// restarted trawl beside the supervisor its killed predecessor had just
// started) trigger the same job at once: the supervisors race to create
// the record, one wins, the other's trigger adopts its run.
func TestRacingTriggersRunOnce(t *testing.T) {
	f := newFixture(t, "ok")
	a, b := f.target(), f.target()
	for round := range 5 {
		r := request("fp" + strconv.Itoa(round))
		jobs := make(chan targets.Job, 2)
		errs := make(chan error, 2)
		for _, tg := range []*Target{a, b} {
			go func() {
				job, err := tg.Trigger(context.Background(), r)
				jobs <- job
				errs <- err
			}()
		}
		adopted := 0
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if (<-jobs).Adopted {
				adopted++
			}
		}
		if adopted != 1 {
			t.Fatalf("round %d: %d of 2 racing triggers adopted, want exactly 1", round, adopted)
		}
		waitResult(t, a, targets.Job{Target: "local", ID: JobID(r.Unit, r.Fingerprint, 0)})
	}
	if n := f.runs(); n != 5 {
		t.Fatalf("the command ran %d times for 5 jobs, want 5", n)
	}
}
