package kcifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// APIHandler serves the KernelCI API's read endpoints over the store.
func (f *Fake) APIHandler() http.Handler {
	return http.HandlerFunc(f.serveAPI)
}

// versionRE is the real middleware's test for a version prefix.
var versionRE = regexp.MustCompile(`^/(v[\d.]+)`)

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if m := versionRE.FindStringSubmatch(p); m != nil {
		if m[1] != "v0" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "Unsupported API version: %s", m[1])
			return
		}
		p = strings.TrimPrefix(p, "/v0")
	} else {
		p = strings.TrimPrefix(p, "/latest")
	}
	route := func(name string) bool { return p == name }
	switch {
	case route("/nodes"), route("/count"), strings.HasPrefix(p, "/node/") && strings.Count(p, "/") == 2:
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	switch {
	case route("/nodes"):
		f.listNodes(w, r.URL.Query())
	case route("/count"):
		f.countNodes(w, r.URL.Query())
	default:
		f.getNode(w, strings.TrimPrefix(p, "/node/"))
	}
}

// objectIDRE matches a valid Mongo ObjectId in hex.
var objectIDRE = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

func invalidID(id string) string {
	return fmt.Sprintf("'%s' is not a valid ObjectId, it must be a 12-byte input or a 24-character hex string", id)
}

func (f *Fake) getNode(w http.ResponseWriter, id string) {
	if !objectIDRE.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": invalidID(id)})
		return
	}
	f.mu.Lock()
	n, ok := f.byID[id]
	var out any
	if ok {
		out = n.clone()
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) listNodes(w http.ResponseWriter, q url.Values) {
	limit, offset, verr := pageParams(q)
	if verr != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{verr}})
		return
	}
	q.Del("limit")
	q.Del("offset")
	conds, detail := parseConds(q)
	if detail != "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": detail})
		return
	}
	items, total := f.query(conds, offset, limit)
	writeJSON(w, http.StatusOK, map[string]any{
		"items": items, "total": total, "limit": limit, "offset": offset,
	})
}

// countNodes answers /count. Unlike /nodes it keeps limit and offset as
// filters, as the real handler does.
func (f *Fake) countNodes(w http.ResponseWriter, q url.Values) {
	conds, detail := parseConds(q)
	if detail != "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": detail})
		return
	}
	_, total := f.query(conds, 0, 0)
	writeJSON(w, http.StatusOK, total)
}

// pageParams validates limit (>= 1, no maximum, default 50) and offset (>=
// 0, default 0) like fastapi-pagination; a failure is one FastAPI
// validation error (recorded: nodes-limit-0, nodes-limit-500,
// nodes-offset-negative).
func pageParams(q url.Values) (limit, offset int, verr map[string]any) {
	limit, offset = 50, 0
	check := func(name string, dst *int, lo, hi int) map[string]any {
		if !q.Has(name) {
			return nil
		}
		raw := q.Get(name)
		v, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			return map[string]any{"type": "int_parsing", "loc": []string{"query", name}, "msg": "Input should be a valid integer, unable to parse string as an integer", "input": raw}
		case v < lo:
			return map[string]any{"type": "greater_than_equal", "loc": []string{"query", name}, "msg": fmt.Sprintf("Input should be greater than or equal to %d", lo), "input": raw}
		case hi > 0 && v > hi:
			return map[string]any{"type": "less_than_equal", "loc": []string{"query", name}, "msg": fmt.Sprintf("Input should be less than or equal to %d", hi), "input": raw}
		}
		*dst = v
		return nil
	}
	if verr = check("limit", &limit, 1, 0); verr != nil {
		return 0, 0, verr
	}
	return limit, offset, check("offset", &offset, 0, 0)
}

// query returns copies of the nodes satisfying every condition, in
// insertion order, from offset and at most limit of them, with the total
// count of matches. It looks only at the index's candidates (index.go).
func (f *Fake) query(conds []cond, offset, limit int) ([]*Node, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return filter(f.candidatesLocked(conds), conds, offset, limit)
}

// filter is query over the given nodes.
func filter(nodes []*Node, conds []cond, offset, limit int) ([]*Node, int) {
	items := []*Node{}
	total := 0
	for _, n := range nodes {
		if parentMismatch(conds, n) || fieldMismatch(conds, n) {
			continue
		}
		var d map[string]any
		ok := true
		for _, c := range conds {
			if _, direct := topField(c, n); direct {
				continue
			}
			if d == nil {
				d = n.doc()
			}
			if !c.match(d) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if total >= offset && len(items) < limit {
			items = append(items, n.clone())
		}
		total++
	}
	return items, total
}

// parentMismatch reports whether n fails an equality filter on parent,
// which needs no JSON document: listing children is the most frequent
// query, and building every node's document for each one is slow.
func parentMismatch(conds []cond, n *Node) bool {
	for _, c := range conds {
		if c.op != "" || len(c.path) != 1 || c.path[0] != "parent" {
			continue
		}
		switch w := c.want.(type) {
		case nil:
			if n.Parent != nil {
				return true
			}
		case string:
			if n.Parent == nil || *n.Parent != w {
				return true
			}
		}
	}
	return false
}

// topField returns the value of a top-level string field an equality
// condition names, read from the node without building its JSON document;
// direct is false for any other condition.
func topField(c cond, n *Node) (v string, direct bool) {
	if _, isStr := c.want.(string); c.op != "" || len(c.path) != 1 || !isStr {
		return "", false
	}
	switch c.path[0] {
	case "kind":
		return n.Kind, true
	case "name":
		return n.Name, true
	case "state":
		return n.State, true
	case "treeid":
		return n.TreeID, true
	case "owner":
		return n.Owner, true
	case "submitter":
		return n.Submitter, true
	}
	return "", false
}

// fieldMismatch reports whether n fails an equality filter on a top-level
// string field (topField).
func fieldMismatch(conds []cond, n *Node) bool {
	for _, c := range conds {
		if v, direct := topField(c, n); direct && v != c.want {
			return true
		}
	}
	return false
}

// cond is one query filter: the field's dotted path, the operator ("" for
// equality) and the wanted value, already typed.
type cond struct {
	path []string
	op   string
	want any
	ts   bool // the field is a timestamp: compare as times
}

// isTimestamp reports whether the API parses the field's filter values as
// ISO-8601 timestamps.
func isTimestamp(field string) bool {
	switch field {
	case "created", "updated", "timeout", "holdoff":
		return true
	}
	return false
}

// parseConds turns query parameters into conditions the way the API does:
// "null" is None, "field__op" splits into an operator only when there is
// exactly one "__", parent must be an ObjectId, timestamp fields are parsed,
// plain "true"/"false" are booleans and decimal operator values are
// integers. A repeated parameter keeps its last value. A value the API
// cannot convert yields the API's 400 detail message instead.
func parseConds(q url.Values) ([]cond, string) {
	var conds []cond
	for key, vals := range q {
		raw := vals[len(vals)-1]
		field, op := key, ""
		if parts := strings.Split(key, "__"); len(parts) == 2 {
			field, op = parts[0], parts[1]
		}
		c := cond{path: strings.Split(field, "."), op: op, ts: isTimestamp(field)}
		switch {
		case raw == "null":
			c.want = nil
		case field == "parent":
			if !objectIDRE.MatchString(raw) {
				return nil, invalidID(raw)
			}
			c.want = strings.ToLower(raw)
		case c.ts && op != "in" && op != "nin":
			t, ok := parseISO(raw)
			if !ok {
				return nil, fmt.Sprintf("Invalid isoformat string: '%s'", raw)
			}
			c.want = t
		case op == "in" || op == "nin":
			c.want = strings.Split(raw, ",")
		case op == "":
			switch strings.ToLower(raw) {
			case "true":
				c.want = true
			case "false":
				c.want = false
			default:
				c.want = raw
			}
		default:
			if n, err := strconv.Atoi(raw); err == nil && isDecimal(raw) {
				c.want = float64(n)
			} else {
				c.want = raw
			}
		}
		conds = append(conds, c)
	}
	return conds, ""
}

func isDecimal(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// lookup walks a dotted path through nested objects.
func lookup(d map[string]any, path []string) (any, bool) {
	var v any = d
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// match evaluates the condition with MongoDB's semantics for the cases the
// API produces: equality matches an element of an array, $ne matches a
// missing field, comparisons only hold between values of the same type, and
// an unknown operator matches nothing.
func (c cond) match(d map[string]any) bool {
	v, _ := lookup(d, c.path)
	switch c.op {
	case "":
		return c.equal(v, c.want)
	case "ne":
		return !c.equal(v, c.want)
	case "in", "nin":
		in := false
		for _, w := range c.want.([]string) {
			if c.equal(v, w) {
				in = true
			}
		}
		return in == (c.op == "in")
	case "re":
		s, ok := v.(string)
		w, _ := c.want.(string)
		re, err := regexp.Compile(w)
		return ok && err == nil && re.MatchString(s)
	case "lt", "lte", "gt", "gte":
		cmp, ok := c.compare(v, c.want)
		if !ok {
			return false
		}
		switch c.op {
		case "lt":
			return cmp < 0
		case "lte":
			return cmp <= 0
		case "gt":
			return cmp > 0
		}
		return cmp >= 0
	}
	return false
}

// equal compares a document value with a wanted value; an array matches
// when any element does.
func (c cond) equal(v, want any) bool {
	if arr, ok := v.([]any); ok && want != nil {
		for _, e := range arr {
			if c.equal(e, want) {
				return true
			}
		}
		return false
	}
	if want == nil {
		return v == nil
	}
	cmp, ok := c.compare(v, want)
	return ok && cmp == 0
}

// compare orders two values of the same type: numbers, strings, or
// timestamps on a timestamp field. ok is false across types.
func (c cond) compare(v, want any) (cmp int, ok bool) {
	switch w := want.(type) {
	case bool:
		b, isBool := v.(bool)
		if !isBool || b != w {
			return 1, isBool
		}
		return 0, true
	case float64:
		n, isNum := v.(float64)
		if !isNum {
			return 0, false
		}
		return cmpOrdered(n, w), true
	case time.Time:
		s, isStr := v.(string)
		if !isStr || !c.ts {
			return 0, false
		}
		t, ok := parseISO(s)
		if !ok {
			return 0, false
		}
		return t.Compare(w), true
	case string:
		s, isStr := v.(string)
		if !isStr {
			return 0, false
		}
		return strings.Compare(s, w), true
	}
	return 0, false
}

func cmpOrdered(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
