package gitlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/report"
)

// Defaults and fixed parameters of the listing.
const (
	defaultFullRelist = time.Hour
	// skew widens each incremental window, for clock differences between
	// trawl and the server.
	skew    = 2 * time.Minute
	perPage = 100
	// defaultMaxPages bounds one reading of a merge request list (100,000
	// rows), so a server whose next pages never end cannot hold a tick.
	defaultMaxPages = 1000
)

// Opts configures a Source.
type Opts struct {
	Name     string   // configured source name
	URL      string   // instance root, e.g. https://gitlab.com
	Project  string   // full path, e.g. "group/sub/project"
	Branches []string // target branches to build; empty is all
	Drafts   bool     // include draft merge requests (default: skip them)
	Forks    bool     // include merge requests from forks (default: skip them)
	// FullRelist is how often, at least, every open merge request is listed
	// again; between full relists only the recently updated ones are
	// (default 1h).
	FullRelist time.Duration
	// Base is what the changes apply on. Tree defaults to Project, URL to
	// the project's http_url_to_repo; Branch is each merge request's
	// target branch.
	Base    change.Base
	Targets []string
	HTTP    *http.Client // built by pkg/httpx with the PRIVATE-TOKEN credential
	Logger  *zap.Logger
	Now     func() time.Time
	// MaxPages bounds one reading of a merge request list: a list with more
	// pages fails the fetch. 0 means 1000.
	MaxPages int
}

// Source yields the open merge requests of one GitLab project as changes,
// looks up merge requests of the instance, and posts commit statuses. It is
// safe for concurrent use; concurrent Fetch calls run one after the other.
type Source struct {
	o    Opts
	api  *gl.Client
	host string // key host: lower-cased host[:port] plus any path prefix
	log  *zap.Logger

	pathsMu sync.Mutex
	paths   map[int64]string // project id -> path_with_namespace; ids never move
	// noWrite holds the forks (lower-case paths) that refused a status
	// post in this process: their statuses go to the target project.
	noWrite map[string]bool

	mu       sync.Mutex // held by Fetch; guards the fields below
	snap     map[int64]entry
	stale    bool // the last Fetch failed: relist in full
	since    time.Time
	lastFull time.Time
	project  *gl.Project
	merged   map[string]bool // lower-cased "project!iid" known merged
}

// What the cycle finds on a GitLab source.
var (
	_ cycle.Source        = (*Source)(nil)
	_ cycle.Owner         = (*Source)(nil)
	_ report.StatusReader = (*Source)(nil)
)

// entry is one open merge request of the snapshot.
type entry struct {
	mr      *gl.BasicMergeRequest
	baseSHA string // diff_refs.base_sha
	baseFor string // diff_refs.head_sha baseSHA came with; "" when unknown
}

// New checks o, fills in its defaults and returns the source. It does no
// I/O.
func New(o Opts) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("gitlab source: no name")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("gitlab source %s: URL %q is not an http(s) instance root", o.Name, o.URL)
	}
	o.Project = strings.Trim(o.Project, "/")
	if !strings.Contains(o.Project, "/") {
		return nil, fmt.Errorf("gitlab source %s: project %q is not a full path (group/project)", o.Name, o.Project)
	}
	if o.FullRelist < 0 {
		return nil, fmt.Errorf("gitlab source %s: negative full relist interval %s", o.Name, o.FullRelist)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("gitlab source %s: no HTTP client", o.Name)
	}
	if o.FullRelist == 0 {
		o.FullRelist = defaultFullRelist
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
	o.Branches = slices.Clone(o.Branches)
	o.Targets = slices.Clone(o.Targets)
	root := strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/")
	api, err := newAPI(root, o.HTTP)
	if err != nil {
		return nil, fmt.Errorf("gitlab source %s: %w", o.Name, err)
	}
	return &Source{
		o:      o,
		api:    api,
		host:   strings.ToLower(u.Host) + strings.TrimSuffix(u.Path, "/"),
		log:    o.Logger.With(zap.String("source", o.Name)),
		paths:  map[int64]string{},
		merged: map[string]bool{},
	}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.o.Name }

// key is the change key of merge request iid of the source's project.
func (s *Source) key(iid int64) change.Key {
	return change.GitLabKey(s.host, s.o.Project, iid)
}

// Fetch returns one change per open merge request of the project that the
// filters (drafts, forks, target branches) let through, in iid order. Any
// failed request fails the whole Fetch, and the next Fetch relists in full.
func (s *Source) Fetch(ctx context.Context) ([]change.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.o.Now()
	changes, err := s.fetch(ctx, start)
	if err != nil {
		s.stale = true
		return nil, fmt.Errorf("gitlab source %s: %w", s.o.Name, err)
	}
	return changes, nil
}

// fetch does one Fetch, started at start. s.mu is held.
func (s *Source) fetch(ctx context.Context, start time.Time) ([]change.Change, error) {
	full := s.snap == nil || s.stale || start.Sub(s.lastFull) >= s.o.FullRelist
	var (
		snap map[int64]entry
		err  error
	)
	project := s.project
	if full {
		if project, err = s.getProject(ctx); err != nil {
			return nil, err
		}
		if snap, err = s.relist(ctx, project.ID); err != nil {
			return nil, err
		}
	} else if snap, err = s.update(ctx, project.ID, s.since.Add(-skew)); err != nil {
		return nil, err
	}
	if err := s.readBases(ctx, project.ID, snap); err != nil {
		return nil, err
	}
	changes, err := s.build(ctx, project, snap)
	if err != nil {
		return nil, err
	}
	s.snap, s.project, s.since, s.stale = snap, project, start, false
	if full {
		s.lastFull = start
	}
	return changes, nil
}

// relist lists every open merge request and returns the new snapshot.
// Merge requests of the old snapshot that the list does not show are read
// one by one and kept if still open.
func (s *Source) relist(ctx context.Context, pid int64) (map[int64]entry, error) {
	listed, err := s.list(ctx, pid, gl.ListProjectMergeRequestsOptions{State: gl.Ptr(string(StateOpened))})
	if err != nil {
		return nil, err
	}
	snap := make(map[int64]entry, len(listed))
	for _, mr := range listed {
		snap[mr.IID] = carry(s.snap[mr.IID], mr)
	}
	var missing []int64
	for iid := range s.snap {
		if _, ok := snap[iid]; !ok {
			missing = append(missing, iid)
		}
	}
	slices.Sort(missing)
	got, err := s.getMRs(ctx, pid, missing)
	if err != nil {
		return nil, err
	}
	for i, mr := range got {
		if mr != nil && mr.State == string(StateOpened) {
			s.log.Debug("open merge request hidden from the full list", zap.Int64("iid", missing[i]))
			snap[mr.IID] = detailEntry(mr)
		}
	}
	s.log.Debug("full relist", zap.Int("open", len(snap)), zap.Int("left", len(missing)))
	return snap, nil
}

// update lists the merge requests updated after since and applies them to
// a copy of the snapshot.
func (s *Source) update(ctx context.Context, pid int64, since time.Time) (map[int64]entry, error) {
	listed, err := s.list(ctx, pid, gl.ListProjectMergeRequestsOptions{
		State:        gl.Ptr("all"),
		UpdatedAfter: gl.Ptr(since.UTC()),
	})
	if err != nil {
		return nil, err
	}
	snap := maps.Clone(s.snap)
	for _, mr := range listed {
		if mr.State == string(StateOpened) {
			snap[mr.IID] = carry(snap[mr.IID], mr)
		} else {
			delete(snap, mr.IID)
		}
	}
	s.log.Debug("incremental list", zap.Time("updated_after", since), zap.Int("updated", len(listed)),
		zap.Int("open", len(snap)))
	return snap, nil
}

// list reads every page of a merge request list ordered by updated_at,
// newest first, following x-next-page (GitLab leaves the totals out above
// 10,000 rows). A merge request seen twice keeps its first, newest, row.
func (s *Source) list(ctx context.Context, pid int64, opt gl.ListProjectMergeRequestsOptions) ([]*gl.BasicMergeRequest, error) {
	opt.OrderBy = gl.Ptr("updated_at")
	opt.Sort = gl.Ptr("desc")
	opt.PerPage = perPage
	opt.Page = 1
	var out []*gl.BasicMergeRequest
	seen := map[int64]bool{}
	for {
		mrs, resp, err := s.api.MergeRequests.ListProjectMergeRequests(pid, &opt, gl.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("list merge requests of %s, page %d: %w", s.o.Project, opt.Page, apiError(resp, err))
		}
		for _, mr := range mrs {
			if mr == nil || seen[mr.IID] {
				continue
			}
			seen[mr.IID] = true
			out = append(out, trim(mr))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		if resp.NextPage <= opt.Page {
			return nil, fmt.Errorf("list merge requests of %s: page %d names next page %d", s.o.Project, opt.Page, resp.NextPage)
		}
		if opt.Page >= int64(s.o.MaxPages) {
			return nil, fmt.Errorf("list merge requests of %s: more than %d pages", s.o.Project, s.o.MaxPages)
		}
		opt.Page = resp.NextPage
	}
}

// getMRs reads merge requests iids of project pid one by one; a merge
// request that no longer exists is nil.
func (s *Source) getMRs(ctx context.Context, pid int64, iids []int64) ([]*gl.MergeRequest, error) {
	out := make([]*gl.MergeRequest, len(iids))
	err := forgekit.ForEach(ctx, workers, len(iids), func(ctx context.Context, i int) error {
		mr, resp, err := s.api.MergeRequests.GetMergeRequest(pid, iids[i], nil, gl.WithContext(ctx))
		if err != nil {
			err = apiError(resp, err)
			if hidden(err) {
				return nil
			}
			return fmt.Errorf("read merge request %s!%d: %w", s.o.Project, iids[i], err)
		}
		out[i] = mr
		return nil
	})
	return out, err
}

// readBases reads the base commit of every merge request the source will
// yield whose head moved since its base was read. What a read shows
// replaces the listed row, being newer.
func (s *Source) readBases(ctx context.Context, pid int64, snap map[int64]entry) error {
	var need []int64
	for iid, e := range snap {
		if s.include(e.mr) && e.baseFor != e.mr.SHA {
			need = append(need, iid)
		}
	}
	slices.Sort(need)
	got, err := s.getMRs(ctx, pid, need)
	if err != nil {
		return err
	}
	for i, mr := range got {
		switch {
		case mr == nil || mr.State != string(StateOpened):
			delete(snap, need[i])
		default:
			snap[need[i]] = detailEntry(mr)
		}
	}
	return nil
}

// carry returns the entry of a listed merge request, keeping the base of
// the old entry when the head did not move.
func carry(old entry, mr *gl.BasicMergeRequest) entry {
	e := entry{mr: mr}
	if old.mr != nil && old.baseFor != "" && old.baseFor == mr.SHA {
		e.baseSHA, e.baseFor = old.baseSHA, old.baseFor
	}
	return e
}

// detailEntry returns the entry of a merge request read on its own.
func detailEntry(mr *gl.MergeRequest) entry {
	e := entry{mr: trim(&mr.BasicMergeRequest)}
	if mr.DiffRefs.BaseSha != "" {
		e.baseSHA, e.baseFor = mr.DiffRefs.BaseSha, mr.DiffRefs.HeadSha
	}
	return e
}

// include reports whether the filters let mr through.
func (s *Source) include(mr *gl.BasicMergeRequest) bool {
	switch {
	case mr.Draft && !s.o.Drafts:
		return false
	case mr.SourceProjectID != mr.TargetProjectID && !s.o.Forks:
		return false
	case len(s.o.Branches) > 0 && !slices.Contains(s.o.Branches, mr.TargetBranch):
		return false
	}
	return true
}

// projectPath returns the path_with_namespace of project id, read once. A
// project the credential cannot see is named by its id, which GitLab's API
// accepts wherever it takes a path.
func (s *Source) projectPath(ctx context.Context, id int64) (string, error) {
	s.pathsMu.Lock()
	p, ok := s.paths[id]
	s.pathsMu.Unlock()
	if ok {
		return p, nil
	}
	proj, resp, err := s.api.Projects.GetProject(id, nil, gl.WithContext(ctx))
	if err != nil {
		err = apiError(resp, err)
		if hidden(err) {
			s.log.Warn("fork project not visible: naming it by id", zap.Int64("project_id", id), zap.Error(err))
			return fmt.Sprint(id), nil
		}
		return "", fmt.Errorf("read source project %d: %w", id, err)
	}
	s.pathsMu.Lock()
	s.paths[id] = proj.PathWithNamespace
	s.pathsMu.Unlock()
	return proj.PathWithNamespace, nil
}

// build converts the snapshot's merge requests that the filters let
// through into changes, in iid order.
func (s *Source) build(ctx context.Context, project *gl.Project, snap map[int64]entry) ([]change.Change, error) {
	iids := slices.Sorted(maps.Keys(snap))
	r := &resolver{s: s, snap: snap}
	var out []change.Change
	for _, iid := range iids {
		e := snap[iid]
		if !s.include(e.mr) {
			s.log.Debug("merge request filtered out", zap.Int64("iid", iid), zap.Bool("draft", e.mr.Draft),
				zap.Bool("fork", e.mr.SourceProjectID != e.mr.TargetProjectID), zap.String("target_branch", e.mr.TargetBranch))
			continue
		}
		headRepo := project.PathWithNamespace
		var err error
		if e.mr.SourceProjectID != e.mr.TargetProjectID {
			if headRepo, err = s.projectPath(ctx, e.mr.SourceProjectID); err != nil {
				return nil, fmt.Errorf("merge request %s!%d: %w", s.o.Project, e.mr.IID, err)
			}
		}
		c := s.convert(project, e, headRepo)
		if c.Deps, err = r.refs(ctx, c.Key, e.mr.Description); err != nil {
			return nil, fmt.Errorf("merge request %s!%d: dependencies: %w", s.o.Project, iid, err)
		}
		out = append(out, c)
	}
	return out, nil
}
