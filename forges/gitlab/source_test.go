package gitlab

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

func TestFetchConvertsMergeRequests(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	desc := "Fixes things."
	w.addMR(1, func(m *glfake.MR) { m.Description = &desc })
	w.addMR(2, func(m *glfake.MR) {
		m.SourceProjectID = forkID
		m.SourceBranch = "alice-fix"
		m.TargetBranch = "stable"
		m.Draft = true
		m.Author = "alice"
	})
	w.addMR(3, func(m *glfake.MR) { m.BaseSHA = "" })
	s := w.source(t, w.opts())
	got, err := s.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := func(branch string) change.Base {
		return change.Base{Tree: mainPath, URL: testBase + "/" + mainPath + ".git", Branch: branch, Policy: change.PolicyFollow}
	}
	want := []change.Change{
		{
			Key: "gl:gitlab.test/group/sub/project!1", Source: "gl-main", Title: "change 1",
			WebURL: testBase + "/group/sub/project/-/merge_requests/1", Submitter: "bob",
			Content: []string{sha("a", 1)}, Base: base("main"), Targets: []string{"ci"},
			HeadSHA: sha("a", 1), HeadRepo: mainPath, HeadRef: "topic-1", FetchRef: "refs/merge-requests/1/head", BaseSHA: sha("b", 1),
		},
		{
			Key: "gl:gitlab.test/group/sub/project!2", Source: "gl-main", Title: "change 2",
			WebURL: testBase + "/group/sub/project/-/merge_requests/2", Submitter: "alice",
			Content: []string{sha("a", 2)}, Base: base("stable"), Targets: []string{"ci"},
			HeadSHA: sha("a", 2), HeadRepo: "alice/project", HeadRef: "alice-fix", FetchRef: "refs/merge-requests/2/head", BaseSHA: sha("b", 2),
			Draft: true, Fork: true,
		},
		{
			Key: "gl:gitlab.test/group/sub/project!3", Source: "gl-main", Title: "change 3",
			WebURL: testBase + "/group/sub/project/-/merge_requests/3", Submitter: "bob",
			Content: []string{sha("a", 3)}, Base: base("main"), Targets: []string{"ci"},
			HeadSHA: sha("a", 3), HeadRepo: mainPath, HeadRef: "topic-3", FetchRef: "refs/merge-requests/3/head",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n got %+v\nwant %+v", got, want)
	}
	list := w.lastList(t)
	for k, v := range map[string]string{"state": "opened", "order_by": "updated_at", "sort": "desc", "per_page": "100", "page": "1"} {
		if list.Query.Get(k) != v {
			t.Errorf("list %s = %q, want %q", k, list.Query.Get(k), v)
		}
	}
	if list.Query.Has("updated_after") {
		t.Errorf("full relist sent updated_after=%s", list.Query.Get("updated_after"))
	}
}

func TestFetchIncremental(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	for iid := int64(1); iid <= 3; iid++ {
		w.addMR(iid, nil)
	}
	s := w.source(t, w.opts())
	start := w.clock.Now()
	steps := []struct {
		name      string
		act       func()
		wantIIDs  []int64
		wantState string
		wantAfter string
		check     func(t *testing.T, got []change.Change)
	}{
		{
			name:      "first fetch lists every open merge request",
			act:       func() {},
			wantIIDs:  []int64{1, 2, 3},
			wantState: "opened",
		},
		{
			name: "push, new and closed merge requests",
			act: func() {
				w.clock.Advance(5 * time.Minute)
				w.fake.Update(mainID, 1, func(m *glfake.MR) { m.SHA, m.BaseSHA = sha("c", 1), sha("d", 1) })
				w.addMR(4, nil)
				w.fake.Close(mainID, 2)
			},
			wantIIDs:  []int64{1, 3, 4},
			wantState: "all",
			wantAfter: start.Add(-2 * time.Minute).Format(time.RFC3339),
			check: func(t *testing.T, got []change.Change) {
				c := byIID(t, got, 1)
				if c.HeadSHA != sha("c", 1) || c.BaseSHA != sha("d", 1) || !slices.Equal(c.Content, []string{sha("c", 1)}) {
					t.Errorf("pushed !1: head %s base %s content %v", c.HeadSHA, c.BaseSHA, c.Content)
				}
				if n := len(w.requests("/merge_requests/3")); n != 1 {
					t.Errorf("unchanged !3 read %d times on its own, want once", n)
				}
				if n := len(w.requests("/merge_requests/1")); n != 2 {
					t.Errorf("pushed !1 read %d times on its own, want twice (once per head)", n)
				}
			},
		},
		{
			name: "merged merge request leaves, window follows the last fetch",
			act: func() {
				w.clock.Advance(5 * time.Minute)
				w.fake.Merge(mainID, 3)
			},
			wantIIDs:  []int64{1, 4},
			wantState: "all",
			wantAfter: start.Add(5*time.Minute - 2*time.Minute).Format(time.RFC3339),
		},
	}
	for _, st := range steps {
		st.act()
		got, err := s.Fetch(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(iids(got), st.wantIIDs) {
			t.Errorf("%s: iids %v, want %v", st.name, iids(got), st.wantIIDs)
		}
		list := w.lastList(t)
		if got := list.Query.Get("state"); got != st.wantState {
			t.Errorf("%s: listed state=%s, want %s", st.name, got, st.wantState)
		}
		if got := list.Query.Get("updated_after"); got != st.wantAfter {
			t.Errorf("%s: updated_after=%q, want %q", st.name, got, st.wantAfter)
		}
		if st.check != nil {
			st.check(t, got)
		}
	}
}

func TestFullRelistInterval(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	o := w.opts()
	o.FullRelist = 10 * time.Minute
	s := w.source(t, o)
	steps := []struct {
		advance  time.Duration
		wantFull bool
	}{
		{0, true},
		{4 * time.Minute, false},
		{5 * time.Minute, false},
		{1 * time.Minute, true}, // 10 minutes after the first
		{9 * time.Minute, false},
		{2 * time.Minute, true},
	}
	for i, st := range steps {
		w.clock.Advance(st.advance)
		if _, err := s.Fetch(t.Context()); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		full := w.lastList(t).Query.Get("state") == "opened"
		if full != st.wantFull {
			t.Errorf("fetch %d: full relist %v, want %v", i, full, st.wantFull)
		}
	}
}

func TestFullRelistKeepsHiddenMergeRequests(t *testing.T) {
	// hide makes !2 vanish from full lists, as a merge request closed
	// while the pages are read shifts a later one onto a page already
	// read; read on its own, !2 is still open.
	var hide atomic.Bool
	w := newWrappedWorld(t, glfake.Options{}, func(f *glfake.Fake, next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			full := strings.HasSuffix(r.URL.Path, "/merge_requests") && r.URL.Query().Get("state") == "opened"
			if !hide.Load() || !full {
				next.ServeHTTP(rw, r)
				return
			}
			f.Update(mainID, 2, func(m *glfake.MR) { m.State = glfake.StateLocked })
			next.ServeHTTP(rw, r)
			f.Update(mainID, 2, func(m *glfake.MR) { m.State = glfake.StateOpened })
		})
	})
	for iid := int64(1); iid <= 3; iid++ {
		w.addMR(iid, nil)
	}
	o := w.opts()
	o.FullRelist = time.Minute
	s := w.source(t, o)
	if _, err := s.Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	w.fake.Merge(mainID, 3)
	hide.Store(true)
	got, err := s.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if full := w.lastList(t).Query.Get("state") == "opened"; !full {
		t.Fatal("second fetch was not a full relist")
	}
	if !slices.Equal(iids(got), []int64{1, 2}) {
		t.Errorf("iids %v, want [1 2]: a merge request hidden from the list must be read, not dropped", iids(got))
	}
	if n := len(w.requests("/merge_requests/3")); n != 2 {
		t.Errorf("merged !3 read %d times on its own, want 2 (its base, then confirming it left)", n)
	}
}

func TestFetchFollowsNextPageWithoutTotals(t *testing.T) {
	w := newWorld(t, glfake.Options{TotalsLimit: 50})
	for iid := int64(1); iid <= 120; iid++ {
		w.addMR(iid, nil)
	}
	s := w.source(t, w.opts())
	got, err := s.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 {
		t.Errorf("got %d changes, want 120", len(got))
	}
	if n := len(w.requests("/merge_requests")); n != 2 {
		t.Errorf("listed %d pages, want 2", n)
	}
}

func TestFailedPage(t *testing.T) {
	w := newWorld(t, glfake.Options{TotalsLimit: 50})
	for iid := int64(1); iid <= 120; iid++ {
		w.addMR(iid, nil)
	}
	o := w.opts()
	o.FullRelist = time.Hour
	s := w.source(t, o)
	if _, err := s.Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		page     string // the page that fails; "" for none
		advance  time.Duration
		wantErr  bool
		wantFull bool
	}{
		{name: "incremental page fails", page: "1", advance: time.Minute, wantErr: true},
		{name: "next fetch relists in full", advance: time.Minute, wantFull: true},
		{name: "then incremental again", advance: time.Minute},
		{name: "second page of a full relist fails", page: "2", advance: 2 * time.Hour, wantErr: true, wantFull: true},
		{name: "full relist again", advance: time.Minute, wantFull: true},
	}
	for _, st := range steps {
		w.clock.Advance(st.advance)
		w.fake.SetFault(func(r *http.Request) int {
			if st.page != "" && strings.HasSuffix(r.URL.Path, "/merge_requests") && r.URL.Query().Get("page") == st.page {
				return http.StatusInternalServerError
			}
			return 0
		})
		before := len(w.fake.Requests())
		got, err := s.Fetch(t.Context())
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: error %v, want error %v", st.name, err, st.wantErr)
		}
		if full := w.lastList(t).Query.Get("state") == "opened"; full != st.wantFull {
			t.Errorf("%s: full relist %v, want %v", st.name, full, st.wantFull)
		}
		if !st.wantErr {
			if len(got) != 120 {
				t.Errorf("%s: %d changes, want 120", st.name, len(got))
			}
			continue
		}
		if got != nil {
			t.Errorf("%s: a failed fetch returned %d changes", st.name, len(got))
		}
		msg := err.Error()
		for _, part := range []string{"gl-main", "page " + st.page, testBase + "/api/v4/projects/10/merge_requests", "500"} {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: error %q does not name %q", st.name, msg, part)
			}
		}
		if !errors.Is(err, httpx.ErrServer) {
			t.Errorf("%s: error %v does not match httpx.ErrServer", st.name, err)
		}
		var hits int
		for _, r := range w.fake.Requests()[before:] {
			if r.Query.Get("page") == st.page && strings.HasSuffix(r.Path, "/merge_requests") {
				hits++
			}
		}
		if hits != 1+retryMax {
			t.Errorf("%s: failing page requested %d times, want %d (httpx's retries only)", st.name, hits, 1+retryMax)
		}
	}
	w.fake.SetFault(nil)
}

func TestFilters(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, func(m *glfake.MR) { m.Draft = true })
	w.addMR(3, func(m *glfake.MR) { m.SourceProjectID = forkID })
	w.addMR(4, func(m *glfake.MR) { m.TargetBranch = "stable" })
	w.addMR(5, func(m *glfake.MR) { m.TargetBranch = "next"; m.Draft = true })
	tests := []struct {
		name     string
		drafts   bool
		forks    bool
		branches []string
		want     []int64
	}{
		{name: "defaults skip drafts and forks", want: []int64{1, 4}},
		{name: "drafts", drafts: true, want: []int64{1, 2, 4, 5}},
		{name: "forks", forks: true, want: []int64{1, 3, 4}},
		{name: "everything", drafts: true, forks: true, want: []int64{1, 2, 3, 4, 5}},
		{name: "one branch", drafts: true, forks: true, branches: []string{"stable"}, want: []int64{4}},
		{name: "two branches", drafts: true, branches: []string{"main", "next"}, want: []int64{1, 2, 5}},
		{name: "unknown branch", branches: []string{"nope"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := w.opts()
			o.Drafts, o.Forks, o.Branches = tt.drafts, tt.forks, tt.branches
			got, err := w.source(t, o).Fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(iids(got), tt.want) {
				t.Errorf("iids %v, want %v", iids(got), tt.want)
			}
		})
	}
}

func TestForkHeadRepo(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.fake.AddProject(glfake.Project{ID: 40, Path: "mallory/hidden"})
	w.addMR(1, func(m *glfake.MR) { m.SourceProjectID = forkID })
	w.addMR(2, func(m *glfake.MR) { m.SourceProjectID = forkID })
	w.addMR(3, func(m *glfake.MR) { m.SourceProjectID = 40 })
	w.fake.SetFault(func(r *http.Request) int {
		if r.URL.Path == "/api/v4/projects/40" {
			return http.StatusNotFound
		}
		return 0
	})
	s := w.source(t, w.opts())
	for i := range 2 {
		w.clock.Advance(time.Minute)
		got, err := s.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for iid, want := range map[int64]string{1: "alice/project", 2: "alice/project", 3: "40"} {
			c := byIID(t, got, iid)
			if c.HeadRepo != want || !c.Fork {
				t.Errorf("fetch %d: !%d HeadRepo %q fork %v, want %q fork", i, iid, c.HeadRepo, c.Fork, want)
			}
		}
	}
	if n := len(w.requests("/projects/20")); n != 1 {
		t.Errorf("fork project read %d times, want once", n)
	}
}

func TestNew(t *testing.T) {
	hc := &http.Client{}
	tests := []struct {
		name string
		o    Opts
		ok   bool
	}{
		{"ok", Opts{Name: "n", URL: "https://gitlab.com", Project: "g/p", HTTP: hc}, true},
		{"path prefix", Opts{Name: "n", URL: "https://example.com/gitlab/", Project: "g/p", HTTP: hc}, true},
		{"no name", Opts{URL: "https://gitlab.com", Project: "g/p", HTTP: hc}, false},
		{"no scheme", Opts{Name: "n", URL: "gitlab.com", Project: "g/p", HTTP: hc}, false},
		{"query", Opts{Name: "n", URL: "https://gitlab.com?x=1", Project: "g/p", HTTP: hc}, false},
		{"project without group", Opts{Name: "n", URL: "https://gitlab.com", Project: "p", HTTP: hc}, false},
		{"negative relist", Opts{Name: "n", URL: "https://gitlab.com", Project: "g/p", HTTP: hc, FullRelist: -time.Second}, false},
		{"no client", Opts{Name: "n", URL: "https://gitlab.com", Project: "g/p"}, false},
	}
	for _, tt := range tests {
		_, err := New(tt.o)
		if (err == nil) != tt.ok {
			t.Errorf("%s: New error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	s, err := New(Opts{Name: "n", URL: "https://Example.com/gitlab/", Project: "g/p", HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.key(7), change.Key("gl:example.com/gitlab/g/p!7"); got != want {
		t.Errorf("key with a path prefix = %s, want %s", got, want)
	}
}
