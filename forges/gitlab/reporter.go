package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// maxTargetURL is the longest target_url GitLab accepts (gitlab issue
// 501079).
const maxTargetURL = 255

// StatusState is the state of a commit status.
type StatusState string

// The commit status states trawl posts.
const (
	StatusPending  StatusState = "pending"
	StatusRunning  StatusState = "running"
	StatusSuccess  StatusState = "success"
	StatusFailed   StatusState = "failed"
	StatusCanceled StatusState = "canceled"
)

// valid reports whether st is one of the states GitLab accepts.
func (st StatusState) valid() bool {
	switch st {
	case StatusPending, StatusRunning, StatusSuccess, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// Status is one commit status to post.
type Status struct {
	State StatusState
	// Name tells the statuses of one commit apart (GitLab's default is
	// "default").
	Name        string
	Description string
	// TargetURL links the result; GitLab refuses one longer than 255
	// characters, so a longer one is left out (and logged).
	TargetURL string
	// Ref is the branch the commit is on; empty lets GitLab pick one that
	// contains it.
	Ref string
}

var (
	shaRe = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
	// transitionRe is the message of GitLab's state machine refusing a
	// transition (state_machines' InvalidTransition).
	transitionRe = regexp.MustCompile(`Cannot transition status via :(\w+) from :(\w+)`)
)

// eventState is the state each state machine event of a commit status
// leads to (Ci::CreateCommitStatusService).
var eventState = map[string]string{
	"enqueue": "pending",
	"run":     "running",
	"success": "success",
	"drop":    "failed",
	"cancel":  "canceled",
	"skip":    "skipped",
}

// repeatedState reports whether msg is GitLab refusing to move a status to
// the state it is already in ("via :run from :running"), as opposed to a
// transition that is really not allowed ("via :enqueue from :running").
// GitLab answers it with 400, or 409 when the refusal comes from a
// concurrent update.
func repeatedState(msg string) bool {
	m := transitionRe.FindStringSubmatch(msg)
	return m != nil && eventState[m[1]] == m[2]
}

// PostStatus posts st on commit sha of project projectPath (a full path or
// a numeric id). Posting the state a status is already in is a success. A
// refused post is an error matching httpx.ErrBadRequest; a 409 (another
// update of the status in progress) is a *report.WaitError, to be retried.
func (s *Source) PostStatus(ctx context.Context, projectPath, sha string, st Status) error {
	_, err := s.postStatus(ctx, projectPath, sha, st)
	return err
}

// postStatus is PostStatus, and reports whether GitLab found the status
// already in that state.
func (s *Source) postStatus(ctx context.Context, projectPath, sha string, st Status) (found bool, err error) {
	if !st.State.valid() {
		return false, fmt.Errorf("gitlab %s: post status on %s@%s: unknown state %q", s.o.URL, projectPath, sha, st.State)
	}
	if projectPath == "" || !shaRe.MatchString(sha) {
		return false, fmt.Errorf("gitlab %s: post status: bad project %q or commit %q", s.o.URL, projectPath, sha)
	}
	opt := &gl.SetCommitStatusOptions{State: gl.BuildStateValue(st.State)}
	if st.Name != "" {
		opt.Name = gl.Ptr(st.Name)
	}
	if st.Description != "" {
		opt.Description = gl.Ptr(st.Description)
	}
	if st.Ref != "" {
		opt.Ref = gl.Ptr(st.Ref)
	}
	switch n := utf8.RuneCountInString(st.TargetURL); {
	case n > maxTargetURL:
		s.log.Warn("status target URL too long for GitLab: left out",
			zap.String("project", projectPath), zap.String("sha", sha), zap.Int("length", n))
	case n > 0:
		opt.TargetURL = gl.Ptr(st.TargetURL)
	}
	_, resp, err := s.api.Commits.SetCommitStatus(projectPath, sha, opt, gl.WithContext(ctx))
	if err == nil {
		return false, nil
	}
	err = apiError(resp, err)
	var se *httpx.StatusError
	if errors.As(err, &se) && errors.Is(err, httpx.ErrBadRequest) && repeatedState(se.Message) {
		s.log.Debug("status already in that state", zap.String("project", projectPath), zap.String("sha", sha),
			zap.String("name", st.Name), zap.String("state", string(st.State)))
		return true, nil
	}
	err = fmt.Errorf("gitlab %s: post %s status on %s@%s: %w", s.o.URL, st.State, projectPath, sha, err)
	if se != nil && se.Status == http.StatusConflict {
		// Another update of the same status holds GitLab's lock: it
		// passes.
		return false, &report.WaitError{Err: err}
	}
	return false, err
}

// ReporterOpts configures a commit status reporter.
type ReporterOpts struct {
	// Name is the reporter's name in the state.
	Name string
	// Context is the status name; "/<target>" is appended when PerTarget
	// is set.
	Context   string
	PerTarget bool
	// States overrides DefaultStatusStates; an empty value means "not
	// posted".
	States map[targets.State]string
}

// DefaultStatusStates maps result states to GitLab commit status states.
// GitLab has no "error": an infrastructure error is "failed", and its
// description says so.
var DefaultStatusStates = report.States{
	targets.StatePending: string(StatusPending),
	targets.StateSuccess: string(StatusSuccess),
	targets.StateWarning: string(StatusSuccess),
	targets.StateFail:    string(StatusFailed),
	targets.StateInfra:   string(StatusFailed),
}

// Reporter posts results as commit statuses on a merge request's head,
// where trawl's credential can write them: in the project the head lives
// in (the source project of a fork) when it can, else in the target
// project, which holds the head of every merge request, forks' included,
// under refs/merge-requests/<iid>/head.
type Reporter struct {
	o      ReporterOpts
	states report.States
	s      *Source
}

// What the cycle finds on a GitLab reporter: a status costs one request
// (Poster) where no crash can have left it posted unrecorded.
var (
	_ report.Reporter = (*Reporter)(nil)
	_ report.Poster   = (*Reporter)(nil)
)

// Reporter returns the status reporter of this source.
func (s *Source) Reporter(o ReporterOpts) (*Reporter, error) {
	if o.Context == "" {
		return nil, fmt.Errorf("gitlab reporter %s: no status name", o.Name)
	}
	states, err := DefaultStatusStates.WithOverrides(o.States, func(v string) bool { return StatusState(v).valid() })
	if err != nil {
		return nil, fmt.Errorf("gitlab reporter %s: %w", o.Name, err)
	}
	return &Reporter{o: o, states: states, s: s}, nil
}

// Name is the reporter's name.
func (r *Reporter) Name() string { return r.o.Name }

// Map returns the status state of a result state.
func (r *Reporter) Map(st targets.State) (string, bool) { return r.states.Map(st) }

// Items is "<project>@<sha>": the head commit in the project it lives in
// (a fork the credential cannot see is named by its numeric id).
func (r *Reporter) Items(c *change.Change) []string {
	project := c.HeadRepo
	if project == "" {
		project = r.s.o.Project
	}
	return []string{project + "@" + c.HeadSHA}
}

// place is a project a status can go to, and the ref it is posted on
// ("" lets GitLab pick the branch that holds the commit).
type place struct {
	project, ref string
}

// places lists where the status of item's commit can go, in order of
// preference: the project the head lives in, then, for a merge request
// from a fork, the target project under the merge request's ref. A fork
// named by its id is one the credential cannot see: it is skipped.
func (r *Reporter) places(project string, m report.Message) []place {
	own := place{project: project}
	targetProject, iid, ok := r.s.splitKey(change.Key(m.Change))
	if !ok || strings.EqualFold(project, r.s.o.Project) || !strings.EqualFold(targetProject, r.s.o.Project) {
		return []place{own}
	}
	target := place{project: r.s.o.Project, ref: fmt.Sprintf("refs/merge-requests/%d/head", iid)}
	if _, err := strconv.ParseInt(project, 10, 64); err == nil || r.s.unwritable(project) {
		return []place{target}
	}
	return []place{own, target}
}

// Report posts the status unless the commit's newest status of that name
// already says the same thing: a crash between a post and the state write
// then makes no duplicate, and the cycle is told it was found
// (report.Found). A place the credential may not see or write (403, 404)
// gives way to the next one.
func (r *Reporter) Report(ctx context.Context, item string, m report.Message, posted string) (report.Done, error) {
	return r.report(ctx, item, m, posted, true)
}

// Post posts the status without looking first: one request where the
// place is known to be writable. The cycle calls it for a commit no
// earlier run may have posted on, and Report for the others: GitLab
// refuses only a pending or running status posted again (a 400 that
// postStatus takes as done, see repeatedState), while a conclusive one
// posted again is a second status (Ci::CreateCommitStatusService updates
// only a status still pending or running; glfake does the same).
func (r *Reporter) Post(ctx context.Context, item string, m report.Message, posted string) error {
	_, err := r.report(ctx, item, m, posted, false)
	return err
}

// report posts the status of m on item at the first place that takes
// it, looking for it there first when look is set.
func (r *Reporter) report(ctx context.Context, item string, m report.Message, posted string, look bool) (report.Done, error) {
	i := strings.LastIndexByte(item, '@')
	if i <= 0 {
		return 0, fmt.Errorf("gitlab reporter %s: item %q is not project@sha", r.o.Name, item)
	}
	project, sha := item[:i], item[i+1:]
	st := Status{State: StatusState(posted), Name: forgekit.Context(m, r.o.Context, "/", r.o.PerTarget),
		Description: report.Description(m, maxDescription), TargetURL: m.URL}
	places := r.places(project, m)
	var (
		done report.Done
		err  error
	)
	for n, pl := range places {
		if look {
			done, err = r.reportAt(ctx, pl, sha, st, m)
		} else {
			done, err = r.postAt(ctx, pl, sha, st)
		}
		if n == len(places)-1 || !hidden(err) {
			return done, err
		}
		r.s.setUnwritable(pl.project)
		r.s.log.Info("cannot write the status in the fork: posting it in the target project",
			zap.String("project", pl.project), zap.String("sha", sha), zap.String("change", m.Change), zap.Error(err))
	}
	return done, err
}

// unwritable reports whether a status post in project was refused (403,
// 404) by this process already.
func (s *Source) unwritable(project string) bool {
	s.pathsMu.Lock()
	defer s.pathsMu.Unlock()
	return s.noWrite[strings.ToLower(project)]
}

// setUnwritable remembers that project refused a status post.
func (s *Source) setUnwritable(project string) {
	s.pathsMu.Lock()
	defer s.pathsMu.Unlock()
	if s.noWrite == nil {
		s.noWrite = map[string]bool{}
	}
	s.noWrite[strings.ToLower(project)] = true
}

// reportAt looks for the status st of m on sha at pl, and posts it there
// when it is not.
func (r *Reporter) reportAt(ctx context.Context, pl place, sha string, st Status, m report.Message) (report.Done, error) {
	return forgekit.LookBeforePost(ctx, m, string(st.State),
		func(ctx context.Context) ([]forgekit.Existing, error) {
			return r.current(ctx, pl.project, sha, st.Name)
		},
		func(ctx context.Context) (report.Done, error) { return r.postAt(ctx, pl, sha, st) })
}

// postAt posts st on sha at pl. It says report.Found when GitLab answered
// that the status is in that state already.
func (r *Reporter) postAt(ctx context.Context, pl place, sha string, st Status) (report.Done, error) {
	st.Ref = pl.ref
	found, err := r.s.postStatus(ctx, pl.project, sha, st)
	switch {
	case err != nil:
		return 0, err
	case found:
		return report.Found, nil
	}
	return report.Posted, nil
}

// maxDescription bounds a status description to one readable line.
const maxDescription = 200
