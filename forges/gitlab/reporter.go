package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
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

// Lookup returns the state of merge request iid of project (a full path
// or a numeric id) on this source's instance, for dependencies. An unknown
// merge request is an error matching httpx.ErrNotFound.
func (s *Source) Lookup(ctx context.Context, project string, iid int64) (State, error) {
	mr, resp, err := s.api.MergeRequests.GetMergeRequest(project, iid, nil, gl.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("gitlab %s: look up %s!%d: %w", s.o.URL, project, iid, apiError(resp, err))
	}
	return State(mr.State), nil
}
