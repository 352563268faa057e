// Package rdbfake is an in-process fake of ResultsDB's API v2.0, built from
// release-engineering/resultsdb (resultsdb/controllers/api_v2.py, the
// pydantic models in resultsdb/parsers/api_v2.py, the serializer in
// resultsdb/serializers/api_v2.py and the error handlers in
// resultsdb/__init__.py), and held to a real server: a test replays every
// exchange recorded from ResultsDB 2.2.0 in ../shared/fixtures/resultsdb
// and compares status, media type and the whole JSON body
// (replay_test.go). It serves what a reporter posts and what a gate such
// as Greenwave reads back:
//
//   - POST /api/v2.0/results. The body must be JSON (another Content-Type
//     is 415 with Werkzeug's HTML page; unparsable JSON, an empty body or a
//     body that is not an object is 400 {"message": "Bad request"}). It is
//     validated like the pydantic model, every failing field reported at
//     once as 400 {"validation_error": [{"input","loc","msg","type","url"}]}:
//     outcome is required, a string, stripped and upper-cased, and one of
//     PASSED, INFO, FAILED, NEEDS_INSPECTION plus
//     Options.AdditionalOutcomes; testcase is required, a non-empty name or
//     an object with a non-empty "name" (and an optional "ref_url" that
//     updates the testcase); groups is a list of uuids or objects (created
//     or updated on the way); note and ref_url are strings; data is an
//     object; submit_time is milliseconds since the epoch (a number or a
//     string of digits) or "YYYY-MM-DDTHH:MM:SS.ffffff" with an optional
//     "Z", "+00" or UTC offset. A data key containing ':' is then refused
//     with 400 {"message": "Colon not allowed in key name: [...]"}. Data
//     values are stored as strings (a list gives one value each, other
//     values are rendered as Python's str() would). The answer is 201 with
//     the result as GET serves it. POST /api/v2.0/results/ is 404.
//   - GET /api/v2.0/results with testcases, testcases:like, outcome, groups
//     (comma means OR), since=<start>[,<end>], _sort=asc|desc:submit_time
//     or disable_sorting (default: newest first), page (0-based), limit
//     (default 20; 0 and -1 give no results and a next link, as recorded).
//     Every other query key is a data filter: key=v1,v2 (and repeated keys)
//     match a result having any of the values; key:like= takes '*' (and
//     '%', '_') as wildcards. The answer is {"data", "next", "prev"} where
//     next and prev are this URL with another page=.
//   - GET /api/v2.0/results/latest: for each testcase, the newest result
//     matching the filters (outcome is ignored, as in the real one). With
//     _distinct_on=k1,k2, the newest per testcase and per value of each
//     data key, which is how Greenwave asks; it then needs another filter.
//   - GET /api/v2.0/results/{id}, /groups, /groups/{uuid}, /testcases
//     (name, name:like), /testcases/{name}, /healthcheck, and the API root
//     /api/v2.0/ (300 Multiple Choices with links and the outcomes).
//   - HEAD on every GET route, with the GET's Content-Length; OPTIONS with
//     Allow. GET / is 500, as the real one without OIDC (an upstream bug).
//
// Unknown paths, /api/v3 among them (registered only with OIDC), answer
// 404 {"message": "Not found"}; a wrong method answers 405 with Werkzeug's
// HTML page. Options.WriteAuth plays an authenticating proxy in front.
//
// Known differences, all outside what a client relies on: nested objects
// inside data are rendered with their keys sorted; timestamps with an
// offset are converted to UTC (the real one leaves that to the database);
// results with the same submit time come in id order (SQL leaves it open,
// and the recordings show both orders); requests the real service fails on
// with an unhandled exception (a testcase name or group uuid that is not a
// string, a group that is neither a string nor an object, a fractional
// submit_time) answer 500 {"message": "Internal Server Error"}. Where the
// database matters, the fake follows PostgreSQL, which deployments run,
// not SQLite, which the recordings ran on: _distinct_on keeps one result
// per group (SQLite ignores DISTINCT ON, capture
// results-latest-distinct-on-item), and a limit below -1 or a negative
// offset is 500 (SQLite would take them).
//
// FailNext injects failures; Results lists what was stored.
package rdbfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// prefix is where the real service mounts the v2.0 blueprint.
const prefix = "/api/v2.0"

// presetOutcomes are the outcomes every ResultsDB accepts, in the order its
// error message lists them.
var presetOutcomes = []string{"PASSED", "INFO", "FAILED", "NEEDS_INSPECTION"}

// Options configures a Fake.
type Options struct {
	// AdditionalOutcomes are the instance's ADDITIONAL_RESULT_OUTCOMES,
	// accepted beside the preset ones (Fedora adds ERROR, QUEUED and
	// RUNNING, for example). They must be upper case to be reachable, since
	// posted outcomes are upper-cased.
	AdditionalOutcomes []string
	// Now is the clock for submit times; nil means time.Now.
	Now func() time.Time
	// WriteAuth, when set, is the Authorization header value every POST
	// must carry, as an HTTP server or proxy in front of ResultsDB checks
	// it (the application checks none on API v2.0): a POST without it, or
	// with another value, is answered 401 with a WWW-Authenticate
	// challenge of the same scheme and an HTML page, as Apache httpd and
	// nginx answer (RFC 7235), not recorded. Reads stay open, as with the
	// common "<LimitExcept GET HEAD>" setting.
	WriteAuth string
}

// Result is one stored result.
type Result struct {
	ID       int
	Testcase string
	Outcome  string
	// Note and RefURL are nil when the result was posted without them.
	Note   *string
	RefURL *string
	// Data holds every value of every key, in the order they were posted.
	Data   map[string][]string
	Groups []string
	// SubmitTime is in UTC, to the microsecond.
	SubmitTime time.Time
}

// clone returns a deep copy of r.
func (r *Result) clone() Result {
	c := *r
	c.Data = make(map[string][]string, len(r.Data))
	for k, v := range r.Data {
		c.Data[k] = slices.Clone(v)
	}
	c.Groups = slices.Clone(r.Groups)
	return c
}

// Fake is the result store behind the handler. It is safe for concurrent
// use.
type Fake struct {
	now       func() time.Time
	outcomes  []string
	writeAuth string

	mu        sync.Mutex
	results   []*Result          // in id order
	testcases map[string]*string // name -> ref_url
	groups    map[string]*Group  // by uuid
	fail      []int
}

// Group is one group of results.
type Group struct {
	UUID string
	// Description and RefURL are nil until a posted group object sets them.
	Description *string
	RefURL      *string
	id          int // creation order
}

// New returns an empty fake.
func New(o Options) *Fake {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Fake{
		now:       now,
		outcomes:  append(slices.Clone(presetOutcomes), o.AdditionalOutcomes...),
		writeAuth: o.WriteAuth,
		testcases: map[string]*string{},
		groups:    map[string]*Group{},
	}
}

// Results returns a copy of every stored result, oldest id first.
func (f *Fake) Results() []Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Result, len(f.results))
	for i, r := range f.results {
		out[i] = r.clone()
	}
	return out
}

// FailNext makes the next request, whatever it is, fail with status and a
// JSON body {"message": <status text>} without touching the store. Calls
// queue up: two calls fail the next two requests.
func (f *Fake) FailNext(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, status)
}

// takeFailure pops the next injected failure.
func (f *Fake) takeFailure() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) == 0 {
		return 0, false
	}
	s := f.fail[0]
	f.fail = f.fail[1:]
	return s, true
}

// Handler serves the API under /api/v2.0.
func (f *Fake) Handler() http.Handler {
	return http.HandlerFunc(f.serve)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if status, ok := f.takeFailure(); ok {
		writeJSON(w, status, message(http.StatusText(status)))
		return
	}
	if f.writeAuth != "" && r.Method == http.MethodPost && r.Header.Get("Authorization") != f.writeAuth {
		scheme, _, _ := strings.Cut(f.writeAuth, " ")
		w.Header().Set("WWW-Authenticate", scheme+` realm="ResultsDB"`)
		w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>401 Unauthorized</title>\n"+
			"</head><body>\n<h1>Unauthorized</h1>\n</body></html>\n")
		return
	}
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The real front page fails without OIDC: its template links to
		// the v3 API, registered only with OIDC (recorded, capture "root").
		internalError(w)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	get := func(h func(http.ResponseWriter, *http.Request)) {
		// Flask answers HEAD and OPTIONS on every GET route (recorded:
		// head-results, options-results).
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h(w, r)
		case http.MethodOptions:
			options(w, "HEAD, OPTIONS, GET")
		default:
			methodNotAllowed(w, "HEAD, OPTIONS, GET")
		}
	}
	switch {
	case p == "" || p == "/":
		get(f.landing)
	case p == "/results" && r.Method == http.MethodPost:
		f.createResult(w, r)
	case p == "/results" && r.Method == http.MethodOptions:
		options(w, "POST, OPTIONS, GET, HEAD")
	case p == "/results" && r.Method != http.MethodGet && r.Method != http.MethodHead:
		methodNotAllowed(w, "POST, OPTIONS, GET, HEAD")
	case p == "/results":
		f.listResults(w, r)
	case p == "/results/latest":
		get(f.latestResults)
	case p == "/healthcheck":
		get(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, message("Health check OK")) })
	case p == "/groups":
		get(f.listGroups)
	case p == "/testcases":
		get(f.listTestcases)
	case len(p) > len("/results/") && strings.HasPrefix(p, "/results/") && !strings.Contains(p[len("/results/"):], "/"):
		get(func(w http.ResponseWriter, r *http.Request) { f.getResult(w, r, p[len("/results/"):]) })
	case len(p) > len("/groups/") && strings.HasPrefix(p, "/groups/") && !strings.Contains(p[len("/groups/"):], "/"):
		get(func(w http.ResponseWriter, r *http.Request) { f.getGroup(w, r, p[len("/groups/"):]) })
	case len(p) > len("/testcases/") && strings.HasPrefix(p, "/testcases/") && !strings.HasSuffix(p, "/results"):
		get(func(w http.ResponseWriter, r *http.Request) { f.getTestcase(w, r, p[len("/testcases/"):]) })
	default:
		writeJSON(w, http.StatusNotFound, message("Not found"))
	}
}

// landing answers the API root: 300 Multiple Choices with links and the
// instance's outcomes (recorded, capture root-v2).
func (f *Fake) landing(w http.ResponseWriter, r *http.Request) {
	root := external(r) + prefix
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"message": "Everything is fine. But choose wisely, for while the true Grail will bring you life, " +
			"the false Grail will take it from you.",
		"documentation": "http://docs.resultsdb20.apiary.io/",
		"groups":        root + "/groups",
		"results":       root + "/results",
		"testcases":     root + "/testcases",
		"outcomes":      f.outcomes,
	})
}

// getResult answers one result by id.
func (f *Fake) getResult(w http.ResponseWriter, r *http.Request, id string) {
	n, err := strconv.Atoi(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || n < 1 || n > len(f.results) {
		writeJSON(w, http.StatusNotFound, message("Result not found"))
		return
	}
	writeJSON(w, http.StatusOK, f.serialize(r, f.results[n-1]))
}

// wireTestcase is a testcase as the API renders it. Fields are in
// alphabetical order, as Flask sorts the keys it writes.
type wireTestcase struct {
	Href   string  `json:"href"`
	Name   string  `json:"name"`
	RefURL *string `json:"ref_url"`
}

// wireResult is a result as the API renders it.
type wireResult struct {
	Data       map[string][]string `json:"data"`
	Groups     []string            `json:"groups"`
	Href       string              `json:"href"`
	ID         int                 `json:"id"`
	Note       *string             `json:"note"`
	Outcome    string              `json:"outcome"`
	RefURL     *string             `json:"ref_url"`
	SubmitTime string              `json:"submit_time"`
	Testcase   wireTestcase        `json:"testcase"`
}

// serialize renders res with absolute hrefs on the request's host. The
// caller holds f.mu.
func (f *Fake) serialize(r *http.Request, res *Result) wireResult {
	root := external(r)
	data := maps.Clone(res.Data)
	if data == nil {
		data = map[string][]string{}
	}
	groups := res.Groups
	if groups == nil {
		groups = []string{}
	}
	return wireResult{
		Data:       data,
		Groups:     groups,
		Href:       fmt.Sprintf("%s%s/results/%d", root, prefix, res.ID),
		ID:         res.ID,
		Note:       res.Note,
		Outcome:    res.Outcome,
		RefURL:     res.RefURL,
		SubmitTime: isoformat(res.SubmitTime),
		Testcase:   f.serializeTestcase(r, res.Testcase),
	}
}

// external is the scheme and host a request reached the fake on.
func external(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// message is the body of the API's own errors.
func message(s string) map[string]string { return map[string]string{"message": s} }

// writeJSON answers like Flask's jsonify: compact, keys sorted, a final
// newline, with its Content-Length (so that HEAD announces the length of
// the GET, as recorded in head-results).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// options answers OPTIONS like Flask: 200, no body, the allowed methods
// (recorded, capture options-results).
func options(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// methodNotAllowed answers like Werkzeug does when no handler is
// registered for 405.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	fmt.Fprint(w, "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"+
		"<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n")
}

// internalError answers like the real service's 500 handler.
func internalError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, message("Internal Server Error"))
}
