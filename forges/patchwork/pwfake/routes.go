package pwfake

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Page sizes of the recorded server (REST_RESULTS_PER_PAGE and
// MAX_REST_RESULTS_PER_PAGE).
const (
	defaultPerPage = 30
	maxPerPage     = 250
)

// The Allow header of the API views: read-only ones, and the checks list.
const (
	allowRead   = "GET, HEAD, OPTIONS"
	allowCreate = "GET, POST, HEAD, OPTIONS"
)

var (
	apiVersionRe   = regexp.MustCompile(`^/api/(\d+\.\d+)/`)
	detailRe       = regexp.MustCompile(`^(series|covers)/(\d+)/$`)
	projectRe      = regexp.MustCompile(`^projects/([^/]+)/$`)
	checkListRe    = regexp.MustCompile(`^patches/(\d+)/checks/$`)
	checkDetailRe  = regexp.MustCompile(`^patches/(\d+)/checks/(\d+)/$`)
	versionedRe    = regexp.MustCompile(`("(?:checks|comments)":")?` + regexp.QuoteMeta(recordedHost) + `/api/`)
	seriesMboxRe   = regexp.MustCompile(`^/series/(\d+)/mbox/$`)
	patchMboxRe    = regexp.MustCompile(`^/project/([^/]+)/patch/([^/]+)/mbox/$`)
	downloadNameRe = regexp.MustCompile(`[^-_A-Za-z0-9.]+`)
	commitRefRe    = regexp.MustCompile(`"commit_ref":(?:null|"[^"]*")`)
)

// apiRoute returns the part of an API path below its version prefix, and
// whether the path is an API path of a version the fake serves (1.3, or
// none: the latest).
func apiRoute(path string) (string, bool) {
	if m := apiVersionRe.FindStringSubmatch(path); m != nil {
		return strings.TrimPrefix(path, m[0]), m[1] == "1.3"
	}
	return strings.CutPrefix(path, "/api/")
}

// route dispatches a request to its handler.
func (f *Fake) route(w http.ResponseWriter, r *http.Request, p Phase) {
	path := r.URL.Path
	if rest, ok := apiRoute(path); ok {
		f.api(w, r, p, rest)
		return
	}
	if m := seriesMboxRe.FindStringSubmatch(path); m != nil {
		f.seriesMbox(w, r, p, m[1])
		return
	}
	if m := patchMboxRe.FindStringSubmatch(path); m != nil {
		f.patchMbox(w, r, p, m[1], m[2])
		return
	}
	f.notFoundHTML(w, r)
}

// view is one API view of the recorded server: the methods it allows and
// how it serves them. A nil post or options is a method it does not allow.
type view struct {
	allow   string
	get     func()
	post    func(u *user)
	options func()
}

// api serves the REST routes below the version prefix. Like Django REST
// framework, it authenticates the request before it looks at the method.
func (f *Fake) api(w http.ResponseWriter, r *http.Request, p Phase, rest string) {
	v := f.view(w, r, p, rest)
	if v == nil {
		f.notFoundHTML(w, r)
		return
	}
	w.Header().Set("Allow", v.allow)
	u, denied := f.authenticate(r)
	switch {
	case denied != nil:
		f.writeJSON(w, r, http.StatusForbidden, denied, "")
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		v.get()
	case r.Method == http.MethodPost && v.post != nil:
		v.post(u)
	case r.Method == http.MethodOptions && v.options != nil:
		v.options()
	default:
		f.writeJSON(w, r, http.StatusMethodNotAllowed, detail(fmt.Sprintf(`Method "%s" not allowed.`, r.Method)), "")
	}
}

// view returns the view of an API route, nil for none.
func (f *Fake) view(w http.ResponseWriter, r *http.Request, p Phase, rest string) *view {
	switch rest {
	case "patches/":
		return &view{allow: allowRead, get: func() { f.list(w, r, f.patchesNow(), p, f.patchFilters) }}
	case "series/":
		return &view{allow: allowRead, get: func() { f.list(w, r, f.data.series, p, f.seriesFilters) }}
	case "covers/":
		return &view{allow: allowRead, get: func() { f.list(w, r, f.data.covers, p, f.coverFilters) }}
	}
	if m := detailRe.FindStringSubmatch(rest); m != nil {
		return &view{allow: allowRead, get: func() { f.detail(w, r, p, m[1], m[2]) }}
	}
	if m := projectRe.FindStringSubmatch(rest); m != nil {
		return &view{allow: allowRead, get: func() { f.project(w, r, m[1]) }}
	}
	// Both check views answer 404 for a patch that does not exist (in
	// this phase), before they look at anything else.
	withPatch := func(idText string, serve func(patch object)) func() {
		return func() {
			id, err := strconv.ParseInt(idText, 10, 64)
			patch, ok := find(f.data.patches, p, id)
			if err != nil || !ok {
				f.writeJSON(w, r, http.StatusNotFound, f.data.notFound, "")
				return
			}
			serve(patch)
		}
	}
	if m := checkListRe.FindStringSubmatch(rest); m != nil {
		return &view{
			allow: allowCreate,
			get:   withPatch(m[1], func(patch object) { f.checkList(w, r, p, patch) }),
			post: func(u *user) {
				withPatch(m[1], func(patch object) { f.postCheck(w, r, u, patch) })()
			},
			options: func() { f.writeJSON(w, r, http.StatusOK, f.data.checkOptions, "") },
		}
	}
	if m := checkDetailRe.FindStringSubmatch(rest); m != nil {
		return &view{allow: allowRead, get: withPatch(m[1], func(patch object) { f.checkDetail(w, r, patch, m[2]) })}
	}
	return nil
}

// authenticate reads an "Authorization: Token <key>" header as Django REST
// framework's TokenAuthentication does. It returns the user (nil for an
// anonymous request), or the body of the 403 that refuses the request.
func (f *Fake) authenticate(r *http.Request) (*user, []byte) {
	fields := strings.Fields(r.Header.Get("Authorization"))
	if len(fields) == 0 || !strings.EqualFold(fields[0], "token") {
		return nil, nil
	}
	switch {
	case len(fields) == 1:
		return nil, detail("Invalid token header. No credentials provided.")
	case len(fields) > 2:
		return nil, detail("Invalid token header. Token string should not contain spaces.")
	}
	for i := range f.data.users {
		if u := &f.data.users[i]; u.token != "" && u.token == fields[1] {
			return u, nil
		}
	}
	return nil, f.data.invalidToken
}

// detail serves series/<id>/ and covers/<id>/.
func (f *Fake) detail(w http.ResponseWriter, r *http.Request, p Phase, kind, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err == nil {
		switch kind {
		case "series":
			if o, ok := find(f.data.series, p, id); ok {
				f.writeJSON(w, r, http.StatusOK, o.body, "")
				return
			}
		case "covers":
			if _, ok := find(f.data.covers, p, id); ok {
				f.writeJSON(w, r, http.StatusOK, f.data.coverDetail[id], "")
				return
			}
		}
	}
	f.writeJSON(w, r, http.StatusNotFound, f.data.notFound, "")
}

// find returns object id as it is in phase p.
func find(objs []object, p Phase, id int64) (object, bool) {
	for _, o := range visible(objs, p) {
		if o.m.ID == id {
			return o, true
		}
	}
	return object{}, false
}

// list serves a filtered, paginated list.
func (f *Fake) list(w http.ResponseWriter, r *http.Request, objs []object, p Phase, build func(url.Values, Phase) filters) {
	q := r.URL.Query()
	fl := build(q, p)
	if fl.serverError {
		f.writeHTML(w, r, http.StatusInternalServerError, f.data.errorPage, "text/html")
		return
	}
	var items [][]byte
	if !fl.empty {
		for _, o := range visible(objs, p) {
			if fl.match(o) {
				items = append(items, o.body)
			}
		}
	}
	perPage := defaultPerPage
	if n, err := strconv.Atoi(strings.TrimSpace(last(q, "per_page"))); err == nil && n > 0 {
		perPage = min(n, maxPerPage)
	}
	pages := max(1, (len(items)+perPage-1)/perPage)
	page := 1
	if q.Has("page") {
		v := strings.TrimSpace(last(q, "page"))
		n, err := strconv.Atoi(v)
		switch {
		case v == "last":
			page = pages
		case err != nil || n < 1 || n > pages:
			f.writeJSON(w, r, http.StatusNotFound, f.data.invalidPage, "")
			return
		default:
			page = n
		}
	}
	start := (page - 1) * perPage
	items = items[min(start, len(items)):min(start+perPage, len(items))]
	body := append([]byte("["), bytes.Join(items, []byte(","))...)
	body = append(body, ']')
	f.writeJSON(w, r, http.StatusOK, body, LinkHeader(r, page, pages))
}

// last returns the last value of key, as Django's QueryDict.get does.
func last(q url.Values, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// LinkHeader builds the RFC 5988 Link header of page of pages of the
// listing r asked for, as Patchwork's LinkHeaderPagination does on top of
// Django REST framework (recorded in the page-series-* captures). Other
// simulated Patchworks (pkg/sim) page the same way.
func LinkHeader(r *http.Request, page, pages int) string {
	link := func(n int) string {
		u := url.URL{Scheme: scheme(r), Host: r.Host, Path: r.URL.Path}
		q := r.URL.Query()
		if n == 0 {
			q.Del("page")
		} else {
			q.Set("page", strconv.Itoa(n))
		}
		u.RawQuery = q.Encode()
		return "<" + u.String() + ">"
	}
	var parts []string
	if page < pages {
		parts = append(parts, link(page+1)+`; rel="next"`)
	}
	if page > 1 {
		prev := page - 1
		if prev == 1 {
			prev = 0 // the first page's link has no page parameter
		}
		parts = append(parts, link(prev)+`; rel="prev"`)
	}
	parts = append(parts, link(1)+`; rel="first"`, link(pages)+`; rel="last"`)
	return strings.Join(parts, ", ")
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// seriesMbox serves /series/<id>/mbox/.
func (f *Fake) seriesMbox(w http.ResponseWriter, r *http.Request, p Phase, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	o, ok := find(f.data.series, p, id)
	if err != nil || !ok {
		f.notFoundHTML(w, r)
		return
	}
	f.writeMbox(w, r, "text/plain", o.m.Name, f.data.seriesMbox(o))
}

// patchMbox serves /project/<link_name>/patch/<msgid>/mbox/.
func (f *Fake) patchMbox(w http.ResponseWriter, r *http.Request, p Phase, linkName, msgid string) {
	for _, o := range visible(f.data.patches, p) {
		if !strings.EqualFold(o.m.Project.LinkName, linkName) || o.m.MsgID != "<"+msgid+">" {
			continue
		}
		body := f.data.patchMbox[o.m.ID]
		if sel := r.URL.Query().Get("series"); sel != "" {
			var ok bool
			if body, ok = f.withEarlier(o, p, sel); !ok {
				break
			}
		}
		f.writeMbox(w, r, "text/plain; charset=utf-8", o.m.Name, body)
		return
	}
	f.notFoundHTML(w, r)
}

// withEarlier returns the mbox of patch o preceded by the earlier patches
// of its series, for ?series=* or ?series=<its series>.
func (f *Fake) withEarlier(o object, p Phase, sel string) ([]byte, bool) {
	if len(o.m.Series) == 0 || (sel != "*" && sel != strconv.FormatInt(o.m.Series[0].ID, 10)) {
		return nil, false
	}
	sr, ok := find(f.data.series, p, o.m.Series[0].ID)
	if !ok {
		return nil, false
	}
	var parts [][]byte
	for _, pr := range sr.m.Patches {
		parts = append(parts, f.data.patchMbox[pr.ID])
		if pr.ID == o.m.ID {
			break
		}
	}
	return bytes.Join(parts, []byte("\n")), true
}

// rewriteHost replaces the recorded host with the request's in body. On
// a versioned request, API URLs get the version too, as Django REST
// framework's versioned reverse gives them, except the "checks" and
// "comments" links of patches and covers, which Patchwork builds without
// the version.
func rewriteHost(r *http.Request, body []byte) []byte {
	host := []byte(scheme(r) + "://" + r.Host)
	if m := apiVersionRe.FindStringSubmatch(r.URL.Path); m != nil {
		versioned := append(slices.Clone(host), "/api/"+m[1]+"/"...)
		body = versionedRe.ReplaceAllFunc(body, func(u []byte) []byte {
			if u[0] == '"' {
				return u
			}
			return versioned
		})
	}
	return bytes.ReplaceAll(body, []byte(recordedHost), host)
}

// writeJSON writes a JSON answer; an API view has set its Allow header.
func (f *Fake) writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte, link string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if link != "" {
		h.Set("Link", link)
	}
	h.Set("Vary", "Accept, Cookie")
	f.write(w, r, status, f.applyEdits(body, true))
}

func (f *Fake) writeHTML(w http.ResponseWriter, r *http.Request, status int, body []byte, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Vary", "Cookie")
	f.write(w, r, status, body)
}

// notFoundHTML is the server's HTML 404 page, naming the path.
func (f *Fake) notFoundHTML(w http.ResponseWriter, r *http.Request) {
	body := bytes.Replace(f.data.notFoundPage, []byte("<code>/api/series/abc/</code>"),
		[]byte("<code>"+html.EscapeString(r.URL.Path)+"</code>"), 1)
	f.writeHTML(w, r, http.StatusNotFound, body, "text/html; charset=utf-8")
}

func (f *Fake) writeMbox(w http.ResponseWriter, r *http.Request, contentType, name string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", "attachment; filename="+filename(name))
	f.write(w, r, http.StatusOK, f.applyEdits(body, false))
}

// filename is Patchwork's download name of a patch or series.
func filename(name string) string {
	return strings.Trim(downloadNameRe.ReplaceAllString(name, "-"), "-") + ".patch"
}

func (f *Fake) write(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	body = rewriteHost(r, body)
	h := w.Header()
	h.Set("Server", "WSGIServer/0.2 CPython/3.11.2")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
