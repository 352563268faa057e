package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gh "github.com/google/go-github/v92/github"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/report"
)

// Defaults for the zero values of Opts.
const (
	defaultAPIURL      = "https://api.github.com/"
	defaultHost        = "github.com"
	defaultRateReserve = 500
	// perPage is the largest page GitHub serves.
	perPage = 100
	// listAttempts bounds how often one Fetch reads the list when it keeps
	// moving while being paged.
	listAttempts = 3
	// defaultMaxPages bounds one reading of the list (100,000 open pull
	// requests), so a server whose Link chain never ends cannot hold a tick.
	defaultMaxPages = 1000
)

// Opts configures a Source.
type Opts struct {
	Name string // configured source name
	Repo string // "owner/name"
	// APIURL is the REST API's root: "" for https://api.github.com/, and
	// https://host/api/v3/ for GitHub Enterprise Server.
	APIURL string
	// Host is the web host, for change keys and dependency URLs: "" for
	// github.com.
	Host string
	// Branches keeps only pull requests whose base branch is listed; empty
	// keeps all.
	Branches []string
	// Drafts includes draft pull requests (skipped by default).
	Drafts bool
	// Forks includes pull requests whose head lives in another repository.
	Forks bool
	// Base gives the tree name, URL and policy of every change. An empty
	// Tree is the repository name, an empty URL the repository's clone URL;
	// Branch is each pull request's base branch.
	Base    change.Base
	Targets []string
	// HTTP is the source's client from pkg/httpx (cache above, credential
	// beneath). Required.
	HTTP *http.Client
	// RateReserve is the number of remaining core requests below which
	// requests are spaced out until the reset instead of spending the
	// rest at once: 0 means 500, a negative value never spaces.
	RateReserve int
	// Writes paces status posts under GitHub's content creation limits.
	// The sources that post with the same account (token or App
	// installation) must share one; nil gives the source its own.
	Writes *Writes
	// Registerer, when set, receives the gauges
	// trawl_github_ratelimit_remaining, _limit and _reset_seconds, labelled
	// by source.
	Registerer prometheus.Registerer
	Logger     *zap.Logger
	Now        func() time.Time
	// Sleep waits d or until ctx ends; default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxPages bounds one reading of the pull request list: a list with
	// more pages fails the fetch. 0 means 1000.
	MaxPages int
}

// Source yields the open pull requests of one repository as changes,
// posts commit statuses and looks up pull request states. It is safe for
// concurrent use.
type Source struct {
	o           Opts
	owner, name string
	host        string
	client      *gh.Client
	log         *zap.Logger
	rate        rateState
	limits      limits
	gauges      *gauges
	waited      atomic.Int64 // nanoseconds spent spacing requests
}

// What the cycle finds on a GitHub source.
var (
	_ cycle.Source        = (*Source)(nil)
	_ cycle.Owner         = (*Source)(nil)
	_ report.StatusReader = (*Source)(nil)
)

// New checks o, fills in its defaults and returns the source.
func New(o Opts) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("github source: no name")
	}
	owner, name, err := splitRepo(o.Repo)
	if err != nil {
		return nil, fmt.Errorf("github source %s: %w", o.Name, err)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("github source %s: no HTTP client", o.Name)
	}
	api, err := apiURL(o.APIURL)
	if err != nil {
		return nil, fmt.Errorf("github source %s: %w", o.Name, err)
	}
	client, err := newClient(o.HTTP, api)
	if err != nil {
		return nil, fmt.Errorf("github source %s: %w", o.Name, err)
	}
	switch {
	case o.RateReserve == 0:
		o.RateReserve = defaultRateReserve
	case o.RateReserve < 0:
		o.RateReserve = 0
	}
	if o.MaxPages == 0 {
		o.MaxPages = defaultMaxPages
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Writes == nil {
		o.Writes = &Writes{}
	}
	o.Branches = slices.Clone(o.Branches)
	o.Targets = slices.Clone(o.Targets)
	host := strings.ToLower(o.Host)
	if host == "" {
		host = defaultHost
	}
	s := &Source{
		o:      o,
		owner:  owner,
		name:   name,
		host:   host,
		client: client,
		log:    o.Logger.With(zap.String("source", o.Name)),
	}
	if o.Registerer != nil {
		g, err := newGauges(o.Registerer, o.Name)
		if err != nil {
			return nil, fmt.Errorf("github source %s: metrics: %w", o.Name, err)
		}
		s.gauges = g
	}
	return s, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.o.Name }

// fetchPass is one Fetch's: what it did, for its log line, and the
// trimmer its pages share.
type fetchPass struct {
	trim   trimmer
	pages  int // list pages read, revalidations included
	cached int // pages that came from the cache (304)
}

// Fetch lists the repository's open pull requests and returns one change
// per pull request the filters keep, in number order. Any failed request
// fails the whole Fetch: a partial list must never look complete.
func (s *Source) Fetch(ctx context.Context) ([]change.Change, error) {
	var st fetchPass
	waited := s.waited.Load()
	prs, err := s.listOpen(ctx, &st)
	if err != nil {
		return nil, fmt.Errorf("github %s: list pull requests: %w", s.o.Repo, err)
	}
	r := &resolver{s: s, open: map[int64]bool{}}
	for _, pr := range prs {
		r.open[int64(pr.GetNumber())] = true
	}
	slices.SortFunc(prs, func(a, b *gh.PullRequest) int { return a.GetNumber() - b.GetNumber() })
	var out []change.Change
	for _, pr := range prs {
		if why := s.skip(pr); why != "" {
			s.log.Debug("pull request skipped", zap.Int("number", pr.GetNumber()), zap.String("reason", why))
			continue
		}
		c := s.convert(pr)
		if c.Deps, err = r.refs(ctx, c.Key, pr.GetBody()); err != nil {
			return nil, fmt.Errorf("github %s: pull request %d: %w", s.o.Repo, pr.GetNumber(), err)
		}
		out = append(out, c)
	}
	remaining, limit, reset, known := s.RateLimit()
	fields := []zap.Field{
		zap.String("repo", s.o.Repo),
		zap.Int("open", len(prs)),
		zap.Int("changes", len(out)),
		zap.Int("pages", st.pages),
		zap.Int("pages_unchanged", st.cached),
		zap.Duration("rate_wait", time.Duration(s.waited.Load()-waited)),
	}
	if known {
		fields = append(fields, zap.Int("rate_remaining", remaining), zap.Int("rate_limit", limit), zap.Time("rate_reset", reset))
	}
	s.log.Info("github pull requests fetched", fields...)
	return out, nil
}

// listOpen reads every page of the open pull requests, newest update
// first. When there is more than one page and one of them changed since
// it was last read, it revalidates the earlier pages after the last one:
// if one changed, the list moved while it was paged (a pull request may
// have been skipped) and it is read again.
func (s *Source) listOpen(ctx context.Context, st *fetchPass) ([]*gh.PullRequest, error) {
	for attempt := 1; ; attempt++ {
		cached := st.cached
		pages, err := s.listPages(ctx, st)
		if err != nil {
			return nil, err
		}
		if st.cached-cached == len(pages) {
			// Every page is as it was when last read (a 304 each): a
			// change while paging that could skip a pull request moves
			// one across a page boundary into a page read already, which
			// shifts the first page not read yet, and that page would
			// have been read anew. An idle tick reads each page once.
			return flatten(pages), nil
		}
		moved, err := s.moved(ctx, pages, st)
		if err != nil {
			return nil, err
		}
		if !moved {
			return flatten(pages), nil
		}
		if attempt == listAttempts {
			return nil, fmt.Errorf("the list changed while it was paged, %d times in a row", listAttempts)
		}
		s.log.Info("pull request list changed while paging; reading it again", zap.Int("attempt", attempt))
	}
}

// listPages reads the pages of the list, following the Link header.
func (s *Source) listPages(ctx context.Context, st *fetchPass) ([][]*gh.PullRequest, error) {
	var pages [][]*gh.PullRequest
	for page := 1; ; {
		prs, next, err := s.listPage(ctx, page, st)
		if err != nil {
			return nil, err
		}
		pages = append(pages, prs)
		if next == 0 {
			return pages, nil
		}
		if next <= page {
			return nil, fmt.Errorf("page %d links back to page %d", page, next)
		}
		if len(pages) >= s.o.MaxPages {
			return nil, fmt.Errorf("the pull request list has more than %d pages", s.o.MaxPages)
		}
		page = next
	}
}

// listPage reads one page and returns the next page's number, 0 after the
// last.
func (s *Source) listPage(ctx context.Context, page int, st *fetchPass) ([]*gh.PullRequest, int, error) {
	var (
		prs  []*gh.PullRequest
		resp *gh.Response
	)
	err := s.call(ctx, func() (r *gh.Response, err error) {
		prs, resp, err = s.client.PullRequests.List(ctx, s.owner, s.name, &gh.PullRequestListOptions{
			State:       "open",
			Sort:        "updated",
			Direction:   "desc",
			ListOptions: gh.ListOptions{Page: page, PerPage: perPage},
		})
		return resp, err
	})
	if err != nil {
		return nil, 0, err
	}
	for i, pr := range prs {
		prs[i] = st.trim.trim(pr)
	}
	st.pages++
	fromCache := resp.Header.Get("X-From-Cache") != ""
	if fromCache {
		st.cached++
	}
	remaining, _, _, _ := s.RateLimit()
	s.log.Debug("pull request page",
		zap.Int("page", page),
		zap.Int("count", len(prs)),
		zap.Bool("unchanged", fromCache),
		zap.Int("rate_remaining", remaining))
	return prs, resp.NextPage, nil
}

// moved revalidates every page but the last and reports whether one of
// them changed since it was read.
func (s *Source) moved(ctx context.Context, pages [][]*gh.PullRequest, st *fetchPass) (bool, error) {
	for i, want := range pages[:len(pages)-1] {
		got, _, err := s.listPage(ctx, i+1, st)
		if err != nil {
			return false, err
		}
		if !samePage(want, got) {
			return true, nil
		}
	}
	return false, nil
}

// samePage reports whether two reads of a page list the same pull requests
// in the same state.
func samePage(a, b []*gh.PullRequest) bool {
	return slices.EqualFunc(a, b, func(x, y *gh.PullRequest) bool {
		return x.GetNumber() == y.GetNumber() &&
			x.GetUpdatedAt().Equal(y.GetUpdatedAt()) &&
			x.GetHead().GetSHA() == y.GetHead().GetSHA()
	})
}

// flatten joins pages, keeping the first of each pull request number.
func flatten(pages [][]*gh.PullRequest) []*gh.PullRequest {
	seen := map[int]bool{}
	var out []*gh.PullRequest
	for _, page := range pages {
		for _, pr := range page {
			if pr == nil || seen[pr.GetNumber()] {
				continue
			}
			seen[pr.GetNumber()] = true
			out = append(out, pr)
		}
	}
	return out
}

// skip says why the filters drop pr, or "" to keep it.
func (s *Source) skip(pr *gh.PullRequest) string {
	if pr.GetDraft() && !s.o.Drafts {
		return "draft"
	}
	if _, fork := s.headRepo(pr); fork && !s.o.Forks {
		return "from a fork"
	}
	if ref := pr.GetBase().GetRef(); len(s.o.Branches) > 0 && !slices.Contains(s.o.Branches, ref) {
		return fmt.Sprintf("base branch %q is not configured", ref)
	}
	return ""
}
