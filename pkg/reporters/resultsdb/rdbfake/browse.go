package rdbfake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// This file serves what is read beside results: groups and testcases,
// listed and paged like results (resultsdb/controllers/api_v2.py,
// get_groups and get_testcases; recorded: groups, group-by-uuid,
// testcases, testcases-limit2, testcases-name-like, testcase-by-name).

// pageParams validates page and limit like the pydantic query models.
func pageParams(q url.Values) (page, limit int, errs []validationError) {
	limit = defaultLimit
	for _, p := range []struct {
		name string
		dst  *int
	}{{"page", &page}, {"limit", &limit}} {
		if !q.Has(p.name) {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(q.Get(p.name)))
		if err != nil {
			errs = append(errs, pydanticError(p.name, "int_parsing",
				"Input should be a valid integer, unable to parse string as an integer", q.Get(p.name)))
			continue
		}
		*p.dst = v
	}
	return page, limit, errs
}

// paginate cuts one page out of items like pagination and prev_next_urls:
// limit+1 rows from page*limit (from 0 when page is not positive), more
// when that gives more than limit rows, and then rows[:limit] with
// Python's slicing, so that limit=-1 gives no rows and a next link, as
// recorded (results-limit-neg1). ok is false where PostgreSQL refuses the
// query (a negative LIMIT or OFFSET), which the real service answers with
// 500; SQLite, which the recordings ran on, would take it.
func paginate[T any](items []T, page, limit int) (out []T, more, ok bool) {
	offset := 0
	if page > 0 {
		offset = page * limit
	}
	if limit+1 < 0 || offset < 0 {
		return nil, false, false
	}
	rows := items[min(offset, len(items)):]
	rows = rows[:min(limit+1, len(rows))]
	more = len(rows) > limit
	if limit >= 0 {
		return rows[:min(limit, len(rows))], more, true
	}
	return rows[:max(len(rows)+limit, 0)], more, true
}

// wireGroup is a group as the API renders it.
type wireGroup struct {
	Description  *string `json:"description"`
	Href         string  `json:"href"`
	RefURL       *string `json:"ref_url"`
	Results      string  `json:"results"`
	ResultsCount int     `json:"results_count"`
	UUID         string  `json:"uuid"`
}

// serializeGroup renders g. The caller holds f.mu.
func (f *Fake) serializeGroup(r *http.Request, g *Group) wireGroup {
	root := external(r) + prefix
	n := 0
	for _, res := range f.results {
		if slices.Contains(res.Groups, g.UUID) {
			n++
		}
	}
	return wireGroup{
		Description:  g.Description,
		Href:         root + "/groups/" + g.UUID,
		RefURL:       g.RefURL,
		Results:      root + "/results?groups=" + g.UUID,
		ResultsCount: n,
		UUID:         g.UUID,
	}
}

// listGroups handles GET /groups: newest first, filtered by uuid,
// description or description:like (comma means OR).
func (f *Fake) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, errs := pageParams(q)
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"validation_error": errs})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var gs []*Group
	for _, g := range f.groups {
		if groupMatches(g, q) {
			gs = append(gs, g)
		}
	}
	slices.SortFunc(gs, func(a, b *Group) int { return b.id - a.id })
	gs, more, ok := paginate(gs, page, limit)
	if !ok {
		internalError(w)
		return
	}
	out := struct {
		Data []wireGroup `json:"data"`
		Next *string     `json:"next"`
		Prev *string     `json:"prev"`
	}{Data: []wireGroup{}}
	out.Prev, out.Next = pageLinks(r, more)
	for _, g := range gs {
		out.Data = append(out.Data, f.serializeGroup(r, g))
	}
	writeJSON(w, http.StatusOK, out)
}

// groupMatches applies the filters of get_groups.
func groupMatches(g *Group, q url.Values) bool {
	desc := ""
	if g.Description != nil {
		desc = *g.Description
	}
	var names []string
	like := false
	if v := q.Get("description"); v != "" {
		names = nonEmpty(strings.Split(v, ","))
	} else if v := q.Get("description:like"); v != "" {
		names, like = nonEmpty(strings.Split(v, ",")), true
	}
	if len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool {
		if like {
			return g.Description != nil && sqlLike(strings.ReplaceAll(n, "*", "%"), desc)
		}
		return g.Description != nil && n == desc
	}) {
		return false
	}
	if v := q.Get("uuid"); v != "" && !slices.Contains(strings.Split(v, ","), g.UUID) {
		return false
	}
	return true
}

// nonEmpty drops the parts that are blank.
func nonEmpty(parts []string) []string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// getGroup answers one group by uuid.
func (f *Fake) getGroup(w http.ResponseWriter, r *http.Request, uuid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[uuid]
	if g == nil {
		writeJSON(w, http.StatusNotFound, message("Group not found"))
		return
	}
	writeJSON(w, http.StatusOK, f.serializeGroup(r, g))
}

// serializeTestcase renders a testcase. The caller holds f.mu.
func (f *Fake) serializeTestcase(r *http.Request, name string) wireTestcase {
	return wireTestcase{
		Href:   external(r) + prefix + "/testcases/" + escapePath(name),
		Name:   name,
		RefURL: f.testcases[name],
	}
}

// listTestcases handles GET /testcases: sorted by name, filtered by name
// or name:like (comma means OR).
func (f *Fake) listTestcases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, errs := pageParams(q)
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"validation_error": errs})
		return
	}
	var filters []string
	like := false
	if v := q.Get("name"); v != "" {
		filters = nonEmpty(strings.Split(v, ","))
	} else if v := q.Get("name:like"); v != "" {
		filters, like = nonEmpty(strings.Split(v, ",")), true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for name := range f.testcases {
		if len(filters) == 0 || slices.ContainsFunc(filters, func(p string) bool {
			p = strings.TrimSpace(p)
			if like {
				return sqlLike(strings.ReplaceAll(p, "*", "%"), name)
			}
			return p == name
		}) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names, more, ok := paginate(names, page, limit)
	if !ok {
		internalError(w)
		return
	}
	out := struct {
		Data []wireTestcase `json:"data"`
		Next *string        `json:"next"`
		Prev *string        `json:"prev"`
	}{Data: []wireTestcase{}}
	out.Prev, out.Next = pageLinks(r, more)
	for _, n := range names {
		out.Data = append(out.Data, f.serializeTestcase(r, n))
	}
	writeJSON(w, http.StatusOK, out)
}

// getTestcase answers one testcase by name.
func (f *Fake) getTestcase(w http.ResponseWriter, r *http.Request, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.testcases[name]; !ok {
		writeJSON(w, http.StatusNotFound, message("Testcase not found"))
		return
	}
	writeJSON(w, http.StatusOK, f.serializeTestcase(r, name))
}
