package glfake

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiPrefix is where the projects API lives.
const apiPrefix = "/api/v4/projects/"

// access is what a request's PRIVATE-TOKEN allows.
type access int

const (
	anonymous access = iota
	authenticated
	badToken
)

// ServeHTTP serves one API request. The fault function, when set, runs
// with the fake locked and must not call the fake.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, Request{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
	})
	if !f.rateLimit(w) {
		return
	}
	if f.fault != nil {
		if status := f.fault(r); status != 0 {
			writeJSON(w, r, status, map[string]string{"message": fmt.Sprintf("%d %s", status, http.StatusText(status))})
			return
		}
	}
	acc := f.access(r)
	if acc == badToken {
		writeJSON(w, r, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	f.route(w, r, acc)
}

// rateLimit sets the RateLimit-* headers and answers 429 when the minute's
// budget is spent. It reports whether the request may go on.
func (f *Fake) rateLimit(w http.ResponseWriter) bool {
	now := f.o.Now().UTC()
	if start := now.Truncate(time.Minute); !start.Equal(f.window) {
		f.window, f.observed = start, 0
	}
	f.observed++
	reset := f.window.Add(time.Minute)
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(f.o.RateLimit))
	h.Set("RateLimit-Observed", strconv.Itoa(f.observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, f.o.RateLimit-f.observed)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
	if f.observed <= f.o.RateLimit {
		return true
	}
	h.Set("Retry-After", strconv.Itoa(int(reset.Sub(now).Seconds())+1))
	h.Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintln(w, "Retry later")
	return false
}

// access checks the request's PRIVATE-TOKEN. An empty header is no token.
func (f *Fake) access(r *http.Request) access {
	tok := r.Header.Get("PRIVATE-TOKEN")
	switch {
	case tok == "":
		return anonymous
	case f.o.Token != "" && tok != f.o.Token:
		return badToken
	}
	return authenticated
}

// route dispatches a request below /api/v4/projects/.
func (f *Fake) route(w http.ResponseWriter, r *http.Request, acc access) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), apiPrefix)
	if !ok {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
		return
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "malformed path"})
			return
		}
		segs[i] = u
	}
	if f.routeCI(w, r, segs, acc) {
		return
	}
	p := f.project(segs[0])
	if p == nil || (p.Private && (acc != authenticated || p.NoAccess)) {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case len(segs) == 1 && get:
		writeJSON(w, r, http.StatusOK, projectJSON(base(r), p))
	case len(segs) == 2 && segs[1] == "merge_requests" && get:
		f.listMRs(w, r, p)
	case len(segs) == 3 && segs[1] == "merge_requests" && get:
		f.getMR(w, r, p, segs[2])
	case len(segs) == 3 && segs[1] == "statuses" && r.Method == http.MethodPost:
		if acc != authenticated {
			writeJSON(w, r, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
			return
		}
		if p.ReadOnly {
			writeJSON(w, r, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
			return
		}
		f.postStatus(w, r, p, segs[2])
	case len(segs) == 5 && segs[1] == "repository" && segs[2] == "commits" && segs[4] == "statuses" && get:
		f.listStatuses(w, r, p, segs[3])
	default:
		writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
}

// project finds a project by numeric id or by full path (case-insensitive).
func (f *Fake) project(id string) *Project {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return f.projectByID(n)
	}
	for _, p := range f.projects {
		if strings.EqualFold(p.Path, id) {
			return p
		}
	}
	return nil
}

// listMRs serves GET /projects/:id/merge_requests.
func (f *Fake) listMRs(w http.ResponseWriter, r *http.Request, p *Project) {
	q := r.URL.Query()
	state := valueOr(q.Get("state"), "all")
	orderBy := valueOr(q.Get("order_by"), "created_at")
	sortDir := valueOr(q.Get("sort"), "desc")
	switch {
	case !oneOf(state, StateOpened, StateClosed, StateMerged, StateLocked, "all"):
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "state does not have a valid value"})
		return
	case !oneOf(orderBy, "created_at", "updated_at"):
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "order_by does not have a valid value"})
		return
	case !oneOf(sortDir, "asc", "desc"):
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "sort does not have a valid value"})
		return
	}
	var bounds [2]time.Time
	for i, name := range []string{"updated_after", "updated_before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": name + " is invalid"})
			return
		}
		bounds[i] = t
	}
	var rows []*MR
	for _, m := range f.mrs {
		switch {
		case m.ProjectID != p.ID,
			state != "all" && m.State != state,
			q.Has("target_branch") && m.TargetBranch != q.Get("target_branch"),
			q.Has("source_branch") && m.SourceBranch != q.Get("source_branch"),
			!bounds[0].IsZero() && m.UpdatedAt.Before(bounds[0]),
			!bounds[1].IsZero() && m.UpdatedAt.After(bounds[1]):
			continue
		}
		rows = append(rows, m)
	}
	key := func(m *MR) time.Time { return m.CreatedAt }
	if orderBy == "updated_at" {
		key = func(m *MR) time.Time { return m.UpdatedAt }
	}
	sortRows(rows, key, sortDir == "desc")
	lo, hi := f.paginate(w, r, len(rows))
	out := make([]mrJSON, 0, hi-lo)
	for _, m := range rows[lo:hi] {
		out = append(out, f.mrJSON(base(r), m))
	}
	writeJSON(w, r, http.StatusOK, out)
}

// getMR serves GET /projects/:id/merge_requests/:iid, with diff_refs.
func (f *Fake) getMR(w http.ResponseWriter, r *http.Request, p *Project, iid string) {
	n, err := strconv.ParseInt(iid, 10, 64)
	if err != nil {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "merge_request_iid is invalid"})
		return
	}
	m := f.mr(p.ID, n)
	if m == nil {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		return
	}
	d := mrDetailJSON{mrJSON: f.mrJSON(base(r), m)}
	if m.BaseSHA != "" {
		d.DiffRefs = &diffRefsJSON{BaseSHA: m.BaseSHA, HeadSHA: m.SHA, StartSHA: m.BaseSHA}
	}
	writeJSON(w, r, http.StatusOK, d)
}

// postStatus serves POST /projects/:id/statuses/:sha.
func (f *Fake) postStatus(w http.ResponseWriter, r *http.Request, p *Project, sha string) {
	params, err := statusParams(r)
	if err != nil {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	want := params["state"]
	if want == "" {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "state is missing"})
		return
	}
	if !oneOf(want, "pending", "running", "success", "failed", "canceled") {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "state does not have a valid value"})
		return
	}
	c, ok := f.commits[sha]
	mrRef := f.mrRef(p, sha)
	if (!ok || c != p.ID) && mrRef == "" {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Commit Not Found"})
		return
	}
	ref := params["ref"]
	if ref == "" && c == p.ID {
		ref = f.branchOf(sha)
	}
	if ref == "" {
		// The commit is on no branch of p: only under a merge request's
		// ref, which GitLab does not pick by itself.
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 References for commit Not Found"})
		return
	}
	if f.conflict > 0 {
		f.conflict--
		writeJSON(w, r, http.StatusConflict, map[string]string{"message": f.conflictMsg})
		return
	}
	name := valueOr(params["name"], valueOr(params["context"], "default"))
	if len(params["target_url"]) > 255 {
		writeJSON(w, r, http.StatusBadRequest, map[string]any{
			"message": map[string][]string{"target_url": {"is too long (maximum is 255 characters)"}},
		})
		return
	}
	var cur *Status
	for _, s := range f.statuses {
		if s.ProjectID == p.ID && s.SHA == sha && s.Ref == ref && s.Name == name &&
			(s.State == "pending" || s.State == "running") {
			cur = s
		}
	}
	from := "created"
	if cur != nil {
		from = cur.State
	}
	next, refused := transition(from, want)
	if refused != "" {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"message": refused})
		return
	}
	if cur == nil {
		f.nextID++
		cur = &Status{ID: f.nextID, ProjectID: p.ID, SHA: sha, Ref: ref, Name: name, CreatedAt: f.o.Now().UTC()}
		f.statuses = append(f.statuses, cur)
	}
	cur.State = next
	cur.TargetURL = params["target_url"]
	cur.Description = params["description"]
	writeJSON(w, r, http.StatusCreated, statusJSON(cur))
}

// transition applies GitLab's commit status state machine to a status in
// state from (created, pending or running) asked to become want. It returns
// the new state, or the message of a refused transition.
func transition(from, want string) (string, string) {
	refuse := func(event, from string) string {
		return fmt.Sprintf("Cannot transition status via :%s from :%s", event, from)
	}
	switch want {
	case "pending":
		if from != "created" {
			return "", refuse("enqueue", from)
		}
	case "running":
		// GitLab runs job.enqueue (a no-op when not allowed), then job.run!.
		if from == "created" {
			from = "pending"
		}
		if from != "pending" {
			return "", refuse("run", from)
		}
	}
	return want, ""
}

// mrRef returns refs/merge-requests/<iid>/head when sha is the head of a
// merge request that targets p: GitLab keeps the head of every merge
// request, forks' included, under that ref of the target project.
func (f *Fake) mrRef(p *Project, sha string) string {
	for _, m := range f.mrs {
		if m.ProjectID == p.ID && m.SHA == sha {
			return fmt.Sprintf("refs/merge-requests/%d/head", m.IID)
		}
	}
	return ""
}

// branchOf returns the source branch of a merge request that has had sha
// as its head; GitLab takes the first branch that contains it.
func (f *Fake) branchOf(sha string) string {
	for _, m := range f.mrs {
		if m.SHA == sha || m.MergeCommitSHA == sha {
			return m.SourceBranch
		}
	}
	return ""
}

// statusParams reads a status post's parameters from a JSON body or a
// form (body or query).
func statusParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("malformed JSON body: %w", err)
		}
		for k, v := range m {
			if v != nil {
				out[k] = fmt.Sprint(v)
			}
		}
		for k, v := range r.URL.Query() {
			out[k] = v[0]
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("malformed form: %w", err)
	}
	for k, v := range r.Form {
		out[k] = v[0]
	}
	return out, nil
}

// listStatuses serves GET /projects/:id/repository/commits/:sha/statuses:
// the latest status of each name and ref, or every one with all=true,
// oldest first (by id), 20 a page unless per_page says otherwise (at most
// 100). This rests on GitLab's lib/api/commit_statuses.rb: statuses are
// filtered (latest unless all, ref, name), ordered by order_by (default
// id) and sort (default asc), and paginated like every list.
func (f *Fake) listStatuses(w http.ResponseWriter, r *http.Request, p *Project, sha string) {
	q := r.URL.Query()
	all := q.Get("all") == "true"
	seen := map[[2]string]bool{}
	var rows []*Status
	for i := len(f.statuses) - 1; i >= 0; i-- {
		s := f.statuses[i]
		k := [2]string{s.Name, s.Ref}
		switch {
		case s.ProjectID != p.ID || s.SHA != sha,
			q.Has("ref") && s.Ref != q.Get("ref"),
			q.Has("name") && s.Name != q.Get("name"),
			!all && seen[k]:
			continue
		}
		seen[k] = true
		rows = append(rows, s)
	}
	slices.Reverse(rows)
	lo, hi := f.paginate(w, r, len(rows))
	out := make([]commitStatusJSON, 0, hi-lo)
	for _, s := range rows[lo:hi] {
		out = append(out, statusJSON(s))
	}
	writeJSON(w, r, http.StatusOK, out)
}

// paginate reads page and per_page, sets GitLab's offset pagination
// headers for a list of n rows and returns the slice bounds of the page.
func (f *Fake) paginate(w http.ResponseWriter, r *http.Request, n int) (int, int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	switch {
	case err != nil || perPage < 1:
		perPage = 20
	case perPage > 100:
		perPage = 100
	}
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	pages := max(1, (n+perPage-1)/perPage)
	lo := min((page-1)*perPage, n)
	hi := min(lo+perPage, n)
	link := func(k int) string {
		v := r.URL.Query()
		v.Set("page", strconv.Itoa(k))
		v.Set("per_page", strconv.Itoa(perPage))
		return base(r) + r.URL.EscapedPath() + "?" + v.Encode()
	}
	h := w.Header()
	var links []string
	next, prev := "", ""
	if page > 1 {
		prev = strconv.Itoa(page - 1)
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, link(page-1)))
	}
	if hi < n {
		next = strconv.Itoa(page + 1)
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, link(page+1)))
	}
	links = append(links, fmt.Sprintf(`<%s>; rel="first"`, link(1)))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	if n <= f.o.TotalsLimit {
		links = append(links, fmt.Sprintf(`<%s>; rel="last"`, link(pages)))
		h.Set("X-Total", strconv.Itoa(n))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
	}
	h.Set("Link", strings.Join(links, ", "))
	return lo, hi
}

// writeJSON writes v with GitLab's caching headers. A 200 GET gets a weak
// ETag and answers a matching If-None-Match with a 304.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "max-age=0, private, must-revalidate")
	if status == http.StatusOK && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		sum := sha256.Sum256(body)
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		h.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(bytes.TrimSpace(body))
	}
}

// sortRows orders rows by key, then by id, descending or ascending.
func sortRows(rows []*MR, key func(*MR) time.Time, desc bool) {
	slices.SortFunc(rows, func(a, b *MR) int {
		c := key(a).Compare(key(b))
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
}

// base is the instance root the request reached.
func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// valueOr returns v, or def when v is empty.
func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// oneOf reports whether v is one of vs.
func oneOf(v string, vs ...string) bool { return slices.Contains(vs, v) }
