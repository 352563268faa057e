package kcifake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

const (
	treeURL = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	c1      = "1111111111111111111111111111111111111111"
	c2      = "2222222222222222222222222222222222222222"
	missing = "0123456789abcdef01234567"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	fake    *kcifake.Fake
	clock   *clock
	api     *httptest.Server
	pipe    *httptest.Server
	patches *httptest.Server
}

func newEnv(t *testing.T, allowed ...string) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.patches = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/mbox/") {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "From: dev@example.org\n\n---\n")
	}))
	t.Cleanup(e.patches.Close)
	e.fake = kcifake.New(kcifake.Options{
		Secret: []byte("s"), AllowedDomains: allowed, Now: e.clock.Now,
		HTTPClient: e.patches.Client(),
	})
	e.api = httptest.NewServer(e.fake.APIHandler())
	t.Cleanup(e.api.Close)
	e.pipe = httptest.NewServer(e.fake.PipelineHandler())
	t.Cleanup(e.pipe.Close)
	return e
}

// get returns the status and body of a GET on the API.
func (e *env) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.api.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// ids lists the ids of a /nodes answer.
func ids(t *testing.T, body string) []string {
	t.Helper()
	var page struct {
		Items []kcifake.Node `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out := []string{}
	for _, n := range page.Items {
		out = append(out, n.ID)
	}
	return out
}

func TestAPIPathsAndErrors(t *testing.T) {
	e := newEnv(t)
	id := e.fake.AddCheckout("net-next", treeURL, "main", c1)
	tests := []struct {
		path   string
		status int
		body   string // substring of the body
	}{
		{path: "/latest/nodes", status: 200, body: `"total":1`},
		{path: "/v0/nodes", status: 200, body: `"total":1`},
		{path: "/nodes", status: 200, body: `"total":1`},
		{path: "/v1/nodes", status: 400, body: "Unsupported API version: v1"},
		{path: "/latest/node/" + id, status: 200, body: `"id":"` + id + `"`},
		{path: "/latest/node/" + missing, status: 200, body: "null"},
		{path: "/latest/node/nope", status: 400, body: "is not a valid ObjectId"},
		{path: "/latest/nodes?limit=100", status: 200, body: `"limit":100`},
		{path: "/latest/nodes?limit=101", status: 200, body: `"limit":101`},
		{path: "/latest/nodes?limit=0", status: 422, body: "greater than or equal to 1"},
		{path: "/latest/nodes?offset=-1", status: 422, body: "greater than or equal to 0"},
		{path: "/latest/nodes?parent=nope", status: 400, body: "is not a valid ObjectId"},
		{path: "/latest/nodes?created__gte=yesterday", status: 400, body: "Invalid isoformat string"},
		{path: "/latest/count?kind=checkout", status: 200, body: "1"},
		{path: "/latest/count?kind=checkout&limit=10", status: 200, body: "0"},
		{path: "/latest/whoami", status: 404, body: "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := e.get(t, tt.path)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s = %d %s, want %d with %q", tt.path, status, body, tt.status, tt.body)
			}
		})
	}
}

func TestAPIFilters(t *testing.T) {
	e := newEnv(t)
	a := e.fake.AddCheckout("net-next", treeURL, "main", c1)
	e.clock.Advance(time.Hour)
	b := e.fake.AddCheckout("net-next", treeURL, "testing", c2)
	if err := e.fake.Finish(b, "fail"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	child := e.fake.AddNode(kcifake.Node{Kind: "kbuild", Name: "kbuild-gcc-12-x86",
		Path: []string{"checkout", "kbuild-gcc-12-x86"}, Parent: kcifake.StrPtr(a)})
	tests := []struct {
		query string
		want  []string
	}{
		{query: "kind=checkout", want: []string{a, b}},
		{query: "data.kernel_revision.branch=main", want: []string{a}},
		{query: "data.kernel_revision.commit=" + c2, want: []string{b}},
		{query: "result=null", want: []string{child}},
		{query: "result__ne=fail", want: []string{a, child}},
		{query: "state__in=available,done", want: []string{a, b}},
		{query: "state__nin=available,done", want: []string{child}},
		{query: "name__re=^kbuild", want: []string{child}},
		{query: "path=kbuild-gcc-12-x86", want: []string{child}},
		{query: "parent=" + a, want: []string{child}},
		{query: "created__gte=2026-03-01T12:30:00", want: []string{b, child}},
		{query: "created__lt=2026-03-01T13:00:00&kind=checkout", want: []string{a}},
		{query: "processed_by_kcidb_bridge=false&kind=kbuild", want: []string{child}},
		{query: "kind__bogus=checkout", want: []string{}},
		{query: "kind=checkout&kind=kbuild", want: []string{child}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := e.get(t, "/latest/nodes?"+tt.query)
			if got := ids(t, body); status != 200 || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("status %d ids %v, want %v", status, got, tt.want)
			}
		})
	}
}

func TestAPIPaging(t *testing.T) {
	e := newEnv(t)
	var all []string
	for range 7 {
		all = append(all, e.fake.AddCheckout("net-next", treeURL, "main", c1))
	}
	tests := []struct {
		query string
		want  []string
	}{
		{query: "limit=3", want: all[:3]},
		{query: "limit=3&offset=3", want: all[3:6]},
		{query: "limit=3&offset=6", want: all[6:]},
		{query: "limit=3&offset=9", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, body := e.get(t, "/latest/nodes?"+tt.query)
			if got := ids(t, body); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
			if !strings.Contains(body, `"total":7`) {
				t.Errorf("body %s lacks the total", body)
			}
		})
	}
}

func TestPatchsetRefusals(t *testing.T) {
	e := newEnv(t)
	checkout := e.fake.AddCheckout("net-next", treeURL, "main", c1)
	kbuild := e.fake.AddNode(kcifake.Node{Kind: "kbuild", Name: "kbuild", Parent: kcifake.StrPtr(checkout)})
	good := e.fake.Token("dev@example.org", "patchset")
	mbox := e.patches.URL + "/mbox/1/"
	tests := []struct {
		name    string
		method  string
		path    string
		auth    string
		body    string
		status  int
		message string // substring of the body
	}{
		{name: "body checked before auth", auth: "", body: `{"patchurl":["` + mbox + `"]}`,
			status: 422, message: "Field required"},
		{name: "no JSON", auth: good, body: `nodeid=x`, status: 422, message: "JSON decode error"},
		{name: "patchurl not a list", auth: good, body: `{"nodeid":"` + checkout + `","patchurl":"` + mbox + `"}`,
			status: 422, message: "valid list"},
		{name: "no Authorization", body: body(checkout, mbox), status: 401, message: "Unauthorized"},
		{name: "Bearer prefix", auth: "Bearer " + good, body: body(checkout, mbox), status: 401, message: "Unauthorized"},
		{name: "not a JWT", auth: "s3cret", body: body(checkout, mbox), status: 401, message: "Unauthorized"},
		{name: "another secret", auth: kcifake.New(kcifake.Options{Secret: []byte("t")}).Token("dev@example.org", "patchset"),
			body: body(checkout, mbox), status: 401, message: "Unauthorized"},
		{name: "no permissions", auth: e.fake.Token("dev@example.org"), body: body(checkout, mbox),
			status: 401, message: "Unauthorized"},
		{name: "other permission", auth: e.fake.Token("dev@example.org", "checkout", "testretry"),
			body: body(checkout, mbox), status: 401, message: "Unauthorized"},
		{name: "no email", auth: e.fake.Token("", "patchset"), body: body(checkout, mbox),
			status: 401, message: "Unauthorized"},
		{name: "unknown node", auth: good, body: body(missing, mbox), status: 404, message: "Node not found"},
		{name: "node id not an ObjectId", auth: good, body: body("nope", mbox), status: 500, message: "Internal server error"},
		{name: "not a checkout", auth: good, body: body(kbuild, mbox), status: 400, message: "Node is not a checkout"},
		{name: "no patches", auth: good, body: `{"nodeid":"` + checkout + `","patchurl":[]}`,
			status: 400, message: "Missing patch URL or patch"},
		{name: "empty inline patch", auth: good, body: `{"nodeid":"` + checkout + `","patch":[""]}`,
			status: 400, message: "Invalid patch element type"},
		{name: "patch URL not a string", auth: good, body: `{"nodeid":"` + checkout + `","patchurl":[1]}`,
			status: 400, message: "Invalid patch URL element type"},
		{name: "patch URL not http", auth: good, body: body(checkout, "ftp://example.org/p"),
			status: 400, message: "Invalid patch URL"},
		{name: "patch URL not found", auth: good, body: body(checkout, e.patches.URL+"/gone"),
			status: 400, message: "Invalid patch URL"},
		{name: "GET", method: http.MethodGet, auth: good, status: 405, message: "Method Not Allowed"},
		{name: "other path", path: "/api/checkouts", auth: good, body: body(checkout, mbox),
			status: 404, message: "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path := tt.method, tt.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/api/patchset"
			}
			status, got := e.do(t, method, path, tt.auth, tt.body)
			if status != tt.status || !strings.Contains(got, tt.message) {
				t.Errorf("%s %s = %d %s, want %d with %q", method, path, status, got, tt.status, tt.message)
			}
			if e.fake.Submissions() != 0 || len(e.fake.Patchsets()) != 0 {
				t.Errorf("a refused request created a node")
			}
		})
	}
}

func body(nodeID string, urls ...string) string {
	b, _ := json.Marshal(map[string]any{"nodeid": nodeID, "patchurl": urls})
	return string(b)
}

func (e *env) do(t *testing.T, method, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.pipe.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestPatchsetCreatesNode(t *testing.T) {
	e := newEnv(t)
	checkout := e.fake.AddCheckout("net-next", treeURL, "main", c1)
	e.clock.Advance(time.Minute)
	urls := []string{e.patches.URL + "/mbox/1/", e.patches.URL + "/mbox/2/"}
	req, _ := json.Marshal(map[string]any{"nodeid": checkout, "patchurl": urls,
		"jobfilter": []string{"baseline-x86"}, "platformfilter": []string{"qemu-x86"}})

	status, got := e.do(t, http.MethodPost, "/api/patchset", e.fake.Token("dev@example.org", "patchset"), string(req))
	if status != 200 {
		t.Fatalf("status %d: %s", status, got)
	}
	var resp struct {
		Message string       `json:"message"`
		Node    kcifake.Node `json:"node"`
	}
	if err := json.Unmarshal([]byte(got), &resp); err != nil {
		t.Fatal(err)
	}
	n := resp.Node
	now := e.clock.Now()
	want := kcifake.Node{
		ID: n.ID, Kind: "checkout", Name: "patchset", Path: []string{"checkout", "patchset"},
		Group: kcifake.StrPtr("patchset"), Parent: kcifake.StrPtr(checkout), State: "running",
		Artifacts:      map[string]string{"patch0": urls[0], "patch1": urls[1]},
		Data:           map[string]any{"kernel_revision": map[string]any{"tree": "net-next", "url": treeURL, "branch": "main", "commit": c1}},
		JobFilter:      []string{"baseline-x86"},
		PlatformFilter: []string{"qemu-x86"},
		Created:        kcifake.Time{Time: now}, Updated: kcifake.Time{Time: now},
		Timeout:   kcifake.Time{Time: now.Add(300 * time.Minute)},
		Owner:     "staging.kernelci.org",
		Submitter: "user:dev@example.org", TreeID: n.TreeID, UserGroups: []string{},
	}
	if resp.Message != "OK" || !reflect.DeepEqual(n, want) {
		t.Errorf("answer %s\nwant node %+v", got, want)
	}
	stored, ok := e.fake.Node(n.ID)
	if !ok || !reflect.DeepEqual(stored, n) || e.fake.Submissions() != 1 {
		t.Errorf("stored %+v (found %v), %d submissions", stored, ok, e.fake.Submissions())
	}
	if !strings.Contains(got, `"result":null`) || !strings.Contains(got, `"created":"2026-03-01T12:01:00.000000"`) {
		t.Errorf("answer %s does not render null result and naive timestamps like the API", got)
	}
}

func TestProcess(t *testing.T) {
	available := func(e *env) string { return e.fake.AddCheckout("net-next", treeURL, "main", c1) }
	tests := []struct {
		name     string
		allowed  []string
		checkout func(e *env) string
		state    string
		result   string
	}{
		{name: "allowed patch, available parent", allowed: []string{"127.0.0.1"}, checkout: available,
			state: "available", result: "pass"},
		{name: "patch off the allow-list", allowed: []string{"patchwork.kernel.org"}, checkout: available,
			state: "done", result: "fail"},
		{name: "parent still running", allowed: []string{"127.0.0.1"}, state: "running",
			checkout: func(e *env) string {
				return e.fake.AddNode(kcifake.Node{Kind: "checkout", Name: "checkout", State: "running",
					Data: map[string]any{"kernel_revision": map[string]any{"url": treeURL, "branch": "main", "commit": c1}}})
			}},
		{name: "parent failed", allowed: []string{"127.0.0.1"}, state: "done", result: "fail",
			checkout: func(e *env) string {
				id := available(e)
				if err := e.fake.Finish(id, "fail"); err != nil {
					t.Fatal(err)
				}
				return id
			}},
		{name: "parent incomplete", allowed: []string{"127.0.0.1"}, state: "done", result: "fail",
			checkout: func(e *env) string {
				id := available(e)
				if err := e.fake.Finish(id, "incomplete"); err != nil {
					t.Fatal(err)
				}
				return id
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.allowed...)
			checkout := tt.checkout(e)
			status, got := e.do(t, http.MethodPost, "/api/patchset", e.fake.Token("d@example.org", "patchset"),
				body(checkout, e.patches.URL+"/mbox/1/"))
			if status != 200 {
				t.Fatalf("status %d: %s", status, got)
			}
			e.fake.Process()
			n := e.fake.Patchsets()[0]
			result := ""
			if n.Result != nil {
				result = *n.Result
			}
			if n.State != tt.state || result != tt.result {
				t.Errorf("state %s result %q, want %s %q", n.State, result, tt.state, tt.result)
			}
		})
	}
}

func TestSetStateTransitions(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{from: "running", to: "available", ok: true},
		{from: "running", to: "done", ok: true},
		{from: "available", to: "closing", ok: true},
		{from: "available", to: "running"},
		{from: "done", to: "running"},
		{from: "done", to: "done", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.from+"->"+tt.to, func(t *testing.T) {
			e := newEnv(t)
			id := e.fake.AddNode(kcifake.Node{Name: "n", State: tt.from})
			err := e.fake.SetState(id, tt.to, "")
			if (err == nil) != tt.ok {
				t.Errorf("SetState = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if err := newEnv(t).fake.Finish(missing, "pass"); err == nil {
		t.Error("Finish of an unknown node succeeded")
	}
}

// TestQueryEscaping checks that filter values survive URL encoding, as
// tree URLs and patch URLs are values.
func TestQueryEscaping(t *testing.T) {
	e := newEnv(t)
	id := e.fake.AddCheckout("net-next", treeURL+"?x=1&y=2", "main", c1)
	_, body := e.get(t, "/latest/nodes?"+url.Values{"data.kernel_revision.url": {treeURL + "?x=1&y=2"}}.Encode())
	if got := ids(t, body); !reflect.DeepEqual(got, []string{id}) {
		t.Errorf("ids %v, want [%s]", got, id)
	}
}

// patchset submits a patchset on a new checkout through the pipeline
// handler and returns its id; process lets the patchset service apply it.
func (e *env) patchset(t *testing.T, process bool) string {
	t.Helper()
	checkout := e.fake.AddCheckout("net-next", treeURL, "main", c1)
	status, got := e.do(t, http.MethodPost, "/api/patchset", e.fake.Token("d@example.org", "patchset"),
		body(checkout, e.patches.URL+"/mbox/1/"))
	if status != 200 {
		t.Fatalf("status %d: %s", status, got)
	}
	id := e.fake.Patchsets()[0].ID
	if process {
		e.fake.Process()
	}
	return id
}

// outcome is a node's state, result and error code, for comparisons.
func outcome(t *testing.T, f *kcifake.Fake, id string) string {
	t.Helper()
	n, ok := f.Node(id)
	if !ok {
		t.Fatalf("node %s not found", id)
	}
	s := n.State
	if n.Result != nil {
		s += "/" + *n.Result
	}
	if code, _ := n.Data["error_code"].(string); code != "" {
		s += "/" + code
	}
	return s
}

func TestRunCreatesNodes(t *testing.T) {
	e := newEnv(t, "127.0.0.1")
	ps := e.patchset(t, true)
	patchset, _ := e.fake.Node(ps)
	plan := kcifake.RunPlan{Builds: []kcifake.BuildPlan{
		{Name: "kbuild-gcc-12-x86", Arch: "x86_64", Result: "pass", Tests: []kcifake.TestPlan{{
			Name: "baseline-x86", Platform: "qemu-x86", Result: "fail",
			Cases: []kcifake.CasePlan{{Name: "login", Result: "pass"}, {Name: "kernelmsg", Result: "fail"}},
		}}},
		{Name: "kbuild-clang-17-arm64", Arch: "arm64", Compiler: "clang-17", Result: "incomplete",
			ErrorCode: "kbuild_internal_error", ErrorMsg: "Infrastructure failure"},
	}}
	if err := e.fake.Run(ps, plan); err != nil {
		t.Fatalf("Run: %v", err)
	}

	builds := e.fake.Children(ps)
	if len(builds) != 2 {
		t.Fatalf("%d children of the patchset, want 2 builds", len(builds))
	}
	for i, b := range builds {
		p := plan.Builds[i]
		wantPath := []string{"checkout", "patchset", p.Name}
		if b.Kind != "kbuild" || b.Name != p.Name || !reflect.DeepEqual(b.Path, wantPath) ||
			b.Group == nil || *b.Group != p.Name || b.Parent == nil || *b.Parent != ps {
			t.Errorf("build %d: kind %s name %s path %v group %v parent %v", i, b.Kind, b.Name, b.Path, b.Group, b.Parent)
		}
		if b.TreeID != patchset.TreeID || b.Submitter != patchset.Submitter || b.Owner != "staging.kernelci.org" {
			t.Errorf("build %d: treeid %s submitter %s owner %s, want the patchset's and the pipeline's",
				i, b.TreeID, b.Submitter, b.Owner)
		}
		if !reflect.DeepEqual(b.Data["kernel_revision"], patchset.Data["kernel_revision"]) ||
			b.Data["arch"] != p.Arch || b.Data["defconfig"] != "defconfig" {
			t.Errorf("build %d: data %v", i, b.Data)
		}
	}
	if got := outcome(t, e.fake, builds[0].ID); got != "available/pass" || builds[0].Holdoff == nil ||
		builds[0].Artifacts["kernel"] == "" {
		t.Errorf("passed build: %s, holdoff %v, artifacts %v; want available/pass with a holdoff and a kernel",
			got, builds[0].Holdoff, builds[0].Artifacts)
	}
	if got := outcome(t, e.fake, builds[1].ID); got != "done/incomplete/kbuild_internal_error" ||
		builds[1].Data["compiler"] != "clang-17" || builds[1].Data["error_msg"] != "Infrastructure failure" {
		t.Errorf("broken build: %s, data %v", got, builds[1].Data)
	}
	if n := len(e.fake.Children(builds[1].ID)); n != 0 {
		t.Errorf("%d children under the broken build, want none", n)
	}

	jobs := e.fake.Children(builds[0].ID)
	if len(jobs) != 1 {
		t.Fatalf("%d test jobs, want 1", len(jobs))
	}
	job := jobs[0]
	if job.Kind != "job" || !reflect.DeepEqual(job.Path, []string{"checkout", "patchset", "kbuild-gcc-12-x86", "baseline-x86"}) ||
		job.Data["platform"] != "qemu-x86" || job.Data["arch"] != "x86_64" || outcome(t, e.fake, job.ID) != "done/fail" {
		t.Errorf("test job: kind %s path %v data %v %s", job.Kind, job.Path, job.Data, outcome(t, e.fake, job.ID))
	}
	var got []string
	for _, c := range e.fake.Children(job.ID) {
		if c.Kind != "test" || c.Group == nil || *c.Group != "baseline-x86" || len(c.Path) != 5 {
			t.Errorf("case %s: kind %s group %v path %v", c.Name, c.Kind, c.Group, c.Path)
		}
		got = append(got, c.Name+" "+outcome(t, e.fake, c.ID))
	}
	if want := []string{"login done/pass", "kernelmsg done/fail"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cases %v, want %v", got, want)
	}

	// The API serves them with the real field names.
	_, page := e.get(t, "/latest/nodes?parent="+ps)
	for _, s := range []string{`"kind":"kbuild"`, `"arch":"x86_64"`, `"error_code":"kbuild_internal_error"`,
		`"parent":"` + ps + `"`, `"state":"available"`, `"group":"kbuild-gcc-12-x86"`} {
		if !strings.Contains(page, s) {
			t.Errorf("GET /latest/nodes?parent= answer lacks %s", s)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	pass := []kcifake.TestPlan{{Name: "baseline-x86", Result: "pass"}}
	tests := []struct {
		name    string
		process bool
		id      string // "" for the patchset
		plan    kcifake.RunPlan
		want    string
	}{
		{name: "patchset not applied yet", plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "pass"}}},
			want: "available checkouts only"},
		{name: "unknown node", process: true, id: missing, want: "not found"},
		{name: "tests on a failed build", process: true,
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "fail", Tests: pass}}},
			want: "only on a build that passed"},
		{name: "tests on a running build", process: true,
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Tests: pass}}},
			want: "only on a build that passed"},
		{name: "cases of a running job", process: true,
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "pass", Tests: []kcifake.TestPlan{
				{Name: "t", Cases: []kcifake.CasePlan{{Name: "c", Result: "pass"}}}}}}},
			want: "reported with the job's result"},
		{name: "unknown result", process: true,
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "passed"}}},
			want: "bad name or result"},
		{name: "build without a name", process: true,
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Result: "pass"}}},
			want: "bad name or result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "127.0.0.1")
			ps := e.patchset(t, tt.process)
			id := ps
			if tt.id != "" {
				id = tt.id
			}
			err := e.fake.Run(id, tt.plan)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error saying %q", err, tt.want)
			}
			if n := len(e.fake.Children(ps)); n != 0 {
				t.Errorf("a refused plan created %d nodes", n)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name  string
		plan  kcifake.RunPlan
		after func(t *testing.T, e *env, ps string) // between two Settle calls
		want  []string                              // outcomes of the patchset, the build, the test job
	}{
		{name: "everything finished",
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "pass",
				Tests: []kcifake.TestPlan{{Name: "t", Result: "pass"}}}}},
			want: []string{"done/pass", "done/pass", "done/pass"}},
		{name: "a test still running",
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "pass",
				Tests: []kcifake.TestPlan{{Name: "t"}}}}},
			want: []string{"closing/pass", "closing/pass", "running"}},
		{name: "the test finishes later",
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "pass",
				Tests: []kcifake.TestPlan{{Name: "t"}}}}},
			after: func(t *testing.T, e *env, ps string) {
				job := e.fake.Children(e.fake.Children(ps)[0].ID)[0]
				if err := e.fake.Finish(job.ID, "skip"); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"done/pass", "done/pass", "done/skip"}},
		{name: "a build still running",
			plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k"}}},
			want: []string{"closing/pass", "running"}},
		{name: "a failed build", plan: kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "k", Result: "fail"}}},
			want: []string{"done/pass", "done/fail"}},
		{name: "nothing scheduled", want: []string{"done/pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "127.0.0.1")
			ps := e.patchset(t, true)
			if err := e.fake.Run(ps, tt.plan); err != nil {
				t.Fatal(err)
			}
			e.fake.Settle()
			if tt.after != nil {
				tt.after(t, e, ps)
				e.fake.Settle()
			}
			got := []string{outcome(t, e.fake, ps)}
			for id := ps; ; {
				kids := e.fake.Children(id)
				if len(kids) == 0 {
					break
				}
				id = kids[0].ID
				got = append(got, outcome(t, e.fake, id))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExpire(t *testing.T) {
	e := newEnv(t, "127.0.0.1")
	running := e.patchset(t, false)
	if err := e.fake.Expire(running); err != nil {
		t.Fatal(err)
	}
	if got := outcome(t, e.fake, running); got != "done/incomplete/node_timeout" {
		t.Errorf("unprocessed patchset after its timeout: %s", got)
	}

	e = newEnv(t, "127.0.0.1")
	ps := e.patchset(t, true)
	plan := kcifake.RunPlan{Builds: []kcifake.BuildPlan{
		{Name: "k", Result: "pass", Tests: []kcifake.TestPlan{{Name: "t"}, {Name: "u", Result: "pass"}}},
		{Name: "f", Result: "fail"},
	}}
	if err := e.fake.Run(ps, plan); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.Expire(ps); err != nil {
		t.Fatal(err)
	}
	builds := e.fake.Children(ps)
	jobs := e.fake.Children(builds[0].ID)
	got := map[string]string{
		"patchset":      outcome(t, e.fake, ps),
		"passed build":  outcome(t, e.fake, builds[0].ID),
		"failed build":  outcome(t, e.fake, builds[1].ID),
		"running test":  outcome(t, e.fake, jobs[0].ID),
		"finished test": outcome(t, e.fake, jobs[1].ID),
	}
	want := map[string]string{
		"patchset":      "done/pass",
		"passed build":  "done/pass",
		"failed build":  "done/fail",
		"running test":  "done/incomplete/node_timeout",
		"finished test": "done/pass",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the timeout: %v\nwant %v", got, want)
	}
	if err := e.fake.Expire(missing); err == nil {
		t.Error("Expire of an unknown node succeeded")
	}
}

func TestFinishWithError(t *testing.T) {
	e := newEnv(t, "127.0.0.1")
	ps := e.patchset(t, false)
	if err := e.fake.FinishWithError(ps, "fail", "", "Hunk #1 FAILED"); err != nil {
		t.Fatal(err)
	}
	n, _ := e.fake.Node(ps)
	if outcome(t, e.fake, ps) != "done/fail" || n.Data["error_msg"] != "Hunk #1 FAILED" {
		t.Errorf("node %s data %v", outcome(t, e.fake, ps), n.Data)
	}
	if err := e.fake.FinishWithError(missing, "fail", "", "x"); err == nil {
		t.Error("FinishWithError of an unknown node succeeded")
	}
}

// TestPatchURLCheck: the pipeline checks each patch URL with
// requests.head(allow_redirects=True) and takes any status below 400.
func TestPatchURLCheck(t *testing.T) {
	var methods []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		switch r.URL.Path {
		case "/moved/":
			http.Redirect(w, r, "/mbox/", http.StatusFound)
		case "/mbox/":
			if r.Method != http.MethodHead {
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
		case "/empty/":
			w.WriteHeader(http.StatusNoContent)
		case "/broken/":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		path   string
		status int
	}{
		{path: "/mbox/", status: 200},
		{path: "/moved/", status: 200},
		{path: "/empty/", status: 200},
		{path: "/broken/", status: 400},
		{path: "/gone/", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e := newEnv(t)
			f := kcifake.New(kcifake.Options{Secret: []byte("s"), HTTPClient: srv.Client()})
			checkout := f.AddCheckout("net-next", treeURL, "main", c1)
			pipe := httptest.NewServer(f.PipelineHandler())
			defer pipe.Close()
			e.pipe = pipe
			status, got := e.do(t, http.MethodPost, "/api/patchset", f.Token("d@example.org", "patchset"), body(checkout, srv.URL+tt.path))
			if status != tt.status {
				t.Errorf("status %d (%s), want %d", status, got, tt.status)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range methods {
		if m != http.MethodHead {
			t.Errorf("the check sent %s, want HEAD only", m)
		}
	}
}
