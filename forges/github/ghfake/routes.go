package ghfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Header values GitHub sends on REST answers.
const (
	varyHeader   = "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding, X-GitHub-Media-Type"
	cacheControl = "private, max-age=60, s-maxage=60"
	docsURL      = "https://docs.github.com/rest"
)

// hexSHA matches a full commit id.
var hexSHA = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// etagKind says which validator an answer gets.
type etagKind int

const (
	noETag etagKind = iota
	weakETag
	strongETag
)

// answer is what a route handler decided; serve turns it into the HTTP
// response.
type answer struct {
	status int
	body   any
	etag   etagKind
	link   string
}

// caller is the credential of a request.
type caller struct {
	principal     string // budget key
	login         string
	authenticated bool
}

// message is GitHub's error body.
type message struct {
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
	Errors           []fieldError `json:"errors,omitempty"`
}

// fieldError is one entry of a 422's "errors".
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func fail(status int, msg string, errs ...fieldError) answer {
	return answer{status: status, body: message{Message: msg, DocumentationURL: docsURL, Status: strconv.Itoa(status), Errors: errs}}
}

func notFound() answer { return fail(http.StatusNotFound, "Not Found") }

func (f *Fake) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", f.api(f.listPulls))
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", f.api(f.getPull))
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", f.api(f.createStatus))
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/status", f.api(f.combinedStatus))
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", f.createToken)
	f.workflowRoutes(mux)
	mux.HandleFunc("/", f.api(func(*http.Request, caller) answer { return notFound() }))
	return mux
}

// api wraps a route handler with authentication, the rate limit, ETags and
// GitHub's headers. The handler runs with f.mu held.
func (f *Fake) api(h func(*http.Request, caller) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		c, ok := f.authenticate(r)
		if !ok {
			write(w, fail(http.StatusUnauthorized, "Bad credentials"), nil)
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.authenticated = c.authenticated
		}
		b := f.budget(c)
		hdr := w.Header()
		if f.refuse(w, r, b) {
			return
		}
		if b.used >= b.limit {
			rateHeaders(hdr, b)
			who := "user ID 1"
			if !c.authenticated {
				who = "127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)"
			}
			write(w, answer{status: http.StatusForbidden, body: message{
				Message:          "API rate limit exceeded for " + who,
				DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
			}}, nil)
			f.limited++
			return
		}
		if c.authenticated && f.createLimited(w, r, c, b) {
			return
		}
		a := h(r, c)
		body, err := json.Marshal(a.body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if a.etag != noETag && a.status == http.StatusOK {
			tag := etag(r, body, a.etag == weakETag)
			hdr.Set("ETag", tag)
			if r.Method == http.MethodGet && matches(r.Header.Get("If-None-Match"), tag) {
				if !c.authenticated {
					f.charge(b)
				}
				rateHeaders(hdr, b)
				common(hdr)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		f.charge(b)
		rateHeaders(hdr, b)
		if a.link != "" {
			hdr.Set("Link", a.link)
		}
		write(w, a, body)
	}
}

// authenticate returns the caller of r, and false for a credential the
// fake does not accept. f.mu is held.
func (f *Fake) authenticate(r *http.Request) (caller, bool) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return caller{principal: "anonymous"}, true
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return caller{}, false
	}
	if slices.Contains(f.o.Tokens, tok) {
		return caller{principal: "token " + tok, login: f.o.Login, authenticated: true}, true
	}
	if exp, ok := f.installTok[tok]; ok && f.o.Now().Before(exp) {
		return caller{principal: installationName, login: "trawl[bot]", authenticated: true}, true
	}
	return caller{}, false
}

// budget returns the caller's budget, starting a new window when the last
// one ended. f.mu is held.
func (f *Fake) budget(c caller) *budget {
	now := f.o.Now()
	b := f.budgets[c.principal]
	if b == nil || !now.Before(b.reset) {
		limit := f.o.Limit
		if !c.authenticated {
			limit = anonymousLimit
		}
		b = &budget{limit: limit, reset: now.Add(rateLimitWindow).Truncate(time.Second)}
		if f.remaining >= 0 {
			b.used = max(limit-f.remaining, 0)
		}
		f.budgets[c.principal] = b
	}
	return b
}

// charge counts one request against b. f.mu is held.
func (f *Fake) charge(b *budget) {
	b.used++
	f.used++
}

func rateHeaders(h http.Header, b *budget) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(b.limit-b.used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(b.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(b.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// common sets the headers of every answer but errors' content type.
func common(h http.Header) {
	h.Set("Cache-Control", cacheControl)
	h.Set("Vary", varyHeader)
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
}

// write sends a; body is its JSON when already encoded.
func write(w http.ResponseWriter, a answer, body []byte) {
	if a.status == http.StatusNoContent { // a dispatch: no body, no content type
		common(w.Header())
		w.WriteHeader(a.status)
		return
	}
	if body == nil {
		b, err := json.Marshal(a.body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body = b
	}
	h := w.Header()
	common(h)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(a.status)
	w.Write(body)
}

// etag is the validator of body as an answer to r: it depends on the
// request's path and query, Accept and Authorization headers.
func etag(r *http.Request, body []byte, weak bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", r.RequestURI, r.Header.Get("Accept"), r.Header.Get("Authorization"))
	h.Write(body)
	tag := `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	if weak {
		return "W/" + tag
	}
	return tag
}

// matches reports whether an If-None-Match value names tag (weak
// comparison, as for GET).
func matches(ifNoneMatch, tag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	want := strings.TrimPrefix(tag, "W/")
	for v := range strings.SplitSeq(ifNoneMatch, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == want {
			return true
		}
	}
	return false
}

// apiBase is the API's URL as the request reached it, with the /api/v3
// prefix when it had one.
func apiBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if strings.HasPrefix(r.RequestURI, "/api/v3/") {
		prefix = "/api/v3"
	}
	return scheme + "://" + r.Host + prefix
}

// intParam parses a positive query parameter, giving def when it is
// missing or not a positive number.
func intParam(q url.Values, name string, def int) int {
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < 1 {
		return def
	}
	return n
}

func (f *Fake) listPulls(r *http.Request, _ caller) answer {
	rp := f.repo(r.PathValue("owner")+"/"+r.PathValue("repo"), false)
	if rp == nil {
		return notFound()
	}
	q := r.URL.Query()
	perPage := min(intParam(q, "per_page", 30), 100)
	page := intParam(q, "page", 1)
	if st, ok := f.failures[fmt.Sprintf("%s %d", strings.ToLower(rp.fullName), page)]; ok {
		return fail(st, http.StatusText(st))
	}
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		return fail(http.StatusUnprocessableEntity, "Validation Failed",
			fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
	}
	var list []*pull
	for _, p := range rp.prs {
		open := p.closed == nil
		if (state == "open" && !open) || (state == "closed" && open) {
			continue
		}
		if base := q.Get("base"); base != "" && base != p.BaseRef {
			continue
		}
		list = append(list, p)
	}
	sortPulls(list, q.Get("sort"), q.Get("direction"))

	last := max((len(list)+perPage-1)/perPage, 1)
	from := min((page-1)*perPage, len(list))
	to := min(from+perPage, len(list))
	items := make([]any, 0, to-from)
	for _, p := range list[from:to] {
		items = append(items, f.pullJSON(r, rp, p))
	}
	return answer{status: http.StatusOK, body: items, etag: weakETag, link: links(r, page, last)}
}

// sortPulls orders list as the sort and direction parameters ask.
func sortPulls(list []*pull, by, direction string) {
	key := func(p *pull) time.Time { return p.created }
	desc := true
	if by == "updated" {
		key = func(p *pull) time.Time { return p.updated }
		desc = false
	}
	switch direction {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	slices.SortFunc(list, func(a, b *pull) int {
		c := key(a).Compare(key(b))
		if c == 0 {
			c = int(a.Number - b.Number)
		}
		if desc {
			return -c
		}
		return c
	})
}

// links is the Link header of page of last, or "" when there is one page.
func links(r *http.Request, page, last int) string {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	base := apiBase(r)
	if strings.HasPrefix(path, "/api/v3/") {
		path = strings.TrimPrefix(path, "/api/v3")
	}
	at := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, base, path, q.Encode(), rel)
	}
	var parts []string
	if page > 1 {
		parts = append(parts, at(min(page-1, last), "prev"))
	}
	if page < last {
		parts = append(parts, at(page+1, "next"), at(last, "last"))
	}
	if page > 1 {
		parts = append(parts, at(1, "first"))
	}
	return strings.Join(parts, ", ")
}

func (f *Fake) getPull(r *http.Request, _ caller) answer {
	rp := f.repo(r.PathValue("owner")+"/"+r.PathValue("repo"), false)
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if rp == nil || err != nil || rp.prs[n] == nil {
		return notFound()
	}
	p := rp.prs[n]
	return answer{status: http.StatusOK, etag: strongETag, body: pullDetailJSON{
		pullJSON:       f.pullJSON(r, rp, p),
		Merged:         p.merged != nil,
		Mergeable:      nil,
		MergeableState: "unknown",
		Commits:        1,
	}}
}

// statusRequest is the body of a status POST.
type statusRequest struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

func (f *Fake) createStatus(r *http.Request, c caller) answer {
	if !c.authenticated {
		return fail(http.StatusUnauthorized, "Requires authentication")
	}
	rp := f.repo(r.PathValue("owner")+"/"+r.PathValue("repo"), false)
	if rp == nil {
		return notFound()
	}
	var req statusRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return fail(http.StatusBadRequest, "Problems parsing JSON")
	}
	sha := r.PathValue("sha")
	if !hexSHA.MatchString(sha) {
		return fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
	}
	switch req.State {
	case "pending", "success", "failure", "error":
	default:
		return fail(http.StatusUnprocessableEntity, "Validation Failed",
			fieldError{Resource: "Status", Field: "state", Code: "custom", Message: "state is not included in the list"})
	}
	if utf8.RuneCountInString(req.Description) > maxDescription {
		return fail(http.StatusUnprocessableEntity, "Validation Failed",
			fieldError{Resource: "Status", Field: "description", Code: "custom", Message: "description is too long (maximum is 140 characters)"})
	}
	if req.Context == "" {
		req.Context = "default"
	}
	n := 0
	for _, s := range f.statuses {
		if strings.EqualFold(s.Repo, rp.fullName) && strings.EqualFold(s.SHA, sha) && strings.EqualFold(s.Context, req.Context) {
			n++
		}
	}
	if n >= maxStatuses {
		return fail(http.StatusUnprocessableEntity, "Validation Failed",
			fieldError{Resource: "Status", Code: "custom", Message: "This SHA and context has reached the maximum number of statuses."})
	}
	st := Status{
		Repo: rp.fullName, SHA: strings.ToLower(sha), State: req.State, Context: req.Context,
		Description: req.Description, TargetURL: req.TargetURL, Creator: c.login, CreatedAt: f.tick(),
	}
	f.statuses = append(f.statuses, st)
	return answer{status: http.StatusCreated, body: f.statusJSON(r, len(f.statuses), st)}
}

func (f *Fake) combinedStatus(r *http.Request, _ caller) answer {
	rp := f.repo(r.PathValue("owner")+"/"+r.PathValue("repo"), false)
	sha := strings.ToLower(r.PathValue("ref"))
	if rp == nil {
		return notFound()
	}
	if !hexSHA.MatchString(sha) {
		return fail(http.StatusNotFound, "No commit found for SHA: "+sha)
	}
	latest := map[string]int{} // lower-case context -> index in f.statuses
	var order []string
	for i, s := range f.statuses {
		if !strings.EqualFold(s.Repo, rp.fullName) || s.SHA != sha {
			continue
		}
		k := strings.ToLower(s.Context)
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = i
	}
	statuses := make([]statusJSON, 0, len(order))
	state := "pending"
	if len(order) > 0 {
		state = "success"
	}
	for _, k := range order {
		i := latest[k]
		s := f.statuses[i]
		statuses = append(statuses, f.statusJSON(r, i+1, s))
		switch {
		case s.State == "failure" || s.State == "error":
			state = "failure"
		case s.State == "pending" && state == "success":
			state = "pending"
		}
	}
	base := apiBase(r)
	return answer{status: http.StatusOK, etag: strongETag, body: combinedJSON{
		State:      state,
		Statuses:   statuses,
		SHA:        sha,
		TotalCount: len(statuses),
		Repository: f.repoJSON(rp.fullName, rp.id),
		CommitURL:  base + "/repos/" + rp.fullName + "/commits/" + sha,
		URL:        base + "/repos/" + rp.fullName + "/commits/" + sha + "/status",
	}}
}
