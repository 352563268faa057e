package github

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

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

// ReporterOpts configures a commit status reporter.
type ReporterOpts struct {
	// Name is the reporter's name in the state.
	Name string
	// Context is the status context; "/<target>" is appended when
	// PerTarget is set, so that each target has its own status.
	Context   string
	PerTarget bool
	// States overrides DefaultStatusStates; an empty value means "not
	// posted".
	States map[targets.State]string
}

// DefaultStatusStates maps result states to commit status states: an
// infrastructure error is "error" (the CI broke), not "failure" (the
// change broke it).
var DefaultStatusStates = report.States{
	targets.StatePending: string(StatusPending),
	targets.StateSuccess: string(StatusSuccess),
	targets.StateWarning: string(StatusSuccess),
	targets.StateFail:    string(StatusFailure),
	targets.StateInfra:   string(StatusError),
}

// Reporter posts results as commit statuses on a pull request's head.
type Reporter struct {
	o      ReporterOpts
	states report.States
	s      *Source
}

// Reporter returns the status reporter of this source's repository.
func (s *Source) Reporter(o ReporterOpts) (*Reporter, error) {
	if o.Context == "" {
		return nil, fmt.Errorf("github reporter %s: no status context", o.Name)
	}
	states, err := DefaultStatusStates.WithOverrides(o.States, func(v string) bool { return (Status{State: StatusState(v), Context: "c"}).check("x") == nil })
	if err != nil {
		return nil, fmt.Errorf("github reporter %s: %w", o.Name, err)
	}
	return &Reporter{o: o, states: states, s: s}, nil
}

// Name is the reporter's name.
func (r *Reporter) Name() string { return r.o.Name }

// Map returns the status state of a result state.
func (r *Reporter) Map(st targets.State) (string, bool) { return r.states.Map(st) }

// Items is the pull request's head commit.
func (r *Reporter) Items(c *change.Change) []string { return []string{c.HeadSHA} }

// Report posts the status on the head commit unless the commit already
// carries it (same context, state and description): a crash between a
// post and the state write then makes no duplicate, and the repository's
// cap of 1,000 statuses per commit and context is not spent on repeats.
func (r *Reporter) Report(ctx context.Context, sha string, m report.Message, posted string) (report.Done, error) {
	st := Status{State: StatusState(posted), Context: r.o.Context, Description: report.Description(m, maxDescription), TargetURL: m.URL}
	switch {
	case m.Context != "":
		st.Context = m.Context
	case r.o.PerTarget:
		st.Context += "/" + m.Target
	}
	owner, name, err := splitRepo(r.s.o.Repo)
	if err != nil {
		return 0, err
	}
	combined, err := r.s.combinedStatus(ctx, owner, name, sha)
	if err != nil {
		return 0, fmt.Errorf("github %s: read statuses of %s: %w", r.s.o.Repo, sha, err)
	}
	for _, cur := range combined.Statuses {
		if strings.EqualFold(cur.GetContext(), st.Context) && report.Same(cur.GetState(), cur.GetDescription(), m, posted) {
			return report.Found, nil
		}
	}
	if err := r.s.PostStatus(ctx, r.s.o.Repo, sha, st); err != nil {
		return 0, err
	}
	return report.Posted, nil
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

// Statuses returns the head commit of pull request key and the newest
// status of each context on it, in trawl's words, for relaying.
func (s *Source) Statuses(ctx context.Context, key change.Key) (string, []report.Status, error) {
	_, repo, n, ok := parseKey(key)
	if !ok || s.Claim(key) == change.ClaimNone {
		return "", nil, fmt.Errorf("github %s: %s is not a pull request on this host", s.o.Repo, key)
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", nil, err
	}
	var pr *gh.PullRequest
	err = s.call(ctx, func() (resp *gh.Response, err error) {
		pr, resp, err = s.client.PullRequests.Get(ctx, owner, name, int(n))
		return resp, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("github %s: get pull request %d: %w", repo, n, err)
	}
	sha := pr.GetHead().GetSHA()
	combined, err := s.combinedStatus(ctx, owner, name, sha)
	if err != nil {
		return "", nil, fmt.Errorf("github %s: read statuses of %s: %w", repo, sha, err)
	}
	var out []report.Status
	for _, st := range combined.Statuses {
		out = append(out, report.Status{
			Context:     st.GetContext(),
			State:       fromStatus[st.GetState()],
			Description: st.GetDescription(),
			URL:         st.GetTargetURL(),
		})
	}
	return sha, out, nil
}

// fromStatus maps commit status states to result states.
var fromStatus = map[string]targets.State{
	string(StatusPending): targets.StatePending,
	string(StatusSuccess): targets.StateSuccess,
	string(StatusFailure): targets.StateFail,
	string(StatusError):   targets.StateInfra,
}

// combinedStatus reads the newest status of each context on sha.
func (s *Source) combinedStatus(ctx context.Context, owner, name, sha string) (*gh.CombinedStatus, error) {
	var combined *gh.CombinedStatus
	err := s.call(ctx, func() (resp *gh.Response, err error) {
		combined, resp, err = s.client.Repositories.GetCombinedStatus(ctx, owner, name, sha, &gh.ListOptions{PerPage: 100})
		return resp, err
	})
	return combined, err
}
