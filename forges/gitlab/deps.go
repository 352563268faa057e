package gitlab

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/forgekit"
)

// resolver turns the dependency references of one Fetch's merge requests
// into change.Refs, remembering the states it looked up.
type resolver struct {
	s      *Source
	snap   map[int64]entry
	states forgekit.Once[string, State] // lower-cased "project!iid" -> state; "" when not visible
}

// refs returns the dependency references of the merge request with key
// self and description text, in order, without duplicates and
// self-references. GitLab's #N names an issue, not a change, and is
// skipped.
func (r *resolver) refs(ctx context.Context, self change.Key, text string) ([]change.Ref, error) {
	var out forgekit.Refs
	for _, d := range deps.Parse(text) {
		ref := change.Ref{Raw: d.Raw}
		switch d.Kind {
		case deps.GitLabMR, deps.ShortMR:
			project, iid, local := r.local(d)
			if !local {
				ref.Key, _ = d.GitLabKey(r.s.host, r.s.o.Project)
				break
			}
			if err := r.resolve(ctx, &ref, project, iid); err != nil {
				return nil, err
			}
		case deps.GitHubPR:
			ref.Key, _ = d.GitHubKey("")
		case deps.ShortPR:
			r.s.log.Debug("issue reference is not a dependency", zap.String("change", string(self)), zap.String("ref", d.Raw))
			continue
		case deps.PatchworkSeries:
			ref.Key, _ = d.PatchworkSeriesKey()
		}
		if ref.Key == self {
			continue
		}
		if ref.Key == "" {
			r.s.log.Debug("dependency not resolved", zap.String("change", string(self)), zap.String("ref", d.Raw))
		}
		out.Add(ref)
	}
	return out.List(), nil
}

// local returns the project (full path) and iid a merge request reference
// names when it is on this instance.
func (r *resolver) local(d deps.Ref) (string, int64, bool) {
	if d.Kind == deps.ShortMR {
		return cmp.Or(d.Repo, r.s.o.Project), d.Number, true
	}
	prefix := r.s.host + "/"
	full := d.Host + "/" + d.Repo
	if len(full) <= len(prefix) || !strings.EqualFold(full[:len(prefix)], prefix) {
		return "", 0, false
	}
	return full[len(prefix):], d.Number, true
}

// resolve fills in ref for merge request iid of project on this instance:
// its key, this source's name when it is of this project, and whether it
// is merged or closed when it is not among the open merge requests.
func (r *resolver) resolve(ctx context.Context, ref *change.Ref, project string, iid int64) error {
	ours := strings.EqualFold(project, r.s.o.Project)
	if ours {
		ref.Key, ref.Source = r.s.key(iid), r.s.o.Name
		if _, open := r.snap[iid]; open {
			return nil
		}
	} else {
		ref.Key = change.GitLabKey(r.s.host, project, iid)
	}
	st, err := r.state(ctx, project, iid)
	if err != nil {
		return err
	}
	ref.Merged = st == StateMerged
	ref.Closed = st == StateClosed
	return nil
}

// state returns the state of merge request iid of project, "" when the
// credential cannot see it. Merged is final and remembered across Fetches;
// other states are remembered for this Fetch.
func (r *resolver) state(ctx context.Context, project string, iid int64) (State, error) {
	id := strings.ToLower(fmt.Sprintf("%s!%d", project, iid))
	if r.s.merged[id] {
		return StateMerged, nil
	}
	return r.states.Do(ctx, id, func(ctx context.Context) (State, error) {
		st, err := r.s.Lookup(ctx, project, iid)
		switch {
		case err != nil && hidden(err):
			r.s.log.Debug("dependency not visible", zap.String("project", project), zap.Int64("iid", iid), zap.Error(err))
			st = ""
		case err != nil:
			return "", err
		}
		if st == StateMerged {
			r.s.merged[id] = true
		}
		return st, nil
	})
}

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

// Merge request states, as GitLab names them.
const (
	StateOpened State = "opened"
	StateMerged State = "merged"
	StateClosed State = "closed"
	// StateLocked is a merge request being merged.
	StateLocked State = "locked"
)

// State is the state of a merge request.
type State string
