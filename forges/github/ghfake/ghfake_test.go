package ghfake_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
)

const (
	token = "ghp_fake0123456789"
	repo  = "octo/widgets"
)

var start = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

// call sends one request straight to the handler.
func call(t *testing.T, f *ghfake.Fake, method, target, auth, body string, hdr ...string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.Host = "api.test"
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, req)
	return w.Result()
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// numbers lists the numbers of a pull request list.
func numbers(t *testing.T, resp *http.Response) []int64 {
	t.Helper()
	var prs []struct{ Number int64 }
	decode(t, resp, &prs)
	out := []int64{}
	for _, p := range prs {
		out = append(out, p.Number)
	}
	return out
}

func newFake(o ghfake.Options) *ghfake.Fake {
	o.Tokens = append(o.Tokens, token)
	if o.Now == nil {
		o.Now = func() time.Time { return start }
	}
	return ghfake.New(o)
}

func TestListPaging(t *testing.T) {
	f := newFake(ghfake.Options{})
	for i := 0; i < 5; i++ {
		f.AddPR(repo, ghfake.PR{HeadSHA: fmt.Sprintf("%040d", i)})
	}
	if err := f.SetHead(repo, 2, strings.Repeat("a", 40)); err != nil {
		t.Fatal(err)
	}
	const list = "/repos/" + repo + "/pulls?"
	tests := []struct {
		query string
		want  []int64
		link  string
	}{
		{"per_page=2", []int64{5, 4},
			`<http://api.test/repos/octo/widgets/pulls?page=2&per_page=2>; rel="next", <http://api.test/repos/octo/widgets/pulls?page=3&per_page=2>; rel="last"`},
		{"per_page=2&page=2", []int64{3, 2},
			`<http://api.test/repos/octo/widgets/pulls?page=1&per_page=2>; rel="prev", <http://api.test/repos/octo/widgets/pulls?page=3&per_page=2>; rel="next", <http://api.test/repos/octo/widgets/pulls?page=3&per_page=2>; rel="last", <http://api.test/repos/octo/widgets/pulls?page=1&per_page=2>; rel="first"`},
		{"per_page=2&page=3", []int64{1},
			`<http://api.test/repos/octo/widgets/pulls?page=2&per_page=2>; rel="prev", <http://api.test/repos/octo/widgets/pulls?page=1&per_page=2>; rel="first"`},
		{"sort=updated", []int64{1, 3, 4, 5, 2}, ""}, // ascending unless asked
		{"sort=updated&direction=desc", []int64{2, 5, 4, 3, 1}, ""},
		{"direction=asc", []int64{1, 2, 3, 4, 5}, ""},
		{"base=other", []int64{}, ""},
		{"per_page=1000", []int64{5, 4, 3, 2, 1}, ""},
	}
	for _, tc := range tests {
		resp := call(t, f, "GET", list+tc.query, "Bearer "+token, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", tc.query, resp.Status)
		}
		if got := resp.Header.Get("Link"); got != tc.link {
			t.Errorf("%s: Link\n got %s\nwant %s", tc.query, got, tc.link)
		}
		if got := numbers(t, resp); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: numbers %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestListStatesAndShapes(t *testing.T) {
	f := newFake(ghfake.Options{})
	body := "text"
	f.AddPR(repo, ghfake.PR{Title: "one", Body: &body, HeadRef: "a", HeadSHA: strings.Repeat("1", 40), BaseSHA: strings.Repeat("b", 40)})
	f.AddPR(repo, ghfake.PR{HeadRepo: "fork/widgets", HeadRef: "b"})
	f.AddPR(repo, ghfake.PR{HeadDeleted: true, HeadRef: "c"})
	if err := f.Merge(repo, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(repo, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(repo, 9); err == nil {
		t.Error("Close of a missing pull request succeeded")
	}
	var prs []map[string]any
	decode(t, call(t, f, "GET", "/repos/"+repo+"/pulls?state=all&direction=asc", "", ""), &prs)
	if len(prs) != 3 {
		t.Fatalf("state=all gave %d", len(prs))
	}
	one, fork, deleted := prs[0], prs[1], prs[2]
	head := one["head"].(map[string]any)
	base := one["base"].(map[string]any)
	if one["state"] != "open" || one["title"] != "one" || one["body"] != "text" || one["html_url"] != "https://github.com/octo/widgets/pull/1" ||
		head["sha"] != strings.Repeat("1", 40) || head["ref"] != "a" || base["ref"] != "main" || base["sha"] != strings.Repeat("b", 40) ||
		head["repo"].(map[string]any)["full_name"] != repo || base["repo"].(map[string]any)["clone_url"] != "https://github.com/octo/widgets.git" ||
		one["user"].(map[string]any)["login"] != "contributor" || one["merged_at"] != nil {
		t.Errorf("pull request 1: %v", one)
	}
	if fork["state"] != "closed" || fork["merged_at"] == nil || fork["merge_commit_sha"] == nil ||
		fork["head"].(map[string]any)["repo"].(map[string]any)["full_name"] != "fork/widgets" || fork["body"] != nil {
		t.Errorf("pull request 2: %v", fork)
	}
	if deleted["state"] != "closed" || deleted["merged_at"] != nil || deleted["head"].(map[string]any)["repo"] != nil {
		t.Errorf("pull request 3: %v", deleted)
	}
	if got := numbers(t, call(t, f, "GET", "/repos/"+repo+"/pulls", "", "")); fmt.Sprint(got) != "[1]" {
		t.Errorf("default state lists %v, want the open one", got)
	}
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls?state=bogus", "", ""); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("state=bogus: %s", r.Status)
	}

	var single map[string]any
	resp := call(t, f, "GET", "/repos/"+repo+"/pulls/2", "", "")
	decode(t, resp, &single)
	if single["merged"] != true || single["state"] != "closed" || single["mergeable"] != nil {
		t.Errorf("single pull request 2: %v", single)
	}
	if tag := resp.Header.Get("ETag"); strings.HasPrefix(tag, "W/") || tag == "" {
		t.Errorf("single object ETag %q, want a strong one", tag)
	}
	for _, path := range []string{"/repos/" + repo + "/pulls/9", "/repos/octo/none/pulls", "/repos/" + repo + "/pulls/x", "/user"} {
		if r := call(t, f, "GET", path, "", ""); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s", path, r.Status)
		}
	}
}

func TestConditionalRequestsAndRateLimit(t *testing.T) {
	f := newFake(ghfake.Options{Tokens: []string{"ghp_other"}})
	f.AddPR(repo, ghfake.PR{})
	const list = "/repos/" + repo + "/pulls"
	first := call(t, f, "GET", list, "Bearer "+token, "")
	tag := first.Header.Get("ETag")
	h := first.Header
	if first.StatusCode != http.StatusOK || !strings.HasPrefix(tag, `W/"`) ||
		h.Get("Cache-Control") != "private, max-age=60, s-maxage=60" || !strings.Contains(h.Get("Vary"), "Authorization") ||
		h.Get("X-RateLimit-Limit") != "5000" || h.Get("X-RateLimit-Remaining") != "4999" || h.Get("X-RateLimit-Used") != "1" ||
		h.Get("X-RateLimit-Resource") != "core" || h.Get("X-RateLimit-Reset") != strconv.FormatInt(start.Add(time.Hour).Unix(), 10) {
		t.Fatalf("first answer %s %v", first.Status, h)
	}
	again := call(t, f, "GET", list, "Bearer "+token, "", "If-None-Match", tag)
	if again.StatusCode != http.StatusNotModified || again.Header.Get("X-RateLimit-Remaining") != "4999" || again.Header.Get("ETag") != tag {
		t.Errorf("revalidation: %s remaining %s", again.Status, again.Header.Get("X-RateLimit-Remaining"))
	}
	if f.RateLimitUsed() != 1 {
		t.Errorf("an authenticated 304 was charged: used %d", f.RateLimitUsed())
	}
	other := call(t, f, "GET", list, "token ghp_other", "", "If-None-Match", tag)
	if other.StatusCode != http.StatusOK || other.Header.Get("ETag") == tag {
		t.Errorf("another token got %s with ETag %s: the ETag must depend on the credential", other.Status, other.Header.Get("ETag"))
	}
	f.AddPR(repo, ghfake.PR{})
	if r := call(t, f, "GET", list, "Bearer "+token, "", "If-None-Match", tag); r.StatusCode != http.StatusOK {
		t.Errorf("changed list answered %s", r.Status)
	}

	anon := call(t, f, "GET", list, "", "")
	anonTag := anon.Header.Get("ETag")
	anon304 := call(t, f, "GET", list, "", "", "If-None-Match", anonTag)
	if anon.Header.Get("X-RateLimit-Limit") != "60" || anon304.StatusCode != http.StatusNotModified || anon304.Header.Get("X-RateLimit-Remaining") != "58" {
		t.Errorf("anonymous: limit %s, 304 %s remaining %s", anon.Header.Get("X-RateLimit-Limit"), anon304.Status, anon304.Header.Get("X-RateLimit-Remaining"))
	}

	if r := call(t, f, "GET", list, "Bearer ghp_unknown", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: %s", r.Status)
	}

	f.SetRemaining(0)
	ex := call(t, f, "GET", list, "Bearer "+token, "")
	var msg struct{ Message string }
	decode(t, ex, &msg)
	if ex.StatusCode != http.StatusForbidden || ex.Header.Get("X-RateLimit-Remaining") != "0" || !strings.HasPrefix(msg.Message, "API rate limit exceeded") {
		t.Errorf("exhausted: %s remaining %s %q", ex.Status, ex.Header.Get("X-RateLimit-Remaining"), msg.Message)
	}
	reqs := f.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "GET" || last.URI != list || last.Status != http.StatusForbidden || !last.Authenticated {
		t.Errorf("last request recorded as %+v", last)
	}
}

func TestRateLimitWindowResets(t *testing.T) {
	now := start
	f := newFake(ghfake.Options{Limit: 2, Now: func() time.Time { return now }})
	f.AddPR(repo, ghfake.PR{})
	for i, want := range []int{200, 200, 403} {
		if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "Bearer "+token, ""); r.StatusCode != want {
			t.Errorf("request %d: %s, want %d", i, r.Status, want)
		}
	}
	now = now.Add(time.Hour)
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "Bearer "+token, ""); r.StatusCode != http.StatusOK || r.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("after the reset: %s remaining %s", r.Status, r.Header.Get("X-RateLimit-Remaining"))
	}
}

func TestFailPage(t *testing.T) {
	f := newFake(ghfake.Options{})
	f.AddPR(repo, ghfake.PR{})
	f.FailPage(repo, 1, http.StatusBadGateway)
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "Bearer "+token, ""); r.StatusCode != http.StatusBadGateway {
		t.Errorf("failing page: %s", r.Status)
	}
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls?page=2", "Bearer "+token, ""); r.StatusCode != http.StatusOK {
		t.Errorf("other page: %s", r.Status)
	}
	f.FailPage(repo, 1, 0)
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "Bearer "+token, ""); r.StatusCode != http.StatusOK {
		t.Errorf("cleared page: %s", r.Status)
	}
}

func TestStatuses(t *testing.T) {
	now := start
	f := newFake(ghfake.Options{Now: func() time.Time { return now }})
	f.AddPR(repo, ghfake.PR{})
	sha := strings.Repeat("c", 40)
	post := func(auth, body string) *http.Response {
		return call(t, f, "POST", "/repos/"+repo+"/statuses/"+sha, auth, body)
	}
	if r := post("", `{"state":"success","context":"ci"}`); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous post: %s", r.Status)
	}
	tests := []struct {
		body string
		want int
	}{
		{`{"state":"pending","context":"ci/a","description":"queued","target_url":"https://ci/1"}`, http.StatusCreated},
		{`{"state":"success","context":"CI/A"}`, http.StatusCreated},
		{`{"state":"failure","context":"ci/b","description":"` + strings.Repeat("é", 140) + `"}`, http.StatusCreated},
		{`{"state":"success","context":"ci/b","description":"` + strings.Repeat("é", 141) + `"}`, http.StatusUnprocessableEntity},
		{`{"state":"done","context":"ci/b"}`, http.StatusUnprocessableEntity},
		{`{"state":`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		if r := post("Bearer "+token, tc.body); r.StatusCode != tc.want {
			t.Errorf("post %s: %s, want %d", tc.body, r.Status, tc.want)
		}
	}
	if r := call(t, f, "POST", "/repos/"+repo+"/statuses/xyz", "Bearer "+token, `{"state":"success"}`); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad sha: %s", r.Status)
	}
	var combined struct {
		State    string
		Statuses []struct{ State, Context string }
	}
	decode(t, call(t, f, "GET", "/repos/"+repo+"/commits/"+sha+"/status", "Bearer "+token, ""), &combined)
	if combined.State != "failure" || len(combined.Statuses) != 2 || combined.Statuses[0].State != "success" || combined.Statuses[1].Context != "ci/b" {
		t.Errorf("combined status %+v", combined)
	}
	got := f.Statuses()
	if len(got) != 3 || got[0].TargetURL != "https://ci/1" || got[0].Description != "queued" || got[0].Creator != "trawl-bot" {
		t.Errorf("recorded %+v", got)
	}

	// GitHub keeps at most 1000 statuses per sha and context. The posts
	// are spread out under the content creation limits.
	for i := 0; i < 1000; i++ {
		now = now.Add(8 * time.Second)
		if r := post("Bearer "+token, `{"state":"pending","context":"ci/c"}`); r.StatusCode != http.StatusCreated {
			t.Fatalf("status %d of ci/c: %s", i+1, r.Status)
		}
	}
	r := post("Bearer "+token, `{"state":"pending","context":"Ci/C"}`)
	var msg struct {
		Errors []struct{ Message string }
	}
	decode(t, r, &msg)
	if r.StatusCode != http.StatusUnprocessableEntity || len(msg.Errors) != 1 || !strings.Contains(msg.Errors[0].Message, "maximum number of statuses") {
		t.Errorf("status 1001 of ci/c: %s %+v", r.Status, msg)
	}
}

func TestInstallationTokens(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := start
	f := newFake(ghfake.Options{AppID: 9, AppKey: &key.PublicKey, Installation: 5, Now: func() time.Time { return now }})
	f.AddPR(repo, ghfake.PR{})
	sign := func(k *rsa.PrivateKey, iss string, iat, exp time.Duration) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
			Issuer: iss, IssuedAt: jwt.NewNumericDate(now.Add(iat)), ExpiresAt: jwt.NewNumericDate(now.Add(exp)),
		}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	const path = "/app/installations/5/access_tokens"
	refused := map[string]string{
		"other key":     sign(other, "9", -time.Minute, 9*time.Minute),
		"other issuer":  sign(key, "8", -time.Minute, 9*time.Minute),
		"expired":       sign(key, "9", -20*time.Minute, -10*time.Minute),
		"too long":      sign(key, "9", -time.Minute, time.Hour),
		"not a JWT":     "Bearer ghp_fake0123456789",
		"no credential": "",
	}
	for name, auth := range refused {
		if r := call(t, f, "POST", path, auth, ""); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s, want 401", name, r.Status)
		}
	}
	if r := call(t, f, "POST", "/app/installations/6/access_tokens", sign(key, "9", -time.Minute, 9*time.Minute), ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown installation: %s", r.Status)
	}
	resp := call(t, f, "POST", path, sign(key, "9", -time.Minute, 9*time.Minute), "")
	var tok struct {
		Token     string
		ExpiresAt time.Time `json:"expires_at"`
	}
	decode(t, resp, &tok)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(tok.Token, "ghs_") || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("token answer %s %+v", resp.Status, tok)
	}
	if got := f.InstallationTokens(); len(got) != 1 || got[0] != tok.Token {
		t.Errorf("InstallationTokens = %v", got)
	}
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "token "+tok.Token, ""); r.StatusCode != http.StatusOK || r.Header.Get("X-RateLimit-Limit") != "5000" {
		t.Errorf("installation token: %s", r.Status)
	}
	now = now.Add(time.Hour)
	if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "token "+tok.Token, ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired installation token: %s", r.Status)
	}
	if r := call(t, newFake(ghfake.Options{}), "POST", path, sign(key, "9", -time.Minute, 9*time.Minute), ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("fake without an app: %s", r.Status)
	}
}

func TestEnterprisePrefix(t *testing.T) {
	f := newFake(ghfake.Options{WebURL: "https://ghe.example.com/"})
	for i := 0; i < 3; i++ {
		f.AddPR(repo, ghfake.PR{})
	}
	resp := call(t, f, "GET", "/api/v3/repos/"+repo+"/pulls?per_page=1", "Bearer "+token, "")
	if link := resp.Header.Get("Link"); !strings.HasPrefix(link, "<http://api.test/api/v3/repos/octo/widgets/pulls?page=2&per_page=1>") {
		t.Errorf("Link %s", link)
	}
	var prs []struct {
		HTMLURL string `json:"html_url"`
		URL     string
	}
	decode(t, resp, &prs)
	if len(prs) != 1 || prs[0].HTMLURL != "https://ghe.example.com/octo/widgets/pull/3" || prs[0].URL != "http://api.test/api/v3/repos/octo/widgets/pulls/3" {
		t.Errorf("pull request %+v", prs)
	}
}

func TestContentCreationLimits(t *testing.T) {
	now := start
	f := newFake(ghfake.Options{Now: func() time.Time { return now }})
	f.AddPR(repo, ghfake.PR{})
	post := func(i int) *http.Response {
		return call(t, f, "POST", "/repos/"+repo+"/statuses/"+strings.Repeat("c", 40), "Bearer "+token, fmt.Sprintf(`{"state":"success","context":"ci/%d"}`, i))
	}
	secondary := func(r *http.Response) bool {
		var msg struct {
			Message          string
			DocumentationURL string `json:"documentation_url"`
		}
		decode(t, r, &msg)
		return r.StatusCode == http.StatusForbidden && r.Header.Get("Retry-After") == "" && r.Header.Get("X-RateLimit-Remaining") != "0" &&
			strings.Contains(msg.Message, "secondary rate limit") && strings.HasSuffix(msg.DocumentationURL, "secondary-rate-limits")
	}
	// 80 a minute.
	for i := range 80 {
		if r := post(i); r.StatusCode != http.StatusCreated {
			t.Fatalf("post %d: %s", i, r.Status)
		}
	}
	if r := post(80); !secondary(r) {
		t.Fatalf("post 81 in a minute: %s, want the secondary limit's 403", r.Status)
	}
	// 500 an hour.
	for i := 80; i < 500; i++ {
		now = now.Add(time.Second)
		if i%80 == 0 {
			now = now.Add(time.Minute)
		}
		if r := post(i); r.StatusCode != http.StatusCreated {
			t.Fatalf("post %d: %s", i, r.Status)
		}
	}
	now = now.Add(time.Minute)
	if r := post(500); !secondary(r) {
		t.Fatalf("post 501 in an hour: %s, want the secondary limit's 403", r.Status)
	}
	now = start.Add(time.Hour)
	if r := post(501); r.StatusCode != http.StatusCreated {
		t.Fatalf("post once the first left the hour: %s", r.Status)
	}
	if f.Refused() != 2 {
		t.Errorf("Refused = %d, want 2", f.Refused())
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		r            ghfake.Refusal
		status       int
		remaining    string // "" for no header
		reset        bool
		retryAfter   string
		message      string
		countsAsRate bool
	}{
		{ghfake.PrimaryLimit, 403, "0", true, "", "API rate limit exceeded", true},
		{ghfake.PrimaryLimit429, 429, "0", true, "", "API rate limit exceeded", true},
		{ghfake.PrimaryNoReset, 403, "0", false, "", "API rate limit exceeded", true},
		{ghfake.SecondaryRetryAfter, 403, "5000", true, "60", "secondary rate limit", true},
		{ghfake.Secondary, 403, "", false, "", "secondary rate limit", true},
		{ghfake.Secondary429, 429, "5000", true, "60", "secondary rate limit", true},
		{ghfake.NotAccessible, 403, "4999", true, "", "Resource not accessible by integration", false},
		{ghfake.AdminRights, 403, "4999", true, "", "Must have admin rights", false},
	}
	for _, tc := range tests {
		f := newFake(ghfake.Options{Now: func() time.Time { return start }})
		f.AddPR(repo, ghfake.PR{})
		f.Refuse("POST", tc.r, 1)
		r := call(t, f, "POST", "/repos/"+repo+"/statuses/"+strings.Repeat("c", 40), "Bearer "+token, `{"state":"success"}`)
		var msg struct{ Message string }
		decode(t, r, &msg)
		h := r.Header
		if r.StatusCode != tc.status || h.Get("X-RateLimit-Remaining") != tc.remaining || (h.Get("X-RateLimit-Reset") != "") != tc.reset ||
			h.Get("Retry-After") != tc.retryAfter || !strings.Contains(msg.Message, tc.message) {
			t.Errorf("refusal %d: %s remaining %q reset %q retry-after %q: %s", tc.r, r.Status, h.Get("X-RateLimit-Remaining"),
				h.Get("X-RateLimit-Reset"), h.Get("Retry-After"), msg.Message)
		}
		if got := f.Refused() == 1; got != tc.countsAsRate {
			t.Errorf("refusal %d counted as a rate limit: %v", tc.r, got)
		}
		// A GET is not refused; only the next POST was.
		if r := call(t, f, "GET", "/repos/"+repo+"/pulls", "Bearer "+token, ""); r.StatusCode != http.StatusOK && tc.remaining != "0" {
			t.Errorf("refusal %d: a GET got %s", tc.r, r.Status)
		}
		if r := call(t, f, "POST", "/repos/"+repo+"/statuses/"+strings.Repeat("c", 40), "Bearer "+token, `{"state":"success"}`); r.StatusCode != http.StatusCreated &&
			tc.remaining != "0" {
			t.Errorf("refusal %d: the next request got %s", tc.r, r.Status)
		}
	}
}
