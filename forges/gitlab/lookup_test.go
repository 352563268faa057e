package gitlab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// reportState reports st of a unit of change c through r, on c's item.
func reportState(r *Reporter, c change.Change, st targets.State, summary string) (report.Done, error) {
	posted, _ := r.Map(st)
	m := report.Message{Change: string(c.Key), Target: "ci", Fingerprint: "0123456789abcdef", State: st, Summary: summary}
	return r.Report(context.Background(), r.Items(&c)[0], m, posted)
}

// fetchOne fetches s and returns merge request iid's change.
func fetchOne(t *testing.T, s *Source, iid int64) change.Change {
	t.Helper()
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return byIID(t, changes, iid)
}

// The look-before-post reads every page of the commit's statuses (GitLab
// serves 20 a page, oldest first) and compares with the newest of the
// name, so a long history never makes it post a repeat; the relay read
// sees the newest too.
func TestStatusReadsEveryPageAndTheNewest(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	// 131 conclusive statuses, success and failed in turn: each post of a
	// finished state starts a new one. The newest (run 130) is success;
	// the newest of the first page of 20 would be failed (run 19).
	for i := range 131 {
		st := targets.StateSuccess
		if i%2 == 1 {
			st = targets.StateFail
		}
		if _, err := reportState(r, c, st, fmt.Sprintf("run %d", i)); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if n := len(w.fake.Statuses()); n != 131 {
		t.Fatalf("%d statuses stored, want 131", n)
	}
	before := len(w.requests("/statuses"))
	if done, err := reportState(r, c, targets.StateSuccess, "run 130"); err != nil || done != report.Found {
		t.Fatalf("report of the newest status: %v %v, want it found", done, err)
	}
	reads := w.requests("/statuses")[before:]
	if len(reads) != 2 || reads[0].Query.Get("per_page") != "100" || reads[1].Query.Get("page") != "2" {
		t.Errorf("reads %+v, want pages 1 and 2 at per_page=100", reads)
	}
	if n := len(w.fake.Statuses()); n != 131 {
		t.Errorf("%d statuses stored after the repeat, want no new one", n)
	}
	// A failure now is new, and the relay read sees it as the newest.
	if done, err := reportState(r, c, targets.StateFail, "run 131"); err != nil || done != report.Posted {
		t.Fatalf("report of a new state: %v %v, want it posted", done, err)
	}
	_, statuses, err := s.Statuses(context.Background(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].State != targets.StateFail || !strings.HasPrefix(statuses[0].Description, "run 131 ") {
		t.Errorf("Statuses = %+v, want the newest: failed, run 131", statuses)
	}
}

// newest picks by id, whatever order the list comes in.
func TestNewestByID(t *testing.T) {
	var all []*gl.CommitStatus
	for id := int64(1); id <= 50; id++ {
		all = append(all, &gl.CommitStatus{ID: id, Name: fmt.Sprintf("n%d", id%3), Status: fmt.Sprint(id)})
	}
	for range 5 {
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		got := newest(append(all, nil))
		if len(got) != 3 || got["n0"].ID != 48 || got["n1"].ID != 49 || got["n2"].ID != 50 {
			t.Fatalf("newest = %v", got)
		}
	}
}

// A full page without x-next-page gives no sign the list ended: the read
// fails rather than miss the newer statuses.
func TestStatusReadWithoutNextPageHeaderFails(t *testing.T) {
	w := newWrappedWorld(t, glfake.Options{}, func(_ *glfake.Fake, h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(dropHeader{ResponseWriter: rw, name: "X-Next-Page"}, r)
		})
	})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	for i := range 100 {
		st := StatusSuccess
		if i%2 == 1 {
			st = StatusFailed
		}
		if err := s.PostStatus(context.Background(), mainPath, sha("a", 1), Status{State: st, Name: "trawl"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.commitStatuses(context.Background(), mainPath, sha("a", 1), "trawl"); err == nil || !strings.Contains(err.Error(), "x-next-page") {
		t.Errorf("read of a full page without x-next-page: %v, want an error", err)
	}
}

// dropHeader removes one header from the answers it writes.
type dropHeader struct {
	http.ResponseWriter
	name string
}

func (d dropHeader) WriteHeader(code int) {
	d.Header().Del(d.name)
	d.ResponseWriter.WriteHeader(code)
}

// A merge request from a fork gets its status where trawl can write it:
// in the fork when it can, else in the target project under
// refs/merge-requests/<iid>/head.
func TestForkStatusGoesWhereTheBotCanWrite(t *testing.T) {
	tests := []struct {
		name      string
		fork      func(*glfake.Project)
		item      string
		project   int64
		ref       string
		forkPosts int // status posts sent to the fork
	}{
		{"fork writable", func(*glfake.Project) {}, "alice/project", forkID, "alice-fix", 1},
		{"fork read-only", func(p *glfake.Project) { p.ReadOnly = true }, "alice/project", mainID, "refs/merge-requests/7/head", 1},
		{"fork not visible", func(p *glfake.Project) { p.NoAccess = true }, fmt.Sprint(forkID), mainID, "refs/merge-requests/7/head", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newForkWorld(t, tt.fork)
			w.addMR(7, func(m *glfake.MR) { m.SourceProjectID = forkID; m.SourceBranch = "alice-fix" })
			s := w.source(t, w.opts())
			c := fetchOne(t, s, 7)
			r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
			if err != nil {
				t.Fatal(err)
			}
			if items := r.Items(&c); items[0] != tt.item+"@"+c.HeadSHA {
				t.Fatalf("Items = %v, want %s@head", items, tt.item)
			}
			if done, err := reportState(r, c, targets.StateFail, "tests failed"); err != nil || done != report.Posted {
				t.Fatalf("first report: %v, %v; want posted", done, err)
			}
			// Repeats find it, and a fork that refused once is not
			// asked again.
			for range 2 {
				if done, err := reportState(r, c, targets.StateFail, "tests failed"); err != nil || done != report.Found {
					t.Fatalf("repeat: %v, want found", err)
				}
			}
			got := w.fake.Statuses()
			if len(got) != 1 || got[0].ProjectID != tt.project || got[0].Ref != tt.ref || got[0].State != "failed" {
				t.Fatalf("statuses %+v, want one failed in project %d on %s", got, tt.project, tt.ref)
			}
			forkPosts := 0
			for _, rq := range w.fake.Requests() {
				if rq.Method == http.MethodPost && strings.Contains(rq.Path, fmt.Sprintf("/projects/%d/", forkID)) ||
					rq.Method == http.MethodPost && strings.Contains(rq.Path, "alice%2Fproject") {
					forkPosts++
				}
			}
			if forkPosts != tt.forkPosts {
				t.Errorf("%d posts to the fork, want %d", forkPosts, tt.forkPosts)
			}
			// The relay read sees the status wherever it went.
			_, statuses, err := s.Statuses(context.Background(), c.Key)
			if err != nil {
				t.Fatal(err)
			}
			if len(statuses) != 1 || statuses[0].Context != "trawl" || statuses[0].State != targets.StateFail {
				t.Errorf("Statuses = %+v", statuses)
			}
		})
	}
}

// newForkWorld is newWorld with the fork project changed by mod before
// the fake serves it.
func newForkWorld(t *testing.T, mod func(*glfake.Project)) *world {
	t.Helper()
	var once sync.Once
	return newWrappedWorld(t, glfake.Options{}, func(f *glfake.Fake, h http.Handler) http.Handler {
		once.Do(func() { f.UpdateProject(forkID, mod) })
		return h
	})
}

// A 409 from an update in progress is retried, never dropped; a 409 that
// says the status is already in that state is found.
func TestStatusConflict(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl", States: map[targets.State]string{targets.StatePending: "running"}})
	if err != nil {
		t.Fatal(err)
	}
	w.fake.Conflict(1, "")
	_, err = reportState(r, c, targets.StatePending, "building")
	if err == nil || report.Permanent(err) || !strings.Contains(err.Error(), "409") {
		t.Fatalf("409 in progress: %v, want a retryable error naming it", err)
	}
	if _, ok := errors.AsType[*report.WaitError](err); !ok {
		t.Errorf("409 in progress: %T, want a *report.WaitError", err)
	}
	if _, err := reportState(r, c, targets.StatePending, "building"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A concurrent update posted the same running status, with another
	// description: GitLab refuses the repeat with 409.
	w.fake.Conflict(1, "Cannot transition status via :run from :running")
	if done, err := reportState(r, c, targets.StatePending, "building, 2 of 3"); err != nil || done != report.Found {
		t.Fatalf("409 repeat: %v, want found", err)
	}
	if got := w.fake.Statuses(); len(got) != 1 || got[0].State != "running" {
		t.Errorf("statuses %+v", got)
	}
}

// GitLab sends weak ETags on its GET answers; trawl's cache revalidates
// with them, so an unchanged list page or status list comes back as a
// bodiless 304.
func TestWeakETagsRevalidate(t *testing.T) {
	var mu sync.Mutex
	var codes []string
	w := newWrappedWorld(t, glfake.Options{}, func(_ *glfake.Fake, h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rec := &codeRecorder{ResponseWriter: rw}
			h.ServeHTTP(rec, r)
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodGet {
				codes = append(codes, fmt.Sprintf("%s %d %s", r.URL.Path, rec.code, r.Header.Get("If-None-Match")))
			}
		})
	})
	w.addMR(1, nil)
	o := w.opts()
	s := w.source(t, o)
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reportState(r, c, targets.StateSuccess, "ok"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	codes = nil
	mu.Unlock()
	// A new source (a restart) relists in full; the cache on disk
	// remains.
	c = fetchOne(t, w.source(t, o), 1)
	for range 2 { // the first read after the post sees it new
		if done, err := reportState(r, c, targets.StateSuccess, "ok"); err != nil || done != report.Found {
			t.Fatalf("repeat: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	revalidated := map[string]bool{}
	for _, line := range codes {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "304" && strings.HasPrefix(f[2], `W/"`) {
			switch {
			case strings.HasSuffix(f[0], "/merge_requests"):
				revalidated["list"] = true
			case strings.HasSuffix(f[0], "/statuses"):
				revalidated["statuses"] = true
			}
		}
	}
	if !revalidated["list"] || !revalidated["statuses"] {
		t.Errorf("GET answers %q: want the list and the statuses revalidated with their weak ETag (304)", codes)
	}
}

// codeRecorder notes the status a handler wrote.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}
