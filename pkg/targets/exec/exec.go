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
// infrastructure error a zero byte and the attempt number. The run's
// supervisor creates the record exclusively (a synced temporary file hard
// linked to the record's name, then a sync of the directory) before it
// starts the command, and only one supervisor of a job can. A Trigger that finds a record adopts it
// (Job.Adopted) and runs nothing, whether the run is going on or long over;
// so a crash at any instant, or a lost state file, never runs a unit twice
// for one fingerprint. To run it again, delete its record. A command that
// cannot be started at all (no such file, no permission) has its record
// removed again and fails the trigger, so the next cycle tries once more.
//
// Records and logs are removed only by PruneRecords (retention), and only
// those of jobs no unit of the state refers to.
//
// # Runs
//
// Builds outlive trawl (DESIGN.md): a run is watched by a supervisor
// process of its own, the trawl binary started again (see supervise.go),
// not by trawl. Trigger starts the supervisor, which starts the command in
// its own process group, records the command's pid and its own in the job
// record, and tells Trigger, which returns; the command does not depend on
// the trigger's context. The supervisor waits for the command, at most
// Opts.Timeout; at the deadline it kills the whole process group. When the
// command ends, what is left of its process group is killed too, so
// nothing it started outlives it unless it left the group (setsid). The
// combined standard output and error, at most the last MiB, are written to
// <job id>.log beside the record, and the record is updated with the exit
// status. Stopping the supervisor (SIGTERM) stops the command and records
// that.
//
// So `trawl once` exiting, a restart, an upgrade or a SIGKILL of trawl
// neither stops a run nor loses its result: a later trawl reads the
// outcome from the record. Close stops nothing. Only a supervisor killed
// with SIGKILL (or a host reboot) loses a run's result; Result then
// reports it as an infrastructure error ("interrupted") and the command
// is never run again for that fingerprint.
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
//	no exit recorded and the supervisor gone        infra-error ("interrupted")
//
// The summary is one line under 180 characters that ends with the last
// non-empty line the command printed.
//
// The package runs on Unix only (process groups).
package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
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

var _ io.Closer = (*Target)(nil)

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
	// ReadOnly builds a target that is never triggered (`trawl plan`): it
	// neither creates nor tidies the record directory.
	ReadOnly bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
	// Supervisor is the binary started to supervise each run (see
	// supervise.go); empty means this process's own executable. It must
	// link this package.
	Supervisor string
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
	// supervisor is the binary started to supervise a run.
	supervisor string

	// mu serialises the look-up, creation and start of job records, and
	// guards closed.
	mu     sync.Mutex
	closed bool
}

// What the cycle finds on an exec target.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

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
	if !o.ReadOnly {
		if err := os.MkdirAll(records, 0o700); err != nil {
			return nil, fmt.Errorf("exec %s: create record directory: %w", o.Name, err)
		}
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
	t.supervisor = o.Supervisor
	if t.supervisor == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("exec %s: find the supervisor binary: %w", o.Name, err)
		}
		t.supervisor = self
	}
	if !o.ReadOnly {
		removeTemps(records)
	}
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

	rec := record{
		ID:          id,
		Unit:        r.Unit,
		Fingerprint: r.Fingerprint,
		Started:     t.now().UTC(),
		Log:         t.path(id, ".log"),
	}
	// The supervisor creates the record, exclusively, before it starts the
	// command: killed before that, trawl leaves no record and the next
	// trigger runs the unit; killed after, the next trigger adopts the
	// record. Two supervisors of one job (a restarted trawl racing the
	// one of the killed trawl) cannot both create it.
	pid, err := t.supervise(ctx, spec{Argv: t.argv, Dir: t.dir, Env: env, Timeout: t.timeout, Stdin: stdin,
		Record: t.path(id, ".json"), Initial: rec})
	switch {
	case errors.Is(err, errExists):
		job.Adopted = true
		t.log.Info("exec: adopted a run started meanwhile", zap.String("target", t.name), zap.String("unit", r.Unit), zap.String("job", id))
		return job, nil
	case err != nil:
		return targets.Job{}, fmt.Errorf("exec %s: unit %s: start %s: %w", t.name, r.Unit, t.argv[0], err)
	}
	t.log.Info("exec: started command", zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.String("job", id), zap.Int("pid", pid))
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

// killGroup kills the process group led by pid; a group that is gone
// already is no error.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
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

// Close makes later triggers fail. It stops no command: builds outlive
// trawl (their supervisors record them). It is safe to call more than once.
func (t *Target) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}
