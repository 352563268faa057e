package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v92/github"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// resolver turns the dependency references of one Fetch's pull requests
// into change.Refs, remembering the states it looked up.
type resolver struct {
	s      *Source
	open   map[int64]bool                   // open pull requests of the repository, filtered or not
	states forgekit.Once[change.Key, State] // "" when the credential cannot see the pull request
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
	var out forgekit.Refs
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
		if ref.Key == "" {
			r.s.log.Debug("dependency not resolved", zap.String("change", string(self)), zap.String("ref", d.Raw))
		}
		out.Add(ref)
	}
	return out.List(), nil
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
	return r.states.Do(ctx, key, func(ctx context.Context) (State, error) {
		st, err := r.s.Lookup(ctx, repo, n)
		switch {
		case errors.Is(err, httpx.ErrNotFound):
			r.s.log.Debug("dependency not visible", zap.String("repo", repo), zap.Int64("number", n), zap.Error(err))
			st = ""
		case err != nil:
			return "", err
		}
		return st, nil
	})
}

// parseKey splits a GitHub change key into its host ("" for github.com),
// repository and number.
func parseKey(key change.Key) (host, repo string, n int64, ok bool) {
	rest, found := strings.CutPrefix(string(key), "gh:")
	if !found {
		return "", "", 0, false
	}
	path, num, found := strings.Cut(rest, "#")
	n, err := strconv.ParseInt(num, 10, 64)
	if !found || err != nil || n <= 0 {
		return "", "", 0, false
	}
	switch parts := strings.Split(path, "/"); len(parts) {
	case 2:
		return "", path, n, true
	case 3:
		return parts[0], parts[1] + "/" + parts[2], n, true
	}
	return "", "", 0, false
}

// Claim says whether key is a pull request of this source's repository,
// of another repository on the same host, or elsewhere.
func (s *Source) Claim(key change.Key) change.Claim {
	host, repo, _, ok := parseKey(key)
	if !ok {
		return change.ClaimNone
	}
	if host == "" {
		host = defaultHost
	}
	switch {
	case !strings.EqualFold(host, s.host):
		return change.ClaimNone
	case strings.EqualFold(repo, s.o.Repo):
		return change.ClaimOwn
	}
	return change.ClaimHost
}

// ChangeState looks up a pull request that is not among the open ones.
func (s *Source) ChangeState(ctx context.Context, key change.Key) (change.State, error) {
	_, repo, n, ok := parseKey(key)
	if !ok || s.Claim(key) == change.ClaimNone {
		return "", fmt.Errorf("github %s: %s is not a pull request on this host", s.o.Repo, key)
	}
	st, err := s.Lookup(ctx, repo, n)
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

// relays returns the changes named in the pull request's Relay-CI-from:
// lines (see cycle.StatusReader), with their keys.
func (s *Source) relays(self change.Key, body string) []change.Ref {
	var out []change.Ref
	for _, d := range deps.ParseRelays(body) {
		var key change.Key
		switch d.Kind {
		case deps.GitHubPR, deps.ShortPR:
			repo := d.Repo
			if repo == "" {
				repo = s.o.Repo
			}
			host := d.Host
			if d.Kind == deps.ShortPR || host == "github.com" {
				host = s.host
			}
			key = change.GitHubKey(host, repo, d.Number)
		case deps.GitLabMR:
			key, _ = d.GitLabKey("", "")
		}
		if key != "" && key != self {
			out = append(out, change.Ref{Raw: d.Raw, Key: key})
		}
	}
	return out
}

// State is the state of a pull request.
type State string

// The states Lookup reports.
const (
	StateOpen   State = "open"
	StateMerged State = "merged"
	StateClosed State = "closed" // closed without being merged
)

// Lookup returns the state of pull request n of repo ("owner/name") on
// this source's host. It is for dependencies that are not open pull
// requests of this source. A pull request that does not exist gives an
// error matching httpx.ErrNotFound.
func (s *Source) Lookup(ctx context.Context, repo string, n int64) (State, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", fmt.Errorf("github: look up pull request %d: %w", n, err)
	}
	if n <= 0 || n > math.MaxInt {
		return "", fmt.Errorf("github %s: look up pull request %d: not a pull request number", repo, n)
	}
	var pr *gh.PullRequest
	err = s.call(ctx, func() (resp *gh.Response, err error) {
		pr, resp, err = s.client.PullRequests.Get(ctx, owner, name, int(n))
		return resp, err
	})
	if err != nil {
		return "", fmt.Errorf("github %s: get pull request %d: %w", repo, n, err)
	}
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		return StateMerged, nil
	case pr.GetState() == "closed":
		return StateClosed, nil
	}
	return StateOpen, nil
}
