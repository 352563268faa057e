// Package ghfake is an in-process fake of the parts of the GitHub REST API
// that trawl's GitHub driver uses, for httptest servers.
//
// It behaves as the API is documented to (docs.github.com, REST version
// 2022-11-28) and as ../shared/docs/API-NOTES.md §3 records:
//
//   - GET /repos/{owner}/{repo}/pulls with state (open, closed, all; default
//     open), base, sort (created, the default, or updated; popularity and
//     long-running sort as created), direction (default desc when sorting
//     by creation, else asc), per_page (default 30, at most 100) and page.
//     The Link header carries prev and first from page 2 on, next and last
//     while there is a next page, as absolute URLs on the request's host.
//   - GET /repos/{owner}/{repo}/pulls/{number}, with merged, mergeable
//     (null: computed later) and mergeable_state.
//   - POST /repos/{owner}/{repo}/statuses/{sha}: needs a credential (401
//     without one), a 40-hex sha, a known state and a description of at most
//     140 characters (422 otherwise), and at most 1000 statuses per sha and
//     context (case-insensitive; 422 past it).
//   - GET /repos/{owner}/{repo}/commits/{ref}/status: the combined status of
//     a sha, newest status per context.
//   - POST /app/installations/{id}/access_tokens with an RS256 JWT signed by
//     the app's key (iss the app id, exp at most 10 minutes ahead): returns
//     {"token","expires_at"}. The token is valid until then.
//
// Every GET answer carries an ETag computed from the path and query, the
// request's Authorization header and the body, so it changes when the
// credential changes as GitHub's does: weak (W/"...") for lists, strong for
// single objects. A matching If-None-Match gives 304, which costs nothing
// from the rate limit for an authenticated request. Answers carry
// Cache-Control: private, max-age=60, s-maxage=60, GitHub's Vary, and
// X-RateLimit-Limit, -Remaining, -Used, -Reset and -Resource (core). Each
// other answer costs one request from the caller's hourly budget: 5000 (or
// Options.Limit) for a token, shared by the tokens of one installation, and
// 60 without one. An exhausted budget gives 403 "API rate limit exceeded"
// with X-RateLimit-Remaining: 0. An unknown or expired token gives 401 "Bad
// credentials", an unknown repository or pull request 404 "Not Found".
//
// Status posts are content creation, which GitHub limits to 80 a minute and
// 500 an hour per credential: past either the fake answers the secondary
// limit's 403 ("You have exceeded a secondary rate limit", its
// documentation_url, no retry-after, remaining above 0). Refuse injects the
// other refusals GitHub documents: the primary limit as 403 or 429, the
// secondary limit as 403 or 429 with or without retry-after, and the 403s
// of a missing permission. limits.go says what each rests on.
//
// A path prefix /api/v3 (GitHub Enterprise Server) is accepted and kept in
// Link URLs.
package ghfake

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of the zero values of Options.
const (
	defaultLimit     = 5000
	anonymousLimit   = 60
	defaultTokenTTL  = time.Hour
	defaultLogin     = "trawl-bot"
	defaultWebURL    = "https://github.com"
	maxStatuses      = 1000
	maxDescription   = 140
	rateLimitWindow  = time.Hour
	jwtMaxLifetime   = 10 * time.Minute
	jwtClockLeeway   = 60 * time.Second
	installationName = "installation"
)

// Options configures a Fake.
type Options struct {
	// Tokens are the personal access tokens the fake accepts.
	Tokens []string
	// Login is the user the tokens belong to, as status creator; default
	// "trawl-bot".
	Login string
	// Limit is the hourly request budget of a credential; default 5000.
	Limit int
	// WebURL is the web host's URL for html_url and clone_url; default
	// https://github.com.
	WebURL string
	// AppID, AppKey and Installation describe the one GitHub App the fake
	// knows. Without AppKey, token requests get 404.
	AppID        int64
	AppKey       *rsa.PublicKey
	Installation int64
	// TokenTTL is the lifetime of an installation token; default 1 hour.
	TokenTTL time.Duration
	// Now is the fake's clock; default time.Now.
	Now func() time.Time
}

// PR is a pull request as a test describes it.
type PR struct {
	// Number is the pull request number; 0 picks the next free one.
	Number int64
	Title  string
	// Body is the description; nil gives JSON null, as for a PR opened
	// without one.
	Body *string
	// User is the author's login; default "contributor".
	User  string
	Draft bool
	// HeadRepo is the "owner/name" the head branch lives in; empty means
	// the pull request's own repository.
	HeadRepo string
	// HeadDeleted reports a head repository (a fork) that was deleted:
	// head.repo is null.
	HeadDeleted bool
	HeadRef     string
	HeadSHA     string
	BaseRef     string // default "main"
	BaseSHA     string
}

// Status is a commit status the fake recorded.
type Status struct {
	Repo        string
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
	Creator     string
	CreatedAt   time.Time
}

// Request is one request the fake answered, without its credential.
type Request struct {
	Method string
	// URI is the path and query as sent.
	URI string
	// Authenticated reports that the request carried a credential the fake
	// accepted.
	Authenticated bool
	// IfNoneMatch is the request's If-None-Match header.
	IfNoneMatch string
	Status      int
}

// Fake is the fake API. It is an http.Handler, safe for concurrent use.
type Fake struct {
	o   Options
	mux *http.ServeMux

	mu           sync.Mutex
	repos        map[string]*repo // by lower-case full name
	repoIDs      int64
	clock        time.Time // newest timestamp handed out, so edits sort after each other
	budgets      map[string]*budget
	remaining    int // -1, or the remaining count every budget starts with
	installTok   map[string]time.Time
	statuses     []Status
	requests     []Request
	used         int
	failures     map[string]int // "owner/name page" -> status to answer
	refusal      Refusal
	refuseMethod string
	refusals     int                    // requests left to refuse with refusal
	created      map[string][]time.Time // content creations of the last hour, by principal
	limited      int                    // requests refused by a rate limit
	ci           ciState                // Actions: workflows.go
}

// repo is one repository with its pull requests.
type repo struct {
	id       int64
	fullName string
	prs      map[int64]*pull
	next     int64
}

// pull is the stored state of a pull request.
type pull struct {
	PR
	created, updated time.Time
	closed, merged   *time.Time
	mergeSHA         string
}

// budget is the hourly request budget of one credential (an installation's
// tokens share one).
type budget struct {
	limit, used int
	reset       time.Time
}

// New returns a fake with no repositories.
func New(o Options) *Fake {
	if o.Limit <= 0 {
		o.Limit = defaultLimit
	}
	if o.Login == "" {
		o.Login = defaultLogin
	}
	if o.WebURL == "" {
		o.WebURL = defaultWebURL
	}
	o.WebURL = strings.TrimSuffix(o.WebURL, "/")
	if o.TokenTTL <= 0 {
		o.TokenTTL = defaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Tokens = slices.Clone(o.Tokens)
	f := &Fake{
		o:          o,
		repos:      map[string]*repo{},
		budgets:    map[string]*budget{},
		remaining:  -1,
		installTok: map[string]time.Time{},
		failures:   map[string]int{},
		created:    map[string][]time.Time{},
	}
	f.mux = f.routes()
	return f
}

// ServeHTTP answers one API request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if path == "" {
		path = "/"
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	f.mux.ServeHTTP(rec, r2)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, Request{
		Method:        r.Method,
		URI:           r.URL.RequestURI(),
		Authenticated: rec.authenticated,
		IfNoneMatch:   r.Header.Get("If-None-Match"),
		Status:        rec.status,
	})
}

// recorder notes the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status        int
	authenticated bool
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// AddPR adds an open pull request to repo ("owner/name", created on first
// use) and returns its number.
func (f *Fake) AddPR(repoName string, pr PR) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.repo(repoName, true)
	if pr.Number == 0 {
		pr.Number = rp.next
	}
	rp.next = max(rp.next, pr.Number+1)
	if pr.User == "" {
		pr.User = "contributor"
	}
	if pr.BaseRef == "" {
		pr.BaseRef = "main"
	}
	now := f.tick()
	rp.prs[pr.Number] = &pull{PR: pr, created: now, updated: now}
	return pr.Number
}

// SetHead records a push to pull request n of repo: a new head commit.
func (f *Fake) SetHead(repoName string, n int64, sha string) error {
	return f.edit(repoName, n, func(p *pull) { p.HeadSHA = sha })
}

// SetBody edits the description of pull request n of repo.
func (f *Fake) SetBody(repoName string, n int64, body *string) error {
	return f.edit(repoName, n, func(p *pull) { p.Body = body })
}

// Close closes pull request n of repo without merging it.
func (f *Fake) Close(repoName string, n int64) error {
	return f.edit(repoName, n, func(p *pull) {
		t := f.clock
		p.closed = &t
	})
}

// Merge merges pull request n of repo.
func (f *Fake) Merge(repoName string, n int64) error {
	return f.edit(repoName, n, func(p *pull) {
		t := f.clock
		p.closed, p.merged = &t, &t
		p.mergeSHA = fmt.Sprintf("%040x", n)
	})
}

// edit applies change to an existing pull request and bumps its
// updated_at.
func (f *Fake) edit(repoName string, n int64, change func(*pull)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.repo(repoName, false)
	if rp == nil || rp.prs[n] == nil {
		return fmt.Errorf("ghfake: no pull request %s#%d", repoName, n)
	}
	p := rp.prs[n]
	p.updated = f.tick()
	change(p)
	return nil
}

// FailPage makes every request for the given page of repo's pull request
// list answer status with a JSON message, until FailPage sets 0.
func (f *Fake) FailPage(repoName string, page, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s %d", strings.ToLower(repoName), page)
	if status == 0 {
		delete(f.failures, key)
		return
	}
	f.failures[key] = status
}

// SetRemaining sets the remaining request budget of every credential, now
// and for those first seen later in this window.
func (f *Fake) SetRemaining(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remaining = n
	for _, b := range f.budgets {
		b.used = max(b.limit-n, 0)
	}
}

// Statuses returns the commit statuses recorded so far, oldest first.
func (f *Fake) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.statuses)
}

// Requests returns the requests answered so far, oldest first.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// RateLimitUsed returns how many requests counted against any rate limit.
func (f *Fake) RateLimitUsed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// InstallationTokens returns every installation token handed out, so a
// test can check that none of them leaked into a log, file or error.
func (f *Fake) InstallationTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.installTok))
	for t := range f.installTok {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// repo returns the repository named name, creating it when create is set.
// f.mu is held.
func (f *Fake) repo(name string, create bool) *repo {
	key := strings.ToLower(name)
	rp := f.repos[key]
	if rp == nil && create {
		f.repoIDs++
		rp = &repo{id: 1000 + f.repoIDs, fullName: name, prs: map[int64]*pull{}, next: 1}
		f.repos[key] = rp
	}
	return rp
}

// tick returns a timestamp for an edit: now, but always after the previous
// one, so that edits sort in the order they were made. f.mu is held.
func (f *Fake) tick() time.Time {
	now := f.o.Now().UTC().Truncate(time.Second)
	if !now.After(f.clock) {
		now = f.clock.Add(time.Second)
	}
	f.clock = now
	return now
}
