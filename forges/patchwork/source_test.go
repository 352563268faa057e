package patchwork

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestNew(t *testing.T) {
	hc := &http.Client{}
	good := Opts{Name: "n", URL: "https://patchwork.kernel.org", Project: "netdevbpf", HTTP: hc}
	tests := []struct {
		name   string
		change func(o *Opts)
		ok     bool
	}{
		{"defaults", func(*Opts) {}, true},
		{"no name", func(o *Opts) { o.Name = "" }, false},
		{"no project", func(o *Opts) { o.Project = "" }, false},
		{"project with a slash", func(o *Opts) { o.Project = "a/b" }, false},
		{"bad URL", func(o *Opts) { o.URL = "patchwork.kernel.org" }, false},
		{"no HTTP client", func(o *Opts) { o.HTTP = nil }, false},
		{"negative lookback", func(o *Opts) { o.Lookback = -time.Hour }, false},
	}
	for _, tt := range tests {
		o := good
		tt.change(&o)
		s, err := New(o)
		if (err == nil) != tt.ok {
			t.Errorf("%s: error %v", tt.name, err)
		}
		if err == nil && (s.Name() != "n" || s.o.Lookback != 7*24*time.Hour ||
			!slices.Equal(s.o.States, []string{"new", "under-review"}) ||
			s.key(812345) != "pw:patchwork.kernel.org/netdevbpf/series/812345") {
			t.Errorf("%s: %+v", tt.name, s.o)
		}
	}
	s, err := New(Opts{Name: "n", URL: "https://PW.example.org:8443/patchwork/", Project: "p", HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	if k := s.key(3); k != "pw:pw.example.org:8443/patchwork/p/series/3" {
		t.Errorf("key %s", k)
	}
}

func TestFetchGolden(t *testing.T) {
	for _, tt := range []struct {
		phase pwfake.Phase
		file  string
	}{
		{pwfake.Phase1, "fetch-phase1.golden"},
		{pwfake.P2DependsOn, "fetch-p2-depends-on.golden"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			changes, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(changes); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Fetch differs from %s (run with -update to accept):\n%s", path, got)
			}
		})
	}
}

func TestFetchSnapshots(t *testing.T) {
	tests := []struct {
		name    string
		phase   pwfake.Phase
		project string
		want    []int64
	}{
		{"phase 1: v2 is the latest sample series", pwfake.Phase1, "netdev", []int64{1, 3, 4, 5, 6, 7, 8}},
		{"v3 cover only: incomplete, v2 stays", pwfake.P2CoverOnly, "netdev", []int64{1, 3, 4, 5, 6, 7, 8}},
		// An incomplete series comes after the complete ones, waiting.
		{"v3 with 1 of 2 patches: incomplete, v2 stays", pwfake.P2OnePatch, "netdev", []int64{1, 3, 4, 5, 6, 7, 8, 15}},
		{"v3 complete replaces v2", pwfake.P2V3Complete, "netdev", []int64{1, 4, 5, 6, 7, 8, 15}},
		{"series with dependencies", pwfake.P2DependsOn, "netdev", []int64{1, 4, 5, 6, 7, 8, 15, 16}},
		{"bpf: 13 incomplete, [v2] 12 supersedes 11", pwfake.Phase1, "bpf", []int64{9, 10, 12, 14, 13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			changes, err := srv.newSource(t, srv.opts(tt.project)).Fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := keys(changes), seriesKeys(tt.project, tt.want...); !slices.Equal(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
		})
	}
}

func byKey(t *testing.T, changes []change.Change, k change.Key) change.Change {
	t.Helper()
	for _, c := range changes {
		if c.Key == k {
			return c
		}
	}
	t.Fatalf("no change %s", k)
	return change.Change{}
}

func TestFetchChanges(t *testing.T) {
	srv := newServer(t, pwfake.P2DependsOn, nil)
	changes, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	k := func(id int64) change.Key { return seriesKeys("netdev", id)[0] }

	s16 := byKey(t, changes, k(16))
	wantDeps := []change.Ref{
		{Raw: "<20261121050000.4242-0-stephenfinucane@example.org>", Key: k(15), Source: "pw-netdev", Checked: true},
		{Raw: testBase + "/project/netdev/list/?series=1", Key: k(1), Source: "pw-netdev", Checked: true},
	}
	if !slices.Equal(s16.Deps, wantDeps) {
		t.Errorf("series 16 deps %+v, want %+v", s16.Deps, wantDeps)
	}
	if s16.Title != "net: foo and bar cleanups" || s16.Submitter != "alice@example.org" || s16.Version != 1 ||
		s16.WebURL != testBase+"/project/netdev/list/?series=16" || s16.Source != "pw-netdev" ||
		s16.Base.Tree != "net-next" || !slices.Equal(s16.Targets, []string{"kernelci"}) || s16.Unbuildable != "" {
		t.Errorf("series 16: %+v", s16)
	}
	wantPatches := []change.Patch{
		{ID: 29, MsgID: "<d4b77a4438d84a5a8d40aafd6269d9996677565e.1795236401.git.alice@example.org>",
			Name: "[net-next,1/2] net: foo: return 1 from foo()", Hash: "ffe190eef0985dd5aedac5f986cfc1e167ae70dc",
			MboxURL: testBase + "/project/netdev/patch/d4b77a4438d84a5a8d40aafd6269d9996677565e.1795236401.git.alice@example.org/mbox/",
			WebURL:  testBase + "/project/netdev/patch/d4b77a4438d84a5a8d40aafd6269d9996677565e.1795236401.git.alice@example.org/"},
	}
	if len(s16.Patches) != 2 || s16.Patches[0] != wantPatches[0] ||
		!slices.Equal(s16.Content, []string{s16.Patches[0].Hash, s16.Patches[1].Hash}) {
		t.Errorf("series 16 patches %+v, content %v", s16.Patches, s16.Content)
	}

	pull := byKey(t, changes, k(7))
	if pull.Unbuildable != "git pull request without a diff: nothing to apply" || !slices.Equal(pull.Content, []string{""}) {
		t.Errorf("pull request series 7: %+v", pull)
	}
	// Patches outside the actionable states still count, with their hash.
	s4 := byKey(t, changes, k(4))
	if len(s4.Content) != 4 || s4.Content[0] != "65da1d84da217e98f4c22d6ce27603c295f256e4" {
		t.Errorf("series 4 (patch 9 accepted) content %v", s4.Content)
	}
	s5 := byKey(t, changes, k(5))
	if len(s5.Content) != 2 || s5.Content[1] != "4111872152088fbd6c6499f7785133d06972f2ca" {
		t.Errorf("series 5 (patch 14 archived) content %v", s5.Content)
	}
	for _, c := range changes {
		if c.Key != k(16) && len(c.Deps) != 0 {
			t.Errorf("%s has deps %v", c.Key, c.Deps)
		}
	}
}

func TestFetchOptions(t *testing.T) {
	tests := []struct {
		name  string
		phase pwfake.Phase
		opts  func(o *Opts)
		want  []int64
	}{
		{"default lookback of 7 days", pwfake.P2DependsOn, func(o *Opts) { o.Lookback = 0 }, []int64{15, 16}},
		{"lookback reaches patch 29 only", pwfake.P2DependsOn, func(o *Opts) { o.Lookback = 10 * time.Minute }, []int64{16}},
		{"lookback after the last patch", pwfake.P2DependsOn, func(o *Opts) { o.Lookback = 5 * time.Minute }, []int64{}},
		{"delegate", pwfake.Phase1, func(o *Opts) { o.Delegate = "admin" }, []int64{3}},
		{"states, archived excluded", pwfake.Phase1, func(o *Opts) { o.States = []string{"changes-requested", "superseded"} }, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			o := srv.opts("netdev")
			tt.opts(&o)
			changes, err := srv.newSource(t, o).Fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := keys(changes), seriesKeys("netdev", tt.want...); !slices.Equal(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
		})
	}
}

func TestFetchFailures(t *testing.T) {
	tests := []struct {
		name   string
		phase  pwfake.Phase
		prefix string
		status int
		want   []string
	}{
		{"second list page", pwfake.Phase1, "/api/1.3/patches/?archived=false&page=2", 500, []string{
			"source pw-netdev: patchwork http://patchwork.test: list patches: GET http://patchwork.test/api/1.3/patches/?archived=false&page=2&per_page=2&project=netdev&since=2006-11-26T05%3A20%3A00&state=new&state=under-review: 500 Internal Server Error"}},
		{"series detail", pwfake.Phase1, "/api/1.3/series/4/", 503, []string{
			"get series 4: GET http://patchwork.test/api/1.3/series/4/: 503 Service Unavailable"}},
		{"cover letter", pwfake.Phase1, "/api/1.3/covers/3/", 500, []string{"get cover 3:", "500"}},
		{"series mbox", pwfake.Phase1, "/series/3/mbox/", 500, []string{"series mbox: GET http://patchwork.test/series/3/mbox/: 500"}},
		{"listing of a series", pwfake.Phase1, "/api/1.3/patches/?per_page=2&project=netdev&series=5", 502,
			[]string{"list patches:", "series=5: 502 Bad Gateway"}},
		{"forbidden", pwfake.Phase1, "/api/1.3/series/", 403, []string{"403 Forbidden: Injected failure."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, smallPages("2"))
			srv.fake.FailPath(tt.prefix, tt.status)
			changes, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
			if err == nil || changes != nil {
				t.Fatalf("Fetch = %d changes, %v", len(changes), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// replaceBody serves body instead of the fake's answer for path.
func replaceBody(path string, edit func(body []byte) []byte) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			writeRecorded(w, rec, edit(rec.Body.Bytes()))
		})
	}
}

func TestFetchMalformed(t *testing.T) {
	tests := []struct {
		name string
		wrap func(http.Handler) http.Handler
		want string
	}{
		{"not JSON", replaceBody("/api/1.3/series/3/", func([]byte) []byte { return []byte("<html>") }),
			"get series 3: GET http://patchwork.test/api/1.3/series/3/: unexpected content: decode: invalid character '<' looking for beginning of value"},
		{"wrong id", replaceBody("/api/1.3/series/3/", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"id":3,`), []byte(`{"id":33,`), 1)
		}), "series 3: malformed: detail has id 33"},
		{"complete without patches", replaceBody("/api/1.3/series/8/", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"patches":[`))
			return append(b[:i:i], []byte(`"patches":[]}`)...)
		}), "series 8: malformed: complete but lists no patch"},
		{"patch without mbox", replaceBody("/api/1.3/series/8/", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`,"mbox":"http://patchwork.test/project/`), []byte(`,"mbox":"","x":"`), 1)
		}), "series 8: malformed: a patch without id or mbox URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, pwfake.Phase1, tt.wrap)
			_, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFetchBaseCommit(t *testing.T) {
	const (
		fromCover = "0123456789abcdef0123456789abcdef01234567"
		fromPatch = "89abcdef0123456789abcdef0123456789abcdef"
	)
	wrap := func(h http.Handler) http.Handler {
		cover := replaceBody("/api/1.3/covers/3/", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"content":"`), []byte(`"content":"base-commit: `+fromCover+`\n`), 1)
		})
		mbox := replaceBody("/series/1/mbox/", func(b []byte) []byte {
			return append(b, []byte("\nbase-commit: "+strings.ToUpper(fromPatch)+"\n")...)
		})
		return cover(mbox(h))
	}
	srv := newServer(t, pwfake.Phase1, wrap)
	changes, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]string{1: fromPatch, 3: fromCover, 4: ""} {
		if got := byKey(t, changes, seriesKeys("netdev", id)[0]).BaseCommit; got != want {
			t.Errorf("series %d base commit %q, want %q", id, got, want)
		}
	}
}

// TestFetchRequests pins the requests one Fetch makes on a cold cache, by
// path. Of these, the series details of complete series, the cover
// letters, the non-empty mboxes and the message id lookups that matched
// are marked cacheable; an idle tick repeats only the rest.
func TestFetchRequests(t *testing.T) {
	srv := newServer(t, pwfake.P2DependsOn, nil)
	if _, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		// the actionable listing and the listings of series 4 and 5
		// (patches 9 and 14 are not actionable); the cover msgid series
		// 16 names is series 15's, read already, so it is not looked up
		"/api/1.3/patches/": 3,
		// the first Fetch checks that the project exists
		"/api/1.3/projects/netdev/": 1,
		"/api/1.3/covers/1/":        1, "/api/1.3/covers/4/": 1, "/api/1.3/covers/8/": 1, "/api/1.3/covers/9/": 1,
	}
	for _, id := range []string{"1", "4", "5", "6", "7", "8", "15", "16"} {
		want["/api/1.3/series/"+id+"/"]++
		want["/series/"+id+"/mbox/"]++
	}
	want["/api/1.3/series/3/"]++ // read, then superseded by 15: no cover, no mbox
	got := srv.fake.Requests()
	if len(got) != len(want) {
		t.Errorf("requests %v\nwant %v", got, want)
	}
	for p, n := range want {
		if got[p] != n {
			t.Errorf("%s: %d requests, want %d", p, got[p], n)
		}
	}
}

func TestFetchCancelled(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := srv.newSource(t, srv.opts("netdev")).Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestSupersede(t *testing.T) {
	sr := func(id int64, email, name string, version int) *Series {
		return &Series{ID: id, Name: name, Version: version, Submitter: Person{Email: email}}
	}
	tests := []struct {
		name   string
		series []*Series
		kept   []int64
	}{
		{"v1 v2 v3", []*Series{sr(2, "a@x", "A sample series", 1), sr(3, "a@x", "A sample series", 2),
			sr(15, "A@X", "[v3] A sample series", 3)}, []int64{15}},
		{"same name and version: both stay", []*Series{sr(5, "l@x", "[net,v2,1/2] fix", 2), sr(6, "l@x", "[net,v2,1/2] fix", 2)},
			[]int64{5, 6}},
		{"another submitter", []*Series{sr(1, "a@x", "foo", 1), sr(2, "b@x", "foo", 2)}, []int64{1, 2}},
		{"another name", []*Series{sr(1, "a@x", "foo", 1), sr(2, "a@x", "foo bar", 2)}, []int64{1, 2}},
		{"older id, higher version", []*Series{sr(9, "a@x", "foo", 3), sr(10, "a@x", "foo", 2)}, []int64{9}},
	}
	for _, tt := range tests {
		kept, _ := supersede(tt.series)
		var ids []int64
		for _, s := range kept {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, tt.kept) {
			t.Errorf("%s: kept %v, want %v", tt.name, ids, tt.kept)
		}
	}
}

func TestWaitingSeries(t *testing.T) {
	sr := func(id int64, version int) *Series {
		return &Series{ID: id, Version: version, Name: "A sample series", Submitter: Person{Email: "a@x"}}
	}
	v2, v3, v4 := sr(3, 2), sr(15, 3), sr(20, 4)
	other := &Series{ID: 30, Version: 1, Name: "another", Submitter: Person{Email: "a@x"}}
	_, newest := supersede([]*Series{v3})
	got := waitingSeries([]*Series{v2, v4, other}, newest)
	if want := []*Series{v4, other}; !slices.Equal(got, want) {
		t.Errorf("waiting %v, want v4 and the other series (v2 is superseded by the complete v3)", got)
	}
}

// TestPartlyAcceptedSeriesListedOnce: a series with a patch outside the
// actionable states (series 4: patch 9 accepted; series 5: patch 14
// archived) is listed by series once; later Fetches take the hashes they
// read then, as a patch's hash never changes.
func TestPartlyAcceptedSeriesListedOnce(t *testing.T) {
	var mu sync.Mutex
	bySeries := 0
	srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/1.3/patches/" && r.URL.Query().Has("series") {
				mu.Lock()
				bySeries++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	src := srv.newSource(t, srv.opts("netdev"))
	k := func(id int64) change.Key { return change.PatchworkKey("patchwork.test", "netdev", id) }
	for tick := range 3 {
		changes, err := src.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s4 := byKey(t, changes, k(4))
		if len(s4.Content) != 4 || s4.Content[0] != "65da1d84da217e98f4c22d6ce27603c295f256e4" {
			t.Fatalf("tick %d: series 4 content %v", tick, s4.Content)
		}
		mu.Lock()
		n := bySeries
		mu.Unlock()
		if n != 2 {
			t.Fatalf("tick %d: %d listings by series so far, want 2 (series 4 and 5, once)", tick, n)
		}
	}
}

// TestIdleFetchCostsTheListing: once a Fetch has read the complete series,
// the next Fetch of unchanged data asks for the listing of actionable
// patches and nothing else (an idle tick at the floor).
func TestIdleFetchCostsTheListing(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked = append(asked, r.URL.RequestURI())
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	})
	src := srv.newSource(t, srv.opts("netdev"))
	first, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	asked = nil
	mu.Unlock()
	second, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(first, second, func(a, b change.Change) bool {
		return a.Key == b.Key && slices.Equal(a.Content, b.Content) && slices.Equal(a.Deps, b.Deps) && a.BaseCommit == b.BaseCommit
	}) {
		t.Fatalf("the idle Fetch saw other changes:\n%+v\n%+v", first, second)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 {
		t.Fatal("no request at all: the listing must be read every tick")
	}
	for _, u := range asked {
		if !strings.HasPrefix(u, "/api/1.3/patches/?") || strings.Contains(u, "series=") || strings.Contains(u, "msgid=") {
			t.Errorf("idle Fetch asked %s; want the listing only (all: %q)", u, asked)
		}
	}
}

// TestIdleFetchReadsEveryPageOnce: an idle Fetch of a listing of several
// pages reads each page once (the previous Fetch's listing vouches for
// it); the first Fetch, with nothing to check against, reads it twice.
func TestIdleFetchReadsEveryPageOnce(t *testing.T) {
	var mu sync.Mutex
	pages := 0
	srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
		h = smallPages("3")(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if r.URL.Path == "/api/1.3/patches/" && q.Has("state") {
				mu.Lock()
				pages++
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	src := srv.newSource(t, srv.opts("netdev"))
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := pages
		pages = 0
		return n
	}
	if _, err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	cold := count()
	if cold < 4 || cold%2 != 0 {
		t.Fatalf("first Fetch: %d page requests, want a listing of several pages read twice", cold)
	}
	for tick := range 3 {
		if _, err := src.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != cold/2 {
			t.Errorf("idle Fetch %d: %d page requests, want %d (each page once)", tick, n, cold/2)
		}
	}
}
