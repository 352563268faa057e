package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// maxSummary bounds the summary, in characters.
const maxSummary = 180

// Result reads the job's record and summarises its run (see the package
// documentation). A job without a record is an error.
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	if !validID(job.ID) {
		return targets.Result{}, fmt.Errorf("exec %s: %q is not a job id", t.name, job.ID)
	}
	if err := ctx.Err(); err != nil {
		return targets.Result{}, fmt.Errorf("exec %s: job %s: %w", t.name, job.ID, err)
	}
	rec, err := t.read(job.ID)
	if err != nil {
		return targets.Result{}, fmt.Errorf("exec %s: job %s: %w", t.name, job.ID, err)
	}
	if rec.Done {
		return outcome(rec), nil
	}
	// The supervisor records the outcome before it exits: once it is seen
	// gone, a record read afterwards holds the outcome if there is one.
	if rec.Supervisor > 0 && alive(rec.Supervisor) && t.now().Before(rec.Started.Add(t.timeout+waitDelay+startTimeout)) {
		return running(rec), nil
	}
	if rec, err = t.read(job.ID); err != nil {
		return targets.Result{}, fmt.Errorf("exec %s: job %s: %w", t.name, job.ID, err)
	}
	if rec.Done {
		return outcome(rec), nil
	}
	return clip(targets.Result{
		State:   targets.StateInfra,
		Summary: "interrupted: the command's supervisor ended without recording its outcome; its result is lost",
	}), nil
}

// running is the result of a run still going.
func running(rec *record) targets.Result {
	return clip(targets.Result{
		State:   targets.StatePending,
		Summary: "running since " + rec.Started.UTC().Format(time.RFC3339),
	})
}

// outcome is the result of a finished run.
func outcome(rec *record) targets.Result {
	var r targets.Result
	switch c := rec.ExitCode; {
	case rec.Error != "":
		r = targets.Result{State: targets.StateInfra, Summary: "command " + rec.Error}
	case c == 0:
		r = targets.Result{State: targets.StateSuccess, Summary: "command succeeded"}
	case c >= 1 && c <= 124:
		r = targets.Result{State: targets.StateFail, Summary: fmt.Sprintf("command failed with exit status %d", c)}
	case c >= 125 && c <= 127:
		r = targets.Result{State: targets.StateInfra, Summary: fmt.Sprintf("command could not run (exit status %d)", c)}
	default:
		r = targets.Result{State: targets.StateInfra, Summary: fmt.Sprintf("command ended with exit status %d (killed by a signal?)", c)}
	}
	if rec.LastLine != "" {
		r.Summary += ": " + rec.LastLine
	}
	return clip(r)
}

// alive reports whether a process with that pid exists and has not ended:
// a zombie nobody reaped yet (a supervisor whose parent is a container's
// init that does not reap) has ended.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill
	}
	// The state follows the ")" that ends the command name.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// clip makes r.Summary one line of printable text of fewer than
// maxSummary characters.
func clip(r targets.Result) targets.Result {
	s := strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, strings.ToValidUTF8(r.Summary, "?"))
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) >= maxSummary {
		s = string([]rune(s)[:maxSummary-2]) + "…"
	}
	r.Summary = s
	return r
}
