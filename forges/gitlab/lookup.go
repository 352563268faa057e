package gitlab

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// splitKey splits a GitLab change key of this instance into the project
// path and the merge request's iid.
func (s *Source) splitKey(key change.Key) (project string, iid int64, ok bool) {
	rest, found := strings.CutPrefix(string(key), "gl:"+s.host+"/")
	if !found {
		return "", 0, false
	}
	project, num, found := strings.Cut(rest, "!")
	iid, err := strconv.ParseInt(num, 10, 64)
	if !found || err != nil || iid <= 0 || project == "" {
		return "", 0, false
	}
	return project, iid, true
}

// Claim says whether key is a merge request of this source's project, of
// another project on the same instance, or elsewhere.
func (s *Source) Claim(key change.Key) change.Claim {
	project, _, ok := s.splitKey(key)
	switch {
	case !ok:
		return change.ClaimNone
	case strings.EqualFold(project, s.o.Project):
		return change.ClaimOwn
	}
	return change.ClaimHost
}

// ChangeState looks up a merge request that is not among the open ones.
func (s *Source) ChangeState(ctx context.Context, key change.Key) (change.State, error) {
	project, iid, ok := s.splitKey(key)
	if !ok {
		return "", fmt.Errorf("gitlab %s: %s is not a merge request of this instance", s.o.URL, key)
	}
	st, err := s.Lookup(ctx, project, iid)
	if err != nil {
		return "", err
	}
	switch st {
	case StateMerged:
		return change.StateMerged, nil
	case StateClosed:
		return change.StateClosed, nil
	}
	return change.StateOpen, nil
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
	i := strings.LastIndexByte(item, '@')
	if i <= 0 {
		return 0, fmt.Errorf("gitlab reporter %s: item %q is not project@sha", r.o.Name, item)
	}
	project, sha := item[:i], item[i+1:]
	st := Status{State: StatusState(posted), Name: r.o.Context, Description: report.Description(m, maxDescription), TargetURL: m.URL}
	switch {
	case m.Context != "":
		st.Name = m.Context
	case r.o.PerTarget:
		st.Name += "/" + m.Target
	}
	places := r.places(project, m)
	var (
		done report.Done
		err  error
	)
	for n, pl := range places {
		done, err = r.reportAt(ctx, pl, sha, st, m)
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
	cur, err := r.s.commitStatuses(ctx, pl.project, sha, st.Name)
	if err != nil {
		return 0, fmt.Errorf("gitlab %s: read statuses of %s@%s: %w", r.s.o.URL, pl.project, sha, err)
	}
	if n := newest(cur)[st.Name]; n != nil && report.Same(n.Status, n.Description, m, string(st.State)) {
		return report.Found, nil
	}
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

// maxStatusPages bounds the pages of one commit's statuses: 10,000
// statuses.
const maxStatusPages = 100

// commitStatuses reads every status on sha in project (only those named
// name, when not empty), following x-next-page at 100 a page: GitLab
// serves 20 a page by default, oldest first. A full last page without
// GitLab's x-next-page header gives no sign the list is complete: it is an
// error.
func (s *Source) commitStatuses(ctx context.Context, project any, sha, name string) ([]*gl.CommitStatus, error) {
	opt := &gl.GetCommitStatusesOptions{All: gl.Ptr(true), ListOptions: gl.ListOptions{PerPage: perPage, Page: 1}}
	if name != "" {
		opt.Name = gl.Ptr(name)
	}
	var out []*gl.CommitStatus
	for range maxStatusPages {
		page, resp, err := s.api.Commits.GetCommitStatuses(project, sha, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, apiError(resp, err)
		}
		out = append(out, page...)
		_, hasNext := resp.Header["X-Next-Page"]
		switch {
		case resp.NextPage == 0 && len(page) == int(opt.PerPage) && !hasNext:
			return nil, fmt.Errorf("statuses page %d is full and has no x-next-page: the list may go on", opt.Page)
		case resp.NextPage == 0:
			return out, nil
		case resp.NextPage <= opt.Page:
			return nil, fmt.Errorf("statuses page %d names next page %d", opt.Page, resp.NextPage)
		}
		opt.Page = resp.NextPage
	}
	return nil, fmt.Errorf("statuses of %s go on past %d pages", sha, maxStatusPages)
}

// newest returns the newest status of each name (the highest id: ids
// grow with creation, whatever order the server lists them in).
func newest(all []*gl.CommitStatus) map[string]*gl.CommitStatus {
	out := map[string]*gl.CommitStatus{}
	for _, st := range all {
		if st == nil {
			continue
		}
		if cur, ok := out[st.Name]; !ok || st.ID > cur.ID {
			out[st.Name] = st
		}
	}
	return out
}

// maxDescription bounds a status description to one readable line.
const maxDescription = 200

// relays returns the changes named in the merge request's Relay-CI-from:
// lines (see cycle.StatusReader), with their keys.
func (s *Source) relays(self change.Key, text string) []change.Ref {
	var out []change.Ref
	for _, d := range deps.ParseRelays(text) {
		var key change.Key
		switch d.Kind {
		case deps.GitLabMR, deps.ShortMR:
			key, _ = d.GitLabKey(s.host, s.o.Project)
		case deps.GitHubPR:
			key, _ = d.GitHubKey("")
		}
		if key != "" && key != self {
			out = append(out, change.Ref{Raw: d.Raw, Key: key})
		}
	}
	return out
}

// Statuses returns the head commit of merge request key and the newest
// status of each name on it, in trawl's words, for relaying.
func (s *Source) Statuses(ctx context.Context, key change.Key) (string, []report.Status, error) {
	project, iid, ok := s.splitKey(key)
	if !ok {
		return "", nil, fmt.Errorf("gitlab %s: %s is not a merge request of this instance", s.o.URL, key)
	}
	mr, resp, err := s.api.MergeRequests.GetMergeRequest(project, iid, nil, gl.WithContext(ctx))
	if err != nil {
		return "", nil, fmt.Errorf("gitlab %s: get %s!%d: %w", s.o.URL, project, iid, apiError(resp, err))
	}
	// The target project holds every merge request's head; a fork also
	// holds its own statuses, read when the credential can see it.
	all, err := s.commitStatuses(ctx, project, mr.SHA, "")
	if err != nil {
		return "", nil, fmt.Errorf("gitlab %s: read statuses of %s!%d: %w", s.o.URL, project, iid, err)
	}
	if mr.SourceProjectID != 0 && mr.SourceProjectID != mr.ProjectID {
		fork, err := s.commitStatuses(ctx, mr.SourceProjectID, mr.SHA, "")
		switch {
		case hidden(err):
			s.log.Debug("fork not visible: relaying the target project's statuses", zap.Int64("project_id", mr.SourceProjectID), zap.Error(err))
		case err != nil:
			return "", nil, fmt.Errorf("gitlab %s: read statuses of %s!%d in its fork: %w", s.o.URL, project, iid, err)
		}
		all = append(all, fork...)
	}
	latest := newest(all)
	names := make([]string, 0, len(latest))
	for name := range latest {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []report.Status
	for _, name := range names {
		st := latest[name]
		out = append(out, report.Status{Context: name, State: fromStatus(st.Status), Description: st.Description, URL: st.TargetURL})
	}
	return mr.SHA, out, nil
}

// fromStatus maps a GitLab commit status to a result state: a canceled or
// skipped job says nothing about the change, like an infrastructure error.
func fromStatus(s string) targets.State {
	switch s {
	case "success":
		return targets.StateSuccess
	case "failed":
		return targets.StateFail
	case "canceled", "skipped":
		return targets.StateInfra
	}
	return targets.StatePending
}
