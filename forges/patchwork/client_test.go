package patchwork

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

func TestNewClient(t *testing.T) {
	tests := []struct {
		url  string
		hc   *http.Client
		base string // "" when New must fail
	}{
		{"https://patchwork.kernel.org", &http.Client{}, "https://patchwork.kernel.org"},
		{"https://patchwork.kernel.org/", &http.Client{}, "https://patchwork.kernel.org"},
		{"http://127.0.0.1:8000/patchwork/", &http.Client{}, "http://127.0.0.1:8000/patchwork"},
		{"ftp://patchwork.kernel.org", &http.Client{}, ""},
		{"patchwork.kernel.org", &http.Client{}, ""},
		{"https://patchwork.kernel.org/?project=x", &http.Client{}, ""},
		{"https://user:pw@patchwork.kernel.org", &http.Client{}, ""},
		{"https://patchwork.kernel.org", nil, ""},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.url, tt.hc)
		switch {
		case tt.base == "" && err == nil:
			t.Errorf("NewClient(%q) succeeded", tt.url)
		case tt.base != "" && err != nil:
			t.Errorf("NewClient(%q): %v", tt.url, err)
		case tt.base != "" && c.BaseURL() != tt.base:
			t.Errorf("NewClient(%q).BaseURL() = %q, want %q", tt.url, c.BaseURL(), tt.base)
		}
	}
}

// queryRecorder records the query of every request to the patch list.
type queryRecorder struct {
	mu      sync.Mutex
	queries []url.Values
}

func (q *queryRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/patches/") {
			q.mu.Lock()
			q.queries = append(q.queries, r.URL.Query())
			q.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func TestListPatchesQuery(t *testing.T) {
	no := false
	zone := time.FixedZone("+02:00", 2*60*60)
	tests := []struct {
		name string
		o    ListOptions
		want string // encoded query
	}{
		{"empty", ListOptions{}, "per_page=250"},
		{"actionable", ListOptions{Project: "netdev", States: []string{"new", "under-review"}, Archived: &no,
			Since: time.Date(2026, 11, 21, 7, 0, 0, 999, zone), Delegate: "admin"},
			"archived=false&delegate=admin&per_page=250&project=netdev&since=2026-11-21T05%3A00%3A00&state=new&state=under-review"},
		{"msgid without brackets", ListOptions{Project: "netdev", MsgID: " <a@b> "}, "msgid=a%40b&per_page=250&project=netdev"},
		{"series", ListOptions{Series: 15}, "per_page=250&series=15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec queryRecorder
			srv := newServer(t, pwfake.P2DependsOn, rec.wrap)
			if _, err := srv.newClient(t).ListPatches(t.Context(), tt.o); err != nil {
				t.Fatal(err)
			}
			if len(rec.queries) != 1 || rec.queries[0].Encode() != tt.want {
				t.Errorf("queries %v, want %s", rec.queries, tt.want)
			}
		})
	}
}

func patchIDs(ps []Patch) []int64 {
	out := []int64{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestListPatches(t *testing.T) {
	yes := true
	tests := []struct {
		name  string
		phase pwfake.Phase
		o     ListOptions
		ids   []int64
	}{
		{"naive since", pwfake.P2DependsOn, ListOptions{Since: time.Date(2026, 11, 21, 5, 10, 1, 0, time.UTC)}, []int64{29, 30}},
		{"since in another zone", pwfake.P2DependsOn,
			ListOptions{Since: time.Date(2026, 11, 21, 15, 10, 1, 0, time.FixedZone("AEDT", 10*60*60))}, []int64{29, 30}},
		{"msgid with brackets", pwfake.Phase1,
			ListOptions{Project: "netdev", MsgID: "<1473632795-9971-2-git-send-email-stephenfinucane@gmail.com>"}, []int64{7}},
		{"series", pwfake.Phase1, ListOptions{Series: 3}, []int64{7, 8}},
		{"delegate", pwfake.Phase1, ListOptions{Project: "netdev", Delegate: "admin"}, []int64{7}},
		{"states", pwfake.Phase1, ListOptions{Project: "netdev", States: []string{"superseded", "accepted"}}, []int64{5, 6, 9}},
		{"archived", pwfake.Phase1, ListOptions{Archived: &yes}, []int64{14}},
		{"nothing", pwfake.Phase1, ListOptions{Project: "nosuch"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.phase, nil)
			ps, err := srv.newClient(t).ListPatches(t.Context(), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := patchIDs(ps); !slices.Equal(got, tt.ids) {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
		})
	}
}

// smallPages makes the fake serve at most n items a page, like a server
// with a low MAX_REST_RESULTS_PER_PAGE.
func smallPages(n string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			q.Set("per_page", n)
			r.URL.RawQuery = q.Encode()
			h.ServeHTTP(w, r)
		})
	}
}

func TestListPatchesPagination(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, smallPages("2"))
	ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev"})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	if got := patchIDs(ps); !slices.Equal(got, want) {
		t.Errorf("ids %v, want %v", got, want)
	}
	// A listing of several pages is read twice: the second pass must hold
	// every item of the first (no item skipped by a shifting listing).
	if n := srv.fake.Requests()["/api/1.3/patches/"]; n != 18 {
		t.Errorf("%d page requests, want 18 (9 pages, twice)", n)
	}
}

// rewriteNext replaces the page number or the host of the first page's
// rel="next" link.
func rewriteNext(from, to string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			if !r.URL.Query().Has("page") {
				w.Header().Set("Link", strings.Replace(rec.Header().Get("Link"), from, to, 1))
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}
}

// shrunk answers page n with the server's "Invalid page." 404, as when the
// listing shrank below n pages while it was read.
func shrunk(n string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if q.Get("page") == n {
				q.Set("page", "99")
				r.URL.RawQuery = q.Encode()
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestListPatchesPageErrors(t *testing.T) {
	tests := []struct {
		name     string
		wrap     func(http.Handler) http.Handler
		contains []string
		notFound bool
	}{
		{"invalid page", shrunk("2"),
			[]string{"patchwork http://patchwork.test: list patches: GET http://patchwork.test/api/1.3/patches/?page=2",
				"404 Not Found: Invalid page. (read 3 times)"}, true},
		{"next page skips a page", rewriteNext("page=2", "page=3"), []string{"is page 3, want page 2"}, false},
		{"next page on another host", rewriteNext("patchwork.test", "evil.test"),
			[]string{"list patches: next page:", "is not on patchwork.test"}, false},
		{"next page loops", rewriteNext("page=2&", ""), []string{`listing not complete: rel="next" http://patchwork.test/api/1.3/patches/?per_page=2&project=netdev is page 1, want page 2`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler { return tt.wrap(smallPages("2")(h)) })
			_, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if errors.Is(err, httpx.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound) != %v", err, tt.notFound)
			}
		})
	}
}

func TestPatchFields(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Series: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if p.ID != 7 || p.MsgID != "<1473632795-9971-2-git-send-email-stephenfinucane@gmail.com>" ||
		p.Hash != "ef5728ba9684b75251f5971ac1c52353cb3c08dc" || p.State != "new" || p.Archived ||
		p.Delegate == nil || p.Delegate.Username != "admin" || len(p.Series) != 1 || p.Series[0].ID != 3 ||
		p.Series[0].Version != 2 || p.Project.LinkName != "netdev" || p.Submitter.Email != "stephenfinucane@gmail.com" ||
		p.Mbox != testBase+"/project/netdev/patch/1473632795-9971-2-git-send-email-stephenfinucane@gmail.com/mbox/" {
		t.Errorf("patch 7: %+v", p)
	}
	if want := time.Date(2016, 9, 11, 22, 26, 34, 0, time.UTC); !p.Date.Equal(want) || p.Date.Location() != time.UTC {
		t.Errorf("date %v, want %v", p.Date, want)
	}
	ps, err = srv.newClient(t).ListPatches(t.Context(), ListOptions{Series: 7})
	if err != nil {
		t.Fatal(err)
	}
	if pr := ps[0]; pr.ID != 17 || pr.Hash != "" || !strings.HasPrefix(pr.PullURL, "git://") {
		t.Errorf("pull request: %+v", pr)
	}
}

func TestTimeUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`"2017-06-13T19:17:21"`, time.Date(2017, 6, 13, 19, 17, 21, 0, time.UTC), true},
		{`"2026-11-21T04:44:10.010325"`, time.Date(2026, 11, 21, 4, 44, 10, 10325000, time.UTC), true},
		{`"2026-11-21T14:44:10+10:00"`, time.Date(2026, 11, 21, 4, 44, 10, 0, time.UTC), true},
		{`null`, time.Time{}, true},
		{`"2026-11-21"`, time.Time{}, false},
		{`"yesterday"`, time.Time{}, false},
		{`17`, time.Time{}, false},
	}
	for _, tt := range tests {
		var got Time
		err := got.UnmarshalJSON([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && (!got.Equal(tt.want) || (!got.IsZero() && got.Location() != time.UTC))) {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", tt.in, got.Time, err, tt.want)
		}
	}
}

func TestGetSeries(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	c := srv.newClient(t)
	tests := []struct {
		id       int64
		cover    int64
		patches  []int64
		complete bool
		version  int
	}{
		{1, 1, []int64{1, 2, 3, 4}, true, 3},
		{5, 0, []int64{13, 14}, true, 2},
		{13, 6, []int64{24}, false, 1},
	}
	for _, tt := range tests {
		s, err := c.GetSeries(t.Context(), tt.id)
		if err != nil {
			t.Fatal(err)
		}
		var cover int64
		if s.CoverLetter != nil {
			cover = s.CoverLetter.ID
		}
		var ids []int64
		for _, p := range s.Patches {
			ids = append(ids, p.ID)
		}
		if s.ID != tt.id || cover != tt.cover || !slices.Equal(ids, tt.patches) || s.ReceivedAll != tt.complete ||
			s.Version != tt.version || s.Mbox != testBase+"/series/"+strconv.FormatInt(tt.id, 10)+"/mbox/" {
			t.Errorf("series %d: %+v", tt.id, s)
		}
	}
}

func TestSeriesDependencies(t *testing.T) {
	// API 1.4 adds the dependencies of a series as API URLs.
	body := `{"id":16,"name":"x","received_all":true,"dependencies":["https://pw.example/api/1.4/series/15/"],"cover_letter":null,"patches":[]}`
	var s Series
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Dependencies, []string{"https://pw.example/api/1.4/series/15/"}) {
		t.Errorf("dependencies %v", s.Dependencies)
	}
}

func TestCovers(t *testing.T) {
	srv := newServer(t, pwfake.P2DependsOn, nil)
	c := srv.newClient(t)
	cv, err := c.GetCover(t.Context(), 9)
	if err != nil {
		t.Fatal(err)
	}
	if cv.ID != 9 || cv.MsgID != "<cover.1795236401.git.alice@example.org>" || len(cv.Series) != 1 || cv.Series[0].ID != 16 ||
		!strings.Contains(cv.Content, "Depends-on: <20261121050000.4242-0-stephenfinucane@example.org>") {
		t.Errorf("cover 9: %+v", cv)
	}
	tests := []struct {
		msgid string
		ids   []int64
	}{
		{"<20261121050000.4242-0-stephenfinucane@example.org>", []int64{8}},
		{"20261121050000.4242-0-stephenfinucane@example.org", []int64{8}},
		{"<1473632795-9971-2-git-send-email-stephenfinucane@gmail.com>", []int64{}}, // a patch, not a cover
	}
	for _, tt := range tests {
		covers, err := c.FindCovers(t.Context(), "netdev", tt.msgid)
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{}
		for _, cv := range covers {
			ids = append(ids, cv.ID)
		}
		if !slices.Equal(ids, tt.ids) {
			t.Errorf("FindCovers(%s) = %v, want %v", tt.msgid, ids, tt.ids)
		}
	}
}

func TestSeriesMbox(t *testing.T) {
	srv := newServer(t, pwfake.P2CoverOnly, nil)
	c := srv.newClient(t)
	tests := []struct {
		phase    pwfake.Phase
		url      string
		patches  []int64
		contains string // "" for an empty mbox
		err      string
	}{
		{pwfake.P2CoverOnly, testBase + "/series/15/mbox/", nil, "", ""},
		{pwfake.P2DependsOn, testBase + "/series/16/mbox/", []int64{29, 30}, "Depends-on: " + testBase + "/project/netdev/list/?series=1\n", ""},
		{pwfake.P2DependsOn, "/series/1/mbox/", []int64{1, 2, 3, 4}, "X-Patchwork-Id: 4\n", ""},
		{pwfake.P2DependsOn, "https://PATCHWORK.test/series/1/mbox/", []int64{1, 2, 3, 4}, "X-Patchwork-Id: 1\n", ""},
		{pwfake.P2DependsOn, "https://evil.test/series/1/mbox/", []int64{1, 2, 3, 4}, "", "series mbox: https://evil.test/series/1/mbox/ is not on patchwork.test"},
		{pwfake.P2DependsOn, testBase + "/series/99/mbox/", []int64{1}, "", "404 Not Found"},
		{pwfake.P2DependsOn, testBase + "/series/1/mbox/", []int64{1, 2, 3}, "", "unexpected content: 4 mails for a series of 3 patches"},
		{pwfake.P2DependsOn, testBase + "/series/1/mbox/", []int64{1, 2, 4, 3}, "", "unexpected content: mail 3 is patch 3, want patch 4"},
	}
	for _, tt := range tests {
		if err := srv.fake.SetPhase(tt.phase); err != nil {
			t.Fatal(err)
		}
		mbox, err := c.SeriesMbox(t.Context(), tt.url, tt.patches)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SeriesMbox(%s): %v, want %q", tt.url, err, tt.err)
			}
		case err != nil:
			t.Errorf("SeriesMbox(%s): %v", tt.url, err)
		case (tt.contains == "") != (len(mbox) == 0) || !strings.Contains(string(mbox), tt.contains):
			t.Errorf("SeriesMbox(%s) = %q, want it to contain %q", tt.url, mbox, tt.contains)
		}
	}
}

func TestClientErrors(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/1.3/series/2/" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"id":"two"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	srv.fake.FailPath("/api/1.3/covers/", http.StatusBadGateway)
	c := srv.newClient(t)
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
		want string
		is   error
	}{
		{"unknown series", func() error { _, err := c.GetSeries(ctx, 9999); return err },
			"patchwork http://patchwork.test: get series 9999: GET http://patchwork.test/api/1.3/series/9999/: 404 Not Found: Not found.",
			httpx.ErrNotFound},
		{"server error", func() error { _, err := c.GetCover(ctx, 1); return err },
			"patchwork http://patchwork.test: get cover 1: GET http://patchwork.test/api/1.3/covers/1/: 502 Bad Gateway",
			httpx.ErrServer},
		{"malformed series", func() error { _, err := c.GetSeries(ctx, 2); return err },
			"patchwork http://patchwork.test: get series 2: GET http://patchwork.test/api/1.3/series/2/: unexpected content: decode: json: cannot unmarshal string", nil},
		{"cancelled", func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := c.ListPatches(cctx, ListOptions{})
			return err
		}, "patchwork http://patchwork.test: list patches: Get \"http://patchwork.test/api/1.3/patches/?per_page=250\": context canceled",
			context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.is)
			}
		})
	}
}

func TestCachePredicates(t *testing.T) {
	tests := []struct {
		name string
		pred func([]byte) bool
		body string
		want bool
	}{
		{"complete series", seriesComplete, `{"id":1,"received_all":true}`, true},
		{"incomplete series", seriesComplete, `{"id":13,"received_all":false}`, false},
		{"series without the field", seriesComplete, `{"id":1}`, false},
		{"not JSON", seriesComplete, `<html>`, false},
		{"mbox", nonEmpty, "From patchwork Mon Jan 23 08:16:26 2017\n", true},
		{"empty mbox", nonEmpty, "", false},
		{"blank mbox", nonEmpty, "\n", false},
		{"match", nonEmptyList, `[{"id":7}]`, true},
		{"no match", nonEmptyList, `[]`, false},
		{"list not JSON", nonEmptyList, `oops`, false},
	}
	for _, tt := range tests {
		if got := tt.pred([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct {
		headers []string
		want    string
	}{
		{nil, ""},
		{[]string{`<http://h/api/series/?page=2&per_page=2&project=netdev>; rel="next", <http://h/api/series/?page=1&per_page=2&project=netdev>; rel="first", <http://h/api/series/?page=4&per_page=2&project=netdev>; rel="last"`},
			"http://h/api/series/?page=2&per_page=2&project=netdev"},
		{[]string{`<http://h/?page=3>; rel="prev", <http://h/?page=1>; rel="first"`}, ""},
		{[]string{`<http://h/?page=1>; rel="first"`, `<http://h/a,b/?page=2>; rel=next`}, "http://h/a,b/?page=2"},
		{[]string{`<http://h/?page=2>; title="x"; rel="prefetch next"`}, "http://h/?page=2"},
		{[]string{`broken <`}, ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.headers); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.headers, got, tt.want)
		}
	}
}

// FuzzNextLink checks nextLink on arbitrary Link headers: it never panics,
// what it returns is a target written between angle brackets in one of the
// headers, other links never hide the next one, and a well-formed header
// built around any target gives that target back.
func FuzzNextLink(f *testing.F) {
	f.Add(`<http://h/api/series/?page=2&per_page=2>; rel="next", <http://h/api/series/?page=1>; rel="first"`, "http://h/?page=3")
	f.Add(`<http://h/?page=3>; rel="prev", <http://h/?page=1>; rel="first"`, "x")
	f.Add(`<http://h/a,b/?page=2>; rel=next`, "http://h/a;rel=next/")
	f.Add(`<http://h/?page=2>; title="x"; rel="prefetch next"`, "")
	f.Add(`broken <`, ">")
	f.Fuzz(func(t *testing.T, header, target string) {
		got := nextLink([]string{header})
		if got != "" && !strings.Contains(header, "<"+got+">") {
			t.Fatalf("nextLink(%q) = %q, not a bracketed target of the header", header, got)
		}
		// A target ends at the first '>'. It may hold a '<' ("<<>"): such
		// a target then fails to fetch, which marks the source unknown,
		// rather than ending the listing early.
		if strings.Contains(got, ">") {
			t.Fatalf("nextLink(%q) = %q runs past a closing bracket", header, got)
		}
		if first := nextLink([]string{`<http://h/?page=1>; rel="first"`, header}); first != got {
			t.Fatalf("a first link before %q changes the answer: %q, want %q", header, first, got)
		}
		// Any target without angle brackets round-trips through a header
		// that also carries other relations.
		target = strings.Map(func(r rune) rune {
			if r == '<' || r == '>' {
				return -1
			}
			return r
		}, target)
		built := `<http://h/?page=1>; rel="prev", <` + target + `>; rel="next", <http://h/?page=9>; rel="last"`
		if back := nextLink([]string{built}); back != target {
			t.Fatalf("nextLink(%q) = %q, want %q", built, back, target)
		}
	})
}
