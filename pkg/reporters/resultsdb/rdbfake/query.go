package rdbfake

import (
	"cmp"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultLimit is the page size when limit= is absent (QUERY_LIMIT).
const defaultLimit = 20

// reserved are the query keys that are not data filters.
var reserved = []string{"_sort", "limit", "page", "testcases", "testcases:like", "groups", "_distinct_on", "outcome", "since"}

// dataFilter is one query key that filters on result data.
type dataFilter struct {
	key    string
	like   bool
	values []string
}

// query is a parsed ResultsParams.
type query struct {
	page, limit               int
	sort                      string
	sinceStart, sinceEnd      *time.Time
	outcomes, groups          []string
	testcases, testcasesLike  []string
	distinctOn                []string
	data                      []dataFilter
	hasFilterBesideDistinctOn bool
}

// queryList is the validate_query_list of the real parser: one value is
// split on commas, stripped, empty parts dropped; repeated keys are kept as
// they are.
func queryList(vals []string) []string {
	if len(vals) != 1 {
		return vals
	}
	var out []string
	for _, p := range strings.Split(vals[0], ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseQuery validates the query string like ResultsParams and collects
// the data filters like __get_results_parse_args.
func (f *Fake) parseQuery(q url.Values) (query, []validationError) {
	p := query{limit: defaultLimit, sort: q.Get("_sort")}
	var errs []validationError
	intParam := func(name string, dst *int) {
		if !q.Has(name) {
			return
		}
		v, err := strconv.Atoi(strings.TrimSpace(q.Get(name)))
		if err != nil {
			errs = append(errs, pydanticError(name, "int_parsing",
				"Input should be a valid integer, unable to parse string as an integer", q.Get(name)))
			return
		}
		*dst = v
	}
	intParam("page", &p.page)
	intParam("limit", &p.limit)
	if q.Has("since") {
		parts := strings.Split(q.Get("since"), ",")
		start, ok := parseISO8601(parts[0])
		var end time.Time
		if ok && len(parts) > 1 {
			end, ok = parseISO8601(parts[1])
		}
		switch {
		case !ok:
			errs = append(errs, pydanticError("since", "value_error", "Value error, must be in ISO8601 format", q.Get("since")))
		case len(parts) > 1:
			p.sinceStart, p.sinceEnd = &start, &end
		default:
			p.sinceStart = &start
		}
	}
	if q.Has("outcome") {
		p.outcomes = queryList(q["outcome"])
		for i, o := range p.outcomes {
			p.outcomes[i] = strings.ToUpper(o)
			if !slices.Contains(f.outcomes, p.outcomes[i]) {
				errs = append(errs, pydanticError("outcome", "value_error",
					"Value error, must be one of: "+strings.Join(f.outcomes, ", "), q.Get("outcome")))
				break
			}
		}
	}
	p.groups = queryList(q["groups"])
	p.testcases = queryList(q["testcases"])
	p.testcasesLike = queryList(q["testcases:like"])
	p.distinctOn = queryList(q["_distinct_on"])
	for k, vals := range q {
		if slices.Contains(reserved, k) {
			continue
		}
		df := dataFilter{key: k}
		if key, mod, ok := strings.Cut(k, ":"); ok && !strings.Contains(mod, ":") {
			df.key, df.like = key, mod == "like"
		}
		for _, v := range vals {
			df.values = append(df.values, strings.Split(v, ",")...)
		}
		p.data = append(p.data, df)
	}
	slices.SortFunc(p.data, func(a, b dataFilter) int { return cmp.Compare(a.key, b.key) })
	p.hasFilterBesideDistinctOn = len(p.testcases) > 0 || len(p.testcasesLike) > 0 ||
		p.sinceStart != nil || len(p.groups) > 0 || len(p.data) > 0
	return p, errs
}

// sqlLike matches s against an SQL LIKE pattern in which '*' was replaced by
// '%': '%' is any run of characters, '_' any one character.
func sqlLike(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("^(?s)")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}

// matchOpts says which parts of a query apply.
type matchOpts struct {
	outcome, testcase bool
}

// match reports whether r satisfies the query, like select_results.
func (p *query) match(r *Result, o matchOpts) bool {
	if p.sinceStart != nil && r.SubmitTime.Before(*p.sinceStart) {
		return false
	}
	if p.sinceEnd != nil && r.SubmitTime.After(*p.sinceEnd) {
		return false
	}
	if o.outcome && len(p.outcomes) > 0 && !slices.Contains(p.outcomes, r.Outcome) {
		return false
	}
	if len(p.groups) > 0 && !slices.ContainsFunc(r.Groups, func(g string) bool { return slices.Contains(p.groups, g) }) {
		return false
	}
	if o.testcase && (len(p.testcases) > 0 || len(p.testcasesLike) > 0) {
		ok := slices.Contains(p.testcases, r.Testcase) || slices.ContainsFunc(p.testcasesLike, func(pat string) bool {
			return sqlLike(strings.ReplaceAll(pat, "*", "%"), r.Testcase)
		})
		if !ok {
			return false
		}
	}
	for _, df := range p.data {
		ok := slices.ContainsFunc(r.Data[df.key], func(v string) bool {
			if !df.like {
				return slices.Contains(df.values, v)
			}
			return slices.ContainsFunc(df.values, func(pat string) bool {
				return sqlLike(strings.ReplaceAll(pat, "*", "%"), v)
			})
		})
		if !ok {
			return false
		}
	}
	return true
}

// sortRE is the accepted form of _sort.
var sortRE = regexp.MustCompile(`^(asc|desc):(.+)$`)

// newestFirst orders results by submit time, newest first, then by id.
func newestFirst(a, b *Result) int {
	if c := b.SubmitTime.Compare(a.SubmitTime); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// order sorts results as _sort asks: asc:submit_time, desc:submit_time,
// disable_sorting (id order), anything else newest first.
func order(rs []*Result, sort string) {
	if m := sortRE.FindStringSubmatch(sort); m != nil && m[2] == "submit_time" && m[1] == "asc" {
		slices.SortStableFunc(rs, func(a, b *Result) int { return newestFirst(b, a) })
		return
	}
	if sort == "disable_sorting" {
		return
	}
	slices.SortStableFunc(rs, newestFirst)
}

// page is the body of a paginated answer.
type page struct {
	Data []wireResult `json:"data"`
	Next *string      `json:"next"`
	Prev *string      `json:"prev"`
}

// listResults handles GET /results.
func (f *Fake) listResults(w http.ResponseWriter, r *http.Request) {
	p, errs := f.parseQuery(r.URL.Query())
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"validation_error": errs})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var rs []*Result
	for _, res := range f.results {
		if p.match(res, matchOpts{outcome: true, testcase: true}) {
			rs = append(rs, res)
		}
	}
	order(rs, p.sort)
	rs, more, ok := paginate(rs, p.page, p.limit)
	if !ok {
		internalError(w)
		return
	}
	out := page{Data: []wireResult{}}
	out.Prev, out.Next = pageLinks(r, more)
	for _, res := range rs {
		out.Data = append(out.Data, f.serialize(r, res))
	}
	writeJSON(w, http.StatusOK, out)
}

// Patterns prev_next_urls rewrites the request URL with.
var (
	pageRE     = regexp.MustCompile(`([?&])page=([0-9]+)`)
	callbackRE = regexp.MustCompile(`([?&])callback=[^&]*&?`)
	ampsRE     = regexp.MustCompile(`&+`)
)

// pageLinks builds prev and next like prev_next_urls: the request URL with
// its first page=N rewritten (or page= appended), callback= removed.
func pageLinks(r *http.Request, more bool) (prev, next *string) {
	const placeholder = "[!@#$%^&*PLACEHOLDER*&^%$#@!]"
	u := external(r) + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	cur := 0
	var base string
	if m := pageRE.FindStringSubmatch(u); m != nil {
		cur, _ = strconv.Atoi(m[2])
		base = pageRE.ReplaceAllLiteralString(u, m[1]+"page="+placeholder)
	} else if strings.Contains(u, "?") {
		base = u + "&page=" + placeholder
	} else {
		base = u + "?page=" + placeholder
	}
	base = callbackRE.ReplaceAllString(base, "$1")
	base = ampsRE.ReplaceAllString(base, "&")
	if cur > 0 {
		s := strings.ReplaceAll(base, placeholder, strconv.Itoa(cur-1))
		prev = &s
	}
	if more {
		s := strings.ReplaceAll(base, placeholder, strconv.Itoa(cur+1))
		next = &s
	}
	return prev, next
}

// latestResults handles GET /results/latest.
func (f *Fake) latestResults(w http.ResponseWriter, r *http.Request) {
	p, errs := f.parseQuery(r.URL.Query())
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"validation_error": errs})
		return
	}
	if len(p.distinctOn) > 0 && !p.hasFilterBesideDistinctOn {
		writeJSON(w, http.StatusBadRequest, message("Please, provide at least one filter beside '_distinct_on'"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var rs []*Result
	if len(p.distinctOn) > 0 {
		rs = f.latestDistinct(&p)
	} else {
		rs = f.latestPerTestcase(&p)
	}
	out := struct {
		Data []wireResult `json:"data"`
	}{Data: []wireResult{}}
	for _, res := range rs {
		out.Data = append(out.Data, f.serialize(r, res))
	}
	writeJSON(w, http.StatusOK, out)
}

// latestPerTestcase returns, for each testcase the query selects, the
// results with the newest submit time among those matching the other
// filters, newest first. The caller holds f.mu.
func (f *Fake) latestPerTestcase(p *query) []*Result {
	newest := map[string]time.Time{}
	for _, res := range f.results {
		if !p.match(res, matchOpts{}) {
			continue
		}
		if t, ok := newest[res.Testcase]; !ok || res.SubmitTime.After(t) {
			newest[res.Testcase] = res.SubmitTime
		}
	}
	var rs []*Result
	for _, res := range f.results {
		if p.match(res, matchOpts{testcase: true}) && res.SubmitTime.Equal(newest[res.Testcase]) {
			rs = append(rs, res)
		}
	}
	slices.SortStableFunc(rs, newestFirst)
	return rs
}

// latestDistinct returns the newest matching result for each testcase and
// each combination of values of the _distinct_on data keys (a missing key
// is a value of its own), newest first. The caller holds f.mu.
func (f *Fake) latestDistinct(p *query) []*Result {
	best := map[string]*Result{}
	var keys []string
	for _, res := range f.results {
		if !p.match(res, matchOpts{testcase: true}) {
			continue
		}
		for _, k := range distinctKeys(res, p.distinctOn) {
			if cur, ok := best[k]; !ok || newestFirst(res, cur) < 0 {
				if !ok {
					keys = append(keys, k)
				}
				best[k] = res
			}
		}
	}
	var rs []*Result
	for _, k := range keys {
		if !slices.Contains(rs, best[k]) {
			rs = append(rs, best[k])
		}
	}
	slices.SortStableFunc(rs, newestFirst)
	return rs
}

// distinctKeys are the DISTINCT ON groups res falls in: its testcase with
// every combination of the values it has for each key.
func distinctKeys(res *Result, on []string) []string {
	keys := []string{strconv.Quote(res.Testcase)}
	for _, k := range on {
		vals := []string{"null"}
		if vs := res.Data[k]; len(vs) > 0 {
			vals = vals[:0]
			for _, v := range vs {
				vals = append(vals, strconv.Quote(v))
			}
		}
		var next []string
		for _, prefix := range keys {
			for _, v := range vals {
				next = append(next, prefix+","+v)
			}
		}
		keys = next
	}
	return keys
}
