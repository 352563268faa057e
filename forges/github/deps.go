package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// resolver turns the dependency references of one Fetch's pull requests
// into change.Refs, remembering the states it looked up.
type resolver struct {
	s      *Source
	open   map[int64]bool       // open pull requests of the repository, filtered or not
	states map[change.Key]State // "" when the credential cannot see the pull request
}

// refs returns the dependency references in the body of the pull request
// with key self, in order, without duplicates and self-references. A pull
// request on this host gets its key, this source's name when it is of this
// repository, and Merged or Closed when it is not open. References to
// other forges keep the key their form names (the cycle maps keys to
// sources); one that names no key (a message-id) is kept unresolved, so
// that it blocks its change. GitLab's short !N names nothing on GitHub and
// is skipped.
func (r *resolver) refs(ctx context.Context, self change.Key, body string) ([]change.Ref, error) {
	var out []change.Ref
	seen := map[string]bool{}
	for _, d := range deps.Parse(body) {
		ref := change.Ref{Raw: d.Raw}
		switch d.Kind {
		case deps.GitHubPR, deps.ShortPR:
			repo, local := r.local(d)
			if !local {
				ref.Key, _ = d.GitHubKey(r.s.o.Repo)
				break
			}
			if err := r.resolve(ctx, &ref, repo, d.Number); err != nil {
				return nil, fmt.Errorf("dependency %s: %w", d.Raw, err)
			}
		case deps.GitLabMR:
			ref.Key, _ = d.GitLabKey("", "")
		case deps.ShortMR:
			r.s.log.Debug("merge request short form names nothing on GitHub", zap.String("change", string(self)), zap.String("ref", d.Raw))
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

// local returns the repository a pull request reference names when it is
// on this source's host.
func (r *resolver) local(d deps.Ref) (string, bool) {
	if d.Kind == deps.ShortPR {
		return cmp.Or(d.Repo, r.s.o.Repo), true
	}
	host := strings.TrimPrefix(d.Host, "www.")
	return d.Repo, strings.EqualFold(host, r.s.host)
}

// resolve fills in ref for pull request n of repo on this host.
func (r *resolver) resolve(ctx context.Context, ref *change.Ref, repo string, n int64) error {
	if strings.EqualFold(repo, r.s.o.Repo) {
		ref.Key, ref.Source = change.GitHubKey(r.s.host, r.s.o.Repo, n), r.s.o.Name
		if r.open[n] {
			return nil
		}
	} else {
		ref.Key = change.GitHubKey(r.s.host, repo, n)
	}
	st, err := r.state(ctx, ref.Key, repo, n)
	if err != nil {
		return err
	}
	ref.Merged = st == StateMerged
	ref.Closed = st == StateClosed
	return nil
}

// state returns the state of pull request n of repo, "" when the
// credential cannot see it (GitHub answers 404 for a private repository as
// for a missing one). Lookups are remembered for the Fetch.
func (r *resolver) state(ctx context.Context, key change.Key, repo string, n int64) (State, error) {
	if st, ok := r.states[key]; ok {
		return st, nil
	}
	st, err := r.s.Lookup(ctx, repo, n)
	switch {
	case errors.Is(err, httpx.ErrNotFound):
		r.s.log.Debug("dependency not visible", zap.String("repo", repo), zap.Int64("number", n), zap.Error(err))
		st = ""
	case err != nil:
		return "", err
	}
	r.states[key] = st
	return st, nil
}
