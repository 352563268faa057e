// Package rdbfake is an in-process fake of ResultsDB's API v2.0, built from
// release-engineering/resultsdb (resultsdb/controllers/api_v2.py, the
// pydantic models in resultsdb/parsers/api_v2.py, the serializer in
// resultsdb/serializers/api_v2.py and the error handlers in
// resultsdb/__init__.py). It serves what a reporter posts and what a gate
// such as Greenwave reads back:
//
//   - POST /api/v2.0/results. The body must be JSON (another Content-Type
//     is 415; unparsable JSON or a body that is not an object is 400
//     {"message": "Bad request"}, a body the real one's answer to was not
//     verified). It is validated like the pydantic model,
//     every failing field reported at once as 400 {"validation_error":
//     [{"input","loc","msg","type","url"}]}: outcome is required, a string,
//     stripped and upper-cased, and one of PASSED, INFO, FAILED,
//     NEEDS_INSPECTION plus Options.AdditionalOutcomes; testcase is required,
//     a non-empty name or an object with a non-empty "name" (and an optional
//     "ref_url" that updates the testcase); groups is a list of uuids or
//     objects; note and ref_url are strings; data is an object; submit_time
//     is milliseconds since the epoch (a number or a string of digits) or
//     "YYYY-MM-DDTHH:MM:SS.ffffff" with an optional "Z", "+00" or UTC
//     offset. A data key containing ':' is then refused with 400
//     {"message": "Colon not allowed in key name: [...]"}. Data values are
//     stored as strings (a list gives one value each, other values are
//     rendered as Python's str() would). The answer is 201 with the result
//     as GET serves it.
//   - GET /api/v2.0/results with testcases, testcases:like, outcome, groups
//     (comma means OR), since=<start>[,<end>], _sort=asc|desc:submit_time
//     or disable_sorting (default: newest first), page (0-based), limit
//     (default 20). Every other query key is a data filter: key=v1,v2 (and
//     repeated keys) match a result having any of the values; key:like=
//     takes '*' (and '%', '_') as wildcards. The answer is {"data",
//     "next", "prev"} where next and prev are this URL with another page=.
//   - GET /api/v2.0/results/latest: for each testcase, the newest result
//     matching the filters (outcome is ignored, as in the real one). With
//     _distinct_on=k1,k2, the newest per testcase and per value of each
//     data key, which is how Greenwave asks; it then needs another filter.
//   - GET /api/v2.0/results/{id}, GET /api/v2.0/healthcheck.
//
// Unknown paths answer 404 {"message": "Not found"}; a wrong method answers
// 405 with Werkzeug's HTML page. Known differences, all outside what a
// client relies on: nested objects inside data are rendered with their keys
// sorted; timestamps with an offset are converted to UTC (the real one
// leaves that to the database); requests the real service fails on with an
// unhandled exception (a testcase name or group uuid that is not a string,
// a group that is neither a string nor an object, a fractional
// submit_time, a limit below -1) answer 500 {"message": "Internal Server
// Error"}.
//
// FailNext injects failures; Results lists what was stored.
package rdbfake

import (
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
	fail      []int
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
	p, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Not found"))
		return
	}
	switch {
	case p == "/results":
		switch r.Method {
		case http.MethodGet:
			f.listResults(w, r)
		case http.MethodPost:
			f.createResult(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case p == "/results/latest":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		f.latestResults(w, r)
	case p == "/healthcheck":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, message("Health check OK"))
	case strings.HasPrefix(p, "/results/") && !strings.Contains(p[len("/results/"):], "/"):
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		f.getResult(w, r, p[len("/results/"):])
	default:
		writeJSON(w, http.StatusNotFound, message("Not found"))
	}
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
		Testcase: wireTestcase{
			Href:   root + prefix + "/testcases/" + escapePath(res.Testcase),
			Name:   res.Testcase,
			RefURL: f.testcases[res.Testcase],
		},
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
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
