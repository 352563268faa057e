// Package jenkinsfake is a Jenkins controller as trawl's Jenkins target
// sees it through the remote access API: one parameterized job, the build
// queue, builds, the crumb issuer and API-token authentication. Tests
// start builds, finish them with a result and delete them through its
// methods.
//
// No exchange with a real Jenkins was recorded, so every payload and
// behaviour rests on Jenkins' documentation and source, named where it is
// built:
//
//   - https://www.jenkins.io/doc/book/using/remote-access-api/ ("Submitting
//     jobs", the `tree` parameter, "CSRF Protection").
//   - hudson.model.ParametersDefinitionProperty.buildWithParameters
//     (jenkinsci/jenkins core): each defined parameter takes the request's
//     value or its default, undefined request parameters are dropped, and
//     the answer is a redirect to the queue item: 201 Created for a new
//     item, 303 See Other when the queue merged the request into an
//     identical queued item (JENKINS-66105; older cores answered 201 to
//     both, see Options.Legacy201).
//   - hudson.model.ParametersAction.shouldSchedule: a request is merged
//     into a queued item of the same job whose parameter set is equal.
//   - hudson.model.Queue: items move waiting -> buildable -> left; a left
//     item (its `executable` the build, or `cancelled`) is kept in a cache
//     that forgets it 5 minutes after it left (`leftItems`,
//     expireAfterWrite 5*60 s); `/queue/item/N/api/json` answers 404 after.
//   - hudson.model.Job.getNewBuilds: the job's `builds` property lists the
//     newest 100 builds only.
//   - hudson.security.csrf.DefaultCrumbIssuer: `/crumbIssuer/api/json`
//     gives `crumb` and `crumbRequestField` ("Jenkins-Crumb"), bound to the
//     web session; a POST without a valid crumb is refused with 403 "No
//     valid crumb was included in the request". Since Jenkins 2.96 a
//     request authenticated with an API token needs no crumb; older
//     controllers (or a crumb-requiring proxy) do: Options.CrumbForToken.
//   - Authentication: an invalid API token gets 401 "Invalid password/token
//     for user: NAME"; a request with no credentials, where anonymous may
//     not read, gets 403.
//
// The quiet period (`delay`) is not modelled: an item stays queued until a
// test starts it (or at once, with Options.StartAtOnce).
//
// The fake serves a superset of what a `tree` asks only where Jenkins
// would too (`_class`); without a tree, the job's builds are shown at depth
// 0 (`_class`, `number`, `url`), as Jenkins shows them.
package jenkinsfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultUser  = "trawl"
	DefaultToken = "11e2f4a0c6b34d1e9f0a7b8c5d6e7f8a9b" // a Jenkins API token's form
	DefaultJob   = "ci/check"
)

// CrumbField is DefaultCrumbIssuer's crumbRequestField.
const CrumbField = "Jenkins-Crumb"

// LeftItemTTL is how long a queue item stays readable after it left the
// queue (hudson.model.Queue.leftItems).
const LeftItemTTL = 5 * time.Minute

// MaxBuilds is how many builds the job's `builds` property lists.
const MaxBuilds = 100

// sessionCookie is the name of the session cookie (Jetty names it
// JSESSIONID.<node id>).
const sessionCookie = "JSESSIONID.fake"

// The build results (hudson.model.Result).
const (
	Success  = "SUCCESS"
	Unstable = "UNSTABLE"
	Failure  = "FAILURE"
	NotBuilt = "NOT_BUILT"
	Aborted  = "ABORTED"
)

// Options configures a Fake.
type Options struct {
	// User and Token are the only valid credentials (HTTP basic auth with
	// an API token). Empty means DefaultUser and DefaultToken.
	User, Token string
	// Job is the job's full name, folders separated by "/"; empty means
	// DefaultJob.
	Job string
	// Parameters are the names of the job's string parameters, all with
	// an empty default.
	Parameters []string
	// CSRF turns the crumb issuer on (Jenkins' default).
	CSRF bool
	// CrumbForToken makes a POST authenticated with an API token need a
	// crumb too (Jenkins before 2.96); it needs CSRF.
	CrumbForToken bool
	// Legacy201 answers a request merged into a queued item with 201
	// Created, as cores before JENKINS-66105 did, instead of 303.
	Legacy201 bool
	// StartAtOnce makes a new item leave the queue as a running build as
	// soon as it is queued: an idle controller with a free executor and no
	// quiet period. Requests are then never merged.
	StartAtOnce bool
	// NoBuild denies the user Job/Build: a POST that passes the CSRF check
	// is refused with 403, as Jenkins' ACL refuses it.
	NoBuild bool
}

// Param is one parameter value of a queue item or a build.
type Param struct {
	Name  string
	Value string
}

type item struct {
	id        int64
	params    []Param
	since     time.Time
	left      time.Time // zero: still queued
	cancelled bool
	build     int
}

type build struct {
	number   int
	queueID  int64
	params   []Param
	started  time.Time
	building bool
	result   string
}

// Fake is the fake controller; it is an http.Handler and safe for
// concurrent use.
type Fake struct {
	o Options

	mu        sync.Mutex
	offset    time.Duration // Advance
	nextItem  int64
	items     map[int64]*item
	builds    map[int]*build
	nextBuild int
	sessions  map[string]string // session id -> crumb
	posts     int               // accepted buildWithParameters requests
	crumbs    int               // crumbs issued
}

var _ http.Handler = (*Fake)(nil)

// New returns a Fake with an empty queue and no builds.
func New(o Options) *Fake {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.Job == "" {
		o.Job = DefaultJob
	}
	return &Fake{o: o, nextItem: 1, nextBuild: 1, items: map[int64]*item{}, builds: map[int]*build{}, sessions: map[string]string{}}
}

// JobPath is the job's path under the root: /job/a/job/b/.
func (f *Fake) JobPath() string {
	return "/job/" + strings.Join(strings.Split(f.o.Job, "/"), "/job/") + "/"
}

// now is the fake's clock: the wall clock moved on by Advance.
func (f *Fake) now() time.Time { return time.Now().Add(f.offset) }

// Advance moves the fake's clock on by d (left queue items expire by it).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offset += d
}

// Queued lists the ids of the items still in the queue, oldest first.
func (f *Fake) Queued() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for id, it := range f.items {
		if it.left.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Start makes queued item id leave the queue as a new running build and
// returns the build's number.
func (f *Fake) Start(id int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.items[id]
	if it == nil || !it.left.IsZero() {
		return 0, fmt.Errorf("jenkinsfake: no queued item %d", id)
	}
	return f.start(it), nil
}

// start makes it leave the queue as a new running build. Callers hold
// f.mu.
func (f *Fake) start(it *item) int {
	n := f.nextBuild
	f.nextBuild++
	it.left, it.build = f.now(), n
	f.builds[n] = &build{number: n, queueID: it.id, params: slices.Clone(it.params), started: f.now(), building: true}
	return n
}

// Cancel takes queued item id out of the queue without a build.
func (f *Fake) Cancel(id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.items[id]
	if it == nil || !it.left.IsZero() {
		return fmt.Errorf("jenkinsfake: no queued item %d", id)
	}
	it.left, it.cancelled = f.now(), true
	return nil
}

// Finish ends running build n with result (SUCCESS, UNSTABLE, FAILURE,
// NOT_BUILT, ABORTED).
func (f *Fake) Finish(n int, result string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.builds[n]
	if b == nil || !b.building {
		return fmt.Errorf("jenkinsfake: no running build %d", n)
	}
	b.building, b.result = false, result
	return nil
}

// Delete deletes build n.
func (f *Fake) Delete(n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.builds[n] == nil {
		return fmt.Errorf("jenkinsfake: no build %d", n)
	}
	delete(f.builds, n)
	return nil
}

// Build is a snapshot of one build.
type Build struct {
	Number   int
	QueueID  int64
	Params   map[string]string
	Building bool
	Result   string
}

// Builds lists the builds, oldest first.
func (f *Fake) Builds() []Build {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Build
	for _, n := range slices.Sorted(maps.Keys(f.builds)) {
		b := f.builds[n]
		p := map[string]string{}
		for _, v := range b.params {
			p[v.Name] = v.Value
		}
		out = append(out, Build{Number: n, QueueID: b.queueID, Params: p, Building: b.building, Result: b.result})
	}
	return out
}

// Items is how many queue items were created: the jobs the requests made,
// merged requests not counted.
func (f *Fake) Items() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int(f.nextItem - 1)
}

// Posts is how many buildWithParameters requests were accepted, merged
// ones included.
func (f *Fake) Posts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

// Crumbs is how many crumbs the crumb issuer gave.
func (f *Fake) Crumbs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crumbs
}

// ServeHTTP serves the remote access API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, token, ok := r.BasicAuth()
	switch {
	case !ok:
		// Anonymous users may not read this controller.
		text(w, http.StatusForbidden, "Authentication required")
		return
	case user != f.o.User || token != f.o.Token:
		text(w, http.StatusUnauthorized, "Invalid password/token for user: "+user)
		return
	}
	root := "http://" + r.Host + "/"
	p := r.URL.Path
	job := f.JobPath()
	switch {
	case p == "/crumbIssuer/api/json" && r.Method == http.MethodGet:
		f.crumb(w, r)
	case p == "/queue/api/json" && r.Method == http.MethodGet:
		f.queue(w, r, root)
	case strings.HasPrefix(p, "/queue/item/") && strings.HasSuffix(p, "/api/json") && r.Method == http.MethodGet:
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(p, "/queue/item/"), "/api/json"), 10, 64)
		if err != nil {
			notFound(w)
			return
		}
		f.queueItem(w, r, root, id)
	case p == job+"buildWithParameters":
		if r.Method != http.MethodPost {
			// Stapler's @RequirePOST answers a GET with a form asking to
			// POST; 405 is what a client sees of it.
			text(w, http.StatusMethodNotAllowed, "This URL requires POST")
			return
		}
		f.trigger(w, r, root)
	case p == job+"api/json" && r.Method == http.MethodGet:
		f.job(w, r, root)
	case strings.HasPrefix(p, job) && strings.HasSuffix(p, "/api/json") && r.Method == http.MethodGet:
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, job), "/api/json"))
		if err != nil {
			notFound(w)
			return
		}
		f.build(w, r, root, n)
	default:
		notFound(w)
	}
}

// crumb serves the crumb issuer: a crumb bound to the caller's session,
// which it starts when the caller has none.
func (f *Fake) crumb(w http.ResponseWriter, r *http.Request) {
	if !f.o.CSRF {
		notFound(w)
		return
	}
	f.mu.Lock()
	sid := ""
	if c, err := r.Cookie(sessionCookie); err == nil && f.sessions[c.Value] != "" {
		sid = c.Value
	}
	if sid == "" {
		sid = randomHex(16)
		f.sessions[sid] = randomHex(32)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true})
	}
	crumb := f.sessions[sid]
	f.crumbs++
	f.mu.Unlock()
	writeJSON(w, r, map[string]any{
		"_class":            "hudson.security.csrf.DefaultCrumbIssuer",
		"crumb":             crumb,
		"crumbRequestField": CrumbField,
	})
}

// trigger is buildWithParameters.
func (f *Fake) trigger(w http.ResponseWriter, r *http.Request, root string) {
	if f.o.CSRF && f.o.CrumbForToken {
		f.mu.Lock()
		c, err := r.Cookie(sessionCookie)
		valid := err == nil && f.sessions[c.Value] != "" && r.Header.Get(CrumbField) == f.sessions[c.Value]
		f.mu.Unlock()
		if !valid {
			text(w, http.StatusForbidden, "No valid crumb was included in the request")
			return
		}
	}
	if f.o.NoBuild {
		text(w, http.StatusForbidden, f.o.User+" is missing the Job/Build permission")
		return
	}
	if len(f.o.Parameters) == 0 {
		text(w, http.StatusInternalServerError, f.o.Job+" is not parameterized")
		return
	}
	if err := r.ParseForm(); err != nil {
		text(w, http.StatusBadRequest, err.Error())
		return
	}
	params := make([]Param, len(f.o.Parameters))
	for i, name := range f.o.Parameters {
		params[i] = Param{Name: name, Value: r.Form.Get(name)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	for _, id := range slices.Sorted(maps.Keys(f.items)) {
		it := f.items[id]
		if it.left.IsZero() && sameParams(it.params, params) {
			status := http.StatusSeeOther
			if f.o.Legacy201 {
				status = http.StatusCreated
			}
			w.Header().Set("Location", fmt.Sprintf("%squeue/item/%d/", root, id))
			w.WriteHeader(status)
			return
		}
	}
	id := f.nextItem
	f.nextItem++
	f.items[id] = &item{id: id, params: params, since: f.now()}
	if f.o.StartAtOnce {
		f.start(f.items[id])
	}
	w.Header().Set("Location", fmt.Sprintf("%squeue/item/%d/", root, id))
	w.WriteHeader(http.StatusCreated)
}

// sameParams is ParametersAction.shouldSchedule's test, negated: equal
// sets of parameter values.
func sameParams(a, b []Param) bool {
	set := func(ps []Param) map[Param]bool {
		m := map[Param]bool{}
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	return maps.Equal(set(a), set(b))
}

// expired reports whether a left item is forgotten. Callers hold f.mu.
func (f *Fake) expired(it *item) bool {
	return !it.left.IsZero() && f.now().Sub(it.left) > LeftItemTTL
}

func (f *Fake) queue(w http.ResponseWriter, r *http.Request, root string) {
	f.mu.Lock()
	var items []any
	for _, id := range slices.Sorted(maps.Keys(f.items)) {
		if it := f.items[id]; it.left.IsZero() {
			items = append(items, f.itemJSON(root, it))
		}
	}
	f.mu.Unlock()
	if items == nil {
		items = []any{}
	}
	writeJSON(w, r, map[string]any{"_class": "hudson.model.Queue", "discoverableItems": []any{}, "items": items})
}

func (f *Fake) queueItem(w http.ResponseWriter, r *http.Request, root string, id int64) {
	f.mu.Lock()
	it := f.items[id]
	if it == nil || f.expired(it) {
		f.mu.Unlock()
		notFound(w)
		return
	}
	v := f.itemJSON(root, it)
	f.mu.Unlock()
	writeJSON(w, r, v)
}

// itemJSON is a queue item as hudson.model.Queue.Item exports it, a
// WaitingItem while queued, a LeftItem after. Callers hold f.mu.
func (f *Fake) itemJSON(root string, it *item) map[string]any {
	v := map[string]any{
		"_class":       "hudson.model.Queue$WaitingItem",
		"actions":      []any{paramsAction(it.params), f.causeAction()},
		"blocked":      false,
		"buildable":    false,
		"id":           it.id,
		"inQueueSince": it.since.UnixMilli(),
		"params":       paramsString(it.params),
		"stuck":        false,
		"task": map[string]any{
			"_class": "hudson.model.FreeStyleProject",
			"name":   f.o.Job[strings.LastIndexByte(f.o.Job, '/')+1:],
			"url":    root + strings.TrimPrefix(f.JobPath(), "/"),
			"color":  "blue",
		},
		"url":       fmt.Sprintf("queue/item/%d/", it.id),
		"why":       "In the quiet period. Expires in 4.9 sec",
		"timestamp": it.since.Add(5 * time.Second).UnixMilli(),
	}
	if !it.left.IsZero() {
		delete(v, "timestamp")
		v["_class"] = "hudson.model.Queue$LeftItem"
		v["why"] = nil
		v["cancelled"] = it.cancelled
		v["executable"] = nil
		if it.build != 0 {
			v["executable"] = map[string]any{
				"_class": "hudson.model.FreeStyleBuild",
				"number": it.build,
				"url":    fmt.Sprintf("%s%s%d/", root, strings.TrimPrefix(f.JobPath(), "/"), it.build),
			}
		}
	}
	return v
}

func (f *Fake) job(w http.ResponseWriter, r *http.Request, root string) {
	f.mu.Lock()
	jobURL := root + strings.TrimPrefix(f.JobPath(), "/")
	var builds []any
	for _, n := range slices.Backward(slices.Sorted(maps.Keys(f.builds))) {
		if len(builds) == MaxBuilds {
			break
		}
		builds = append(builds, f.buildJSON(jobURL, f.builds[n]))
	}
	inQueue := false
	for _, it := range f.items {
		inQueue = inQueue || it.left.IsZero()
	}
	next := f.nextBuild
	f.mu.Unlock()
	if builds == nil {
		builds = []any{}
	}
	defs := make([]any, len(f.o.Parameters))
	for i, name := range f.o.Parameters {
		defs[i] = map[string]any{
			"_class":                "hudson.model.StringParameterDefinition",
			"defaultParameterValue": map[string]any{"_class": "hudson.model.StringParameterValue", "name": name, "value": ""},
			"description":           "",
			"name":                  name,
			"type":                  "StringParameterDefinition",
		}
	}
	var property []any
	if len(defs) > 0 {
		property = append(property, map[string]any{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": defs})
	}
	if property == nil {
		property = []any{}
	}
	name := f.o.Job[strings.LastIndexByte(f.o.Job, '/')+1:]
	v := map[string]any{
		"_class":          "hudson.model.FreeStyleProject",
		"actions":         []any{map[string]any{}},
		"buildable":       true,
		"builds":          builds,
		"color":           "blue",
		"displayName":     name,
		"fullDisplayName": strings.ReplaceAll(f.o.Job, "/", " » "),
		"fullName":        f.o.Job,
		"inQueue":         inQueue,
		"name":            name,
		"nextBuildNumber": next,
		"property":        property,
		"url":             jobURL,
	}
	if r.URL.Query().Get("tree") == "" {
		// Depth 0: a build of the list shows only its class, number and
		// url.
		for i, b := range builds {
			m := b.(map[string]any)
			builds[i] = map[string]any{"_class": m["_class"], "number": m["number"], "url": m["url"]}
		}
	}
	writeJSON(w, r, v)
}

func (f *Fake) build(w http.ResponseWriter, r *http.Request, root string, n int) {
	f.mu.Lock()
	b := f.builds[n]
	if b == nil {
		f.mu.Unlock()
		notFound(w)
		return
	}
	v := f.buildJSON(root+strings.TrimPrefix(f.JobPath(), "/"), b)
	f.mu.Unlock()
	writeJSON(w, r, v)
}

// buildJSON is a build as hudson.model.Run exports it. Actions that export
// nothing show as empty objects, as in Jenkins. Callers hold f.mu.
func (f *Fake) buildJSON(jobURL string, b *build) map[string]any {
	var result any
	if !b.building {
		result = b.result
	}
	var duration int64
	if !b.building {
		duration = 1234
	}
	return map[string]any{
		"_class":            "hudson.model.FreeStyleBuild",
		"actions":           []any{paramsAction(b.params), f.causeAction(), map[string]any{}},
		"artifacts":         []any{},
		"building":          b.building,
		"description":       nil,
		"displayName":       fmt.Sprintf("#%d", b.number),
		"duration":          duration,
		"estimatedDuration": -1,
		"fullDisplayName":   fmt.Sprintf("%s #%d", strings.ReplaceAll(f.o.Job, "/", " » "), b.number),
		"id":                strconv.Itoa(b.number),
		"keepLog":           false,
		"number":            b.number,
		"queueId":           b.queueID,
		"result":            result,
		"timestamp":         b.started.UnixMilli(),
		"url":               fmt.Sprintf("%s%d/", jobURL, b.number),
	}
}

func paramsAction(ps []Param) map[string]any {
	vals := make([]any, len(ps))
	for i, p := range ps {
		vals[i] = map[string]any{"_class": "hudson.model.StringParameterValue", "name": p.Name, "value": p.Value}
	}
	return map[string]any{"_class": "hudson.model.ParametersAction", "parameters": vals}
}

func (f *Fake) causeAction() map[string]any {
	return map[string]any{"_class": "hudson.model.CauseAction", "causes": []any{map[string]any{
		"_class":           "hudson.model.Cause$UserIdCause",
		"shortDescription": "Started by user " + f.o.User,
		"userId":           f.o.User,
		"userName":         f.o.User,
	}}}
}

// paramsString is Queue.Item.getParams: "\nNAME=value" per parameter.
func paramsString(ps []Param) string {
	var s strings.Builder
	for _, p := range ps {
		s.WriteString("\n" + p.Name + "=" + p.Value)
	}
	return s.String()
}

// writeJSON answers v, filtered by the request's tree.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	if tree := r.URL.Query().Get("tree"); tree != "" {
		nodes, err := parseTree(tree)
		if err != nil {
			text(w, http.StatusBadRequest, err.Error())
			return
		}
		v = filterTree(roundTrip(v), nodes)
	}
	b, err := json.Marshal(v)
	if err != nil {
		text(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// roundTrip turns v into plain JSON values (maps, slices), which the tree
// filter walks.
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func text(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// notFound is Jenkins' 404 page, in short.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("<html><head><title>Error 404 Not Found</title></head><body><h2>HTTP ERROR 404 Not Found</h2></body></html>\n"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("jenkinsfake: no randomness"))
	}
	return hex.EncodeToString(b)
}
