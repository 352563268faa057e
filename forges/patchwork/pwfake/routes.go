package pwfake

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Page sizes of the recorded server (REST_RESULTS_PER_PAGE and
// MAX_REST_RESULTS_PER_PAGE).
const (
	defaultPerPage = 30
	maxPerPage     = 250
)

var (
	apiVersionRe   = regexp.MustCompile(`^/api/(\d+\.\d+)/`)
	detailRe       = regexp.MustCompile(`^(series|covers)/(\d+)/$`)
	seriesMboxRe   = regexp.MustCompile(`^/series/(\d+)/mbox/$`)
	patchMboxRe    = regexp.MustCompile(`^/project/([^/]+)/patch/([^/]+)/mbox/$`)
	downloadNameRe = regexp.MustCompile(`[^-_A-Za-z0-9.]+`)
)

// route dispatches a request to its handler.
func (f *Fake) route(w http.ResponseWriter, r *http.Request, p Phase) {
	path := r.URL.Path
	if m := apiVersionRe.FindStringSubmatch(path); m != nil {
		if m[1] != "1.3" {
			f.notFoundHTML(w, r)
			return
		}
		f.api(w, r, p, strings.TrimPrefix(path, m[0]))
		return
	}
	if rest, ok := strings.CutPrefix(path, "/api/"); ok {
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

// api serves the REST routes below the version prefix.
func (f *Fake) api(w http.ResponseWriter, r *http.Request, p Phase, rest string) {
	var serve func()
	switch rest {
	case "patches/":
		serve = func() { f.list(w, r, f.data.patches, p, f.patchFilters) }
	case "series/":
		serve = func() { f.list(w, r, f.data.series, p, f.seriesFilters) }
	case "covers/":
		serve = func() { f.list(w, r, f.data.covers, p, f.coverFilters) }
	}
	if m := detailRe.FindStringSubmatch(rest); m != nil {
		serve = func() { f.detail(w, r, p, m[1], m[2]) }
	}
	switch {
	case serve == nil:
		f.notFoundHTML(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		f.writeJSON(w, r, http.StatusMethodNotAllowed,
			[]byte(fmt.Sprintf(`{"detail":"Method \"%s\" not allowed."}`, r.Method)), "")
	default:
		serve()
	}
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
	f.writeJSON(w, r, http.StatusOK, body, linkHeader(r, page, pages))
}

// last returns the last value of key, as Django's QueryDict.get does.
func last(q url.Values, key string) string {
	if v := q[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// linkHeader builds the RFC 5988 Link header of a page, as Patchwork's
// LinkHeaderPagination does on top of Django REST framework.
func linkHeader(r *http.Request, page, pages int) string {
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

// rewriteHost replaces the recorded host with the request's in body.
func rewriteHost(r *http.Request, body []byte) []byte {
	return bytes.ReplaceAll(body, []byte(recordedHost), []byte(scheme(r)+"://"+r.Host))
}

func (f *Fake) writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte, link string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if link != "" {
		h.Set("Link", link)
	}
	h.Set("Vary", "Accept, Cookie")
	h.Set("Allow", "GET, HEAD, OPTIONS")
	f.write(w, r, status, body)
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
	f.write(w, r, http.StatusOK, body)
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
