package gitlab

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
)

// noHead is the reason given for a merge request without a head commit.
const noHead = "merge request has no head commit"

// build converts the snapshot's merge requests that the filters let
// through into changes, in iid order.
func (s *Source) build(ctx context.Context, project *gl.Project, snap map[int64]entry) ([]change.Change, error) {
	iids := slices.Sorted(maps.Keys(snap))
	r := &resolver{s: s, snap: snap, states: map[string]State{}}
	var out []change.Change
	for _, iid := range iids {
		e := snap[iid]
		if !s.include(e.mr) {
			s.log.Debug("merge request filtered out", zap.Int64("iid", iid), zap.Bool("draft", e.mr.Draft),
				zap.Bool("fork", e.mr.SourceProjectID != e.mr.TargetProjectID), zap.String("target_branch", e.mr.TargetBranch))
			continue
		}
		c, err := s.convert(ctx, project, e)
		if err != nil {
			return nil, err
		}
		if c.Deps, err = r.refs(ctx, c.Key, e.mr.Description); err != nil {
			return nil, fmt.Errorf("merge request %s!%d: dependencies: %w", s.o.Project, iid, err)
		}
		c.Relays = s.relays(c.Key, e.mr.Description)
		out = append(out, c)
	}
	return out, nil
}

// convert builds the change of one merge request, without its
// dependencies.
func (s *Source) convert(ctx context.Context, project *gl.Project, e entry) (change.Change, error) {
	mr := e.mr
	fork := mr.SourceProjectID != mr.TargetProjectID
	headRepo := project.PathWithNamespace
	if fork {
		var err error
		if headRepo, err = s.projectPath(ctx, mr.SourceProjectID); err != nil {
			return change.Change{}, fmt.Errorf("merge request %s!%d: %w", s.o.Project, mr.IID, err)
		}
	}
	base := s.o.Base
	if base.Tree == "" {
		base.Tree = s.o.Project
	}
	if base.URL == "" {
		base.URL = project.HTTPURLToRepo
	}
	base.Branch = mr.TargetBranch
	c := change.Change{
		Key:      s.key(mr.IID),
		Source:   s.o.Name,
		Title:    mr.Title,
		WebURL:   mr.WebURL,
		Base:     base,
		Targets:  slices.Clone(s.o.Targets),
		HeadSHA:  mr.SHA,
		HeadRepo: headRepo,
		HeadRef:  mr.SourceBranch,
		FetchRef: fmt.Sprintf("refs/merge-requests/%d/head", mr.IID),
		BaseSHA:  e.baseSHA,
		Draft:    mr.Draft,
		Fork:     fork,
	}
	if mr.Author != nil {
		c.Submitter = mr.Author.Username
	}
	if mr.SHA == "" {
		c.Unbuildable = noHead
	} else {
		c.Content = []string{mr.SHA}
	}
	return c, nil
}

// resolver turns the dependency references of one Fetch's merge requests
// into change.Refs, remembering the states it looked up.
type resolver struct {
	s      *Source
	snap   map[int64]entry
	states map[string]State // lower-cased "project!iid" -> state; "" when not visible
}

// refs returns the dependency references of the merge request with key
// self and description text, in order, without duplicates and
// self-references. GitLab's #N names an issue, not a change, and is
// skipped.
func (r *resolver) refs(ctx context.Context, self change.Key, text string) ([]change.Ref, error) {
	var out []change.Ref
	seen := map[string]bool{}
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
		dedup := "raw:" + ref.Raw
		if ref.Key != "" {
			dedup = "key:" + string(ref.Key)
		} else {
			r.s.log.Debug("dependency not resolved", zap.String("change", string(self)), zap.String("ref", d.Raw))
		}
		if seen[dedup] {
			continue
		}
		seen[dedup] = true
		out = append(out, ref)
	}
	return out, nil
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
	if st, ok := r.states[id]; ok {
		return st, nil
	}
	st, err := r.s.Lookup(ctx, project, iid)
	switch {
	case err != nil && hidden(err):
		r.s.log.Debug("dependency not visible", zap.String("project", project), zap.Int64("iid", iid), zap.Error(err))
		st = ""
	case err != nil:
		return "", err
	}
	r.states[id] = st
	if st == StateMerged {
		r.s.merged[id] = true
	}
	return st, nil
}
