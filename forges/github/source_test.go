package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
)

func TestFetchConvertsPullRequests(t *testing.T) {
	body := "Moves the parser."
	tests := []struct {
		name string
		pr   ghfake.PR
		base change.Base // Opts.Base
		want change.Change
	}{
		{
			name: "same repository",
			pr: ghfake.PR{Title: "Add frames", Body: &body, User: "alice", HeadRef: "frames",
				HeadSHA: sha("h1"), BaseRef: "master", BaseSHA: sha("b1")},
			base: change.Base{Policy: change.PolicyFollow},
			want: change.Change{
				Key: change.Key("gh:" + testRepo + "#1"), Source: "gh-base-types", Title: "Add frames",
				WebURL: "https://github.com/" + testRepo + "/pull/1", Submitter: "alice",
				Content: []string{sha("h1")}, Targets: []string{"buildbot"},
				Base:    change.Base{Tree: testRepo, URL: "https://github.com/" + testRepo + ".git", Branch: "master", Policy: change.PolicyFollow},
				HeadSHA: sha("h1"), HeadRepo: testRepo, HeadRef: "frames", FetchRef: "refs/pull/1/head", BaseSHA: sha("b1"),
			},
		},
		{
			name: "configured tree and URL, fork, draft",
			pr: ghfake.PR{Title: "WIP", User: "bob", Draft: true, HeadRepo: "bob/base-types", HeadRef: "wip",
				HeadSHA: sha("h2"), BaseSHA: sha("b2")},
			base: change.Base{Tree: "rock", URL: "https://git.example.org/rock.git", Branch: "ignored", Policy: change.PolicyPinned},
			want: change.Change{
				Key: change.Key("gh:" + testRepo + "#1"), Source: "gh-base-types", Title: "WIP",
				WebURL: "https://github.com/" + testRepo + "/pull/1", Submitter: "bob",
				Content: []string{sha("h2")}, Targets: []string{"buildbot"},
				Base:    change.Base{Tree: "rock", URL: "https://git.example.org/rock.git", Branch: "main", Policy: change.PolicyPinned},
				HeadSHA: sha("h2"), HeadRepo: "bob/base-types", HeadRef: "wip", FetchRef: "refs/pull/1/head", BaseSHA: sha("b2"),
				Draft: true, Fork: true,
			},
		},
		{
			name: "deleted fork",
			pr:   ghfake.PR{Title: "Orphan", User: "carol", HeadDeleted: true, HeadRef: "gone", HeadSHA: sha("h3"), BaseSHA: sha("b3")},
			base: change.Base{Policy: change.PolicyFollow},
			want: change.Change{
				Key: change.Key("gh:" + testRepo + "#1"), Source: "gh-base-types", Title: "Orphan",
				WebURL: "https://github.com/" + testRepo + "/pull/1", Submitter: "carol",
				Content: []string{sha("h3")}, Targets: []string{"buildbot"},
				Base:    change.Base{Tree: testRepo, URL: "https://github.com/" + testRepo + ".git", Branch: "main", Policy: change.PolicyFollow},
				HeadSHA: sha("h3"), HeadRepo: "", HeadRef: "gone", FetchRef: "refs/pull/1/head", BaseSHA: sha("b3"), Fork: true,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ghfake.Options{}, nil)
			e.fake.AddPR(testRepo, tc.pr)
			s := e.source(t, func(o *Opts) { o.Base, o.Drafts, o.Forks = tc.base, true, true })
			got := fetch(t, s)
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("changes:\n got %+v\nwant [%+v]", got, tc.want)
			}
		})
	}
}

func TestFetchIdleCostsNothing(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(250)
	s := e.source(t, nil)
	first := fetch(t, s)
	used := e.fake.RateLimitUsed()
	if used != 3 {
		t.Errorf("first fetch cost %d requests, want 3 (one per page)", used)
	}
	// Another client of the same account spends budget meanwhile: the
	// 304s report it, and RateLimit follows.
	e.fake.SetRemaining(4000)
	n := len(e.fake.Requests())
	second := fetch(t, s)
	if got := e.fake.RateLimitUsed(); got != used {
		t.Errorf("idle fetch cost %d requests, want 0", got-used)
	}
	if !reflect.DeepEqual(first, second) {
		t.Error("idle fetch returned other changes")
	}
	reqs := e.requestsSince(n)
	if len(reqs) != 3 {
		t.Fatalf("idle fetch made %d requests, want 3: each page revalidated once", len(reqs))
	}
	for _, r := range reqs {
		if r.Status != http.StatusNotModified || r.IfNoneMatch == "" || !r.Authenticated {
			t.Errorf("idle fetch request %+v: want an authenticated 304 to If-None-Match", r)
		}
	}
	if remaining, limit, _, known := s.RateLimit(); !known || limit != 5000 || remaining != 4000 {
		t.Errorf("RateLimit = %d of %d (known %v), want 4000 of 5000", remaining, limit, known)
	}
	noLeak(t, e, e.cacheDir, testToken)
}

func TestFetchSeesPush(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(3)
	s := e.source(t, nil)
	fetch(t, s)
	if err := e.fake.SetHead(testRepo, 2, sha("pushed")); err != nil {
		t.Fatal(err)
	}
	got := fetch(t, s)
	for _, c := range got {
		want := sha("head-" + strings.TrimPrefix(string(c.Key), "gh:"+testRepo+"#"))
		if c.Key == change.Key(key(2)) {
			want = sha("pushed")
		}
		if c.HeadSHA != want || !slices.Equal(c.Content, []string{want}) {
			t.Errorf("%s: head %s content %v, want %s", c.Key, c.HeadSHA, c.Content, want)
		}
	}
}

func TestFetchPaginates(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(250)
	s := e.source(t, nil)
	got := fetch(t, s)
	var want []string
	for i := int64(1); i <= 250; i++ {
		want = append(want, key(i))
	}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("got %d changes %v..., want 250 in number order", len(got), keys(got)[:min(len(got), 3)])
	}
	var pages []string
	for _, r := range e.fake.Requests() {
		u, err := url.Parse(r.URI)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Path != "/repos/"+testRepo+"/pulls" || q.Get("state") != "open" || q.Get("sort") != "updated" ||
			q.Get("direction") != "desc" || q.Get("per_page") != "100" {
			t.Errorf("request %s: want the open list, newest update first, 100 a page", r.URI)
		}
		pages = append(pages, q.Get("page"))
	}
	// Three pages, then the first two revalidated.
	if !slices.Equal(pages, []string{"1", "2", "3", "1", "2"}) {
		t.Errorf("pages requested %v", pages)
	}
	var debug, info int
	for _, entry := range e.logs.All() {
		fields := entry.ContextMap()
		switch entry.Message {
		case "pull request page":
			debug++
			if _, ok := fields["rate_remaining"]; !ok || entry.Level != zapcore.DebugLevel {
				t.Errorf("page log %v %v", entry.Level, fields)
			}
		case "github pull requests fetched":
			info++
			if fields["rate_remaining"] != int64(4997) || fields["pages"] != int64(5) || fields["changes"] != int64(250) || entry.Level != zapcore.InfoLevel {
				t.Errorf("fetch log %v %v", entry.Level, fields)
			}
		}
	}
	if debug != 5 || info != 1 {
		t.Errorf("%d page logs and %d fetch logs, want 5 and 1", debug, info)
	}
}

func TestFetchListMovedWhilePaging(t *testing.T) {
	var once sync.Once
	var e *env
	e = newEnv(t, ghfake.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Query().Get("page") == "2" {
				// Pull request 5 sits on page 3; a push moves it to the
				// front, and page 3 as read next no longer holds it.
				once.Do(func() {
					if err := e.fake.SetHead(testRepo, 5, sha("moved")); err != nil {
						t.Error(err)
					}
				})
			}
		})
	})
	e.addPRs(250)
	got := fetch(t, e.source(t, nil))
	if len(got) != 250 {
		t.Fatalf("got %d changes, want 250", len(got))
	}
	if got[4].Key != change.Key(key(5)) || got[4].HeadSHA != sha("moved") {
		t.Errorf("change %s head %s, want %s at its new head", got[4].Key, got[4].HeadSHA, key(5))
	}
}

// TestFetchWarmListMovedWhilePaging: on a tick whose pages come from the
// cache (304s), a push that moves a pull request from a page not read yet
// to the front while paging still shows: the next page is no longer as
// cached, so the earlier pages are revalidated and the list read again.
func TestFetchWarmListMovedWhilePaging(t *testing.T) {
	var armed atomic.Bool
	var once sync.Once
	var e *env
	e = newEnv(t, ghfake.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if armed.Load() && r.URL.Query().Get("page") == "1" {
				// Page 1 was just answered 304; pull request 5 sits on
				// page 3 and a push moves it to the front.
				once.Do(func() {
					if err := e.fake.SetHead(testRepo, 5, sha("moved")); err != nil {
						t.Error(err)
					}
				})
			}
		})
	})
	e.addPRs(250)
	s := e.source(t, nil)
	fetch(t, s)
	armed.Store(true)
	got := fetch(t, s)
	if len(got) != 250 {
		t.Fatalf("got %d changes, want 250", len(got))
	}
	if got[4].Key != change.Key(key(5)) || got[4].HeadSHA != sha("moved") {
		t.Errorf("change %s head %s, want %s at its new head", got[4].Key, got[4].HeadSHA, key(5))
	}
}

func TestFetchListKeepsMoving(t *testing.T) {
	var e *env
	pushes := 0
	e = newEnv(t, ghfake.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Query().Get("page") == "2" { // only the first pass reads the last page
				pushes++
				if err := e.fake.SetHead(testRepo, int64(pushes), sha(fmt.Sprint("push", pushes))); err != nil {
					t.Error(err)
				}
			}
		})
	})
	e.addPRs(150)
	got, err := e.source(t, nil).Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "changed while it was paged") || got != nil {
		t.Fatalf("Fetch = %d changes, %v; want an error", len(got), err)
	}
	if pushes != listAttempts {
		t.Errorf("the list was read %d times, want %d", pushes, listAttempts)
	}
}

func TestFetchFilters(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Opts)
		want []int64
	}{
		{"defaults skip drafts and forks", nil, []int64{1, 4, 5}},
		{"drafts", func(o *Opts) { o.Drafts = true }, []int64{1, 2, 4, 5}},
		{"forks", func(o *Opts) { o.Forks = true }, []int64{1, 3, 4, 5, 6}},
		{"branches", func(o *Opts) { o.Branches = []string{"stable"} }, []int64{4}},
		{"everything", func(o *Opts) { o.Drafts, o.Forks = true, true }, []int64{1, 2, 3, 4, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ghfake.Options{}, nil)
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("1")})
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("2"), Draft: true})
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("3"), HeadRepo: "someone/base-types"})
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("4"), BaseRef: "stable"})
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("5"), HeadRepo: "Rock-Core/Base-Types"})
			e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("6"), HeadDeleted: true})
			got := fetch(t, e.source(t, tc.mod))
			var want []string
			for _, n := range tc.want {
				want = append(want, key(n))
			}
			if !slices.Equal(keys(got), want) {
				t.Errorf("got %v, want %v", keys(got), want)
			}
		})
	}
}

func TestFetchEnterpriseHost(t *testing.T) {
	e := newEnv(t, ghfake.Options{WebURL: "https://ghe.example.com"}, nil)
	body := "Depends-On: https://ghe.example.com/rock-core/base-types/pull/2\nDepends-On: #2\n"
	e.fake.AddPR(testRepo, ghfake.PR{Body: &body, HeadSHA: sha("1")})
	e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("2")})
	got := fetch(t, e.source(t, func(o *Opts) {
		o.APIURL = e.srv.URL + "/api/v3" // the trailing slash is added
		o.Host = "GHE.example.com"
	}))
	want := change.Key("gh:ghe.example.com/" + testRepo + "#1")
	if len(got) != 2 || got[0].Key != want {
		t.Fatalf("got %v, want %s first", keys(got), want)
	}
	dep := change.Ref{Raw: "https://ghe.example.com/rock-core/base-types/pull/2", Key: "gh:ghe.example.com/" + testRepo + "#2", Source: "gh-base-types"}
	if !reflect.DeepEqual(got[0].Deps, []change.Ref{dep}) {
		t.Errorf("deps %+v, want [%+v]", got[0].Deps, dep)
	}
	for _, r := range e.fake.Requests() {
		if !strings.HasPrefix(r.URI, "/api/v3/") {
			t.Errorf("request %s is not below /api/v3/", r.URI)
		}
	}
}

func TestFetchFailingPage(t *testing.T) {
	for _, status := range []int{http.StatusBadGateway, http.StatusNotFound} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			e := newEnv(t, ghfake.Options{}, nil)
			e.addPRs(150)
			s := e.source(t, nil)
			fetch(t, s) // the pages are cached now
			e.fake.FailPage(testRepo, 2, status)
			got, err := s.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch gave %d changes and no error", len(got))
			}
			if got != nil {
				t.Errorf("Fetch returned %d changes with its error", len(got))
			}
			msg := err.Error()
			for _, part := range []string{"github " + testRepo + ": list pull requests", e.srv.URL + "/repos/" + testRepo + "/pulls?", "page=2", strconv.Itoa(status), http.StatusText(status)} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not name %q", msg, part)
				}
			}
			var se *httpx.StatusError
			if !errors.As(err, &se) || se.Status != status {
				t.Errorf("error %v is not a StatusError with status %d", err, status)
			}
			if strings.Contains(msg, testToken) {
				t.Error("error carries the token")
			}
		})
	}
}

func TestFetchRateLimitSpacing(t *testing.T) {
	const hour = 3600 * 1e9
	tests := []struct {
		name      string
		remaining int
		want      []float64 // waits in nanoseconds
	}{
		// 503, 502, 501 then 500 remain: never below the reserve.
		{"down to the reserve", 503, nil},
		// Pages 2 and 3 after 99 and 98 remain, then the two
		// revalidations (free) after 97.
		{"below the reserve", 100, []float64{hour / 99, hour / 98, hour / 97, hour / 97}},
		{"capped at a minute", 10, []float64{60e9, 60e9, 60e9, 60e9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ghfake.Options{}, nil)
			e.addPRs(250)
			e.fake.SetRemaining(tc.remaining)
			fetch(t, e.source(t, nil))
			var got []float64
			for _, d := range e.sleeper.Waits() {
				got = append(got, float64(d))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("waits %v, want %v", got, tc.want)
			}
			for i := range got {
				if d := got[i] - tc.want[i]; d > 1 || d < -1 {
					t.Errorf("wait %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestFetchRateLimitExhausted(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(2)
	s := e.source(t, nil)
	e.fake.SetRemaining(0)
	got, err := s.Fetch(context.Background())
	if err == nil || got != nil {
		t.Fatalf("Fetch = %d changes, %v; want an error, never an empty list", len(got), err)
	}
	if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("error %q does not say the rate limit is exhausted", err)
	}
	if remaining, _, reset, known := s.RateLimit(); !known || remaining != 0 || !reset.Equal(testStart.Add(3600e9)) {
		t.Errorf("RateLimit = %d, reset %v, known %v", remaining, reset, known)
	}
	if at, ok := report.RetryAt(err); !ok || !at.Equal(testStart.Add(time.Hour)) {
		t.Errorf("RetryAt = %v, %v; want the reset", at, ok)
	}
	// GitHub asks not to retry before the reset: the next Fetch sends
	// nothing and fails at once, naming the reset.
	n := len(e.fake.Requests())
	_, err = s.Fetch(context.Background())
	if at, ok := report.RetryAt(err); !ok || !at.Equal(testStart.Add(time.Hour)) || !strings.Contains(err.Error(), "2026-11-21T07:00:00Z") {
		t.Errorf("Fetch while limited: %v, want a wait until the reset", err)
	}
	if len(e.fake.Requests()) != n || len(e.sleeper.Waits()) != 0 {
		t.Errorf("Fetch while limited sent %d requests, slept %v", len(e.fake.Requests())-n, e.sleeper.Waits())
	}
	// After the reset it asks again.
	e.clock.Add(time.Hour)
	e.fake.SetRemaining(-1)
	if _, err := s.Fetch(context.Background()); err != nil {
		t.Errorf("Fetch after the reset: %v", err)
	}
}

func TestRateLimitGauges(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	reg := prometheus.NewRegistry()
	s := e.source(t, func(o *Opts) { o.Registerer = reg })
	// A second source on the same registry shares the gauges.
	e.source(t, func(o *Opts) { o.Registerer, o.Name = reg, "other" })
	fetch(t, s)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == "gh-base-types" {
					got[f.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	want := map[string]float64{
		"trawl_github_ratelimit_remaining":     4999,
		"trawl_github_ratelimit_limit":         5000,
		"trawl_github_ratelimit_reset_seconds": float64(testStart.Unix() + 3600),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("gauges %v, want %v", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	hc := &http.Client{}
	tests := []struct {
		name string
		o    Opts
	}{
		{"no name", Opts{Repo: testRepo, HTTP: hc}},
		{"no repo", Opts{Name: "x", HTTP: hc}},
		{"repo without owner", Opts{Name: "x", Repo: "base-types", HTTP: hc}},
		{"repo too deep", Opts{Name: "x", Repo: "a/b/c", HTTP: hc}},
		{"no client", Opts{Name: "x", Repo: testRepo}},
		{"bad API URL", Opts{Name: "x", Repo: testRepo, HTTP: hc, APIURL: "ftp://example.com/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil {
				t.Error("New accepted the options")
			}
		})
	}
}
