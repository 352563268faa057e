// Package exec is the local command target: it builds a unit by running a
// configured command on the trawl host, one run per unit and fingerprint.
// It is how a unit reaches any CI that trawl has no backend for: the
// command can start a build however it likes (a CLI, curl, a script).
//
// # What the command gets
//
// The command is an argv, run without a shell, in Opts.Dir. Its environment
// is not trawl's: it gets only PATH, HOME, LANG, LC_ALL, TZ and TMPDIR from
// trawl's environment (which may hold tokens read through token_env), then
// Opts.Env, then these variables (which Opts.Env may not set):
//
//	TRAWL_TARGET        the target name
//	TRAWL_JOB           the job id (see Idempotency)
//	TRAWL_UNIT          the unit key
//	TRAWL_FINGERPRINT   the unit's fingerprint
//	TRAWL_CHANGE        the change key
//	TRAWL_TITLE         the change's title
//	TRAWL_WEB_URL       the change's web page
//	TRAWL_BASE_TREE     the base tree name
//	TRAWL_BASE_URL      the base tree's git URL
//	TRAWL_BASE_BRANCH   the base branch
//	TRAWL_BASE_COMMIT   the base commit
//	TRAWL_PATCH_URLS    the patches' mbox URLs, one a line, in the order to apply
//	TRAWL_HEADS         the heads of the unit's pull and merge requests, JSON
//
// Its standard input is the whole request as one JSON document:
//
//	{"unit": "...", "fingerprint": "...", "attempt": 0, "change": "...", "title": "...",
//	 "web_url": "...",
//	 "base": {"tree": "...", "url": "...", "branch": "...", "commit": "...", "exact": false},
//	 "patches": [{"id": 1, "msgid": "<...>", "name": "...", "hash": "...",
//	              "mbox_url": "...", "web_url": "..."}],
//	 "heads": [{"key": "gh:owner/repo#42", "repo": "https://github.com/owner/repo.git",
//	            "ref": "refs/pull/42/head", "sha": "..."}]}
//
// patches (Patchwork series) and heads (pull and merge requests) are in
// the order to apply, dependencies first, and are empty arrays, never null,
// when there are none. A head is built by fetching its ref from its repo
// and checking out its sha; the last head is the change itself.
//
// # Idempotency
//
// Each run has a job record, a JSON file under
// StateDir/exec/<target name>/ named by the job id: the hex sha256 of the
// unit key, a zero byte and the fingerprint, then for a retry after an
// infrastructure error a zero byte and the attempt number. Trigger writes the record
// atomically (temporary file, fsync, rename, fsync of the directory) before
// it starts the command. A Trigger that finds a record adopts it
// (Job.Adopted) and runs nothing, whether the run is going on or long over;
// so a crash at any instant, or a lost state file, never runs a unit twice
// for one fingerprint. To run it again, delete its record. A command that
// cannot be started at all (no such file, no permission) removes its record
// again and fails the trigger, so the next cycle tries once more.
//
// Records and logs are never deleted by trawl.
//
// # Runs
//
// Trigger starts the command in its own process group and returns at once;
// the command does not depend on the trigger's context. A supervisor
// goroutine owned by the Target waits for it, at most Opts.Timeout; at the
// deadline it kills the whole process group. When the command ends, what is
// left of its process group is killed too, so nothing it started outlives
// it unless it left the group (setsid). The combined standard output and
// error, at most the last MiB, are written to <job id>.log beside the record
// when the command ends, and the record is updated with the exit status.
// Close kills every running command and waits for its supervisor.
//
// A trawl restart while a command runs loses that run's result: no process
// is left that can wait for it. Result reports such a run as an
// infrastructure error ("interrupted") once its process is gone, and never
// runs the command again for that fingerprint.
//
// # Results
//
// Result reads the job record:
//
//	command running                                 pending
//	exit status 0                                   success
//	exit status 1 to 124                            fail
//	exit status 125 to 127 (the command could not   infra-error
//	  run what it was asked to: env, a shell)
//	exit status 128 and above (conventionally a     infra-error
//	  process killed by a signal), killed by a
//	  signal, timed out, stopped by Close
//	no exit recorded and the process gone           infra-error ("interrupted")
//
// The summary is one line under 180 characters that ends with the last
// non-empty line the command printed.
//
// The package runs on Unix only (process groups).
package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// Defaults and bounds.
const (
	defaultTimeout = 10 * time.Minute
	// maxLog is how much of the command's output is kept: the last MiB.
	maxLog = 1 << 20
	// waitDelay bounds how long a supervisor waits for the output pipe
	// once the command has ended or been killed (a process that left the
	// group can hold it open).
	waitDelay = 10 * time.Second
)

var (
	errTimedOut = errors.New("timed out")
	errClosed   = errors.New("target closed")
)

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name. It names the record directory,
	// so it may not contain a path separator.
	Name string
	// Command is the argv to run; no shell is involved. A relative path
	// with a slash is relative to Dir; a bare name is looked up in PATH.
	Command []string
	// Dir is the command's working directory; empty means trawl's own.
	Dir string
	// Timeout bounds one run; 0 means 10 minutes.
	Timeout time.Duration
	// Env lists extra KEY=VALUE variables for the command. They are part
	// of the configuration hash, values included: never put a secret here.
	Env []string
	// StateDir is trawl's state directory; job records and logs live in
	// StateDir/exec/<Name>/.
	StateDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Target runs a local command per unit. It is safe for concurrent use.
// Close it to stop the commands it runs.
type Target struct {
	name       string
	argv       []string
	dir        string
	timeout    time.Duration
	env        []string
	records    string
	now        func() time.Time
	log        *zap.Logger
	configHash string

	// ctx ends every running command when Close cancels it with errClosed.
	ctx  context.Context
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	// mu guards running and closed, and serialises the look-up, creation
	// and start of job records.
	mu      sync.Mutex
	running map[string]bool // job ids with a live supervisor
	closed  bool
}

// New checks the options, creates the record directory and returns a
// Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" || o.Name == "." || o.Name == ".." || strings.ContainsAny(o.Name, `/\`) {
		return nil, fmt.Errorf("exec: target name %q is empty or not a file name", o.Name)
	}
	if len(o.Command) == 0 || o.Command[0] == "" {
		return nil, fmt.Errorf("exec %s: no command", o.Name)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("exec %s: timeout %s is negative", o.Name, o.Timeout)
	}
	if o.StateDir == "" {
		return nil, fmt.Errorf("exec %s: no state directory", o.Name)
	}
	for _, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("exec %s: env entry %q is not KEY=VALUE", o.Name, kv)
		}
		if strings.HasPrefix(k, "TRAWL_") {
			return nil, fmt.Errorf("exec %s: env %s: TRAWL_ variables are set by trawl", o.Name, k)
		}
	}
	if o.Dir != "" {
		fi, err := os.Stat(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("exec %s: working directory: %w", o.Name, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("exec %s: working directory %s is not a directory", o.Name, o.Dir)
		}
	}
	records := filepath.Join(o.StateDir, "exec", o.Name)
	if err := os.MkdirAll(records, 0o700); err != nil {
		return nil, fmt.Errorf("exec %s: create record directory: %w", o.Name, err)
	}
	t := &Target{
		name:    o.Name,
		argv:    append([]string(nil), o.Command...),
		dir:     o.Dir,
		timeout: o.Timeout,
		env:     append([]string(nil), o.Env...),
		records: records,
		now:     o.Now,
		log:     o.Logger,
		running: map[string]bool{},
	}
	if t.timeout == 0 {
		t.timeout = defaultTimeout
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = configHash(t.argv, t.dir, t.env)
	t.ctx, t.stop = context.WithCancelCause(context.Background())
	removeTemps(records)
	return t, nil
}

// configHash hashes what changes the build: the argv, the working
// directory and the extra environment, values included, in order. The
// timeout is not part of it.
func configHash(argv []string, dir string, env []string) string {
	parts := append([]string{"trawl exec config v1", strconv.Itoa(len(argv))}, argv...)
	parts = append(parts, dir, strconv.Itoa(len(env)))
	return targets.HashConfig(append(parts, env...)...)
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies the configuration that changes what gets built: the
// command, its working directory and Opts.Env with its values.
func (t *Target) ConfigHash() string { return t.configHash }

// JobID is the job id of a build attempt (targets.AttemptID). It names the
// job record.
func JobID(unit, fingerprint string, attempt int) string {
	return targets.AttemptID(unit, fingerprint, attempt)
}

// Trigger runs the command for r, or adopts the run its record describes
// (see the package documentation). It returns once the command has
// started; ctx bounds only that.
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" {
		return targets.Job{}, fmt.Errorf("exec %s: request needs a unit and a fingerprint", t.name)
	}
	if err := ctx.Err(); err != nil {
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: %w", t.name, r.Unit, err)
	}
	id := JobID(r.Unit, r.Fingerprint, r.Attempt)
	job := targets.Job{Target: t.name, ID: id, BaseCommit: r.Base.Commit}
	stdin, err := json.Marshal(targets.NewDocument(r))
	if err != nil {
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: encode request: %w", t.name, r.Unit, err)
	}
	env, err := t.environ(id, r)
	if err != nil {
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: %w", t.name, r.Unit, err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: %w", t.name, r.Unit, errClosed)
	}
	switch _, err := t.read(id); {
	case err == nil:
		job.Adopted = true
		t.log.Info("exec: adopted existing run", zap.String("target", t.name), zap.String("unit", r.Unit), zap.String("job", id))
		return job, nil
	case !errors.Is(err, fs.ErrNotExist):
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: %w", t.name, r.Unit, err)
	}

	rec := &record{
		ID:          id,
		Unit:        r.Unit,
		Fingerprint: r.Fingerprint,
		Started:     t.now().UTC(),
		Log:         t.path(id, ".log"),
	}
	if err := t.write(rec); err != nil {
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: %w", t.name, r.Unit, err)
	}
	run, err := t.start(env, stdin)
	if err != nil {
		err = fmt.Errorf("exec %s: unit %s: start %s: %w", t.name, r.Unit, t.argv[0], err)
		if rerr := os.Remove(t.path(id, ".json")); rerr != nil {
			return targets.Job{}, errors.Join(err, fmt.Errorf("remove job record: %w", rerr))
		}
		return targets.Job{}, err
	}
	rec.PID = run.cmd.Process.Pid
	if err := t.write(rec); err != nil {
		// The command runs and its supervisor will record the outcome;
		// only the pid is missing meanwhile.
		t.log.Warn("exec: record pid", zap.String("target", t.name), zap.String("job", id), zap.Error(err))
	}
	t.running[id] = true
	t.wg.Add(1)
	go t.supervise(run, rec)
	t.log.Info("exec: started command", zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.String("job", id), zap.Int("pid", rec.PID))
	return job, nil
}

// inheritedVars are the only variables of trawl's own environment a command
// sees: what a shell and a build need, never a token.
var inheritedVars = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// inherited returns trawl's values of inheritedVars.
func inherited() []string {
	var env []string
	for _, k := range inheritedVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// environ is the command's environment for job id.
func (t *Target) environ(id string, r targets.Request) ([]string, error) {
	heads := r.Heads
	if heads == nil {
		heads = []targets.Head{}
	}
	hj, err := json.Marshal(heads)
	if err != nil {
		return nil, fmt.Errorf("encode heads: %w", err)
	}
	urls := make([]string, len(r.Patches))
	for i, p := range r.Patches {
		urls[i] = p.MboxURL
	}
	env := inherited()
	env = append(env, t.env...)
	return append(env,
		"TRAWL_TARGET="+t.name,
		"TRAWL_JOB="+id,
		"TRAWL_UNIT="+r.Unit,
		"TRAWL_FINGERPRINT="+r.Fingerprint,
		"TRAWL_CHANGE="+string(r.Change),
		"TRAWL_TITLE="+r.Title,
		"TRAWL_WEB_URL="+r.WebURL,
		"TRAWL_BASE_TREE="+r.Base.Tree,
		"TRAWL_BASE_URL="+r.Base.URL,
		"TRAWL_BASE_BRANCH="+r.Base.Branch,
		"TRAWL_BASE_COMMIT="+r.Base.Commit,
		"TRAWL_PATCH_URLS="+strings.Join(urls, "\n"),
		"TRAWL_HEADS="+string(hj),
	), nil
}

// run is one started command.
type run struct {
	cmd    *osexec.Cmd
	ctx    context.Context // ends at the deadline or at Close
	cancel context.CancelFunc
	out    *tail
}

// start starts the command in its own process group under the timeout.
func (t *Target) start(env []string, stdin []byte) (*run, error) {
	ctx, cancel := context.WithTimeoutCause(t.ctx, t.timeout, errTimedOut)
	out := &tail{max: maxLog}
	cmd := osexec.CommandContext(ctx, t.argv[0], t.argv[1:]...)
	cmd.Dir = t.dir
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	return &run{cmd: cmd, ctx: ctx, cancel: cancel, out: out}, nil
}

// killGroup kills the process group led by pid; a group that is gone
// already is no error.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// supervise waits for a run, kills what is left of its process group,
// writes its log and records its outcome.
func (t *Target) supervise(r *run, rec *record) {
	defer t.wg.Done()
	defer r.cancel()
	err := r.cmd.Wait()
	killGroup(r.cmd.Process.Pid)
	cause := context.Cause(r.ctx)

	finished := t.now().UTC()
	rec.Done = true
	rec.Finished = &finished
	rec.ExitCode = -1
	st := r.cmd.ProcessState
	var ws syscall.WaitStatus
	if st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	}
	switch {
	case st == nil:
		rec.Error = fmt.Sprintf("wait for the command: %v", err)
	case ws.Signaled() && errors.Is(cause, errTimedOut):
		rec.Error = fmt.Sprintf("timed out after %s", t.timeout)
	case ws.Signaled() && errors.Is(cause, errClosed):
		rec.Error = "stopped: trawl shut down while the command ran"
	case ws.Signaled():
		rec.Error = "killed by signal " + ws.Signal().String()
	default:
		rec.ExitCode = st.ExitCode()
	}
	if errors.Is(err, osexec.ErrWaitDelay) {
		t.log.Warn("exec: a process left the group and kept the output open; output may be cut short",
			zap.String("target", t.name), zap.String("job", rec.ID))
	}
	out := r.out.Bytes()
	rec.LastLine = lastLine(out)
	if err := writeAtomic(rec.Log, out); err != nil {
		t.log.Warn("exec: write log", zap.String("target", t.name), zap.String("job", rec.ID), zap.Error(err))
	}
	if err := t.write(rec); err != nil {
		t.log.Error("exec: record outcome; the run will read as interrupted",
			zap.String("target", t.name), zap.String("job", rec.ID), zap.Error(err))
	}
	t.log.Info("exec: command ended", zap.String("target", t.name), zap.String("unit", rec.Unit),
		zap.String("job", rec.ID), zap.Int("exit_code", rec.ExitCode), zap.String("error", rec.Error))

	t.mu.Lock()
	delete(t.running, rec.ID)
	t.mu.Unlock()
}

// lastLine is the last non-empty line of out, trimmed.
func lastLine(out []byte) string {
	lines := strings.Split(string(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return ""
}

// Close kills every command the Target runs, waits for their supervisors
// to record them, and makes later triggers fail. It is safe to call more
// than once.
func (t *Target) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.stop(errClosed)
	t.wg.Wait()
	return nil
}
