// Package glfake is an in-memory fake of the parts of GitLab's REST API v4
// that trawl uses, for tests: projects, merge request lists and details,
// and commit statuses. Serve it with httptest.NewServer(fake).
//
// It answers the way GitLab does where trawl depends on it:
//   - a project id is numeric or the URL-encoded full path (group%2Fproject);
//   - lists use offset pagination (page, per_page up to 100) with the Link,
//     x-page, x-per-page, x-next-page, x-prev-page, x-total and
//     x-total-pages headers; the totals and rel="last" are left out when a
//     query matches more rows than Options.TotalsLimit (GitLab: 10,000);
//   - merge request lists filter on state, target_branch, source_branch,
//     updated_after and updated_before and order on created_at or
//     updated_at; diff_refs appear only on the single merge request GET;
//   - posting a commit status follows GitLab's state machine
//     (Ci::CreateCommitStatusService): a running or pending status with the
//     same name and ref is updated, any other post starts a new one, and a
//     transition the machine refuses (pending twice, running twice) is a
//     400 "Cannot transition status via :run from :running"; a target_url
//     longer than 255 characters is a 400; a commit is on a branch of the
//     project its merge request's source branch lives in, and the target
//     project holds it under refs/merge-requests/<iid>/head only, so a
//     post there without that ref is a 404 "References for commit Not
//     Found" (lib/api/commit_statuses.rb picks the first branch holding the
//     commit when no ref is given); Conflict makes posts answer 409;
//   - a commit's statuses list oldest first by id, 20 a page unless
//     per_page says (at most 100), the latest of each name and ref unless
//     all=true (lib/api/commit_statuses.rb: order_by id, sort asc);
//   - a private project with NoAccess is a 404 even to the token's user;
//     a ReadOnly project refuses status posts with 403 (GitLab's
//     create_commit_status ability needs the Developer role);
//   - PRIVATE-TOKEN authenticates: a wrong token is a 401, a write without
//     one is a 401, and a private project is a 404 to anonymous readers (as
//     GitLab hides it);
//   - every response carries RateLimit-* headers, and a 200 GET carries a
//     weak ETag that If-None-Match revalidates to a 304, as Rails' Rack
//     middleware does.
//
// Tests change the world with AddProject, AddMR, Push, Update, Merge and
// Close, inject failures with SetFault, and inspect what happened with
// Statuses and Requests.
package glfake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Options.
const (
	defaultTotalsLimit = 10000
	defaultRateLimit   = 2000
)

// Merge request states.
const (
	StateOpened = "opened"
	StateClosed = "closed"
	StateMerged = "merged"
	StateLocked = "locked"
)

// Options configures a Fake.
type Options struct {
	// Token is the only PRIVATE-TOKEN the fake accepts. Empty accepts any
	// non-empty token.
	Token string
	// Now is the fake's clock, used for created_at and updated_at; nil is
	// time.Now.
	Now func() time.Time
	// TotalsLimit is the row count above which list answers leave out
	// x-total, x-total-pages and rel="last"; 0 is GitLab's 10,000.
	TotalsLimit int
	// RateLimit is the per-minute request limit announced in the
	// RateLimit-* headers; 0 is 2,000 (GitLab.com's authenticated limit).
	RateLimit int
}

// Project is one project of the fake.
type Project struct {
	ID            int64
	Path          string // path_with_namespace, e.g. "group/sub/project"
	DefaultBranch string // "" is "main"
	Private       bool
	// NoAccess is a private project the token's user is not a member of:
	// GitLab answers 404 to it, as to an anonymous reader.
	NoAccess bool
	// ReadOnly is a project where the token's user may read but not
	// write (a Reporter, or a public project it is not a member of):
	// a status post is 403, as GitLab's create_commit_status ability needs
	// the Developer role.
	ReadOnly bool
}

// MR is one merge request of the fake. AddMR fills in ID, State,
// SourceProjectID, CreatedAt and UpdatedAt when they are zero.
type MR struct {
	ID              int64 // global id; assigned by AddMR
	ProjectID       int64 // the target project
	IID             int64
	SourceProjectID int64 // 0 is ProjectID (not a fork)
	Title           string
	Description     *string // nil is JSON null
	State           string  // "" is opened
	Draft           bool
	SourceBranch    string
	TargetBranch    string
	SHA             string // head commit
	BaseSHA         string // diff_refs.base_sha; "" makes diff_refs null
	Author          string // username
	MergeCommitSHA  string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Status is one commit status, as the fake stored it.
type Status struct {
	ID          int64
	ProjectID   int64
	SHA         string
	Ref         string
	Name        string
	State       string
	TargetURL   string
	Description string
	CreatedAt   time.Time
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string // escaped, as sent
	Query  url.Values
	Header http.Header
}

// Fake is the fake GitLab. It is an http.Handler and safe for concurrent
// use.
type Fake struct {
	o Options

	mu          sync.Mutex
	projects    []*Project
	mrs         []*MR
	commits     map[string]int64 // sha -> project whose branch holds it
	conflict    int              // status posts left to answer 409
	conflictMsg string
	statuses    []*Status
	requests    []Request
	fault       func(*http.Request) int
	nextID      int64
	window      time.Time // start of the current rate limit minute
	observed    int       // requests in the current minute
	ci          ciState   // pipelines: pipelines.go
}

// New returns an empty fake.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TotalsLimit <= 0 {
		o.TotalsLimit = defaultTotalsLimit
	}
	if o.RateLimit <= 0 {
		o.RateLimit = defaultRateLimit
	}
	return &Fake{o: o, commits: map[string]int64{}, nextID: 1000}
}

// AddProject adds a project. It panics on a duplicate id or path, a
// mistake in the test.
func (f *Fake) AddProject(p Project) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.projects {
		if q.ID == p.ID || strings.EqualFold(q.Path, p.Path) {
			panic(fmt.Sprintf("glfake: project %d %q added twice", p.ID, p.Path))
		}
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	f.projects = append(f.projects, &p)
}

// UpdateProject changes project id with fn. It panics when the project is
// unknown, a mistake in the test.
func (f *Fake) UpdateProject(id int64, fn func(*Project)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.projectByID(id)
	if p == nil {
		panic(fmt.Sprintf("glfake: no project %d", id))
	}
	fn(p)
}

// AddMR adds a merge request. It panics when its projects are unknown or
// its iid is taken, a mistake in the test.
func (f *Fake) AddMR(m MR) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.SourceProjectID == 0 {
		m.SourceProjectID = m.ProjectID
	}
	if f.projectByID(m.ProjectID) == nil || f.projectByID(m.SourceProjectID) == nil {
		panic(fmt.Sprintf("glfake: merge request !%d: unknown project", m.IID))
	}
	if f.mr(m.ProjectID, m.IID) != nil {
		panic(fmt.Sprintf("glfake: merge request !%d of project %d added twice", m.IID, m.ProjectID))
	}
	f.nextID++
	m.ID = f.nextID
	if m.State == "" {
		m.State = StateOpened
	}
	now := f.o.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = now
	}
	if m.SHA != "" {
		f.commits[m.SHA] = m.SourceProjectID
	}
	f.mrs = append(f.mrs, &m)
}

// Push sets the head commit of a merge request, as a push to its source
// branch does, and bumps its updated_at.
func (f *Fake) Push(projectID, iid int64, sha string) {
	f.Update(projectID, iid, func(m *MR) { m.SHA = sha })
}

// Merge merges a merge request and bumps its updated_at.
func (f *Fake) Merge(projectID, iid int64) {
	f.Update(projectID, iid, func(m *MR) {
		m.State = StateMerged
		m.MergeCommitSHA = m.SHA
	})
}

// Close closes a merge request and bumps its updated_at.
func (f *Fake) Close(projectID, iid int64) {
	f.Update(projectID, iid, func(m *MR) { m.State = StateClosed })
}

// Update changes a merge request with fn and bumps its updated_at. It
// panics when the merge request is unknown.
func (f *Fake) Update(projectID, iid int64, fn func(*MR)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mr(projectID, iid)
	if m == nil {
		panic(fmt.Sprintf("glfake: no merge request !%d in project %d", iid, projectID))
	}
	fn(m)
	m.UpdatedAt = f.o.Now().UTC()
	if m.SHA != "" {
		f.commits[m.SHA] = m.SourceProjectID
	}
}

// Conflict makes the next n status posts answer 409 with message, as
// GitLab does while another update of the same commit status holds its
// lock; "" is "another update to this commit status is in progress".
func (f *Fake) Conflict(n int, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if message == "" {
		message = "409 Conflict: another update to this commit status is in progress"
	}
	f.conflict, f.conflictMsg = n, message
}

// SetFault installs fn, asked about every request before it is served: a
// non-zero status is answered at once with that status. nil removes it.
func (f *Fake) SetFault(fn func(*http.Request) int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

// Statuses returns every commit status posted, oldest first, including the
// ones later updated in place (as their last state).
func (f *Fake) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, len(f.statuses))
	for i, s := range f.statuses {
		out[i] = *s
	}
	return out
}

// Requests returns every request received, oldest first.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// projectByID returns the project with id, or nil. f.mu is held.
func (f *Fake) projectByID(id int64) *Project {
	for _, p := range f.projects {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// mr returns merge request iid of project, or nil. f.mu is held.
func (f *Fake) mr(project, iid int64) *MR {
	for _, m := range f.mrs {
		if m.ProjectID == project && m.IID == iid {
			return m
		}
	}
	return nil
}
