package gitlab

import (
	"context"
	"fmt"
	"slices"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

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

// current returns the newest status named name on sha in project (the
// highest id, whatever order GitLab lists them in); none when it has none.
func (r *Reporter) current(ctx context.Context, project, sha, name string) ([]forgekit.Existing, error) {
	cur, err := r.s.commitStatuses(ctx, project, sha, name)
	if err != nil {
		return nil, fmt.Errorf("gitlab %s: read statuses of %s@%s: %w", r.s.o.URL, project, sha, err)
	}
	if n := newest(cur)[name]; n != nil {
		return []forgekit.Existing{{State: n.Status, Description: n.Description}}, nil
	}
	return nil, nil
}
