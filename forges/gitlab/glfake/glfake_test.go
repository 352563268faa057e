package glfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "glpat-fake"

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup serves a fake with a public project 1 "g/sub/p", a private fork 2
// "u/p", and n open merge requests into project 1, one minute apart.
func setup(t *testing.T, o Options, n int) (*Fake, *httptest.Server, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	o.Token, o.Now = token, clk.Now
	f := New(o)
	f.AddProject(Project{ID: 1, Path: "g/sub/p"})
	f.AddProject(Project{ID: 2, Path: "u/p", Private: true})
	for i := 1; i <= n; i++ {
		f.AddMR(MR{ProjectID: 1, IID: int64(i), SHA: "a" + strconv.Itoa(i), BaseSHA: "b" + strconv.Itoa(i),
			SourceBranch: "s" + strconv.Itoa(i), TargetBranch: "main", Author: "bob"})
		clk.Advance(time.Minute)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv, clk
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, u, tok string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("PRIVATE-TOKEN", tok)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func iidsOf(t *testing.T, body []byte) []int64 {
	t.Helper()
	var mrs []struct {
		IID int64 `json:"iid"`
	}
	if err := json.Unmarshal(body, &mrs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []int64
	for _, m := range mrs {
		out = append(out, m.IID)
	}
	return out
}

func TestListMergeRequests(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 5)
	f.Close(1, 2)
	f.Update(1, 3, func(m *MR) { m.TargetBranch = "stable" })
	f.Merge(1, 4)
	list := srv.URL + "/api/v4/projects/g%2Fsub%2Fp/merge_requests?"
	tests := []struct {
		query string
		want  []int64
		code  int
	}{
		{"", []int64{5, 4, 3, 2, 1}, 200},
		{"state=opened", []int64{5, 3, 1}, 200},
		{"state=opened&sort=asc", []int64{1, 3, 5}, 200},
		{"state=all&order_by=updated_at", []int64{4, 3, 2, 5, 1}, 200},
		{"state=merged", []int64{4}, 200},
		{"state=closed", []int64{2}, 200},
		{"target_branch=stable", []int64{3}, 200},
		{"order_by=updated_at&updated_after=2026-01-01T00:05:00Z", []int64{4, 3, 2}, 200},
		{"updated_before=2026-01-01T00:00:00Z", []int64{1}, 200},
		{"state=open", nil, 400},
		{"order_by=title", nil, 400},
		{"sort=up", nil, 400},
		{"updated_after=yesterday", nil, 400},
	}
	for _, tt := range tests {
		resp, body := do(t, "GET", list+tt.query, "", nil, "")
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d: %s", tt.query, resp.StatusCode, tt.code, body)
			continue
		}
		if tt.code == 200 && !slices.Equal(iidsOf(t, body), tt.want) {
			t.Errorf("%s: iids %v, want %v", tt.query, iidsOf(t, body), tt.want)
		}
	}
}

func TestPagination(t *testing.T) {
	tests := []struct {
		name        string
		limit       int
		query       string
		wantIIDs    int
		wantPage    string
		wantNext    string
		wantPrev    string
		wantTotal   string // "" when left out
		wantPages   string
		wantLinkRel []string
	}{
		{"first page", 0, "per_page=2", 2, "1", "2", "", "5", "3", []string{"next", "first", "last"}},
		{"middle page", 0, "per_page=2&page=2", 2, "2", "3", "1", "5", "3", []string{"prev", "next", "first", "last"}},
		{"last page", 0, "per_page=2&page=3", 1, "3", "", "2", "5", "3", []string{"prev", "first", "last"}},
		{"default per_page", 0, "", 5, "1", "", "", "5", "1", []string{"first", "last"}},
		{"per_page capped at 100", 0, "per_page=1000", 5, "1", "", "", "5", "1", []string{"first", "last"}},
		{"totals left out above the limit", 4, "per_page=2", 2, "1", "2", "", "", "", []string{"next", "first"}},
		{"beyond the last page", 0, "per_page=2&page=9", 0, "9", "", "8", "5", "3", []string{"prev", "first", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv, _ := setup(t, Options{TotalsLimit: tt.limit}, 5)
			resp, body := do(t, "GET", srv.URL+"/api/v4/projects/1/merge_requests?"+tt.query, "", nil, "")
			if n := len(iidsOf(t, body)); n != tt.wantIIDs {
				t.Errorf("%d rows, want %d", n, tt.wantIIDs)
			}
			h := resp.Header
			for name, want := range map[string]string{"X-Page": tt.wantPage, "X-Next-Page": tt.wantNext,
				"X-Prev-Page": tt.wantPrev, "X-Total": tt.wantTotal, "X-Total-Pages": tt.wantPages} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if _, ok := h["X-Total"]; ok != (tt.wantTotal != "") {
				t.Errorf("X-Total present %v, want %v", ok, tt.wantTotal != "")
			}
			var rels []string
			for _, part := range strings.Split(h.Get("Link"), ", ") {
				u, rel, _ := strings.Cut(part, "; ")
				rels = append(rels, strings.TrimSuffix(strings.TrimPrefix(rel, `rel="`), `"`))
				parsed, err := url.Parse(strings.Trim(u, "<>"))
				if err != nil || parsed.Query().Get("page") == "" {
					t.Errorf("link %q has no page", part)
				}
			}
			if !slices.Equal(rels, tt.wantLinkRel) {
				t.Errorf("Link rels %v, want %v", rels, tt.wantLinkRel)
			}
		})
	}
}

func TestSingleMergeRequest(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 2)
	f.Update(1, 2, func(m *MR) { m.BaseSHA = "" })
	tests := []struct {
		path     string
		code     int
		diffRefs string // JSON of diff_refs
	}{
		{"/api/v4/projects/1/merge_requests/1", 200, `{"base_sha":"b1","head_sha":"a1","start_sha":"b1"}`},
		{"/api/v4/projects/g%2Fsub%2Fp/merge_requests/1", 200, `{"base_sha":"b1","head_sha":"a1","start_sha":"b1"}`},
		{"/api/v4/projects/G%2Fsub%2FP/merge_requests/2", 200, `null`},
		{"/api/v4/projects/1/merge_requests/3", 404, ""},
		{"/api/v4/projects/1/merge_requests/x", 400, ""},
		{"/api/v4/projects/9/merge_requests/1", 404, ""},
	}
	for _, tt := range tests {
		resp, body := do(t, "GET", srv.URL+tt.path, "", nil, "")
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.code)
			continue
		}
		if tt.code != 200 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if got := string(m["diff_refs"]); got != tt.diffRefs {
			t.Errorf("%s: diff_refs %s, want %s", tt.path, got, tt.diffRefs)
		}
		for _, field := range []string{"iid", "project_id", "title", "description", "state", "draft", "source_branch",
			"target_branch", "source_project_id", "target_project_id", "sha", "updated_at", "web_url", "author",
			"references", "detailed_merge_status"} {
			if _, ok := m[field]; !ok {
				t.Errorf("%s: no %s field", tt.path, field)
			}
		}
	}
	_, body := do(t, "GET", srv.URL+"/api/v4/projects/1/merge_requests", "", nil, "")
	if strings.Contains(string(body), "diff_refs") {
		t.Error("the list carries diff_refs; GitLab's does not")
	}
}

func TestAuth(t *testing.T) {
	_, srv, _ := setup(t, Options{}, 1)
	status := `{"state":"success"}`
	hdr := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		code   int
	}{
		{"public read, anonymous", "GET", "/api/v4/projects/1", "", 200},
		{"public read, bad token", "GET", "/api/v4/projects/1", "wrong", 401},
		{"private read, anonymous", "GET", "/api/v4/projects/2", "", 404},
		{"private read, token", "GET", "/api/v4/projects/u%2Fp", token, 200},
		{"write, anonymous", "POST", "/api/v4/projects/1/statuses/a1", "", 401},
		{"write, bad token", "POST", "/api/v4/projects/1/statuses/a1", "wrong", 401},
		{"write, token", "POST", "/api/v4/projects/1/statuses/a1", token, 201},
		{"unknown route", "GET", "/api/v4/projects/1/issues", token, 404},
	}
	for _, tt := range tests {
		resp, body := do(t, tt.method, srv.URL+tt.path, tt.token, hdr, status)
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.code, body)
		}
		if tt.code == 401 && string(body) != `{"message":"401 Unauthorized"}` {
			t.Errorf("%s: body %s", tt.name, body)
		}
	}
}

func TestStatusStateMachine(t *testing.T) {
	tests := []struct {
		name    string
		states  []string
		lastMsg string // message of the last answer when it is a 400
		want    []string
	}{
		{"pending running success", []string{"pending", "running", "success"}, "", []string{"success"}},
		{"running twice", []string{"running", "running"}, "Cannot transition status via :run from :running", []string{"running"}},
		{"pending twice", []string{"pending", "pending"}, "Cannot transition status via :enqueue from :pending", []string{"pending"}},
		{"pending after running", []string{"running", "pending"}, "Cannot transition status via :enqueue from :running", []string{"running"}},
		{"success twice starts a new status", []string{"success", "success"}, "", []string{"success", "success"}},
		{"pending after success starts a new status", []string{"failed", "pending"}, "", []string{"failed", "pending"}},
		{"canceled", []string{"running", "canceled"}, "", []string{"canceled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv, _ := setup(t, Options{}, 1)
			var resp *http.Response
			var body []byte
			for _, st := range tt.states {
				resp, body = do(t, "POST", srv.URL+"/api/v4/projects/1/statuses/a1", token,
					map[string]string{"Content-Type": "application/json"}, `{"state":"`+st+`","name":"ci"}`)
			}
			if tt.lastMsg != "" {
				want, _ := json.Marshal(map[string]string{"message": tt.lastMsg})
				if resp.StatusCode != 400 || string(body) != string(want) {
					t.Errorf("last answer %d %s, want 400 %s", resp.StatusCode, body, want)
				}
			} else if resp.StatusCode != 201 {
				t.Errorf("last answer %d %s, want 201", resp.StatusCode, body)
			}
			var got []string
			for _, s := range f.Statuses() {
				got = append(got, s.State)
				if s.Ref != "s1" || s.Name != "ci" {
					t.Errorf("status ref %q name %q, want the MR's source branch and ci", s.Ref, s.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("statuses %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatusValidation(t *testing.T) {
	_, srv, _ := setup(t, Options{}, 1)
	long := "https://ci/" + strings.Repeat("x", 250)
	tests := []struct {
		name string
		path string
		body string
		form bool
		code int
	}{
		{"json", "/api/v4/projects/1/statuses/a1", `{"state":"running","target_url":"https://ci/1"}`, false, 201},
		{"form", "/api/v4/projects/1/statuses/a1", "state=success&context=x", true, 201},
		{"no state", "/api/v4/projects/1/statuses/a1", `{}`, false, 400},
		{"bad state", "/api/v4/projects/1/statuses/a1", `{"state":"done"}`, false, 400},
		{"long target_url", "/api/v4/projects/1/statuses/a1", `{"state":"success","target_url":"` + long + `"}`, false, 400},
		{"unknown commit", "/api/v4/projects/1/statuses/ffff", `{"state":"success"}`, false, 404},
		{"commit of another project", "/api/v4/projects/2/statuses/a1", `{"state":"success"}`, false, 404},
		{"malformed json", "/api/v4/projects/1/statuses/a1", `{`, false, 400},
	}
	for _, tt := range tests {
		ct := "application/json"
		if tt.form {
			ct = "application/x-www-form-urlencoded"
		}
		resp, body := do(t, "POST", srv.URL+tt.path, token, map[string]string{"Content-Type": ct}, tt.body)
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.code, body)
		}
	}
	resp, body := do(t, "GET", srv.URL+"/api/v4/projects/1/repository/commits/a1/statuses", token, nil, "")
	var got []map[string]any
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list statuses: %d %s", resp.StatusCode, body)
	}
	if len(got) != 2 || got[0]["status"] != "running" || got[1]["name"] != "x" {
		t.Errorf("statuses %v, want the latest of default and x, oldest first", got)
	}
}

func TestETagAndRateLimit(t *testing.T) {
	f, srv, clk := setup(t, Options{RateLimit: 3}, 1)
	u := srv.URL + "/api/v4/projects/1/merge_requests/1"
	resp, _ := do(t, "GET", u, "", nil, "")
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) || resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != "2" {
		t.Fatalf("headers %v", resp.Header)
	}
	resp, body := do(t, "GET", u, "", map[string]string{"If-None-Match": etag}, "")
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("revalidation: %d %q, want an empty 304", resp.StatusCode, body)
	}
	f.Push(1, 1, "c1")
	resp, _ = do(t, "GET", u, "", map[string]string{"If-None-Match": etag}, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after a push: %d with ETag %s, want a 200 with a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	resp, body = do(t, "GET", u, "", nil, "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		strings.TrimSpace(string(body)) != "Retry later" {
		t.Errorf("fourth request in a minute: %d %q, want 429 Retry later with Retry-After", resp.StatusCode, body)
	}
	clk.Advance(time.Minute)
	if resp, _ = do(t, "GET", u, "", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("next minute: %d, want 200", resp.StatusCode)
	}
}

func TestFaultAndRequests(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 1)
	f.SetFault(func(r *http.Request) int {
		if r.URL.Query().Get("page") == "2" {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	resp, body := do(t, "GET", srv.URL+"/api/v4/projects/1/merge_requests?page=2", token, nil, "")
	if resp.StatusCode != 503 || string(body) != `{"message":"503 Service Unavailable"}` {
		t.Errorf("fault: %d %s", resp.StatusCode, body)
	}
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/v4/projects/1/merge_requests" || reqs[0].Query.Get("page") != "2" ||
		reqs[0].Header.Get("PRIVATE-TOKEN") != token {
		t.Errorf("requests %+v", reqs)
	}
}

func TestStatusListPagesOldestFirst(t *testing.T) {
	_, srv, _ := setup(t, Options{}, 1)
	hdr := map[string]string{"Content-Type": "application/json"}
	for i := range 25 {
		state := "success"
		if i%2 == 1 {
			state = "failed"
		}
		if resp, body := do(t, "POST", srv.URL+"/api/v4/projects/1/statuses/a1", token, hdr,
			`{"state":"`+state+`","name":"ci","description":"run `+strconv.Itoa(i)+`"}`); resp.StatusCode != 201 {
			t.Fatalf("post %d: %d %s", i, resp.StatusCode, body)
		}
	}
	list := func(query string) (*http.Response, []map[string]any) {
		resp, body := do(t, "GET", srv.URL+"/api/v4/projects/1/repository/commits/a1/statuses?"+query, token, nil, "")
		var rows []map[string]any
		if err := json.Unmarshal(body, &rows); err != nil || resp.StatusCode != 200 {
			t.Fatalf("list %s: %d %s", query, resp.StatusCode, body)
		}
		return resp, rows
	}
	resp, rows := list("all=true")
	if len(rows) != 20 || rows[0]["description"] != "run 0" || rows[19]["description"] != "run 19" ||
		resp.Header.Get("X-Next-Page") != "2" || resp.Header.Get("X-Total") != "25" {
		t.Errorf("default page: %d rows from %v to %v, next %q total %q; want 20 oldest first, next 2 of 25",
			len(rows), rows[0]["description"], rows[len(rows)-1]["description"], resp.Header.Get("X-Next-Page"), resp.Header.Get("X-Total"))
	}
	resp, rows = list("all=true&page=2")
	if len(rows) != 5 || rows[4]["description"] != "run 24" || resp.Header.Get("X-Next-Page") != "" {
		t.Errorf("page 2: %d rows, next %q", len(rows), resp.Header.Get("X-Next-Page"))
	}
	if _, rows = list("all=true&per_page=500"); len(rows) != 25 {
		t.Errorf("per_page=500 gave %d rows, want all 25 (at most 100)", len(rows))
	}
	for i := 1; i < len(rows); i++ {
		if rows[i]["id"].(float64) <= rows[i-1]["id"].(float64) {
			t.Fatalf("rows not by ascending id: %v then %v", rows[i-1]["id"], rows[i]["id"])
		}
	}
}

func TestForkHeadInTargetProject(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 0)
	f.AddMR(MR{ProjectID: 1, IID: 5, SourceProjectID: 2, SHA: "f5", SourceBranch: "fix", TargetBranch: "main"})
	hdr := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, path, body string
		code             int
		msg              string
	}{
		{"fork, its branch", "/api/v4/projects/2/statuses/f5", `{"state":"success"}`, 201, ""},
		{"target, no ref", "/api/v4/projects/1/statuses/f5", `{"state":"success"}`, 404, "404 References for commit Not Found"},
		{"target, merge request ref", "/api/v4/projects/1/statuses/f5", `{"state":"success","ref":"refs/merge-requests/5/head"}`, 201, ""},
		{"another project", "/api/v4/projects/3/statuses/f5", `{"state":"success"}`, 404, ""},
	}
	f.AddProject(Project{ID: 3, Path: "x/y"})
	for _, tt := range tests {
		resp, body := do(t, "POST", srv.URL+tt.path, token, hdr, tt.body)
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, body, tt.code, tt.msg)
		}
	}
	if got := f.Statuses(); len(got) != 2 || got[1].ProjectID != 1 || got[1].Ref != "refs/merge-requests/5/head" {
		t.Errorf("statuses %+v", got)
	}
}

func TestAccessAndConflict(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 1)
	hdr := map[string]string{"Content-Type": "application/json"}
	f.UpdateProject(1, func(p *Project) { p.ReadOnly = true })
	if resp, body := do(t, "POST", srv.URL+"/api/v4/projects/1/statuses/a1", token, hdr, `{"state":"success"}`); resp.StatusCode != 403 {
		t.Errorf("read-only post: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", srv.URL+"/api/v4/projects/1/repository/commits/a1/statuses", token, nil, ""); resp.StatusCode != 200 {
		t.Errorf("read-only read: %d", resp.StatusCode)
	}
	f.UpdateProject(1, func(p *Project) { p.ReadOnly = false })
	f.UpdateProject(2, func(p *Project) { p.NoAccess = true })
	if resp, _ := do(t, "GET", srv.URL+"/api/v4/projects/2", token, nil, ""); resp.StatusCode != 404 {
		t.Errorf("no access read: %d", resp.StatusCode)
	}
	f.Conflict(1, "")
	resp, body := do(t, "POST", srv.URL+"/api/v4/projects/1/statuses/a1", token, hdr, `{"state":"running"}`)
	if resp.StatusCode != 409 || !strings.Contains(string(body), "in progress") {
		t.Errorf("conflict: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", srv.URL+"/api/v4/projects/1/statuses/a1", token, hdr, `{"state":"running"}`); resp.StatusCode != 201 {
		t.Errorf("after the conflict: %d %s", resp.StatusCode, body)
	}
}
