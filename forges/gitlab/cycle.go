package gitlab

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"

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

// Reporter posts results as commit statuses on a merge request's head, in
// the project the head lives in (the source project of a fork).
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

// Items is "<project>@<sha>": the head commit in the project it lives in.
func (r *Reporter) Items(c *change.Change) []string {
	project := c.HeadRepo
	if project == "" {
		project = r.s.o.Project
	}
	return []string{project + "@" + c.HeadSHA}
}

// Report posts the status unless the commit's newest status of that name
// already says the same thing: a crash between a post and the state write
// then makes no duplicate.
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
	cur, resp, err := r.s.api.Commits.GetCommitStatuses(project, sha, &gl.GetCommitStatusesOptions{Name: gl.Ptr(st.Name), All: gl.Ptr(true)}, gl.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("gitlab %s: read statuses of %s@%s: %w", r.s.o.URL, project, sha, apiError(resp, err))
	}
	var newest *gl.CommitStatus
	for _, c := range cur {
		if newest == nil || c.ID > newest.ID {
			newest = c
		}
	}
	if newest != nil && report.Same(newest.Status, newest.Description, m, posted) {
		return report.Found, nil
	}
	if err := r.s.PostStatus(ctx, project, sha, st); err != nil {
		return 0, err
	}
	return report.Posted, nil
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
	where := any(project)
	if mr.SourceProjectID != 0 && mr.SourceProjectID != mr.ProjectID {
		where = mr.SourceProjectID
	}
	all, resp, err := s.api.Commits.GetCommitStatuses(where, mr.SHA, &gl.GetCommitStatusesOptions{All: gl.Ptr(true)}, gl.WithContext(ctx))
	if err != nil {
		return "", nil, fmt.Errorf("gitlab %s: read statuses of %s!%d: %w", s.o.URL, project, iid, apiError(resp, err))
	}
	newest := map[string]*gl.CommitStatus{}
	var names []string
	for _, st := range all {
		if cur, ok := newest[st.Name]; !ok || st.ID > cur.ID {
			if !ok {
				names = append(names, st.Name)
			}
			newest[st.Name] = st
		}
	}
	var out []report.Status
	for _, name := range names {
		st := newest[name]
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
