package buildbot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// Buildbot's result codes (buildbot/process/results.py).
const (
	Success   = 0
	Warnings  = 1
	Failure   = 2
	Skipped   = 3
	Exception = 4
	Retry     = 5
	Cancelled = 6
)

// resultNames are the codes' names as Buildbot writes them.
var resultNames = []string{"success", "warnings", "failure", "skipped", "exception", "retry", "cancelled"}

// ResultName is Buildbot's name of a results code.
func ResultName(code int) string {
	if code >= 0 && code < len(resultNames) {
		return resultNames[code]
	}
	return "results " + strconv.Itoa(code)
}

// MapResult is the state of a finished build with that results code (see
// the package documentation). An unknown code is an infra-error: it says
// nothing trawl can read about the change.
func MapResult(code int) targets.State {
	switch code {
	case Success:
		return targets.StateSuccess
	case Warnings:
		return targets.StateWarning
	case Failure:
		return targets.StateFail
	case Retry:
		return targets.StatePending
	}
	return targets.StateInfra
}

// Result follows a job: the newest build of the change on each configured
// builder (see the package documentation).
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	changeID, key, err := parseJobID(job.ID)
	if err != nil {
		return targets.Result{}, fmt.Errorf("buildbot %s: %w", t.name, err)
	}
	c, err := t.getChange(ctx, changeID)
	if errors.Is(err, errNotFound) {
		t.forget(changeID)
		return targets.Result{}, fmt.Errorf("buildbot %s: %w: %w", t.name, targets.ErrJobGone, err)
	}
	if err != nil {
		return targets.Result{}, fmt.Errorf("buildbot %s: job %s: %w", t.name, job.ID, err)
	}
	if got := c.property("trawl_job"); got != key {
		t.forget(0)
		return targets.Result{}, fmt.Errorf("buildbot %s: change %d carries trawl_job %q, not %s (the master's database was reset?): %w",
			t.name, changeID, got, key, targets.ErrJobGone)
	}
	builds, err := t.changeBuilds(ctx, changeID)
	if err != nil {
		return targets.Result{}, fmt.Errorf("buildbot %s: job %s: %w", t.name, job.ID, err)
	}
	var per []builderResult
	for _, name := range t.builders {
		id, err := t.builderID(ctx, name)
		if err != nil {
			return targets.Result{}, fmt.Errorf("buildbot %s: job %s: %w", t.name, job.ID, err)
		}
		per = append(per, builderResult{name: name, id: id, newest: newestBuild(builds, id)})
	}
	r := summarise(per, time.Unix(c.WhenTimestamp, 0), t.now(), t.startTimeout)
	r.URL = t.changeURL(changeID)
	if len(per) == 1 && per[0].newest != nil {
		r.URL = fmt.Sprintf("%s#/builders/%d/builds/%d", t.root, per[0].id, per[0].newest.Number)
	}
	return r, nil
}

// builderResult is one configured builder and its newest build of the
// change, or nil.
type builderResult struct {
	name   string
	id     int
	newest *build
}

// newestBuild is the build of builder with the highest id, or nil.
func newestBuild(builds []build, builder int) *build {
	var n *build
	for i := range builds {
		b := &builds[i]
		if b.BuilderID == builder && (n == nil || b.BuildID > n.BuildID) {
			n = b
		}
	}
	return n
}

// summarise turns the builders' newest builds into a result. since is
// when the change was made; startTimeout bounds how long a builder may go
// without a build (from since, or from the end of its last RETRY build).
func summarise(per []builderResult, since, now time.Time, startTimeout time.Duration) targets.Result {
	var (
		r        targets.Result
		parts    []string
		states   = map[targets.State]bool{}
		notStart []string
	)
	for _, b := range per {
		n := b.newest
		switch {
		case n == nil || (n.Complete && n.Results != nil && *n.Results == Retry):
			from := since
			what := "no build yet"
			if n != nil {
				what = fmt.Sprintf("build %d ended in retry", n.Number)
				if n.CompleteAt != nil {
					from = time.Unix(*n.CompleteAt, 0)
				}
			}
			if now.Sub(from) > startTimeout {
				notStart = append(notStart, b.name)
				states[targets.StateInfra] = true
				r.Builds.Error++
				parts = append(parts, fmt.Sprintf("%s: %s after %s", b.name, what, startTimeout))
				continue
			}
			states[targets.StatePending] = true
			r.Builds.Running++
			parts = append(parts, b.name+": "+what)
		case !n.Complete || n.Results == nil:
			states[targets.StatePending] = true
			r.Builds.Running++
			parts = append(parts, fmt.Sprintf("%s: build %d running", b.name, n.Number))
		default:
			s := MapResult(*n.Results)
			states[s] = true
			switch {
			case s == targets.StateSuccess || s == targets.StateWarning:
				r.Builds.Pass++
			case s == targets.StateFail:
				r.Builds.Fail++
			case *n.Results == Skipped:
				r.Builds.Skip++
			default:
				r.Builds.Error++
			}
			parts = append(parts, fmt.Sprintf("%s: build %d %s", b.name, n.Number, ResultName(*n.Results)))
		}
	}
	switch {
	case states[targets.StatePending]:
		r.State = targets.StatePending
	case states[targets.StateFail]:
		r.State = targets.StateFail
	case states[targets.StateInfra]:
		r.State = targets.StateInfra
	case states[targets.StateWarning]:
		r.State = targets.StateWarning
	default:
		r.State = targets.StateSuccess
	}
	r.Summary = strings.Join(parts, "; ")
	if len(notStart) > 0 {
		r.Summary += " (no scheduler took the change, or its request was cancelled)"
	}
	return r
}
