package exec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A run is watched by a supervisor process, not by trawl: the trawl binary
// itself, started again with superviseEnv set. trawl starts it in two
// stages so that it outlives trawl and nobody has to reap it:
//
//	trawl ── stage "spawn" ── stage "watch" (own session)
//	                              └── the command (own process group)
//
// The spawn stage starts the watch stage in a session of its own and exits
// at once, so trawl waits for it in Trigger and the watch stage is left to
// init. The watch stage starts the command, records its pid, tells trawl
// (one line on its standard output), waits for it at most the timeout,
// kills what is left of its process group, and writes the log and the
// outcome into the job record. A trawl killed, restarted or upgraded
// meanwhile loses nothing: the next trawl reads the record.
const superviseEnv = "TRAWL_EXEC_SUPERVISE"

// The stages, the values of superviseEnv.
const (
	stageSpawn = "spawn"
	stageWatch = "watch"
)

// init turns a process started as a supervisor into one: it runs the stage
// and exits before anything else of the binary (a main, a test binary's
// TestMain) runs. Every binary that links this package can therefore
// supervise the runs it starts, test binaries included.
func init() {
	stage := os.Getenv(superviseEnv)
	if stage == stageSpawn || stage == stageWatch {
		// trawl may be gone before it reads the supervisor's line: the
		// write must fail, not kill the supervisor with SIGPIPE.
		signal.Ignore(syscall.SIGPIPE)
	}
	switch stage {
	case stageSpawn:
		os.Exit(spawn())
	case stageWatch:
		os.Exit(watch())
	}
}

// spec is what the watch stage needs, sent as JSON on its standard input.
type spec struct {
	Argv    []string      `json:"argv"`
	Dir     string        `json:"dir"`
	Env     []string      `json:"env"`
	Timeout time.Duration `json:"timeout"`
	Stdin   []byte        `json:"stdin"`
	// Record is the job record's path, and Initial what the supervisor
	// creates there before it starts the command.
	Record  string `json:"record"`
	Initial record `json:"initial"`
}

// errExists reports that the job record exists already: another
// supervisor started the run.
var errExists = errors.New("job record exists")

// startTimeout bounds how long Trigger waits for the supervisor to say
// whether the command started.
const startTimeout = 30 * time.Second

// supervise starts the supervisor of a run and waits until it has started
// the command (it returns the command's pid) or failed to.
func (t *Target) supervise(ctx context.Context, s spec) (int, error) {
	in, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("encode supervisor input: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := osexec.Command(t.supervisor)
	// GORACE: a binary built with -race (the tests) otherwise sleeps a
	// second when it exits, and Trigger waits for this stage to exit.
	cmd.Env = []string{superviseEnv + "=" + stageSpawn, "GORACE=atexit_sleep_ms=0"}
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = w
	err = cmd.Start()
	_ = w.Close() // the supervisor holds the only write end now
	if err != nil {
		return 0, fmt.Errorf("start supervisor %s: %w", t.supervisor, err)
	}
	// The spawn stage ends as soon as the watch stage runs; waiting for
	// it here reaps it.
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("supervisor %s: %w", t.supervisor, err)
	}
	deadline := time.Now().Add(startTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = r.SetReadDeadline(deadline)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("supervisor said nothing about the command: %w", err)
	}
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch word {
	case "started":
		pid, err := strconv.Atoi(rest)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("supervisor: bad pid %q", rest)
		}
		return pid, nil
	case "exists":
		return 0, errExists
	case "failed":
		return 0, errors.New(rest)
	}
	return 0, fmt.Errorf("supervisor: unexpected answer %q", line)
}

// spawn is the first stage: it starts the watch stage in a session of its
// own, hands it its input and exits.
func spawn() int {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Printf("failed read supervisor input: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Printf("failed find the supervisor binary: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Printf("failed %v\n", err)
		return 1
	}
	cmd := osexec.Command(self)
	cmd.Env = []string{superviseEnv + "=" + stageWatch}
	cmd.Stdin = r
	cmd.Stdout = os.Stdout // the line trawl waits for
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Printf("failed start the supervisor: %v\n", err)
		return 1
	}
	_ = r.Close()
	// The watch stage reads its whole input at once; a write larger than
	// the pipe's buffer returns once it has.
	_, err = w.Write(in)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = cmd.Process.Kill()
		fmt.Printf("failed hand over the supervisor input: %v\n", err)
		return 1
	}
	return 0
}

// watch is the second stage: it runs the command and records its outcome.
func watch() int {
	var s spec
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = json.Unmarshal(in, &s)
	}
	if err != nil || len(s.Argv) == 0 {
		fmt.Printf("failed bad supervisor input: %v\n", err)
		return 1
	}
	rec := &s.Initial
	switch err := createRecord(s.Record, rec); {
	case errors.Is(err, fs.ErrExist):
		fmt.Println("exists")
		return 0
	case err != nil:
		fmt.Printf("failed %v\n", err)
		return 1
	}

	// Stopping the supervisor (SIGTERM, SIGINT) stops the command and
	// records why; a SIGKILL cannot be caught and leaves the run
	// interrupted.
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeoutCause(stop, s.Timeout, errTimedOut)
	defer cancelTimeout()
	out := &tail{max: maxLog}
	cmd := osexec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	cmd.Stdin = bytes.NewReader(s.Stdin)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		if rerr := os.Remove(s.Record); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove job record: %w", rerr))
		}
		fmt.Printf("failed %v\n", err)
		return 1
	}
	rec.PID = cmd.Process.Pid
	rec.Supervisor = os.Getpid()
	// Recorded before trawl hears of it, so that trawl never sees a
	// started run without a supervisor to follow.
	recErr := writeRecord(s.Record, rec)
	fmt.Printf("started %d\n", rec.PID)
	_ = os.Stdout.Close()

	err = cmd.Wait()
	killGroup(cmd.Process.Pid)
	cause := context.Cause(ctx)
	finished := time.Now().UTC()
	rec.Done = true
	rec.Finished = &finished
	rec.ExitCode = -1
	st := cmd.ProcessState
	var ws syscall.WaitStatus
	if st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	}
	switch {
	case st == nil:
		rec.Error = fmt.Sprintf("wait for the command: %v", err)
	case ws.Signaled() && errors.Is(cause, errTimedOut):
		rec.Error = fmt.Sprintf("timed out after %s", s.Timeout)
	case ws.Signaled() && stop.Err() != nil:
		rec.Error = "stopped: its supervisor was asked to stop"
	case ws.Signaled():
		rec.Error = "killed by signal " + ws.Signal().String()
	default:
		rec.ExitCode = st.ExitCode()
	}
	// A process that left the group and kept the output open past
	// waitDelay (osexec.ErrWaitDelay) only cuts the output short.
	log := out.Bytes()
	rec.LastLine = lastLine(log)
	logErr := writeAtomic(rec.Log, log)
	if err := writeRecord(s.Record, rec); err != nil {
		// Nobody is left to tell: the run will read as interrupted.
		return 1
	}
	if recErr != nil || logErr != nil {
		return 1
	}
	return 0
}
